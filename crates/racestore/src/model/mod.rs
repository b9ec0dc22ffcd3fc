//! The records racestore keeps, the inputs that create them, and the validation every backend
//! shares; the collections, each defined once; and the queries every backend runs.
//!
//! Stored records ([`Session`], [`DriverMetrics`], [`Lap`], [`Prediction`], [`Simulation`]) have
//! exactly the fields, field order and JSON shape of the original GR Race Guardian storage, so
//! its files read as they are and racestore's files read in the original. Inputs (`New*`) carry
//! what a caller provides; [`validate`](NewLap::validate) rejects bad input with an
//! [`Error::Invalid`](crate::Error::Invalid) naming the field, before any backend stores anything.

mod collection;
mod columns;
mod query;
mod records;
mod time;

pub use collection::{
    Cell, CellReader, CellRef, Collection, CollectionVisitor, Column, ColumnKind, Counts, IdMarks, Member,
    NewRecord, NewRecords, NewRecordsVisitor, Record, Records, RecordsVisitor,
};
pub use query::{Filter, FilterValue, LapQuery, Query, SessionQuery};
pub use records::{
    lap_type, DriverMetrics, Entry, Lap, NewDriverMetrics, NewEntry, NewLap, NewPrediction, NewSession,
    NewSimulation, Prediction, Sectors, Session, Simulation, DEFAULT_RACE_TYPE, MAX_JSON_DEPTH,
};
pub(crate) use time::validate_iso8601;
pub use time::{format_timestamp, now_timestamp};

/// A record id: integers per collection, ascending from 1, never reused.
pub type Id = i64;
