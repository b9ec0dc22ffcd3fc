//! What the SQL backends share: each collection is a table named and laid out as the model
//! defines it (the original `race_data.db`'s names and columns, in its order), and the numbered
//! migrations that create and extend those tables.

use crate::model::Collection;

/// One numbered schema change (`migrations/NNNN_name.sql`), applied once per database (or
/// schema) in version order and recorded in `racestore_migrations`.
pub(crate) struct Migration {
    /// Its number, ascending from 1.
    pub(crate) version: i64,
    /// Its file name without `.sql`.
    pub(crate) name: &'static str,
    /// The statements it runs.
    pub(crate) sql: &'static str,
}

/// A column name quoted as an SQL identifier (`"group"`): a collection may name a column with
/// an SQL keyword, so every statement quotes the columns it names.
pub(crate) fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

/// The collection's columns, quoted, comma separated, in the model's order.
pub(crate) fn column_list(collection: Collection) -> String {
    collection
        .columns()
        .iter()
        .map(|c| quoted(c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT <columns> FROM <table>`, to which a `WHERE` and `ORDER BY id` are appended.
pub(crate) fn select(collection: Collection) -> String {
    format!("SELECT {} FROM {}", column_list(collection), collection.name())
}
