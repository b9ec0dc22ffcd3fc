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
mod location;
mod rows;
#[cfg(test)]
mod tests;

pub use location::SqliteLocation;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSql, Value as Sql};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use self::error::{SqlError, SqlResult};
use crate::backend::sql::{self, Migration};
use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, Counts, FilterValue, Id, IdMarks, Query, Records, Session, SessionQuery,
};
use crate::store::{Batch, Durability, OpenOptions, Problem, RaceStore, SavedIds, SessionSummary};

/// How many records [`RaceStore::read_snapshot`] reads at a time.
const SNAPSHOT_PAGE: i64 = 10_000;

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
    Migration {
        version: 3,
        name: "0003_entries",
        sql: include_str!("migrations/0003_entries.sql"),
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
    /// Opened with `mode=ro`: every write is refused.
    read_only: bool,
    busy_timeout: Duration,
    /// Whether opening found a database without any table and made it a new store.
    created: bool,
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
        Self::open_with_timeout(
            path,
            OpenOptions {
                durability,
                ..OpenOptions::default()
            },
            BUSY_TIMEOUT,
        )
    }

    /// Opens the database at `path` as `options` say. Read-only: the file must exist, nothing
    /// is created, migrated or changed, and every write is [`Error::ReadOnly`]. Otherwise a
    /// missing file is created when `options.create`, in a directory that must exist.
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<SqliteStore> {
        Self::open_with_timeout(path, *options, BUSY_TIMEOUT)
    }

    /// [`open_with`](Self::open_with) with another busy timeout (tests use a short one).
    fn open_with_timeout(path: &Path, options: OpenOptions, busy_timeout: Duration) -> Result<SqliteStore> {
        let durability = options.durability;
        if (options.read_only || !options.create) && !path.is_file() {
            return Err(no_store_here(path));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
            return Err(Error::io(
                "opening",
                parent,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the folder does not exist (is the path mistyped?); racestore creates a store only in a folder that exists",
                ),
            ));
        }
        if !options.read_only && on_read_only_filesystem(path) {
            return Err(Error::io(
                "opening for writing",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::ReadOnlyFilesystem,
                    "the store is on a read-only filesystem, so nothing can be saved or deleted there; \
                     read it with ?mode=ro (the commands that only read open it so)",
                ),
            ));
        }
        let fail = |e: SqlError| e.into_error(path, busy_timeout);
        let mut conn = if options.read_only {
            open_read_only(path)
        } else {
            // No SQLITE_OPEN_URI: the path is a file name, even if it starts with `file:`.
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        }
        .map_err(|e| fail(e.into()))?;
        conn.busy_timeout(busy_timeout).map_err(|e| fail(e.into()))?;
        if options.read_only {
            check_schema(&conn, path).map_err(fail)?;
            return Ok(SqliteStore {
                path: path.to_owned(),
                durability,
                read_only: true,
                busy_timeout,
                created: false,
                conn: Mutex::new(Some(conn)),
            });
        }
        // A file without any table is no store yet: only an open that may create one makes it one.
        if !options.create && check_schema(&conn, path).map_err(fail)? {
            return Err(no_store_here(path));
        }
        // Every step is idempotent, and a failed migration rolls back, so a busy database is
        // simply tried again: switching a fresh file to WAL while other connections open it too
        // can fail at once with SQLITE_BUSY (SQLite's deadlock avoidance skips the busy handler).
        let deadline = Instant::now() + busy_timeout;
        let mut pause = Duration::from_millis(1);
        let created = loop {
            match set_up(&mut conn, path, durability) {
                Err(SqlError::Sqlite(e)) if error::is_busy(&e) && Instant::now() < deadline => {
                    tracing::debug!(path = %path.display(), error = %e, "database busy while opening; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => break result.map_err(fail)?,
            }
        };
        if created {
            tracing::info!(path = %path.display(), "created a new SQLite store");
        }
        Ok(SqliteStore {
            path: path.to_owned(),
            durability,
            read_only: false,
            busy_timeout,
            created,
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
        if self.read_only {
            return Err(Error::ReadOnly {
                path: self.path.clone(),
            });
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl RaceStore for SqliteStore {
    fn save(&self, batch: &Batch) -> Result<SavedIds> {
        // Checked before the database is touched, so bad input never waits for the write lock;
        // checked again below with the ids the database gives.
        batch.validate(&mut IdMarks::from_fn(|_| 1), "")?;
        if batch.is_empty() {
            // Nothing to store; still `Closed` on a closed store, like every other call.
            return self.with_conn(|_| Ok(SavedIds::default()));
        }
        let now = now_timestamp();
        self.write(|tx| {
            // Only the collections the batch saves into: each lookup is a query.
            let mut next = IdMarks::default();
            if batch.session.is_some() {
                next.set(
                    Collection::Sessions,
                    highest_id_given(tx, Collection::Sessions)? + 1,
                );
            }
            for group in batch.records.iter().filter(|g| !g.is_empty()) {
                let collection = group.collection();
                if next.get(collection) == 0 {
                    next.set(collection, highest_id_given(tx, collection)? + 1);
                }
            }
            let valid = batch.validate(&mut next, &now)?;
            // In input order, so the error names the first unknown session, as on every backend.
            for session_id in valid.sessions_named() {
                require_session(tx, session_id)?;
            }
            if let Some(session) = &valid.session {
                rows::insert_records(tx, &Records::of(vec![session.clone()]))?;
            }
            for group in &valid.records {
                rows::insert_records(tx, group)?;
            }
            Ok(valid.ids())
        })
    }

    fn read(&self, query: &Query) -> Result<Records> {
        let (sql, values) = select_for(query);
        let values: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            rows::read_records(&mut stmt, &values, query.collection)
        })
    }

    fn session_summaries(&self, query: &SessionQuery) -> Result<Vec<SessionSummary>> {
        let sessions: Vec<Session> = self.read(&Query::from(query))?.into_vec().unwrap_or_default();
        if sessions.is_empty() {
            return self.with_conn(|_| Ok(Vec::new()));
        }
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let mut counts: HashMap<Id, Counts> = HashMap::new();
            for collection in Collection::ALL.into_iter().filter(|c| *c != Collection::Sessions) {
                let sql = format!(
                    "SELECT session_id, count(*) FROM {} GROUP BY session_id",
                    collection.name()
                );
                let mut stmt = tx.prepare_cached(&sql)?;
                let mut found = stmt.query([])?;
                while let Some(row) = found.next()? {
                    let (session_id, n): (Option<Id>, i64) = (row.get(0)?, row.get(1)?);
                    if let Some(session_id) = session_id {
                        counts.entry(session_id).or_default().set(collection, n.unsigned_abs());
                    }
                }
            }
            let mut laps: HashMap<Id, (u64, Option<f64>)> = HashMap::new();
            let mut stmt = tx.prepare_cached(
                "SELECT session_id, count(DISTINCT driver_id), min(lap_time) FROM lap_data GROUP BY session_id",
            )?;
            let mut found = stmt.query([])?;
            while let Some(row) = found.next()? {
                let (session_id, drivers, best): (Option<Id>, i64, Option<f64>) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                if let Some(session_id) = session_id {
                    laps.insert(session_id, (drivers.unsigned_abs(), best));
                }
            }
            Ok(sessions
                .into_iter()
                .map(|session| {
                    let mut counts = counts.get(&session.id).copied().unwrap_or_default();
                    counts.set(Collection::Sessions, 1);
                    let (drivers, best_lap) = laps.get(&session.id).copied().unwrap_or((0, None));
                    SessionSummary {
                        session,
                        counts,
                        drivers,
                        best_lap,
                    }
                })
                .collect())
        })
    }

    fn delete_session(&self, session_id: Id) -> Result<Counts> {
        self.write(|tx| {
            require_session(tx, session_id)?;
            let mut counts = Counts::default();
            // Children first, the session last.
            for collection in Collection::ALL.into_iter().rev() {
                let removed = tx
                    .prepare_cached(&format!(
                        "DELETE FROM {} WHERE {} = ?1",
                        collection.name(),
                        collection.session_column()
                    ))?
                    .execute([session_id])?;
                counts.set(collection, removed as u64);
            }
            Ok(counts)
        })
    }

    fn counts(&self) -> Result<Counts> {
        // One statement, so the counts are of the same moment.
        let sql = format!(
            "SELECT {}",
            Collection::ALL
                .iter()
                .map(|c| format!("(SELECT COUNT(*) FROM {})", c.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.with_conn(|conn| {
            let counts = conn.prepare_cached(&sql)?.query_row([], |row| {
                let mut counts = Counts::default();
                for collection in Collection::ALL {
                    // COUNT(*) is never negative.
                    counts.set(collection, row.get::<_, i64>(collection.index())?.unsigned_abs());
                }
                Ok(counts)
            })?;
            Ok(counts)
        })
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return self.with_conn(|_| Ok(()));
        }
        let collection = records.collection();
        self.write(|tx| {
            let highest = highest_id_given(tx, collection)?;
            records.validate_import(highest)?;
            if collection != Collection::Sessions {
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
        // Written under a temporary name and renamed once complete, so a backup cut short
        // leaves no file that opens as a store.
        let mut name = destination.file_name().unwrap_or_default().to_os_string();
        name.push(".racestore-partial");
        let partial = destination.with_file_name(name);
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
        }
        let _ = std::fs::remove_file(&partial);
        let target = partial.to_string_lossy().into_owned();
        // VACUUM INTO reads one consistent snapshot: other connections and processes keep writing.
        let vacuumed = {
            let mut guard = self.lock();
            let conn = guard.as_mut().ok_or(Error::Closed)?;
            conn.execute("VACUUM INTO ?1", [target])
                .map_err(|e| error::backup_error(e, &self.path, destination, self.busy_timeout))
        };
        let written = vacuumed.and_then(|_| {
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("syncing", &partial, e))?;
            std::fs::rename(&partial, destination).map_err(|e| Error::io("renaming", &partial, e))?;
            let parent = destination
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("syncing directory", parent, e))
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    fn read_snapshot(&self, each: &mut dyn FnMut(&Records) -> Result<()>) -> Result<IdMarks> {
        self.with_conn(|conn| {
            // One read transaction: every page is read from the same snapshot of the database.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                marks.set(collection, highest_id_given(&tx, collection)?);
            }
            for collection in Collection::ALL {
                let sql = format!("{} WHERE id > ?1 ORDER BY id LIMIT ?2", sql::select(collection));
                let mut after: Id = 0;
                loop {
                    let mut stmt = tx.prepare_cached(&sql)?;
                    let page = rows::read_records(&mut stmt, &[&after, &SNAPSHOT_PAGE], collection)?;
                    let Some(&last) = page.ids().last() else { break };
                    each(&page)?;
                    after = last;
                }
            }
            tx.commit()?;
            Ok(marks)
        })
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        self.with_conn(|conn| {
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                marks.set(collection, highest_id_given(conn, collection)?);
            }
            Ok(marks)
        })
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        self.write(|tx| {
            for collection in Collection::ALL {
                let mark = marks.get(collection);
                if mark > highest_id_given(tx, collection)? {
                    // AUTOINCREMENT gives ids above sqlite_sequence's entry for the table.
                    let raised = tx.execute(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2",
                        params![mark, collection.name()],
                    )?;
                    if raised == 0 {
                        tx.execute(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES (?2, ?1)",
                            params![mark, collection.name()],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    fn delete_orphans(&self) -> Result<Counts> {
        self.write(|tx| {
            let mut counts = Counts::default();
            for collection in Collection::ALL.into_iter().skip(1) {
                let column = collection.session_column();
                let removed = tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE {column} IS NULL OR {column} NOT IN (SELECT id FROM {sessions})",
                        table = collection.name(),
                        sessions = Collection::Sessions.name(),
                    ),
                    [],
                )?;
                counts.set(collection, removed as u64);
            }
            Ok(counts)
        })
    }

    fn close(&self) -> Result<()> {
        let conn = self.lock().take().ok_or(Error::Closed)?;
        if self.read_only {
            return conn
                .close()
                .map_err(|(_, e)| SqlError::from(e).into_error(&self.path, self.busy_timeout));
        }
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
/// A read-only connection to the database at `path`, which works on a read-only filesystem too.
///
/// A WAL database is read through its `-shm` index file, which SQLite creates beside it when
/// missing (a cleanly closed store has none); on a read-only filesystem it cannot, and a plain
/// read-only open fails. There, with no `-wal` file either, the database file holds every
/// committed write and nothing can change it through this filesystem, so it is opened
/// `immutable`: read without the index or locks. A `-wal` file left there (a writer that
/// crashed before the filesystem became read-only) keeps the plain open, whose error says what
/// is wrong, rather than reading without the commits it holds.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if on_read_only_filesystem(path) && !Path::new(&wal).exists() {
        tracing::debug!(path = %path.display(), "read-only filesystem: opening the database immutable");
        return Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI);
    }
    // No SQLITE_OPEN_URI: the path is a file name, even if it starts with `file:`.
    Connection::open_with_flags(path, flags)
}

/// Whether the file at `path` is on a filesystem mounted read-only: opening it for writing (which
/// changes nothing by itself) fails with `EROFS`.
fn on_read_only_filesystem(path: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ReadOnlyFilesystem)
}

/// The `file:` URI of `path` with `immutable=1`, every byte but unreserved ones and `/`
/// percent-encoded (so `?`, `#` and `%` in a name stay part of it).
fn immutable_uri(path: &Path) -> String {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut uri = String::from("file:");
    for &byte in absolute.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Opening without creating found no store at `path`.
fn no_store_here(path: &Path) -> Error {
    Error::io(
        "opening",
        path,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "there is no store here (a store is created only by a command that writes)",
        ),
    )
}

/// Makes the database a racestore store: checks it, configures the connection and migrates it;
/// returns whether it held no table before (a new store).
fn set_up(conn: &mut Connection, path: &Path, durability: Durability) -> SqlResult<bool> {
    // Checked before anything is written, so a database that is not one racestore can use is
    // left exactly as it was.
    let empty = check_schema(conn, path)?;
    configure(conn, durability)?;
    migrate(conn, path)?;
    Ok(empty)
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
            tx.execute_batch(migration.sql).map_err(|e| {
                Error::backend(
                    "sqlite",
                    format!(
                        "{}: applying migration {} failed ({e}); nothing was changed",
                        path.display(),
                        migration.name
                    ),
                )
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
/// Tables that do not exist yet are left to the migrations. Returns whether the database holds
/// no table at all.
fn check_schema(conn: &Connection, path: &Path) -> SqlResult<bool> {
    // A database of something else: tables, and none of them racestore's or the original's.
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let ours = tables
        .iter()
        .any(|t| t == "racestore_migrations" || Collection::ALL.iter().any(|c| c.name() == t));
    if !tables.is_empty() && !ours {
        return Err(Error::backend(
            "sqlite",
            format!(
                "{}: this SQLite database holds other tables ({}) and none of a race_data.db, so \
                 racestore does not read it as a store nor add its own tables to it; nothing was \
                 changed. Name a new file, or a racestore or GR Race Guardian database",
                path.display(),
                tables.join(", ")
            ),
        )
        .into());
    }
    for collection in Collection::ALL {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", collection.name()))?;
        let present: BTreeSet<String> = stmt
            .query_map([], |row| row.get(1))?
            .collect::<rusqlite::Result<_>>()?;
        if present.is_empty() {
            continue;
        }
        let missing: Vec<&str> = collection
            .columns()
            .iter()
            .map(|c| c.name)
            .filter(|c| !present.contains(*c))
            .collect();
        if !missing.is_empty() {
            return Err(Error::backend(
                "sqlite",
                format!(
                    "{}: table {} has no column {}, so it is not a race_data.db schema racestore can use; \
                     nothing was changed",
                    path.display(),
                    collection.name(),
                    missing.join(", ")
                ),
            )
            .into());
        }
    }
    Ok(tables.is_empty())
}

/// The highest id `collection`'s table has given: AUTOINCREMENT remembers it in
/// `sqlite_sequence`, even after the row holding it was deleted.
fn highest_id_given(conn: &Connection, collection: Collection) -> SqlResult<Id> {
    let sql = format!(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0), \
         coalesce((SELECT max(id) FROM {}), 0))",
        collection.name()
    );
    Ok(conn.query_row(&sql, [collection.name()], |row| row.get(0))?)
}

/// The `SELECT` a query runs, with its values.
fn select_for(query: &Query) -> (String, Vec<Sql>) {
    // Destructured so that a field added to Query cannot be silently ignored here.
    let Query {
        collection,
        session_id,
        filters,
        after_id,
        limit,
    } = query;
    let mut conditions = vec!["id > ?".to_owned()];
    let mut values = vec![Sql::Integer(*after_id)];
    if let Some(session_id) = session_id {
        conditions.push(format!("{} = ?", collection.session_column()));
        values.push(Sql::Integer(*session_id));
    }
    for filter in filters {
        conditions.push(format!("{} = ?", sql::quoted(filter.column)));
        values.push(match &filter.value {
            FilterValue::Text(text) => Sql::Text(text.clone()),
            FilterValue::Integer(i) => Sql::Integer(*i),
        });
    }
    let mut sql = format!(
        "{} WHERE {} ORDER BY id",
        sql::select(*collection),
        conditions.join(" AND ")
    );
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        values.push(Sql::Integer(i64::try_from(*limit).unwrap_or(i64::MAX)));
    }
    (sql, values)
}

/// Fails with `NotFound` unless the session exists.
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

/// SQLite's own `PRAGMA integrity_check` of the file at `path`, opened read-only: every line it
/// reports, as problems (none when the database is sound).
pub(crate) fn integrity_check(path: &Path) -> Result<Vec<Problem>> {
    let busy = BUSY_TIMEOUT;
    let conn = open_read_only(path).map_err(|e| SqlError::from(e).into_error(path, busy))?;
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
        .map(|line| Problem {
            location: path.display().to_string(),
            message: format!("SQLite integrity check: {line}"),
            repairable: false,
            repair_flag: None,
        })
        .collect())
}
