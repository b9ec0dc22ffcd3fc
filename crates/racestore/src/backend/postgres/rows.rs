//! The mapping between racestore's tables in PostgreSQL and its model.
//!
//! Tables and columns are the SQL backend's (the original `race_data.db`'s), with PostgreSQL
//! types: `BIGINT` ids and integers, `DOUBLE PRECISION` times and scores (the same 64-bit
//! floats the model holds, so every value reads back bit for bit), `TEXT` timestamps as
//! racestore writes them, and `JSON` for JSON values (see `migrations/0001_schema.sql` for why
//! not `JSONB`). A row that does not hold what the model needs is [`Error::CorruptRow`] naming
//! the column, never a silently invented value.

use postgres::types::FromSql;
use postgres::Row;
use serde_json::Value;

use super::error::PgResult;
use crate::error::Error;
use crate::model::{DriverMetrics, Id, Lap, Prediction, Session, Simulation};

pub(super) use crate::backend::sql::{
    table_of, Table, DRIVER_METRICS, LAPS, PREDICTIONS, SESSIONS, SIMULATIONS, TABLES,
};
/// The highest id `table` has given (`$1`: the table's name): its sequence's last value, or
/// the largest id present if that is higher (rows inserted with ids of their own).
pub(super) fn highest_id_given(table: Table) -> String {
    format!(
        "SELECT greatest(coalesce((SELECT max(id) FROM {}), 0), \
         coalesce(pg_sequence_last_value(pg_get_serial_sequence($1::text, 'id')::regclass), 0))",
        table.name
    )
}

// Every save is one statement, so one round trip, run as its own transaction. Each takes the
// table's id lock (an advisory transaction lock, `$lock_class, hashtext('schema.table')`) after
// its checks pass and before its ids are drawn, and holds it until its commit is visible: ids
// are drawn and made visible in the same order, so a batch's ids are consecutive and a reader
// never sees a gap that a later read fills in. A save that fails its checks inserts no row,
// draws no id from the sequence, and takes no id lock.

/// Inserts a session (`$1`..`$5`); returns its id. `$6, $7`: the id lock.
pub(super) const INSERT_SESSION: &str =
    "WITH ready AS (SELECT pg_advisory_xact_lock($6::int4, hashtext($7::text))) \
     INSERT INTO race_sessions (circuit, date, race_type, created_at, updated_at) \
     SELECT $1::text, $2::text, $3::text, $4::text, $5::text FROM ready \
     RETURNING id";

/// Inserts driver metrics into session `$1` if it exists, locking the session against a
/// concurrent delete until the insert commits; returns the id, or no row for an unknown
/// session. `$9, $10`: the id lock.
pub(super) const INSERT_DRIVER_METRICS: &str =
    "WITH session AS (SELECT id FROM race_sessions WHERE id = $1::bigint FOR KEY SHARE), \
     ready AS (SELECT pg_advisory_xact_lock($9::int4, hashtext($10::text)) FROM session) \
     INSERT INTO driver_metrics (session_id, driver_id, consistency_index, aggression_score, sector_strength, \
     pace_stability, fatigue_dropoff, created_at) \
     SELECT session.id, $2::text, $3::double precision, $4::double precision, $5::json, $6::json, $7::json, \
     $8::text FROM session, ready \
     RETURNING id";

/// Inserts a prediction, as [`INSERT_DRIVER_METRICS`]. `$8, $9`: the id lock.
pub(super) const INSERT_PREDICTION: &str =
    "WITH session AS (SELECT id FROM race_sessions WHERE id = $1::bigint FOR KEY SHARE), \
     ready AS (SELECT pg_advisory_xact_lock($8::int4, hashtext($9::text)) FROM session) \
     INSERT INTO predictions (session_id, driver_id, prediction_type, prediction_value, model_path, confidence, \
     created_at) \
     SELECT session.id, $2::text, $3::text, $4::double precision, $5::text, $6::double precision, $7::text \
     FROM session, ready \
     RETURNING id";

/// Inserts a simulation, as [`INSERT_DRIVER_METRICS`]. `$7, $8`: the id lock.
pub(super) const INSERT_SIMULATION: &str =
    "WITH session AS (SELECT id FROM race_sessions WHERE id = $1::bigint FOR KEY SHARE), \
     ready AS (SELECT pg_advisory_xact_lock($7::int4, hashtext($8::text)) FROM session) \
     INSERT INTO simulations (session_id, driver_paces, n_laps, iterations, results, created_at) \
     SELECT session.id, $2::json, $3::bigint, $4::bigint, $5::json, $6::text FROM session, ready \
     RETURNING id";

/// Inserts a batch of laps, one array per column (`$1`..`$9`, `$10` the timestamp), in input
/// order, if every session the batch names (`$13`, each once) exists; locks those sessions
/// against a concurrent delete until the batch commits. Returns the ids in input order, or no
/// row when a session is unknown. `$11, $12`: the id lock.
pub(super) const INSERT_LAPS: &str =
    "WITH known AS (SELECT id FROM race_sessions WHERE id = ANY($13::bigint[]) FOR KEY SHARE), \
     ready AS (SELECT pg_advisory_xact_lock($11::int4, hashtext($12::text)) \
     WHERE (SELECT count(*) FROM known) = cardinality($13::bigint[])) \
     INSERT INTO lap_data (session_id, driver_id, lap_number, lap_time, sector_1, sector_2, sector_3, lap_type, \
     position, created_at) \
     SELECT input.session_id, input.driver_id, input.lap_number, input.lap_time, input.sector_1, input.sector_2, \
     input.sector_3, input.lap_type, input.position, $10::text \
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::double precision[], $5::double precision[], \
     $6::double precision[], $7::double precision[], $8::text[], $9::bigint[]) WITH ORDINALITY \
     AS input (session_id, driver_id, lap_number, lap_time, sector_1, sector_2, sector_3, lap_type, position, ord), \
     ready \
     ORDER BY input.ord \
     RETURNING id";

/// Which of the sessions `$1` exist (to name the first unknown one of a refused batch).
pub(super) const EXISTING_SESSIONS: &str = "SELECT id FROM race_sessions WHERE id = ANY($1::bigint[])";

/// The columns of a lap batch, as [`INSERT_LAPS`] takes them.
#[derive(Default)]
pub(super) struct LapColumns<'a> {
    pub(super) session_id: Vec<Id>,
    pub(super) driver_id: Vec<&'a str>,
    pub(super) lap_number: Vec<i64>,
    pub(super) lap_time: Vec<f64>,
    pub(super) sector_1: Vec<Option<f64>>,
    pub(super) sector_2: Vec<Option<f64>>,
    pub(super) sector_3: Vec<Option<f64>>,
    pub(super) lap_type: Vec<&'a str>,
    pub(super) position: Vec<Option<i64>>,
}

impl<'a> LapColumns<'a> {
    /// The batch's columns, in input order.
    pub(super) fn new(laps: &'a [Lap]) -> Self {
        let mut c = LapColumns::default();
        for lap in laps {
            c.session_id.push(lap.session_id);
            c.driver_id.push(&lap.driver_id);
            c.lap_number.push(lap.lap_number);
            c.lap_time.push(lap.lap_time);
            c.sector_1.push(lap.sector_1);
            c.sector_2.push(lap.sector_2);
            c.sector_3.push(lap.sector_3);
            c.lap_type.push(&lap.lap_type);
            c.position.push(lap.position);
        }
        c
    }
}

/// A session from a row of [`SESSIONS`]' columns.
pub(super) fn session(row: &Row) -> PgResult<Session> {
    let c = Columns::new(row, SESSIONS.name)?;
    Ok(Session {
        id: c.id,
        circuit: c.required(1, "circuit")?,
        date: c.required(2, "date")?,
        race_type: c.required(3, "race_type")?,
        created_at: c.required(4, "created_at")?,
        updated_at: c.required(5, "updated_at")?,
    })
}

/// Driver metrics from a row of [`DRIVER_METRICS`]' columns.
pub(super) fn driver_metrics(row: &Row) -> PgResult<DriverMetrics> {
    let c = Columns::new(row, DRIVER_METRICS.name)?;
    Ok(DriverMetrics {
        id: c.id,
        session_id: c.required(1, "session_id")?,
        driver_id: c.required(2, "driver_id")?,
        consistency_index: c.optional(3, "consistency_index")?,
        aggression_score: c.optional(4, "aggression_score")?,
        sector_strength: c.json(5, "sector_strength")?,
        pace_stability: c.json(6, "pace_stability")?,
        fatigue_dropoff: c.json(7, "fatigue_dropoff")?,
        created_at: c.required(8, "created_at")?,
    })
}

/// A lap from a row of [`LAPS`]' columns.
pub(super) fn lap(row: &Row) -> PgResult<Lap> {
    let c = Columns::new(row, LAPS.name)?;
    Ok(Lap {
        id: c.id,
        session_id: c.required(1, "session_id")?,
        driver_id: c.required(2, "driver_id")?,
        lap_number: c.required(3, "lap_number")?,
        lap_time: c.required(4, "lap_time")?,
        sector_1: c.optional(5, "sector_1")?,
        sector_2: c.optional(6, "sector_2")?,
        sector_3: c.optional(7, "sector_3")?,
        lap_type: c.required(8, "lap_type")?,
        position: c.optional(9, "position")?,
        created_at: c.required(10, "created_at")?,
    })
}

/// A prediction from a row of [`PREDICTIONS`]' columns.
pub(super) fn prediction(row: &Row) -> PgResult<Prediction> {
    let c = Columns::new(row, PREDICTIONS.name)?;
    Ok(Prediction {
        id: c.id,
        session_id: c.required(1, "session_id")?,
        driver_id: c.required(2, "driver_id")?,
        prediction_type: c.required(3, "prediction_type")?,
        prediction_value: c.required(4, "prediction_value")?,
        model_path: c.required(5, "model_path")?,
        confidence: c.optional(6, "confidence")?,
        created_at: c.required(7, "created_at")?,
    })
}

/// A simulation from a row of [`SIMULATIONS`]' columns.
pub(super) fn simulation(row: &Row) -> PgResult<Simulation> {
    let c = Columns::new(row, SIMULATIONS.name)?;
    Ok(Simulation {
        id: c.id,
        session_id: c.required(1, "session_id")?,
        driver_paces: c.json(2, "driver_paces")?,
        n_laps: c.required(3, "n_laps")?,
        iterations: c.required(4, "iterations")?,
        results: c.json(5, "results")?,
        created_at: c.required(6, "created_at")?,
    })
}

/// Reads the columns of one row, turning anything the model cannot hold into
/// [`Error::CorruptRow`] naming the table, the row's id and the column.
struct Columns<'r> {
    row: &'r Row,
    table: &'static str,
    id: Id,
}

impl<'r> Columns<'r> {
    /// Starts reading `row` of `table`, whose column 0 is the id (an identity column: never NULL).
    fn new(row: &'r Row, table: &'static str) -> PgResult<Self> {
        let id = row.try_get(0).map_err(|e| Error::CorruptRow {
            table,
            id: 0,
            message: format!("column id cannot be read: {e}"),
        })?;
        Ok(Columns { row, table, id })
    }

    fn corrupt(&self, column: &str, message: String) -> Error {
        Error::CorruptRow {
            table: self.table,
            id: self.id,
            message: format!("column {column} {message}"),
        }
    }

    /// A column that may be NULL.
    fn optional<T: for<'a> FromSql<'a>>(&self, index: usize, column: &str) -> PgResult<Option<T>> {
        self.row
            .try_get::<_, Option<T>>(index)
            .map_err(|e| self.corrupt(column, format!("cannot be read: {e}")).into())
    }

    /// A column the model requires.
    fn required<T: for<'a> FromSql<'a>>(&self, index: usize, column: &str) -> PgResult<T> {
        self.optional(index, column)?.ok_or_else(|| {
            self.corrupt(column, "is NULL, expected a value".to_owned())
                .into()
        })
    }

    /// A JSON column; NULL reads as JSON `null`.
    fn json(&self, index: usize, column: &str) -> PgResult<Value> {
        Ok(self
            .row
            .try_get::<_, Option<Value>>(index)
            .map_err(|e| self.corrupt(column, format!("does not hold valid JSON: {e}")))?
            .unwrap_or(Value::Null))
    }
}
