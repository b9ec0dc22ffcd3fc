//! The records racestore keeps, the inputs that create them, and the validation every backend shares.
//!
//! Stored records ([`Session`], [`DriverMetrics`], [`Lap`], [`Prediction`], [`Simulation`]) have
//! exactly the fields, field order and JSON shape of the original GR Race Guardian storage, so
//! its files read as they are and racestore's files read in the original. [`Entry`] is
//! racestore's own: who drove which car, kept in a file (table) the original never reads.
//! Inputs (`New*`) carry what a caller provides; [`validate`](NewLap::validate) rejects bad input with an
//! [`Error::Invalid`] naming the field, before any backend stores anything.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::validate_iso8601;
use super::Id;
use crate::error::{Error, Result};

/// The `race_type` a session gets when none is given.
pub const DEFAULT_RACE_TYPE: &str = "race";

/// A race session (a race, a qualifying, a practice) at one circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// The session's id.
    pub id: Id,
    /// Circuit name, as given.
    pub circuit: String,
    /// When the session ran: an ISO 8601 date or date-time, as given.
    pub date: String,
    /// `race`, `qualifying`, `practice`, ...
    pub race_type: String,
    /// When the record was written (see [`now_timestamp`](super::now_timestamp)).
    pub created_at: String,
    /// When the record was last changed; equal to `created_at` as no call changes a session.
    pub updated_at: String,
}

/// One driver's derived metrics for a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Who drove which car in a session, for whom, in which class: one record per car and driver.
///
/// Laps name their driver by [`driver_id`](Self::driver_id); the entry with the same session
/// and driver id says which car that is ([`car_number`](Self::car_number)), who the driver is
/// and the car's class, group, team, manufacturer and vehicle. Several entries with one car
/// number are the drivers sharing that car (WEC: `007-1`, `007-2`, `007-3`). A value the source
/// did not give is `None` (JSON `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    /// The record's id.
    pub id: Id,
    /// The session it belongs to.
    pub session_id: Id,
    /// The car's number as written, leading zeros kept (`007`), if known.
    pub car_number: Option<String>,
    /// The driver id the driver's laps carry (`007-1`, `13`, `hamilton`).
    pub driver_id: String,
    /// The driver's name (`Kévin ESTRE`), if known.
    pub driver_name: Option<String>,
    /// The car's class (`HYPERCAR`, `LMGT3`, `Am`), if known.
    pub class: Option<String>,
    /// The car's group within its class or series (`H`, `P/A`, `Legends`), if known.
    pub group: Option<String>,
    /// The team that entered the car, if known.
    pub team: Option<String>,
    /// The car's manufacturer, if known.
    pub manufacturer: Option<String>,
    /// The car's model (`Toyota GR86`), if known.
    pub vehicle: Option<String>,
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
    #[must_use]
    pub fn date(mut self, date: impl Into<String>) -> Self {
        self.date = Some(date.into());
        self
    }

    /// Sets the session type (`race`, `qualifying`, ...).
    #[must_use]
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
                        "expected an object like {{\"S1\": 29.3, \"S2\": 32.0, \"S3\": 30.1}}, got {}",
                        excerpt(other)
                    ),
                ))
            }
        };
        Sectors::from_entries(map.iter().map(|(key, value)| (key.as_str(), value)))
    }

    /// Reads sector times given as the entries of the dict form, `("S1", 29.3)`, ...: the same
    /// rules as [`Sectors::from_json`], for callers (the Python binding) that hold the entries
    /// without an object around them.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Result<Self> {
        let mut out = Sectors::default();
        for (key, value) in entries {
            let slot = match key {
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
                        format!("expected a number of seconds, got {}", excerpt(other)),
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
    #[must_use]
    pub fn sectors(mut self, sectors: Sectors) -> Self {
        self.sectors = sectors;
        self
    }

    /// Sets the kind of lap.
    #[must_use]
    pub fn lap_type(mut self, lap_type: impl Into<String>) -> Self {
        self.lap_type = lap_type.into();
        self
    }

    /// Sets the running position.
    #[must_use]
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
        let map = metrics.as_object().ok_or_else(|| {
            Error::invalid(
                "metrics",
                format!("expected a JSON object, got {}", excerpt(metrics)),
            )
        })?;
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
    #[must_use]
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
                    excerpt(&self.driver_paces)
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

/// An entry to save: a driver of a car in a session (see [`Entry`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// The session it belongs to; must exist.
    pub session_id: Id,
    /// The car's number as written; not blank when given.
    pub car_number: Option<String>,
    /// The driver id the driver's laps carry; must not be blank.
    pub driver_id: String,
    /// The driver's name; not blank when given.
    pub driver_name: Option<String>,
    /// The car's class; not blank when given.
    pub class: Option<String>,
    /// The car's group; not blank when given.
    pub group: Option<String>,
    /// The team; not blank when given.
    pub team: Option<String>,
    /// The manufacturer; not blank when given.
    pub manufacturer: Option<String>,
    /// The car's model; not blank when given.
    pub vehicle: Option<String>,
}

impl NewEntry {
    /// An entry of `driver_id` in session `session_id`, nothing else known yet.
    pub fn new(session_id: Id, driver_id: impl Into<String>) -> Self {
        NewEntry {
            session_id,
            car_number: None,
            driver_id: driver_id.into(),
            driver_name: None,
            class: None,
            group: None,
            team: None,
            manufacturer: None,
            vehicle: None,
        }
    }

    /// Sets the car number, as written (`007`).
    #[must_use]
    pub fn car(mut self, car_number: impl Into<String>) -> Self {
        self.car_number = Some(car_number.into());
        self
    }

    /// Sets the driver's name.
    #[must_use]
    pub fn driver_name(mut self, name: impl Into<String>) -> Self {
        self.driver_name = Some(name.into());
        self
    }

    /// Sets the class.
    #[must_use]
    pub fn class(mut self, class: impl Into<String>) -> Self {
        self.class = Some(class.into());
        self
    }

    /// Sets the group.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Sets the team.
    #[must_use]
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets the manufacturer.
    #[must_use]
    pub fn manufacturer(mut self, manufacturer: impl Into<String>) -> Self {
        self.manufacturer = Some(manufacturer.into());
        self
    }

    /// Sets the vehicle (the car's model).
    #[must_use]
    pub fn vehicle(mut self, vehicle: impl Into<String>) -> Self {
        self.vehicle = Some(vehicle.into());
        self
    }

    /// Checks the input, giving the record to store under `id`: a driver id, and no value given
    /// blank (an unknown value is `None`, not `""`).
    pub fn validate(&self, id: Id, now: &str) -> Result<Entry> {
        require_text("driver_id", &self.driver_id)?;
        for (field, value) in [
            ("car_number", &self.car_number),
            ("driver_name", &self.driver_name),
            ("class", &self.class),
            ("group", &self.group),
            ("team", &self.team),
            ("manufacturer", &self.manufacturer),
            ("vehicle", &self.vehicle),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(Error::invalid(
                    field,
                    "must not be blank: leave it out (null) when it is not known",
                ));
            }
        }
        Ok(Entry {
            id,
            session_id: self.session_id,
            car_number: self.car_number.clone(),
            driver_id: self.driver_id.clone(),
            driver_name: self.driver_name.clone(),
            class: self.class.clone(),
            group: self.group.clone(),
            team: self.team.clone(),
            manufacturer: self.manufacturer.clone(),
            vehicle: self.vehicle.clone(),
            created_at: now.to_owned(),
        })
    }
}

/// Refuses a NUL character (`\u{0}`) in a text or anywhere in a JSON value (keys included):
/// PostgreSQL cannot store one, so no backend takes one, and a store can always move to any
/// other backend.
pub(crate) fn require_no_nul(field: &str, value: &Value) -> Result<()> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if has_nul(value) {
        return Err(Error::invalid(
            field,
            "contains a NUL character (\\u0000), which PostgreSQL cannot store; no backend accepts one",
        ));
    }
    Ok(())
}

/// A value as an error message shows it: its first 80 characters, so that a huge input is
/// never echoed back whole.
fn excerpt(value: &impl std::fmt::Display) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text,
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
        other => Err(Error::invalid(
            field,
            format!("expected a number, got {}", excerpt(other)),
        )),
    }
}

/// How deeply JSON values may nest. Parsers (serde_json among them) refuse deeper documents,
/// so a deeper value could be saved but never read back.
pub const MAX_JSON_DEPTH: usize = 64;

pub(super) fn require_json_depth(field: &str, value: &Value) -> Result<()> {
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
            format!("expected a JSON object, got {}", excerpt(other)),
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

    /// Every lap type racestore knows: those above, then the original GR Race Guardian's
    /// (`normal`, `pit`, `qualifying`, and `ERROR_LAP`, `PIT_LAP` that its metrics leave out).
    pub const KNOWN: [&str; 11] = [
        RACE_LAP,
        IN_LAP,
        OUT_LAP,
        SAFETY_CAR,
        FULL_COURSE_YELLOW,
        RED_FLAG,
        "normal",
        "pit",
        "qualifying",
        "ERROR_LAP",
        "PIT_LAP",
    ];

    /// The known lap type ([`KNOWN`]) `text` names, case and surrounding spaces ignored
    /// (`race_lap` is `RACE_LAP`); an [`Error::Invalid`](crate::Error::Invalid) on `lap_type`
    /// listing the known ones otherwise (a filter by a mistyped type would match nothing).
    pub fn known(text: &str) -> crate::error::Result<&'static str> {
        let text = text.trim();
        KNOWN
            .iter()
            .find(|known| known.eq_ignore_ascii_case(text))
            .copied()
            .ok_or_else(|| {
                crate::error::Error::invalid(
                    "lap_type",
                    format!("{text:?} is not a lap type racestore knows: {}", KNOWN.join(", ")),
                )
            })
    }
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

impl From<&Entry> for NewEntry {
    fn from(e: &Entry) -> Self {
        NewEntry {
            session_id: e.session_id,
            car_number: e.car_number.clone(),
            driver_id: e.driver_id.clone(),
            driver_name: e.driver_name.clone(),
            class: e.class.clone(),
            group: e.group.clone(),
            team: e.team.clone(),
            manufacturer: e.manufacturer.clone(),
            vehicle: e.vehicle.clone(),
        }
    }
}
