//! The records racestore keeps, the inputs that create them, and the validation every backend shares.
//!
//! Stored records ([`Session`], [`DriverMetrics`], [`Lap`], [`Prediction`], [`Simulation`]) have
//! exactly the fields, field order and JSON shape of the original GR Race Guardian storage, so
//! its files read as they are and racestore's files read in the original. Inputs (`New*`) carry
//! what a caller provides; [`validate`](NewLap::validate) rejects bad input with an
//! [`Error::Invalid`] naming the field, before any backend stores anything.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A record id: integers per collection, ascending from 1, never reused.
pub type Id = i64;

/// The `race_type` a session gets when none is given.
pub const DEFAULT_RACE_TYPE: &str = "race";

/// A race session (a race, a qualifying, a practice) at one circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id.
    pub id: Id,
    /// Circuit name, as given.
    pub circuit: String,
    /// When the session ran: an ISO 8601 date or date-time, as given.
    pub date: String,
    /// `race`, `qualifying`, `practice`, ...
    pub race_type: String,
    /// When the record was written (see [`now_timestamp`]).
    pub created_at: String,
    /// When the record was last changed; equal to `created_at` as no call changes a session.
    pub updated_at: String,
}

/// One driver's derived metrics for a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverMetrics {
    /// The record's id.
    pub id: Id,
    /// The session it belongs to.
    pub session_id: Id,
    /// The driver (or car) identifier.
    pub driver_id: String,
    /// How consistent the driver's laps are; absent when not computed.
    pub consistency_index: Option<f64>,
    /// How aggressive the driver is; absent when not computed.
    pub aggression_score: Option<f64>,
    /// Free-form per-sector strengths (`{"S1": 0.98, ...}`); `{}` when not given.
    pub sector_strength: Value,
    /// Free-form pace statistics; `{}` when not given.
    pub pace_stability: Value,
    /// Free-form fatigue statistics; `{}` when not given.
    pub fatigue_dropoff: Value,
    /// When the record was written.
    pub created_at: String,
}

/// One lap of one driver in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lap {
    /// The record's id.
    pub id: Id,
    /// The session it belongs to.
    pub session_id: Id,
    /// The driver (or car) identifier.
    pub driver_id: String,
    /// The lap's number (0 allowed for a formation or out lap).
    pub lap_number: i64,
    /// Lap time in seconds.
    pub lap_time: f64,
    /// Sector 1 time in seconds, if timed.
    pub sector_1: Option<f64>,
    /// Sector 2 time in seconds, if timed.
    pub sector_2: Option<f64>,
    /// Sector 3 time in seconds, if timed.
    pub sector_3: Option<f64>,
    /// What kind of lap: `normal`, `pit`, `RACE_LAP`, `OUT_LAP`, ...
    pub lap_type: String,
    /// Running position at the end of the lap (1 = leading), if known.
    pub position: Option<i64>,
    /// When the record was written.
    pub created_at: String,
}

/// A model's prediction for a driver in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The record's id.
    pub id: Id,
    /// The session it belongs to.
    pub session_id: Id,
    /// The driver (or car) identifier.
    pub driver_id: String,
    /// What is predicted: `lap_time`, `finish_position`, ...
    pub prediction_type: String,
    /// The predicted value.
    pub prediction_value: f64,
    /// The model that made it.
    pub model_path: String,
    /// The model's confidence in `[0, 1]`, if it gave one.
    pub confidence: Option<f64>,
    /// When the record was written.
    pub created_at: String,
}

/// A Monte Carlo race simulation run for a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// The record's id.
    pub id: Id,
    /// The session it belongs to.
    pub session_id: Id,
    /// Pace per driver the simulation started from (`{"GR86-002-7": 91.5, ...}`), stored exactly.
    pub driver_paces: Value,
    /// Laps simulated.
    pub n_laps: i64,
    /// Monte Carlo iterations run.
    pub iterations: i64,
    /// The simulation's results, stored exactly.
    pub results: Value,
    /// When the record was written.
    pub created_at: String,
}

/// A session to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// Circuit name; must not be blank.
    pub circuit: String,
    /// ISO 8601 date or date-time; `None` means now.
    pub date: Option<String>,
    /// Session type; `None` means [`DEFAULT_RACE_TYPE`].
    pub race_type: Option<String>,
}

impl NewSession {
    /// A race at `circuit`, dated now.
    pub fn new(circuit: impl Into<String>) -> Self {
        NewSession {
            circuit: circuit.into(),
            date: None,
            race_type: None,
        }
    }

    /// Sets when the session ran (ISO 8601: `2025-09-06`, `2025-09-06T14:00:00`, ...).
    pub fn date(mut self, date: impl Into<String>) -> Self {
        self.date = Some(date.into());
        self
    }

    /// Sets the session type (`race`, `qualifying`, ...).
    pub fn race_type(mut self, race_type: impl Into<String>) -> Self {
        self.race_type = Some(race_type.into());
        self
    }

    /// Checks the input and fills the defaults, giving the record to store under `id`.
    pub fn validate(&self, id: Id, now: &str) -> Result<Session> {
        require_text("circuit", &self.circuit)?;
        let date = match &self.date {
            Some(date) => {
                validate_iso8601("date", date)?;
                date.clone()
            }
            None => now.to_owned(),
        };
        let race_type = match &self.race_type {
            Some(race_type) => {
                require_text("race_type", race_type)?;
                race_type.clone()
            }
            None => DEFAULT_RACE_TYPE.to_owned(),
        };
        Ok(Session {
            id,
            circuit: self.circuit.clone(),
            date,
            race_type,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        })
    }
}

/// Sector times of a lap, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sectors {
    /// Sector 1.
    pub s1: Option<f64>,
    /// Sector 2.
    pub s2: Option<f64>,
    /// Sector 3.
    pub s3: Option<f64>,
}

impl Sectors {
    /// All three sectors timed.
    pub fn new(s1: f64, s2: f64, s3: f64) -> Self {
        Sectors {
            s1: Some(s1),
            s2: Some(s2),
            s3: Some(s3),
        }
    }

    /// Reads the dict form the original callers pass: `{"S1": 29.3, "S2": 32.0, "S3": 30.1}`.
    ///
    /// Missing keys and `null` are untimed sectors; `sector_1`-style keys are accepted too.
    /// A value that is not a number, or an unknown key, is [`Error::Invalid`] naming `sectors.KEY`.
    pub fn from_json(sectors: &Value) -> Result<Self> {
        let map = match sectors {
            Value::Null => return Ok(Sectors::default()),
            Value::Object(map) => map,
            other => {
                return Err(Error::invalid(
                    "sectors",
                    format!(
                        "expected an object like {{\"S1\": 29.3, \"S2\": 32.0, \"S3\": 30.1}}, got {other}"
                    ),
                ))
            }
        };
        let mut out = Sectors::default();
        for (key, value) in map {
            let slot = match key.as_str() {
                "S1" | "s1" | "sector_1" => &mut out.s1,
                "S2" | "s2" | "sector_2" => &mut out.s2,
                "S3" | "s3" | "sector_3" => &mut out.s3,
                _ => {
                    return Err(Error::invalid(
                        format!("sectors.{key}"),
                        "unknown sector; expected S1, S2 or S3",
                    ))
                }
            };
            *slot = match value {
                Value::Null => None,
                Value::Number(n) => n.as_f64(),
                other => {
                    return Err(Error::invalid(
                        format!("sectors.{key}"),
                        format!("expected a number of seconds, got {other}"),
                    ))
                }
            };
        }
        Ok(out)
    }
}

/// A lap to save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLap {
    /// The session it belongs to; must exist.
    pub session_id: Id,
    /// The driver (or car) identifier; must not be blank.
    pub driver_id: String,
    /// Lap number; must not be negative.
    pub lap_number: i64,
    /// Lap time in seconds; finite and positive.
    pub lap_time: f64,
    /// Sector times; each finite and positive when given.
    pub sectors: Sectors,
    /// Kind of lap; must not be blank. [`NewLap::new`] sets `normal`.
    pub lap_type: String,
    /// Running position, 1 or more, when known.
    pub position: Option<i64>,
}

impl NewLap {
    /// A `normal` lap without sectors or position.
    pub fn new(session_id: Id, driver_id: impl Into<String>, lap_number: i64, lap_time: f64) -> Self {
        NewLap {
            session_id,
            driver_id: driver_id.into(),
            lap_number,
            lap_time,
            sectors: Sectors::default(),
            lap_type: "normal".to_owned(),
            position: None,
        }
    }

    /// Sets the sector times.
    pub fn sectors(mut self, sectors: Sectors) -> Self {
        self.sectors = sectors;
        self
    }

    /// Sets the kind of lap.
    pub fn lap_type(mut self, lap_type: impl Into<String>) -> Self {
        self.lap_type = lap_type.into();
        self
    }

    /// Sets the running position.
    pub fn position(mut self, position: i64) -> Self {
        self.position = Some(position);
        self
    }

    /// Checks the input, giving the record to store under `id`.
    pub fn validate(&self, id: Id, now: &str) -> Result<Lap> {
        require_text("driver_id", &self.driver_id)?;
        if self.lap_number < 0 {
            return Err(Error::invalid(
                "lap_number",
                format!("must not be negative, got {}", self.lap_number),
            ));
        }
        require_positive("lap_time", self.lap_time)?;
        for (field, sector) in [
            ("sector_1", self.sectors.s1),
            ("sector_2", self.sectors.s2),
            ("sector_3", self.sectors.s3),
        ] {
            if let Some(seconds) = sector {
                require_positive(field, seconds)?;
            }
        }
        require_text("lap_type", &self.lap_type)?;
        if let Some(position) = self.position {
            if position < 1 {
                return Err(Error::invalid(
                    "position",
                    format!("must be 1 or more (1 = leading), got {position}"),
                ));
            }
        }
        Ok(Lap {
            id,
            session_id: self.session_id,
            driver_id: self.driver_id.clone(),
            lap_number: self.lap_number,
            lap_time: self.lap_time,
            sector_1: self.sectors.s1,
            sector_2: self.sectors.s2,
            sector_3: self.sectors.s3,
            lap_type: self.lap_type.clone(),
            position: self.position,
            created_at: now.to_owned(),
        })
    }
}

/// Driver metrics to save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDriverMetrics {
    /// The session they belong to; must exist.
    pub session_id: Id,
    /// The driver (or car) identifier; must not be blank.
    pub driver_id: String,
    /// Consistency index, finite when given.
    pub consistency_index: Option<f64>,
    /// Aggression score, finite when given.
    pub aggression_score: Option<f64>,
    /// A JSON object; `Null` is stored as `{}`.
    pub sector_strength: Value,
    /// A JSON object; `Null` is stored as `{}`.
    pub pace_stability: Value,
    /// A JSON object; `Null` is stored as `{}`.
    pub fatigue_dropoff: Value,
}

impl NewDriverMetrics {
    /// Metrics with nothing computed yet.
    pub fn new(session_id: Id, driver_id: impl Into<String>) -> Self {
        NewDriverMetrics {
            session_id,
            driver_id: driver_id.into(),
            consistency_index: None,
            aggression_score: None,
            sector_strength: Value::Null,
            pace_stability: Value::Null,
            fatigue_dropoff: Value::Null,
        }
    }

    /// Reads the metrics dict the original callers pass.
    ///
    /// `aggression_score` may be a number or the nested form `{"aggression_score": 0.65, ...}`;
    /// only the number is kept, as the original did. Unknown keys are rejected so a typo is not
    /// silently dropped.
    pub fn from_json(session_id: Id, driver_id: impl Into<String>, metrics: &Value) -> Result<Self> {
        let map = metrics
            .as_object()
            .ok_or_else(|| Error::invalid("metrics", format!("expected a JSON object, got {metrics}")))?;
        let mut out = NewDriverMetrics::new(session_id, driver_id);
        for (key, value) in map {
            match key.as_str() {
                "consistency_index" => out.consistency_index = json_number("metrics.consistency_index", value)?,
                "aggression_score" => {
                    let inner = match value {
                        Value::Object(nested) => nested.get("aggression_score").unwrap_or(&Value::Null),
                        other => other,
                    };
                    out.aggression_score = json_number("metrics.aggression_score", inner)?;
                }
                "sector_strength" => out.sector_strength = value.clone(),
                "pace_stability" => out.pace_stability = value.clone(),
                "fatigue_dropoff" => out.fatigue_dropoff = value.clone(),
                _ => {
                    return Err(Error::invalid(
                        format!("metrics.{key}"),
                        "unknown metric; expected consistency_index, aggression_score, sector_strength, pace_stability or fatigue_dropoff",
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Checks the input and fills the defaults, giving the record to store under `id`.
    pub fn validate(&self, id: Id, now: &str) -> Result<DriverMetrics> {
        require_text("driver_id", &self.driver_id)?;
        for (field, value) in [
            ("consistency_index", self.consistency_index),
            ("aggression_score", self.aggression_score),
        ] {
            if let Some(value) = value {
                require_finite(field, value)?;
            }
        }
        Ok(DriverMetrics {
            id,
            session_id: self.session_id,
            driver_id: self.driver_id.clone(),
            consistency_index: self.consistency_index,
            aggression_score: self.aggression_score,
            sector_strength: object_or_empty("sector_strength", &self.sector_strength)?,
            pace_stability: object_or_empty("pace_stability", &self.pace_stability)?,
            fatigue_dropoff: object_or_empty("fatigue_dropoff", &self.fatigue_dropoff)?,
            created_at: now.to_owned(),
        })
    }
}

/// A prediction to save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPrediction {
    /// The session it belongs to; must exist.
    pub session_id: Id,
    /// The driver (or car) identifier; must not be blank.
    pub driver_id: String,
    /// What is predicted; must not be blank.
    pub prediction_type: String,
    /// The predicted value; finite.
    pub prediction_value: f64,
    /// The model that made it.
    pub model_path: String,
    /// Confidence in `[0, 1]`, when given.
    pub confidence: Option<f64>,
}

impl NewPrediction {
    /// A prediction without a confidence.
    pub fn new(
        session_id: Id,
        driver_id: impl Into<String>,
        prediction_type: impl Into<String>,
        prediction_value: f64,
        model_path: impl Into<String>,
    ) -> Self {
        NewPrediction {
            session_id,
            driver_id: driver_id.into(),
            prediction_type: prediction_type.into(),
            prediction_value,
            model_path: model_path.into(),
            confidence: None,
        }
    }

    /// Sets the model's confidence, in `[0, 1]`.
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = Some(confidence);
        self
    }

    /// Checks the input, giving the record to store under `id`.
    pub fn validate(&self, id: Id, now: &str) -> Result<Prediction> {
        require_text("driver_id", &self.driver_id)?;
        require_text("prediction_type", &self.prediction_type)?;
        require_finite("prediction_value", self.prediction_value)?;
        if let Some(confidence) = self.confidence {
            if !(0.0..=1.0).contains(&confidence) {
                return Err(Error::invalid(
                    "confidence",
                    format!("must be between 0 and 1, got {confidence}"),
                ));
            }
        }
        Ok(Prediction {
            id,
            session_id: self.session_id,
            driver_id: self.driver_id.clone(),
            prediction_type: self.prediction_type.clone(),
            prediction_value: self.prediction_value,
            model_path: self.model_path.clone(),
            confidence: self.confidence,
            created_at: now.to_owned(),
        })
    }
}

/// A simulation run to save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSimulation {
    /// The session it belongs to; must exist.
    pub session_id: Id,
    /// Pace per driver, a JSON object; stored exactly.
    pub driver_paces: Value,
    /// Laps simulated; 1 or more.
    pub n_laps: i64,
    /// Iterations run; 1 or more.
    pub iterations: i64,
    /// Results, any JSON; stored exactly.
    pub results: Value,
}

impl NewSimulation {
    /// A simulation of `n_laps` laps over `iterations` runs, from `driver_paces`, with its `results`.
    pub fn new(session_id: Id, driver_paces: Value, n_laps: i64, iterations: i64, results: Value) -> Self {
        NewSimulation {
            session_id,
            driver_paces,
            n_laps,
            iterations,
            results,
        }
    }

    /// Checks the input, giving the record to store under `id`.
    pub fn validate(&self, id: Id, now: &str) -> Result<Simulation> {
        if !self.driver_paces.is_object() {
            return Err(Error::invalid(
                "driver_paces",
                format!(
                    "expected a JSON object of driver to pace, got {}",
                    self.driver_paces
                ),
            ));
        }
        require_json_depth("driver_paces", &self.driver_paces)?;
        require_json_depth("results", &self.results)?;
        for (field, value) in [("n_laps", self.n_laps), ("iterations", self.iterations)] {
            if value < 1 {
                return Err(Error::invalid(field, format!("must be 1 or more, got {value}")));
            }
        }
        Ok(Simulation {
            id,
            session_id: self.session_id,
            driver_paces: self.driver_paces.clone(),
            n_laps: self.n_laps,
            iterations: self.iterations,
            results: self.results.clone(),
            created_at: now.to_owned(),
        })
    }
}

/// The five collections a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// Race sessions (`race_sessions`).
    Sessions,
    /// Driver metrics (`driver_metrics`).
    DriverMetrics,
    /// Laps (`lap_data`).
    Laps,
    /// Predictions (`predictions`).
    Predictions,
    /// Simulations (`simulations`).
    Simulations,
}

impl Collection {
    /// Every collection, sessions first (the order a copy must follow: children need their session).
    pub const ALL: [Collection; 5] = [
        Collection::Sessions,
        Collection::DriverMetrics,
        Collection::Laps,
        Collection::Predictions,
        Collection::Simulations,
    ];

    /// The original's name for the collection: its table, and its file without `.json`.
    pub fn table(self) -> &'static str {
        match self {
            Collection::Sessions => "race_sessions",
            Collection::DriverMetrics => "driver_metrics",
            Collection::Laps => "lap_data",
            Collection::Predictions => "predictions",
            Collection::Simulations => "simulations",
        }
    }
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.table())
    }
}

/// Records of one collection, in id order: what [`export_page`](crate::RaceStore::export_page)
/// returns and [`import`](crate::RaceStore::import) takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// Sessions.
    Sessions(Vec<Session>),
    /// Driver metrics.
    DriverMetrics(Vec<DriverMetrics>),
    /// Laps.
    Laps(Vec<Lap>),
    /// Predictions.
    Predictions(Vec<Prediction>),
    /// Simulations.
    Simulations(Vec<Simulation>),
}

/// Applies `$body` to the vector inside a [`Records`], whatever its type.
macro_rules! each_records {
    ($records:expr, $v:ident => $body:expr) => {
        match $records {
            Records::Sessions($v) => $body,
            Records::DriverMetrics($v) => $body,
            Records::Laps($v) => $body,
            Records::Predictions($v) => $body,
            Records::Simulations($v) => $body,
        }
    };
}

impl Records {
    /// No records of `collection`.
    pub fn empty(collection: Collection) -> Records {
        match collection {
            Collection::Sessions => Records::Sessions(Vec::new()),
            Collection::DriverMetrics => Records::DriverMetrics(Vec::new()),
            Collection::Laps => Records::Laps(Vec::new()),
            Collection::Predictions => Records::Predictions(Vec::new()),
            Collection::Simulations => Records::Simulations(Vec::new()),
        }
    }

    /// Which collection these records are of.
    pub fn collection(&self) -> Collection {
        match self {
            Records::Sessions(_) => Collection::Sessions,
            Records::DriverMetrics(_) => Collection::DriverMetrics,
            Records::Laps(_) => Collection::Laps,
            Records::Predictions(_) => Collection::Predictions,
            Records::Simulations(_) => Collection::Simulations,
        }
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        each_records!(self, v => v.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records' ids, in order.
    pub fn ids(&self) -> Vec<Id> {
        match self {
            Records::Sessions(v) => v.iter().map(|r| r.id).collect(),
            Records::DriverMetrics(v) => v.iter().map(|r| r.id).collect(),
            Records::Laps(v) => v.iter().map(|r| r.id).collect(),
            Records::Predictions(v) => v.iter().map(|r| r.id).collect(),
            Records::Simulations(v) => v.iter().map(|r| r.id).collect(),
        }
    }

    /// The session each record belongs to (a session's own id for sessions), in order.
    pub fn session_ids(&self) -> Vec<Id> {
        match self {
            Records::Sessions(v) => v.iter().map(|r| r.id).collect(),
            Records::DriverMetrics(v) => v.iter().map(|r| r.session_id).collect(),
            Records::Laps(v) => v.iter().map(|r| r.session_id).collect(),
            Records::Predictions(v) => v.iter().map(|r| r.session_id).collect(),
            Records::Simulations(v) => v.iter().map(|r| r.session_id).collect(),
        }
    }

    /// Each record as a JSON object with the original's keys, in order.
    pub fn to_json(&self) -> Vec<Value> {
        each_records!(self, v => v.iter().map(|r| serde_json::to_value(r).expect("records serialize")).collect())
    }

    /// Checks records about to be imported: ids ascending and above `after_id`, JSON values
    /// readable back. Values are otherwise kept as they are: they were valid where they came from.
    pub fn validate_import(&self, after_id: Id) -> Result<()> {
        let mut previous = after_id;
        for id in self.ids() {
            if id <= previous {
                return Err(Error::invalid(
                    "id",
                    format!(
                        "{} id {id} is not above {previous}: imported ids must ascend and be above every id the collection has given",
                        self.collection()
                    ),
                ));
            }
            previous = id;
        }
        let json_fields: Vec<(&str, &Value)> = match self {
            Records::DriverMetrics(v) => v
                .iter()
                .flat_map(|m| {
                    [
                        ("sector_strength", &m.sector_strength),
                        ("pace_stability", &m.pace_stability),
                        ("fatigue_dropoff", &m.fatigue_dropoff),
                    ]
                })
                .collect(),
            Records::Simulations(v) => v
                .iter()
                .flat_map(|s| [("driver_paces", &s.driver_paces), ("results", &s.results)])
                .collect(),
            _ => Vec::new(),
        };
        for (field, value) in json_fields {
            require_json_depth(field, value)?;
        }
        Ok(())
    }
}

/// How many records a store holds per collection (or a delete removed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Sessions.
    pub sessions: u64,
    /// Driver-metrics records.
    pub driver_metrics: u64,
    /// Laps.
    pub laps: u64,
    /// Predictions.
    pub predictions: u64,
    /// Simulations.
    pub simulations: u64,
}

/// The input that saves a stored record again: what validating a stored record checks.
impl From<&Session> for NewSession {
    fn from(s: &Session) -> Self {
        NewSession {
            circuit: s.circuit.clone(),
            date: Some(s.date.clone()),
            race_type: Some(s.race_type.clone()),
        }
    }
}

impl From<&DriverMetrics> for NewDriverMetrics {
    fn from(m: &DriverMetrics) -> Self {
        NewDriverMetrics {
            session_id: m.session_id,
            driver_id: m.driver_id.clone(),
            consistency_index: m.consistency_index,
            aggression_score: m.aggression_score,
            sector_strength: m.sector_strength.clone(),
            pace_stability: m.pace_stability.clone(),
            fatigue_dropoff: m.fatigue_dropoff.clone(),
        }
    }
}

impl From<&Lap> for NewLap {
    fn from(l: &Lap) -> Self {
        NewLap {
            session_id: l.session_id,
            driver_id: l.driver_id.clone(),
            lap_number: l.lap_number,
            lap_time: l.lap_time,
            sectors: Sectors {
                s1: l.sector_1,
                s2: l.sector_2,
                s3: l.sector_3,
            },
            lap_type: l.lap_type.clone(),
            position: l.position,
        }
    }
}

impl From<&Prediction> for NewPrediction {
    fn from(p: &Prediction) -> Self {
        NewPrediction {
            session_id: p.session_id,
            driver_id: p.driver_id.clone(),
            prediction_type: p.prediction_type.clone(),
            prediction_value: p.prediction_value,
            model_path: p.model_path.clone(),
            confidence: p.confidence,
        }
    }
}

impl From<&Simulation> for NewSimulation {
    fn from(s: &Simulation) -> Self {
        NewSimulation {
            session_id: s.session_id,
            driver_paces: s.driver_paces.clone(),
            n_laps: s.n_laps,
            iterations: s.iterations,
            results: s.results.clone(),
        }
    }
}

/// Per collection, the highest id it has given: records since deleted count, so a store that
/// gives ids above these never repeats one (see [`RaceStore::highest_ids`](crate::RaceStore::highest_ids)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMarks {
    /// Sessions.
    pub sessions: Id,
    /// Driver-metrics records.
    pub driver_metrics: Id,
    /// Laps.
    pub laps: Id,
    /// Predictions.
    pub predictions: Id,
    /// Simulations.
    pub simulations: Id,
}

impl IdMarks {
    /// The mark of one collection.
    pub fn get(&self, collection: Collection) -> Id {
        match collection {
            Collection::Sessions => self.sessions,
            Collection::DriverMetrics => self.driver_metrics,
            Collection::Laps => self.laps,
            Collection::Predictions => self.predictions,
            Collection::Simulations => self.simulations,
        }
    }

    /// Sets the mark of one collection.
    pub fn set(&mut self, collection: Collection, id: Id) {
        match collection {
            Collection::Sessions => self.sessions = id,
            Collection::DriverMetrics => self.driver_metrics = id,
            Collection::Laps => self.laps = id,
            Collection::Predictions => self.predictions = id,
            Collection::Simulations => self.simulations = id,
        }
    }
}

impl Counts {
    /// The count for one collection.
    pub fn get(&self, collection: Collection) -> u64 {
        match collection {
            Collection::Sessions => self.sessions,
            Collection::DriverMetrics => self.driver_metrics,
            Collection::Laps => self.laps,
            Collection::Predictions => self.predictions,
            Collection::Simulations => self.simulations,
        }
    }

    /// Adds `n` to the count of one collection.
    pub fn add(&mut self, collection: Collection, n: u64) {
        match collection {
            Collection::Sessions => self.sessions += n,
            Collection::DriverMetrics => self.driver_metrics += n,
            Collection::Laps => self.laps += n,
            Collection::Predictions => self.predictions += n,
            Collection::Simulations => self.simulations += n,
        }
    }

    /// The total over every collection.
    pub fn total(&self) -> u64 {
        Collection::ALL.iter().map(|c| self.get(*c)).sum()
    }
}

/// Which sessions [`get_sessions`](crate::RaceStore::get_sessions) returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    /// Only sessions at this circuit (exact match).
    pub circuit: Option<String>,
}

impl SessionQuery {
    /// Every session.
    pub fn all() -> Self {
        SessionQuery::default()
    }

    /// Only sessions at `circuit` (exact match).
    pub fn circuit(mut self, circuit: impl Into<String>) -> Self {
        self.circuit = Some(circuit.into());
        self
    }

    /// Whether `session` is selected.
    pub fn matches(&self, session: &Session) -> bool {
        self.circuit.as_ref().is_none_or(|c| *c == session.circuit)
    }
}

/// Which laps [`get_laps`](crate::RaceStore::get_laps) returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LapQuery {
    /// Only laps of this session; `None` is every session.
    pub session_id: Option<Id>,
    /// Only laps of this driver.
    pub driver_id: Option<String>,
    /// Only laps of this type.
    pub lap_type: Option<String>,
}

impl LapQuery {
    /// Every lap in the store.
    pub fn all() -> Self {
        LapQuery::default()
    }

    /// The laps of one session.
    pub fn session(session_id: Id) -> Self {
        LapQuery {
            session_id: Some(session_id),
            ..LapQuery::default()
        }
    }

    /// Narrows to one driver.
    pub fn driver(mut self, driver_id: impl Into<String>) -> Self {
        self.driver_id = Some(driver_id.into());
        self
    }

    /// Narrows to one lap type.
    pub fn lap_type(mut self, lap_type: impl Into<String>) -> Self {
        self.lap_type = Some(lap_type.into());
        self
    }

    /// Whether `lap` is selected.
    pub fn matches(&self, lap: &Lap) -> bool {
        self.session_id.is_none_or(|s| s == lap.session_id)
            && self.driver_id.as_ref().is_none_or(|d| *d == lap.driver_id)
            && self.lap_type.as_ref().is_none_or(|t| *t == lap.lap_type)
    }
}

/// The time now, in the one format racestore writes on every backend:
/// RFC 3339 in UTC with microseconds, `2026-11-25T16:33:08.009625Z`.
///
/// Python's `datetime.fromisoformat` (3.11+) reads it; timestamps read from the original
/// system's files keep the format they were written in.
pub fn now_timestamp() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_micros())
}

/// Formats seconds since the Unix epoch (plus microseconds) as [`now_timestamp`] does.
pub fn format_timestamp(unix_seconds: i64, micros: u32) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Accepts `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM[:SS[.fraction]]` and an
/// optional `Z` or `±HH:MM` offset: the forms Python's `isoformat()` and timing systems write.
pub(crate) fn validate_iso8601(field: &str, text: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            field,
            format!(
                "expected an ISO 8601 date or date-time like 2025-09-06 or 2025-09-06T14:00:00, got {text:?}"
            ),
        )
    };
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (month, day) = match (digits(0..4), b.get(4), digits(5..7), b.get(7), digits(8..10)) {
        (Some(_), Some(b'-'), Some(m), Some(b'-'), Some(d)) => (m, d),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    if b.len() == 10 {
        return Ok(());
    }
    if !matches!(b[10], b'T' | b' ') {
        return Err(bad());
    }
    let (hour, minute) = match (digits(11..13), b.get(13), digits(14..16)) {
        (Some(h), Some(b':'), Some(m)) => (h, m),
        _ => return Err(bad()),
    };
    if hour > 23 || minute > 59 {
        return Err(bad());
    }
    let mut at = 16;
    if b.get(at) == Some(&b':') {
        match digits(at + 1..at + 3) {
            Some(s) if s <= 60 => at += 3,
            _ => return Err(bad()),
        }
        if b.get(at) == Some(&b'.') {
            let start = at + 1;
            at = start;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return Err(bad());
            }
        }
    }
    match &b[at..] {
        [] | [b'Z'] => Ok(()),
        [b'+' | b'-', ..] if b.len() == at + 6 && b[at + 3] == b':' => {
            match (digits(at + 1..at + 3), digits(at + 4..at + 6)) {
                (Some(h), Some(m)) if h <= 23 && m <= 59 => Ok(()),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn require_text(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn require_finite(field: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a finite number, got {value}"),
        ))
    }
}

fn require_positive(field: &str, seconds: f64) -> Result<()> {
    require_finite(field, seconds)?;
    if seconds > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a positive number of seconds, got {seconds}"),
        ))
    }
}

fn json_number(field: &str, value: &Value) -> Result<Option<f64>> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        other => Err(Error::invalid(field, format!("expected a number, got {other}"))),
    }
}

/// How deeply JSON values may nest. Parsers (serde_json among them) refuse deeper documents,
/// so a deeper value could be saved but never read back.
pub const MAX_JSON_DEPTH: usize = 64;

fn require_json_depth(field: &str, value: &Value) -> Result<()> {
    fn depth(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(value) > MAX_JSON_DEPTH {
        return Err(Error::invalid(
            field,
            format!("nests deeper than {MAX_JSON_DEPTH} levels, which JSON readers refuse"),
        ));
    }
    Ok(())
}

fn object_or_empty(field: &str, value: &Value) -> Result<Value> {
    require_json_depth(field, value)?;
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value.clone()),
        other => Err(Error::invalid(
            field,
            format!("expected a JSON object, got {other}"),
        )),
    }
}

/// Lap types in the vocabulary of the original system's race data (`RACE_LAP`, `IN_LAP`,
/// `OUT_LAP`, ...), as importers write them into [`Lap::lap_type`].
///
/// [`Lap::lap_type`] stays free text (the original also stored `normal`, `pit`, `qualifying`);
/// these are the values with a fixed meaning. A flag type describes the flag shown when the car
/// crossed the line at the end of the lap.
pub mod lap_type {
    /// A lap at racing speed under the green flag (the finish lap included).
    pub const RACE_LAP: &str = "RACE_LAP";
    /// The lap that ends in the pit lane: the car stops at the end of it.
    pub const IN_LAP: &str = "IN_LAP";
    /// The lap that starts in the pit lane, after a stop.
    pub const OUT_LAP: &str = "OUT_LAP";
    /// A lap ended behind the safety car.
    pub const SAFETY_CAR: &str = "SAFETY_CAR";
    /// A lap ended under a full-course yellow (neutralised at a set speed, no safety car).
    pub const FULL_COURSE_YELLOW: &str = "FULL_COURSE_YELLOW";
    /// A lap ended under the red flag (the session stopped).
    pub const RED_FLAG: &str = "RED_FLAG";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_timestamp(1_764_088_388, 9_625),
            "2025-11-25T16:33:08.009625Z"
        );
        assert_eq!(format_timestamp(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        let now = now_timestamp();
        assert_eq!(now.len(), 27, "{now}");
        validate_iso8601("created_at", &now).unwrap();
    }

    #[test]
    fn iso8601_dates_in_the_forms_python_and_timing_systems_write_are_accepted() {
        for ok in [
            "2025-09-06",
            "2025-09-06T14:00",
            "2025-09-06T14:00:00",
            "2025-09-06 14:00:00",
            "2026-11-25T16:33:08.009625",
            "2026-11-25T16:33:08.009625Z",
            "2025-09-06T14:00:00+02:00",
            "2025-09-06T14:00:00.5-05:30",
        ] {
            validate_iso8601("date", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-09-06T25:00",
            "2025-09-06T14:00:00.",
            "2025-09-06X",
            "06/09/2025",
        ] {
            let err = validate_iso8601("date", bad).unwrap_err();
            assert!(err.to_string().contains("invalid date"), "{bad}: {err}");
        }
    }
}
