//! The mapping between racestore's tables in PostgreSQL and its model, for every collection at
//! once: each column is read as the kind the model gives it, and written through JSON.
//!
//! Tables and columns are the SQL backend's (the original `race_data.db`'s), with PostgreSQL
//! types: `BIGINT` ids and integers, `DOUBLE PRECISION` times and scores (the same 64-bit
//! floats the model holds, so every value reads back bit for bit), `TEXT` timestamps as
//! racestore writes them, and `JSON` for JSON values (see `migrations/0001_schema.sql` for why
//! not `JSONB`). A row that does not hold what the model needs is [`Error::CorruptRow`] naming
//! the column, never a silently invented value.

use postgres::Row;
use serde_json::Value;

use super::error::PgResult;
use crate::backend::sql;
use crate::error::Error;
use crate::model::{Cell, CellReader, Collection, ColumnKind, Id, Record};

/// The highest id `collection` has given (`$1`: the table's name): its sequence's last value,
/// or the largest id present if that is higher (rows inserted with ids of their own).
pub(super) fn highest_id_given(collection: Collection) -> String {
    format!(
        "SELECT greatest(coalesce((SELECT max(id) FROM {}), 0), \
         coalesce(pg_sequence_last_value(pg_get_serial_sequence($1::text, 'id')::regclass), 0))",
        collection.name()
    )
}

/// Inserts records of `collection` given as one JSON array (`$2`), in input order, if every
/// session the records name (`$1`, each once) exists; locks those sessions against a concurrent
/// delete until the insert commits. Returns the new ids in input order, or no row when a
/// session is unknown. `$3, $4`: the table's id lock, taken after the checks pass and held
/// until the commit is visible, so ids are drawn and made visible in the same order: a batch's
/// ids are consecutive, and a reader never sees a gap that a later read fills in. A save that
/// fails its checks inserts no row, draws no id and takes no id lock.
pub(super) fn insert_statement(collection: Collection) -> String {
    let columns: Vec<String> = collection.columns().iter().map(|c| sql::quoted(c.name)).collect();
    let without_id = columns[1..].join(", ");
    let from_input: Vec<String> = columns[1..].iter().map(|c| format!("input.{c}")).collect();
    format!(
        "WITH known AS (SELECT id FROM race_sessions WHERE id = ANY($1::bigint[]) FOR KEY SHARE), \
         ready AS (SELECT pg_advisory_xact_lock($3::int4, hashtext($4::text)) \
         WHERE (SELECT count(*) FROM known) = cardinality($1::bigint[])) \
         INSERT INTO {name} ({without_id}) \
         SELECT {from_input} \
         FROM json_populate_recordset(NULL::{name}, $2::json) WITH ORDINALITY AS input ({all}, ord), ready \
         ORDER BY input.ord \
         RETURNING id",
        name = collection.name(),
        from_input = from_input.join(", "),
        all = columns.join(", "),
    )
}

/// Which of the sessions `$1` exist (to name the first unknown one of a refused save).
pub(super) const EXISTING_SESSIONS: &str = "SELECT id FROM race_sessions WHERE id = ANY($1::bigint[])";

/// Reads one row of `sql::select(R::COLLECTION)`'s columns as a record.
pub(super) fn record<R: Record>(row: &Row) -> PgResult<R> {
    let collection = R::COLLECTION;
    let id: Id = row.try_get(0).map_err(|e| Error::CorruptRow {
        table: collection.name(),
        id: 0,
        message: format!("column id cannot be read: {e}"),
    })?;
    let corrupt = |column: &str, message: String| Error::CorruptRow {
        table: collection.name(),
        id,
        message: format!("column {column} {message}"),
    };
    let mut cells = Vec::with_capacity(collection.columns().len());
    for (index, column) in collection.columns().iter().enumerate() {
        let cell = match column.kind {
            ColumnKind::Integer => row.try_get::<_, Option<i64>>(index).map(|v| v.map(Cell::Integer)),
            ColumnKind::Real => row.try_get::<_, Option<f64>>(index).map(|v| v.map(Cell::Real)),
            ColumnKind::Text => row.try_get::<_, Option<String>>(index).map(|v| v.map(Cell::Text)),
            ColumnKind::Json => row.try_get::<_, Option<Value>>(index).map(|v| v.map(Cell::Json)),
        }
        .map_err(|e| corrupt(column.name, format!("cannot be read: {e}")))?;
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(R::from_cells(CellReader::new(collection, cells))?)
}

/// The `SELECT` of every column of `collection`.
pub(super) fn select(collection: Collection) -> String {
    sql::select(collection)
}
