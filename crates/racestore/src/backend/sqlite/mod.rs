//! The SQLite backend: one database file, schema-compatible with the original `race_data.db`.
//!
//! The tables and columns are the original's, so a database the original GR Race Guardian wrote
//! opens as it is, and one racestore wrote reads in the original. On open, racestore applies its
//! numbered migrations (`migrations/NNNN_*.sql`), recording each in `racestore_migrations`; they
//! only ever create what is missing (tables, indexes), never drop or rewrite anything.
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction: the input is validated first, the
//! session checked, the rows inserted and committed, or nothing is. Ids come from
//! `AUTOINCREMENT`, so an id is never given twice, even after a delete.

mod error;
mod rows;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior};

use self::error::{SqlError, SqlResult};
use self::rows::Table;
use crate::backend::sql::Migration;
use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, Counts, DriverMetrics, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewLap,
    NewPrediction, NewSession, NewSimulation, Prediction, Records, Session, SessionQuery, Simulation,
};
use crate::store::RaceStore;
use crate::Durability;

/// How long a call waits for another connection's write lock before giving up as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// racestore's migrations, in the order they apply. Append only: never edit one that shipped.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_original_schema",
        sql: include_str!("migrations/0001_original_schema.sql"),
    },
    Migration {
        version: 2,
        name: "0002_indexes",
        sql: include_str!("migrations/0002_indexes.sql"),
    },
];

/// The table recording which migrations a database has had.
const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS racestore_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// A store in one SQLite database file (`sqlite:FILE`), schema-compatible with the original
/// GR Race Guardian `race_data.db`.
///
/// Open it with [`SqliteStore::open`] or [`crate::open`]. Calls on one store are serialized on
/// its single connection; several stores (or processes) may use the same file at once, each
/// write waiting up to 10 s for the others' write lock.
pub struct SqliteStore {
    path: PathBuf,
    durability: Durability,
    busy_timeout: Duration,
    /// `None` once [`RaceStore::close`] has run.
    conn: Mutex<Option<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (and its parent directory) if missing.
    ///
    /// Sets WAL journaling, a 10 s busy timeout, `foreign_keys=OFF` (as the original; racestore
    /// checks sessions itself) and `synchronous` `NORMAL` for [`Durability::Process`] or `FULL`
    /// for [`Durability::PowerLoss`], then applies any pending migration. A database the original
    /// system wrote keeps its tables, rows and id counters.
    pub fn open(path: &Path, durability: Durability) -> Result<SqliteStore> {
        Self::open_with_timeout(path, durability, BUSY_TIMEOUT)
    }

    /// [`open`](Self::open) with another busy timeout (tests use a short one).
    fn open_with_timeout(path: &Path, durability: Durability, busy_timeout: Duration) -> Result<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating the directory", parent, e))?;
        }
        let fail = |e: SqlError| e.into_error(path, busy_timeout);
        // No SQLITE_OPEN_URI: the path is a file name, even if it starts with `file:`.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| fail(e.into()))?;
        conn.busy_timeout(busy_timeout).map_err(|e| fail(e.into()))?;
        // Every step is idempotent, and a failed migration rolls back, so a busy database is
        // simply tried again: switching a fresh file to WAL while other connections open it too
        // can fail at once with SQLITE_BUSY (SQLite's deadlock avoidance skips the busy handler).
        let deadline = Instant::now() + busy_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match set_up(&mut conn, path, durability) {
                Err(SqlError::Sqlite(e)) if error::is_busy(&e) && Instant::now() < deadline => {
                    tracing::debug!(path = %path.display(), error = %e, "database busy while opening; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => {
                    result.map_err(fail)?;
                    break;
                }
            }
        }
        Ok(SqliteStore {
            path: path.to_owned(),
            durability,
            busy_timeout,
            conn: Mutex::new(Some(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, unless the store was closed. A panic in another call cannot leave the
    /// connection inside a transaction (rusqlite rolls back on drop), so a poisoned lock is used.
    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the open connection, converting its errors to racestore's.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> SqlResult<T>) -> Result<T> {
        let mut guard = self.lock();
        let conn = guard.as_mut().ok_or(Error::Closed)?;
        f(conn).map_err(|e| e.into_error(&self.path, self.busy_timeout))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed when `f` succeeds and rolled back
    /// otherwise.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> SqlResult<T>) -> Result<T> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// The records of one session in `table`, in id order.
    fn session_records<T>(
        &self,
        table: Table,
        session_id: Id,
        map: fn(&Row<'_>) -> SqlResult<T>,
    ) -> Result<Vec<T>> {
        let sql = format!("{} WHERE session_id = ?1 ORDER BY id", table.select());
        self.with_conn(|conn| select_all(conn, &sql, &[&session_id], map))
    }
}

impl RaceStore for SqliteStore {
    fn create_session(&self, session: &NewSession) -> Result<Id> {
        let now = now_timestamp();
        let record = session.validate(0, &now)?;
        self.write(|tx| rows::insert_session(tx, &record))
    }

    fn save_driver_metrics(&self, metrics: &NewDriverMetrics) -> Result<Id> {
        let now = now_timestamp();
        let record = metrics.validate(0, &now)?;
        self.write(|tx| {
            require_session(tx, record.session_id)?;
            rows::insert_driver_metrics(tx, &record)
        })
    }

    fn save_laps(&self, laps: &[NewLap]) -> Result<Vec<Id>> {
        let now = now_timestamp();
        let records = laps
            .iter()
            .map(|lap| lap.validate(0, &now))
            .collect::<Result<Vec<Lap>>>()?;
        if records.is_empty() {
            // Nothing to store; still `Closed` on a closed store, like every other call.
            return self.with_conn(|_| Ok(Vec::new()));
        }
        self.write(|tx| {
            // In input order, so the error names the first lap's unknown session, as on every backend.
            let mut checked = BTreeSet::new();
            for lap in &records {
                if checked.insert(lap.session_id) {
                    require_session(tx, lap.session_id)?;
                }
            }
            rows::insert_laps(tx, &records)
        })
    }

    fn save_prediction(&self, prediction: &NewPrediction) -> Result<Id> {
        let now = now_timestamp();
        let record = prediction.validate(0, &now)?;
        self.write(|tx| {
            require_session(tx, record.session_id)?;
            rows::insert_prediction(tx, &record)
        })
    }

    fn save_simulation(&self, simulation: &NewSimulation) -> Result<Id> {
        let now = now_timestamp();
        let record = simulation.validate(0, &now)?;
        self.write(|tx| {
            require_session(tx, record.session_id)?;
            rows::insert_simulation(tx, &record)
        })
    }

    fn get_session(&self, session_id: Id) -> Result<Option<Session>> {
        let sql = format!("{} WHERE id = ?1", rows::SESSIONS.select());
        let sessions = self.with_conn(|conn| select_all(conn, &sql, &[&session_id], rows::session))?;
        Ok(sessions.into_iter().next())
    }

    fn get_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>> {
        // Destructured so that a filter added to SessionQuery cannot be silently ignored here.
        let SessionQuery { circuit } = query;
        let mut sql = rows::SESSIONS.select();
        let mut values: Vec<&dyn ToSql> = Vec::new();
        if let Some(circuit) = circuit {
            sql.push_str(" WHERE circuit = ?");
            values.push(circuit);
        }
        sql.push_str(" ORDER BY id");
        self.with_conn(|conn| select_all(conn, &sql, &values, rows::session))
    }

    fn get_session_metrics(&self, session_id: Id) -> Result<Vec<DriverMetrics>> {
        self.session_records(rows::DRIVER_METRICS, session_id, rows::driver_metrics)
    }

    fn get_laps(&self, query: &LapQuery) -> Result<Vec<Lap>> {
        // Destructured so that a filter added to LapQuery cannot be silently ignored here.
        let LapQuery {
            session_id,
            driver_id,
            lap_type,
        } = query;
        let mut conditions = Vec::new();
        let mut values: Vec<&dyn ToSql> = Vec::new();
        if let Some(session_id) = session_id {
            conditions.push("session_id = ?");
            values.push(session_id);
        }
        if let Some(driver_id) = driver_id {
            conditions.push("driver_id = ?");
            values.push(driver_id);
        }
        if let Some(lap_type) = lap_type {
            conditions.push("lap_type = ?");
            values.push(lap_type);
        }
        let mut sql = rows::LAPS.select();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        self.with_conn(|conn| select_all(conn, &sql, &values, rows::lap))
    }

    fn get_session_predictions(&self, session_id: Id) -> Result<Vec<Prediction>> {
        self.session_records(rows::PREDICTIONS, session_id, rows::prediction)
    }

    fn get_session_simulations(&self, session_id: Id) -> Result<Vec<Simulation>> {
        self.session_records(rows::SIMULATIONS, session_id, rows::simulation)
    }

    fn delete_session(&self, session_id: Id) -> Result<Counts> {
        self.write(|tx| {
            require_session(tx, session_id)?;
            let delete = |table: &str, key: &str| -> SqlResult<u64> {
                let removed = tx
                    .prepare_cached(&format!("DELETE FROM {table} WHERE {key} = ?1"))?
                    .execute([session_id])?;
                Ok(removed as u64)
            };
            Ok(Counts {
                driver_metrics: delete(rows::DRIVER_METRICS.name, "session_id")?,
                laps: delete(rows::LAPS.name, "session_id")?,
                predictions: delete(rows::PREDICTIONS.name, "session_id")?,
                simulations: delete(rows::SIMULATIONS.name, "session_id")?,
                sessions: delete(rows::SESSIONS.name, "id")?,
            })
        })
    }

    fn counts(&self) -> Result<Counts> {
        // One statement, so the five counts are of the same moment.
        self.with_conn(|conn| {
            let counts = conn
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM race_sessions), (SELECT COUNT(*) FROM driver_metrics), \
                 (SELECT COUNT(*) FROM lap_data), (SELECT COUNT(*) FROM predictions), \
                 (SELECT COUNT(*) FROM simulations)",
                )?
                .query_row([], |row| {
                    // COUNT(*) is never negative.
                    let count = |index: usize| row.get::<_, i64>(index).map(|n| n.unsigned_abs());
                    Ok(Counts {
                        sessions: count(0)?,
                        driver_metrics: count(1)?,
                        laps: count(2)?,
                        predictions: count(3)?,
                        simulations: count(4)?,
                    })
                })?;
            Ok(counts)
        })
    }

    fn export_page(&self, collection: Collection, after_id: Id, limit: usize) -> Result<Records> {
        let sql = format!(
            "{} WHERE id > ?1 ORDER BY id LIMIT ?2",
            rows::table_of(collection).select()
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            rows::read_records(&mut stmt, &[&after_id, &limit], collection)
        })
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return self.with_conn(|_| Ok(()));
        }
        let table = rows::table_of(records.collection());
        self.write(|tx| {
            let highest = highest_id_given(tx, table)?;
            records.validate_import(highest)?;
            if records.collection() != Collection::Sessions {
                let mut checked = BTreeSet::new();
                for session_id in records.session_ids() {
                    if checked.insert(session_id) {
                        require_session(tx, session_id)?;
                    }
                }
            }
            rows::insert_records(tx, records)
        })
    }

    fn backup(&self, destination: &Path) -> Result<()> {
        if destination.exists() {
            return Err(Error::invalid(
                "destination",
                format!(
                    "{} already exists; a backup goes to a new file",
                    destination.display()
                ),
            ));
        }
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
        }
        let target = destination.to_string_lossy().into_owned();
        // VACUUM INTO reads one consistent snapshot: other connections and processes keep writing.
        self.with_conn(|conn| Ok(conn.execute("VACUUM INTO ?1", [target])?))?;
        Ok(())
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        self.with_conn(|conn| {
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                marks.set(collection, highest_id_given(conn, rows::table_of(collection))?);
            }
            Ok(marks)
        })
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        self.write(|tx| {
            for collection in Collection::ALL {
                let table = rows::table_of(collection);
                let mark = marks.get(collection);
                if mark > highest_id_given(tx, table)? {
                    // AUTOINCREMENT gives ids above sqlite_sequence's entry for the table.
                    let raised = tx.execute(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2",
                        params![mark, table.name],
                    )?;
                    if raised == 0 {
                        tx.execute(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES (?2, ?1)",
                            params![mark, table.name],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    fn close(&self) -> Result<()> {
        let conn = self.lock().take().ok_or(Error::Closed)?;
        // Best effort, without waiting: fold the WAL back into the database file and empty it,
        // so the file is complete on its own. Another connection using the file at the moment
        // makes this a no-op; the last connection to close checkpoints anyway.
        let checkpoint = conn
            .busy_timeout(Duration::ZERO)
            .and_then(|()| conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())));
        if let Err(e) = checkpoint {
            tracing::debug!(path = %self.path.display(), error = %e, "checkpoint on close skipped");
        }
        conn.close()
            .map_err(|(_, e)| SqlError::from(e).into_error(&self.path, self.busy_timeout))
    }
}

/// Readies a newly opened connection: checks the schema, sets the PRAGMAs, migrates.
fn set_up(conn: &mut Connection, path: &Path, durability: Durability) -> SqlResult<()> {
    // Checked before anything is written, so a database that is not one racestore can use is
    // left exactly as it was.
    check_schema(conn, path)?;
    configure(conn, durability)?;
    migrate(conn, path)
}

/// Sets the connection's PRAGMAs: WAL journaling, no foreign-key enforcement, and the
/// `synchronous` level the durability asks for.
fn configure(conn: &Connection, durability: Durability) -> SqlResult<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, "SQLite refused WAL journaling; continuing in this mode");
    }
    let synchronous = match durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA synchronous = {synchronous};"
    ))?;
    Ok(())
}

/// Applies every migration the database has not had, in version order, each in its own
/// `BEGIN IMMEDIATE` transaction that re-checks it under the write lock, so two processes
/// opening a fresh file at once apply each migration exactly once.
fn migrate(conn: &mut Connection, path: &Path) -> SqlResult<()> {
    let applied = applied_migrations(conn)?;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(CREATE_MIGRATIONS_TABLE)?;
        let done = tx
            .query_row(
                "SELECT 1 FROM racestore_migrations WHERE version = ?1",
                [migration.version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !done {
            tx.execute_batch(migration.sql).map_err(|e| Error::Backend {
                backend: "sqlite",
                message: format!(
                    "{}: applying migration {} failed ({e}); nothing was changed",
                    path.display(),
                    migration.name
                ),
            })?;
            tx.execute(
                "INSERT INTO racestore_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![migration.version, migration.name, now_timestamp()],
            )?;
        }
        tx.commit()?;
        if !done {
            tracing::info!(path = %path.display(), migration = migration.name, "applied migration");
        }
    }
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(version) = applied.last().copied().filter(|&v| v > newest) {
        tracing::warn!(
            path = %path.display(),
            version,
            newest,
            "the database has a migration newer than this racestore knows; a newer racestore wrote it"
        );
    }
    Ok(())
}

/// The versions recorded in `racestore_migrations`; none if the table does not exist yet.
fn applied_migrations(conn: &Connection) -> SqlResult<BTreeSet<i64>> {
    let exists = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'racestore_migrations'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        return Ok(BTreeSet::new());
    }
    let mut stmt = conn.prepare("SELECT version FROM racestore_migrations")?;
    let versions = stmt
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(versions)
}

/// Checks that every table that exists has the columns racestore reads, so a database with
/// other tables of the same names fails at open with a clear message, not at the first read.
/// Tables that do not exist yet are left to the migrations.
fn check_schema(conn: &Connection, path: &Path) -> SqlResult<()> {
    for table in rows::TABLES {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", table.name))?;
        let present: BTreeSet<String> = stmt
            .query_map([], |row| row.get(1))?
            .collect::<rusqlite::Result<_>>()?;
        if present.is_empty() {
            continue;
        }
        let missing: Vec<&str> = table.column_names().filter(|c| !present.contains(*c)).collect();
        if !missing.is_empty() {
            return Err(Error::Backend {
                backend: "sqlite",
                message: format!(
                    "{}: table {} has no column {}, so it is not a race_data.db schema racestore can use; \
                     nothing was changed",
                    path.display(),
                    table.name,
                    missing.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Fails with `NotFound` unless the session exists.
/// The highest id `table` has given: AUTOINCREMENT remembers it in `sqlite_sequence`, even
/// after the row holding it was deleted.
fn highest_id_given(conn: &Connection, table: Table) -> SqlResult<Id> {
    let sql = format!(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0), \
         coalesce((SELECT max(id) FROM {}), 0))",
        table.name
    );
    Ok(conn.query_row(&sql, [table.name], |row| row.get(0))?)
}

fn require_session(conn: &Connection, session_id: Id) -> SqlResult<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM race_sessions WHERE id = ?1")?
        .query_row([session_id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(Error::session_not_found(session_id).into())
    }
}

/// Runs a `SELECT` and maps every row, stopping at the first damaged one.
fn select_all<T>(
    conn: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
    map: fn(&Row<'_>) -> SqlResult<T>,
) -> SqlResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut cursor = stmt.query(values)?;
    let mut out = Vec::new();
    while let Some(row) = cursor.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// SQLite's own `PRAGMA integrity_check` of the file at `path`, opened read-only: every line it
/// reports, as problems (none when the database is sound).
pub(crate) fn integrity_check(path: &Path) -> Result<Vec<crate::check::Problem>> {
    let busy = BUSY_TIMEOUT;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| SqlError::from(e).into_error(path, busy))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| SqlError::from(e).into_error(path, busy))?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| SqlError::from(e).into_error(path, busy))?;
    Ok(lines
        .into_iter()
        .filter(|line| line != "ok")
        .map(|line| crate::check::Problem {
            location: path.display().to_string(),
            message: format!("SQLite integrity check: {line}"),
            repairable: false,
        })
        .collect())
}
