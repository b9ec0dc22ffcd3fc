//! Each collection's columns and its place in the registry: how a record of each collection is
//! read from and written to a row, in the original's column order.

use super::collection::{CellReader, CellRef, Column, ColumnKind, NewRecord, Record};
use super::records::{
    DriverMetrics, Entry, Lap, NewDriverMetrics, NewEntry, NewLap, NewPrediction, NewSession, NewSimulation,
    Prediction, Session, Simulation,
};
use super::Id;
use crate::error::Result;

use ColumnKind::{Integer, Json, Real, Text};

impl Record for Session {
    type New = NewSession;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("circuit", Text),
        Column::required("date", Text),
        Column::required("race_type", Text),
        Column::required("created_at", Text),
        Column::required("updated_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Text(&self.circuit),
            CellRef::Text(&self.date),
            CellRef::Text(&self.race_type),
            CellRef::Text(&self.created_at),
            CellRef::Text(&self.updated_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(Session {
            id: c.integer()?,
            circuit: c.text()?,
            date: c.text()?,
            race_type: c.text()?,
            created_at: c.text()?,
            updated_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewSession {
        self.into()
    }
}

impl NewRecord for NewSession {
    type Record = Session;
    fn session_id(&self) -> Option<Id> {
        None
    }
    fn set_session_id(&mut self, _session_id: Id) {}
    fn validate(&self, id: Id, now: &str) -> Result<Session> {
        NewSession::validate(self, id, now)
    }
}

impl Record for DriverMetrics {
    type New = NewDriverMetrics;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("session_id", Integer),
        Column::required("driver_id", Text),
        Column::optional("consistency_index", Real),
        Column::optional("aggression_score", Real),
        Column::required("sector_strength", Json),
        Column::required("pace_stability", Json),
        Column::required("fatigue_dropoff", Json),
        Column::required("created_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.session_id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Integer(self.session_id),
            CellRef::Text(&self.driver_id),
            CellRef::opt_real(self.consistency_index),
            CellRef::opt_real(self.aggression_score),
            CellRef::Json(&self.sector_strength),
            CellRef::Json(&self.pace_stability),
            CellRef::Json(&self.fatigue_dropoff),
            CellRef::Text(&self.created_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(DriverMetrics {
            id: c.integer()?,
            session_id: c.integer()?,
            driver_id: c.text()?,
            consistency_index: c.opt_real()?,
            aggression_score: c.opt_real()?,
            sector_strength: c.json()?,
            pace_stability: c.json()?,
            fatigue_dropoff: c.json()?,
            created_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewDriverMetrics {
        self.into()
    }
}

impl NewRecord for NewDriverMetrics {
    type Record = DriverMetrics;
    fn session_id(&self) -> Option<Id> {
        Some(self.session_id)
    }
    fn set_session_id(&mut self, session_id: Id) {
        self.session_id = session_id;
    }
    fn validate(&self, id: Id, now: &str) -> Result<DriverMetrics> {
        NewDriverMetrics::validate(self, id, now)
    }
}

impl Record for Lap {
    type New = NewLap;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("session_id", Integer),
        Column::required("driver_id", Text),
        Column::required("lap_number", Integer),
        Column::required("lap_time", Real),
        Column::optional("sector_1", Real),
        Column::optional("sector_2", Real),
        Column::optional("sector_3", Real),
        Column::required("lap_type", Text),
        Column::optional("position", Integer),
        Column::required("created_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.session_id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Integer(self.session_id),
            CellRef::Text(&self.driver_id),
            CellRef::Integer(self.lap_number),
            CellRef::Real(self.lap_time),
            CellRef::opt_real(self.sector_1),
            CellRef::opt_real(self.sector_2),
            CellRef::opt_real(self.sector_3),
            CellRef::Text(&self.lap_type),
            CellRef::opt_integer(self.position),
            CellRef::Text(&self.created_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(Lap {
            id: c.integer()?,
            session_id: c.integer()?,
            driver_id: c.text()?,
            lap_number: c.integer()?,
            lap_time: c.real()?,
            sector_1: c.opt_real()?,
            sector_2: c.opt_real()?,
            sector_3: c.opt_real()?,
            lap_type: c.text()?,
            position: c.opt_integer()?,
            created_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewLap {
        self.into()
    }
    fn cell(&self, column: &str) -> CellRef<'_> {
        // The columns laps are filtered by, without building every cell.
        match column {
            "driver_id" => CellRef::Text(&self.driver_id),
            "lap_type" => CellRef::Text(&self.lap_type),
            "session_id" => CellRef::Integer(self.session_id),
            _ => Self::COLUMNS
                .iter()
                .position(|c| c.name == column)
                .and_then(|index| self.cells().get(index).copied())
                .unwrap_or(CellRef::Null),
        }
    }
}

impl NewRecord for NewLap {
    type Record = Lap;
    fn session_id(&self) -> Option<Id> {
        Some(self.session_id)
    }
    fn set_session_id(&mut self, session_id: Id) {
        self.session_id = session_id;
    }
    fn validate(&self, id: Id, now: &str) -> Result<Lap> {
        NewLap::validate(self, id, now)
    }
}

impl Record for Prediction {
    type New = NewPrediction;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("session_id", Integer),
        Column::required("driver_id", Text),
        Column::required("prediction_type", Text),
        Column::required("prediction_value", Real),
        Column::required("model_path", Text),
        Column::optional("confidence", Real),
        Column::required("created_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.session_id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Integer(self.session_id),
            CellRef::Text(&self.driver_id),
            CellRef::Text(&self.prediction_type),
            CellRef::Real(self.prediction_value),
            CellRef::Text(&self.model_path),
            CellRef::opt_real(self.confidence),
            CellRef::Text(&self.created_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(Prediction {
            id: c.integer()?,
            session_id: c.integer()?,
            driver_id: c.text()?,
            prediction_type: c.text()?,
            prediction_value: c.real()?,
            model_path: c.text()?,
            confidence: c.opt_real()?,
            created_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewPrediction {
        self.into()
    }
}

impl NewRecord for NewPrediction {
    type Record = Prediction;
    fn session_id(&self) -> Option<Id> {
        Some(self.session_id)
    }
    fn set_session_id(&mut self, session_id: Id) {
        self.session_id = session_id;
    }
    fn validate(&self, id: Id, now: &str) -> Result<Prediction> {
        NewPrediction::validate(self, id, now)
    }
}

impl Record for Simulation {
    type New = NewSimulation;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("session_id", Integer),
        Column::required("driver_paces", Json),
        Column::required("n_laps", Integer),
        Column::required("iterations", Integer),
        Column::required("results", Json),
        Column::required("created_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.session_id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Integer(self.session_id),
            CellRef::Json(&self.driver_paces),
            CellRef::Integer(self.n_laps),
            CellRef::Integer(self.iterations),
            CellRef::Json(&self.results),
            CellRef::Text(&self.created_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(Simulation {
            id: c.integer()?,
            session_id: c.integer()?,
            driver_paces: c.json()?,
            n_laps: c.integer()?,
            iterations: c.integer()?,
            results: c.json()?,
            created_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewSimulation {
        self.into()
    }
}

impl NewRecord for NewSimulation {
    type Record = Simulation;
    fn session_id(&self) -> Option<Id> {
        Some(self.session_id)
    }
    fn set_session_id(&mut self, session_id: Id) {
        self.session_id = session_id;
    }
    fn validate(&self, id: Id, now: &str) -> Result<Simulation> {
        NewSimulation::validate(self, id, now)
    }
}

impl Record for Entry {
    type New = NewEntry;
    const COLUMNS: &'static [Column] = &[
        Column::required("id", Integer),
        Column::required("session_id", Integer),
        Column::optional("car_number", Text),
        Column::required("driver_id", Text),
        Column::optional("driver_name", Text),
        Column::optional("class", Text),
        Column::optional("group", Text),
        Column::optional("team", Text),
        Column::optional("manufacturer", Text),
        Column::optional("vehicle", Text),
        Column::required("created_at", Text),
    ];
    fn id(&self) -> Id {
        self.id
    }
    fn session_id(&self) -> Id {
        self.session_id
    }
    fn cells(&self) -> Vec<CellRef<'_>> {
        vec![
            CellRef::Integer(self.id),
            CellRef::Integer(self.session_id),
            CellRef::opt_text(self.car_number.as_deref()),
            CellRef::Text(&self.driver_id),
            CellRef::opt_text(self.driver_name.as_deref()),
            CellRef::opt_text(self.class.as_deref()),
            CellRef::opt_text(self.group.as_deref()),
            CellRef::opt_text(self.team.as_deref()),
            CellRef::opt_text(self.manufacturer.as_deref()),
            CellRef::opt_text(self.vehicle.as_deref()),
            CellRef::Text(&self.created_at),
        ]
    }
    fn from_cells(mut c: CellReader) -> Result<Self> {
        Ok(Entry {
            id: c.integer()?,
            session_id: c.integer()?,
            car_number: c.opt_text()?,
            driver_id: c.text()?,
            driver_name: c.opt_text()?,
            class: c.opt_text()?,
            group: c.opt_text()?,
            team: c.opt_text()?,
            manufacturer: c.opt_text()?,
            vehicle: c.opt_text()?,
            created_at: c.text()?,
        })
    }
    fn to_new(&self) -> NewEntry {
        self.into()
    }
}

impl NewRecord for NewEntry {
    type Record = Entry;
    fn session_id(&self) -> Option<Id> {
        Some(self.session_id)
    }
    fn set_session_id(&mut self, session_id: Id) {
        self.session_id = session_id;
    }
    fn validate(&self, id: Id, now: &str) -> Result<Entry> {
        NewEntry::validate(self, id, now)
    }
}
