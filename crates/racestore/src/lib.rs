//! racestore keeps motor-racing analytics — race sessions, lap-by-lap timing with sectors,
//! driver metrics, model predictions and Monte Carlo simulations — behind one interface,
//! [`RaceStore`], with interchangeable backends chosen by a URL:
//!
//! - `json:DIR` — a directory of human-readable JSON files, the files of the original
//!   GR Race Guardian storage (the default, `json:storage`; no server);
//! - `sqlite:FILE` — one SQLite database, schema-compatible with the original `race_data.db`;
//! - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=NAME&pool_size=N&sslmode=require]` —
//!   a schema in a PostgreSQL database, shared by processes on many machines ([`PostgresStore`]).
//!
//! Every backend passes the same conformance suite, so switching is changing the URL.
//!
//! ```
//! use racestore::{NewLap, NewSession, RaceStoreExt, Sectors};
//!
//! let dir = tempfile::tempdir()?;
//! let store = racestore::open(&format!("json:{}", dir.path().display()))?;
//!
//! let session = store.create_session(&NewSession::new("Barber Motorsports Park").date("2025-09-06T14:00:00"))?;
//! let lap = NewLap::new(session, "GR86-002-7", 1, 91.482)
//!     .sectors(Sectors::new(29.301, 32.05, 30.131))
//!     .position(1);
//! store.save_lap_data(&lap)?;
//! store.save_laps(&[NewLap::new(session, "GR86-002-7", 2, 92.0), NewLap::new(session, "GR86-013-22", 2, 91.9)])?;
//!
//! let laps = store.get_session_laps(session)?;
//! assert_eq!(laps.iter().map(|l| l.id).collect::<Vec<_>>(), [1, 2, 3]);
//! assert_eq!(laps[0].sector_2, Some(32.05));
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

// The layers, each using only those above it in this list (ARCHITECTURE.md; a test over the
// `use` graph keeps it so): errors and redaction; the model; the store trait; the backends;
// the URL factory; whole-store operations; import and analysis.
mod error;
mod leftovers;
mod redact;

pub mod model;

mod store;

pub mod backend;

mod url;

pub mod check;
pub mod export;
pub mod import;
pub mod shared;
pub mod transfer;

pub mod analysis;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "json")]
pub use backend::json::{Fault, FaultInjector, FileOp, JsonLocation, JsonStore};
#[cfg(feature = "postgres")]
pub use backend::postgres::{PostgresStore, PostgresUrl, TlsMode};
#[cfg(feature = "sqlite")]
pub use backend::sqlite::{SqliteLocation, SqliteStore};
pub use error::{Error, Result};
pub use model::{
    Collection, Counts, DriverMetrics, Entry, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewEntry, NewLap,
    NewPrediction, NewRecords, NewSession, NewSimulation, Prediction, Query, Records, Sectors, Session,
    SessionQuery, Simulation,
};
pub use redact::redact_url;
pub use shared::{open_shared, open_shared_reporting};
pub use store::{
    Batch, Durability, Inspection, OpenOptions, Opened, Problem, RaceStore, RaceStoreExt, Repair, SavedIds,
    SessionSummary, StoreLocation, ValidBatch,
};
pub use url::{backends, default_url, open, open_default, StoreUrl, DEFAULT_URL, URL_ENV};
