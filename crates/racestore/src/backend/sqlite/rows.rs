//! The mapping between the tables of `race_data.db` and racestore's model.
//!
//! Columns keep the original's names, order and declared types. JSON values (metric objects,
//! paces, results) are TEXT holding `serde_json::to_string(value)`; reading parses them back.
//! A row that does not hold what its column promises is [`Error::CorruptRow`] naming the column,
//! never a silently invented value.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use serde_json::Value;

use super::error::{SqlError, SqlResult};
use crate::error::Error;
use crate::model::{Collection, DriverMetrics, Id, Lap, Prediction, Records, Session, Simulation};

pub(super) use crate::backend::sql::{
    table_of, Table, DRIVER_METRICS, LAPS, PREDICTIONS, SESSIONS, SIMULATIONS, TABLES,
};

/// Reads rows of `collection` from a query selecting `table_of(collection).columns`.
pub(super) fn read_records(
    stmt: &mut rusqlite::Statement<'_>,
    values: &[&dyn rusqlite::ToSql],
    collection: Collection,
) -> SqlResult<Records> {
    fn all<T>(
        stmt: &mut rusqlite::Statement<'_>,
        values: &[&dyn rusqlite::ToSql],
        map: fn(&Row<'_>) -> SqlResult<T>,
    ) -> SqlResult<Vec<T>> {
        let mut cursor = stmt.query(values)?;
        let mut out = Vec::new();
        while let Some(row) = cursor.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    }
    Ok(match collection {
        Collection::Sessions => Records::Sessions(all(stmt, values, session)?),
        Collection::DriverMetrics => Records::DriverMetrics(all(stmt, values, driver_metrics)?),
        Collection::Laps => Records::Laps(all(stmt, values, lap)?),
        Collection::Predictions => Records::Predictions(all(stmt, values, prediction)?),
        Collection::Simulations => Records::Simulations(all(stmt, values, simulation)?),
    })
}

/// Inserts records with their own ids and timestamps, one prepared statement for all.
pub(super) fn insert_records(conn: &Connection, records: &Records) -> SqlResult<()> {
    let table = table_of(records.collection());
    let placeholders = vec!["?"; table.column_names().count()].join(", ");
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({placeholders})",
        table.name, table.columns
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    for record in records.to_json() {
        let fields = record.as_object().expect("records serialize to objects");
        let values = table
            .column_names()
            .map(|column| sql_value(column, &fields[column]))
            .collect::<SqlResult<Vec<_>>>()?;
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// A record's field as SQLite stores it: JSON columns as JSON text, the rest as themselves.
fn sql_value(column: &str, value: &Value) -> SqlResult<rusqlite::types::Value> {
    use rusqlite::types::Value as Sql;
    const JSON_COLUMNS: [&str; 5] = [
        "sector_strength",
        "pace_stability",
        "fatigue_dropoff",
        "driver_paces",
        "results",
    ];
    if JSON_COLUMNS.contains(&column) {
        return Ok(Sql::Text(json_text(column, value)?));
    }
    Ok(match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Sql::Integer(i),
            _ => Sql::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    })
}

/// Inserts a validated session; returns the id SQLite gave it.
pub(super) fn insert_session(conn: &Connection, session: &Session) -> SqlResult<Id> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO race_sessions (circuit, date, race_type, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    Ok(stmt.insert(params![
        session.circuit,
        session.date,
        session.race_type,
        session.created_at,
        session.updated_at
    ])?)
}

/// Inserts validated driver metrics; returns the id SQLite gave them.
pub(super) fn insert_driver_metrics(conn: &Connection, metrics: &DriverMetrics) -> SqlResult<Id> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO driver_metrics (session_id, driver_id, consistency_index, aggression_score, sector_strength, \
         pace_stability, fatigue_dropoff, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    Ok(stmt.insert(params![
        metrics.session_id,
        metrics.driver_id,
        metrics.consistency_index,
        metrics.aggression_score,
        json_text("sector_strength", &metrics.sector_strength)?,
        json_text("pace_stability", &metrics.pace_stability)?,
        json_text("fatigue_dropoff", &metrics.fatigue_dropoff)?,
        metrics.created_at
    ])?)
}

/// Inserts validated laps with one prepared statement; returns their ids in input order.
pub(super) fn insert_laps(conn: &Connection, laps: &[Lap]) -> SqlResult<Vec<Id>> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO lap_data (session_id, driver_id, lap_number, lap_time, sector_1, sector_2, sector_3, \
         lap_type, position, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut ids = Vec::with_capacity(laps.len());
    for lap in laps {
        ids.push(stmt.insert(params![
            lap.session_id,
            lap.driver_id,
            lap.lap_number,
            lap.lap_time,
            lap.sector_1,
            lap.sector_2,
            lap.sector_3,
            lap.lap_type,
            lap.position,
            lap.created_at
        ])?);
    }
    Ok(ids)
}

/// Inserts a validated prediction; returns the id SQLite gave it.
pub(super) fn insert_prediction(conn: &Connection, prediction: &Prediction) -> SqlResult<Id> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO predictions (session_id, driver_id, prediction_type, prediction_value, model_path, \
         confidence, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    Ok(stmt.insert(params![
        prediction.session_id,
        prediction.driver_id,
        prediction.prediction_type,
        prediction.prediction_value,
        prediction.model_path,
        prediction.confidence,
        prediction.created_at
    ])?)
}

/// Inserts a validated simulation; returns the id SQLite gave it.
pub(super) fn insert_simulation(conn: &Connection, simulation: &Simulation) -> SqlResult<Id> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO simulations (session_id, driver_paces, n_laps, iterations, results, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    Ok(stmt.insert(params![
        simulation.session_id,
        json_text("driver_paces", &simulation.driver_paces)?,
        simulation.n_laps,
        simulation.iterations,
        json_text("results", &simulation.results)?,
        simulation.created_at
    ])?)
}

/// A session from a row of [`SESSIONS`]' columns.
pub(super) fn session(row: &Row<'_>) -> SqlResult<Session> {
    let c = Columns::new(row, SESSIONS.name)?;
    Ok(Session {
        id: c.id,
        circuit: c.text(1, "circuit")?,
        date: c.text(2, "date")?,
        race_type: c.text(3, "race_type")?,
        created_at: c.text(4, "created_at")?,
        updated_at: c.text(5, "updated_at")?,
    })
}

/// Driver metrics from a row of [`DRIVER_METRICS`]' columns.
pub(super) fn driver_metrics(row: &Row<'_>) -> SqlResult<DriverMetrics> {
    let c = Columns::new(row, DRIVER_METRICS.name)?;
    Ok(DriverMetrics {
        id: c.id,
        session_id: c.integer(1, "session_id")?,
        driver_id: c.text(2, "driver_id")?,
        consistency_index: c.opt_real(3, "consistency_index")?,
        aggression_score: c.opt_real(4, "aggression_score")?,
        sector_strength: c.json(5, "sector_strength")?,
        pace_stability: c.json(6, "pace_stability")?,
        fatigue_dropoff: c.json(7, "fatigue_dropoff")?,
        created_at: c.text(8, "created_at")?,
    })
}

/// A lap from a row of [`LAPS`]' columns.
pub(super) fn lap(row: &Row<'_>) -> SqlResult<Lap> {
    let c = Columns::new(row, LAPS.name)?;
    Ok(Lap {
        id: c.id,
        session_id: c.integer(1, "session_id")?,
        driver_id: c.text(2, "driver_id")?,
        lap_number: c.integer(3, "lap_number")?,
        lap_time: c.real(4, "lap_time")?,
        sector_1: c.opt_real(5, "sector_1")?,
        sector_2: c.opt_real(6, "sector_2")?,
        sector_3: c.opt_real(7, "sector_3")?,
        lap_type: c.text(8, "lap_type")?,
        position: c.opt_integer(9, "position")?,
        created_at: c.text(10, "created_at")?,
    })
}

/// A prediction from a row of [`PREDICTIONS`]' columns.
pub(super) fn prediction(row: &Row<'_>) -> SqlResult<Prediction> {
    let c = Columns::new(row, PREDICTIONS.name)?;
    Ok(Prediction {
        id: c.id,
        session_id: c.integer(1, "session_id")?,
        driver_id: c.text(2, "driver_id")?,
        prediction_type: c.text(3, "prediction_type")?,
        prediction_value: c.real(4, "prediction_value")?,
        model_path: c.text(5, "model_path")?,
        confidence: c.opt_real(6, "confidence")?,
        created_at: c.text(7, "created_at")?,
    })
}

/// A simulation from a row of [`SIMULATIONS`]' columns.
pub(super) fn simulation(row: &Row<'_>) -> SqlResult<Simulation> {
    let c = Columns::new(row, SIMULATIONS.name)?;
    Ok(Simulation {
        id: c.id,
        session_id: c.integer(1, "session_id")?,
        driver_paces: c.json(2, "driver_paces")?,
        n_laps: c.integer(3, "n_laps")?,
        iterations: c.integer(4, "iterations")?,
        results: c.json(5, "results")?,
        created_at: c.text(6, "created_at")?,
    })
}

/// The TEXT a JSON column holds for `value`.
fn json_text(field: &str, value: &Value) -> SqlResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::invalid(field, format!("cannot be written as JSON: {e}")).into())
}

/// Reads the columns of one row, turning anything the schema does not promise into
/// [`Error::CorruptRow`] naming the table, the row's id and the column.
struct Columns<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
    id: Id,
}

impl<'a, 'r> Columns<'a, 'r> {
    /// Starts reading `row` of `table`, whose column 0 is the id.
    fn new(row: &'a Row<'r>, table: &'static str) -> SqlResult<Self> {
        let id = match row.get_ref(0)? {
            ValueRef::Integer(id) => id,
            // INTEGER PRIMARY KEY is the rowid: SQLite never stores anything else there.
            other => {
                return Err(Error::CorruptRow {
                    table,
                    id: 0,
                    message: format!("column id holds {}, not an integer", describe(other)),
                }
                .into())
            }
        };
        Ok(Columns { row, table, id })
    }

    fn corrupt(&self, column: &str, message: String) -> SqlError {
        Error::CorruptRow {
            table: self.table,
            id: self.id,
            message: format!("column {column} {message}"),
        }
        .into()
    }

    fn value(&self, index: usize) -> SqlResult<ValueRef<'_>> {
        Ok(self.row.get_ref(index)?)
    }

    /// A TEXT column the model requires.
    fn text(&self, index: usize, column: &str) -> SqlResult<String> {
        match self.value(index)? {
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(text.to_owned()),
                Err(e) => Err(self.corrupt(column, format!("is not valid UTF-8: {e}"))),
            },
            other => Err(self.corrupt(column, format!("holds {}, expected text", describe(other)))),
        }
    }

    /// An INTEGER column the model requires.
    fn integer(&self, index: usize, column: &str) -> SqlResult<i64> {
        match self.opt_integer(index, column)? {
            Some(value) => Ok(value),
            None => Err(self.corrupt(column, "is NULL, expected an integer".to_owned())),
        }
    }

    /// An INTEGER column that may be NULL.
    fn opt_integer(&self, index: usize, column: &str) -> SqlResult<Option<i64>> {
        match self.value(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(value) => Ok(Some(value)),
            other => Err(self.corrupt(column, format!("holds {}, expected an integer", describe(other)))),
        }
    }

    /// A REAL column the model requires.
    fn real(&self, index: usize, column: &str) -> SqlResult<f64> {
        match self.opt_real(index, column)? {
            Some(value) => Ok(value),
            None => Err(self.corrupt(column, "is NULL, expected a number".to_owned())),
        }
    }

    /// A REAL column that may be NULL; an INTEGER stored there reads as the same number.
    fn opt_real(&self, index: usize, column: &str) -> SqlResult<Option<f64>> {
        match self.value(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Real(value) => Ok(Some(value)),
            ValueRef::Integer(value) => Ok(Some(value as f64)),
            other => Err(self.corrupt(column, format!("holds {}, expected a number", describe(other)))),
        }
    }

    /// A TEXT column holding JSON; NULL reads as JSON `null`.
    fn json(&self, index: usize, column: &str) -> SqlResult<Value> {
        match self.value(index)? {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Text(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                self.corrupt(
                    column,
                    format!("does not hold valid JSON ({e}): {}", excerpt(bytes)),
                )
            }),
            other => Err(self.corrupt(column, format!("holds {}, expected JSON text", describe(other)))),
        }
    }
}

/// A SQLite value, described for an error message.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => format!("the integer {i}"),
        ValueRef::Real(f) => format!("the real number {f}"),
        ValueRef::Text(bytes) => format!("the text {}", excerpt(bytes)),
        ValueRef::Blob(bytes) => format!("a blob of {} bytes", bytes.len()),
    }
}

/// The start of a text, quoted, short enough for an error message.
fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}
