//! The mapping between the tables of `race_data.db` and racestore's model, for every
//! collection at once: each column is read and written as the kind the model gives it.
//!
//! Columns keep the original's names, order and declared types. JSON values (metric objects,
//! paces, results) are TEXT holding `serde_json::to_string(value)`; reading parses them back.
//! A row that does not hold what its column promises is [`Error::CorruptRow`] naming the column,
//! never a silently invented value.

use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{Connection, Row, ToSql};

use super::error::{SqlError, SqlResult};
use crate::backend::sql;
use crate::error::Error;
use crate::model::{
    Cell, CellReader, CellRef, Collection, CollectionVisitor, ColumnKind, Record, Records, RecordsVisitor,
};

/// Reads every row a query selecting `sql::select(collection)`'s columns returns.
pub(super) fn read_records(
    stmt: &mut rusqlite::Statement<'_>,
    values: &[&dyn ToSql],
    collection: Collection,
) -> SqlResult<Records> {
    struct Read<'a, 'b> {
        stmt: &'a mut rusqlite::Statement<'b>,
        values: &'a [&'a dyn ToSql],
    }
    impl CollectionVisitor for Read<'_, '_> {
        type Output = SqlResult<Records>;
        fn visit<R: Record>(self) -> SqlResult<Records> {
            let mut cursor = self.stmt.query(self.values)?;
            let mut out: Vec<R> = Vec::new();
            while let Some(row) = cursor.next()? {
                out.push(R::from_cells(CellReader::new(
                    R::COLLECTION,
                    cells(row, R::COLLECTION)?,
                ))?);
            }
            Ok(Records::of(out))
        }
    }
    collection.visit(Read { stmt, values })
}

/// One row's values, read as the model's column kinds.
fn cells(row: &Row<'_>, collection: Collection) -> SqlResult<Vec<Cell>> {
    let id = match row.get_ref(0)? {
        ValueRef::Integer(id) => id,
        _ => 0,
    };
    let corrupt = |column: &str, message: String| -> SqlError {
        Error::CorruptRow {
            table: collection.name(),
            id,
            message: format!("column {column} {message}"),
        }
        .into()
    };
    let mut out = Vec::with_capacity(collection.columns().len());
    for (index, column) in collection.columns().iter().enumerate() {
        let value = row.get_ref(index)?;
        out.push(match (column.kind, value) {
            (_, ValueRef::Null) => Cell::Null,
            (ColumnKind::Integer, ValueRef::Integer(i)) => Cell::Integer(i),
            (ColumnKind::Real, ValueRef::Real(f)) => Cell::Real(f),
            // An INTEGER stored in a REAL column reads as the same number.
            (ColumnKind::Real, ValueRef::Integer(i)) => Cell::Real(i as f64),
            (ColumnKind::Text, ValueRef::Text(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => Cell::Text(text.to_owned()),
                Err(e) => return Err(corrupt(column.name, format!("is not valid UTF-8: {e}"))),
            },
            (ColumnKind::Json, ValueRef::Text(bytes)) => match serde_json::from_slice(bytes) {
                Ok(json) => Cell::Json(json),
                Err(e) => {
                    return Err(corrupt(
                        column.name,
                        format!("does not hold valid JSON ({e}): {}", excerpt(bytes)),
                    ))
                }
            },
            (kind, other) => {
                let expected = match kind {
                    ColumnKind::Integer => "an integer",
                    ColumnKind::Real => "a number",
                    ColumnKind::Text => "text",
                    ColumnKind::Json => "JSON text",
                };
                return Err(corrupt(
                    column.name,
                    format!("holds {}, expected {expected}", describe(other)),
                ));
            }
        });
    }
    Ok(out)
}

/// A record's cell as SQLite stores it: JSON as JSON text, the rest as themselves.
struct SqlCell<'a>(CellRef<'a>);

impl ToSql for SqlCell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            CellRef::Null => ToSqlOutput::Owned(Sql::Null),
            CellRef::Integer(i) => ToSqlOutput::Owned(Sql::Integer(i)),
            CellRef::Real(f) => ToSqlOutput::Owned(Sql::Real(f)),
            CellRef::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            CellRef::Json(v) => ToSqlOutput::Owned(Sql::Text(
                serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            )),
        })
    }
}

/// Inserts records with their own ids and timestamps, one prepared statement for all.
pub(super) fn insert_records(conn: &Connection, records: &Records) -> SqlResult<()> {
    struct Insert<'a> {
        conn: &'a Connection,
    }
    impl RecordsVisitor for Insert<'_> {
        type Output = SqlResult<()>;
        fn visit<R: Record>(self, records: &[R]) -> SqlResult<()> {
            let collection = R::COLLECTION;
            let placeholders = vec!["?"; collection.columns().len()].join(", ");
            let statement = format!(
                "INSERT INTO {} ({}) VALUES ({placeholders})",
                collection.name(),
                sql::column_list(collection)
            );
            let mut stmt = self.conn.prepare_cached(&statement)?;
            for record in records {
                let cells: Vec<SqlCell<'_>> = record.cells().into_iter().map(SqlCell).collect();
                stmt.execute(rusqlite::params_from_iter(cells))?;
            }
            Ok(())
        }
    }
    records.visit(Insert { conn })
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
