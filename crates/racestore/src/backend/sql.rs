//! The tables the SQL backends share: the original `race_data.db`'s names and columns, in its
//! order, so SQLite and PostgreSQL read and write the same shape.

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

/// One of the original's tables, with the columns racestore reads, in the original's order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// The table's name.
    pub(crate) name: &'static str,
    /// Its columns, comma separated, ready for a `SELECT`.
    pub(crate) columns: &'static str,
}

impl Table {
    /// `SELECT <columns> FROM <table>`, to which a `WHERE` and `ORDER BY id` are appended.
    pub(crate) fn select(&self) -> String {
        format!("SELECT {} FROM {}", self.columns, self.name)
    }

    /// The column names, one by one.
    pub(crate) fn column_names(&self) -> impl Iterator<Item = &'static str> {
        self.columns.split(", ")
    }
}

/// `race_sessions`.
pub(crate) const SESSIONS: Table = Table {
    name: "race_sessions",
    columns: "id, circuit, date, race_type, created_at, updated_at",
};

/// `driver_metrics`.
pub(crate) const DRIVER_METRICS: Table = Table {
    name: "driver_metrics",
    columns:
        "id, session_id, driver_id, consistency_index, aggression_score, sector_strength, pace_stability, \
              fatigue_dropoff, created_at",
};

/// `lap_data`.
pub(crate) const LAPS: Table = Table {
    name: "lap_data",
    columns:
        "id, session_id, driver_id, lap_number, lap_time, sector_1, sector_2, sector_3, lap_type, position, \
              created_at",
};

/// `predictions`.
pub(crate) const PREDICTIONS: Table = Table {
    name: "predictions",
    columns:
        "id, session_id, driver_id, prediction_type, prediction_value, model_path, confidence, created_at",
};

/// `simulations`.
pub(crate) const SIMULATIONS: Table = Table {
    name: "simulations",
    columns: "id, session_id, driver_paces, n_laps, iterations, results, created_at",
};

/// Every table racestore keeps records in, sessions first.
pub(crate) const TABLES: [Table; 5] = [SESSIONS, DRIVER_METRICS, LAPS, PREDICTIONS, SIMULATIONS];

/// The table holding `collection`.
pub(crate) fn table_of(collection: Collection) -> Table {
    match collection {
        Collection::Sessions => SESSIONS,
        Collection::DriverMetrics => DRIVER_METRICS,
        Collection::Laps => LAPS,
        Collection::Predictions => PREDICTIONS,
        Collection::Simulations => SIMULATIONS,
    }
}
