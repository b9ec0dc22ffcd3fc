//! The PostgreSQL backend: racestore's tables in one schema of a PostgreSQL database, shared by
//! any number of processes on any number of machines.
//!
//! The tables and columns are the SQL backend's, with PostgreSQL types (see
//! `migrations/0001_schema.sql`). On open, racestore applies its numbered migrations
//! (`migrations/NNNN_*.sql`) in one transaction holding an advisory lock, so two processes
//! opening a fresh database at once apply each exactly once; each is recorded in
//! `racestore_migrations`.
//!
//! Every call takes a connection from a small pool and runs as one transaction: validation
//! first (nothing reaches the server for bad input), then the session check and the insert.
//! The session check locks the session row (`FOR KEY SHARE`) until the save commits, so a
//! concurrent `delete_session` either sees the new record and deletes it too, or deletes first
//! and the save is `NotFound`. No id is drawn from a sequence before the checks pass, so a
//! rejected save uses no id. Lap saves hold an advisory lock while their ids are drawn, so a
//! batch's ids are consecutive even with other processes saving at the same time.

mod config;
mod error;
mod location;
mod pool;
mod rows;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row, Transaction};

pub use self::config::{PostgresUrl, TlsMode};
use self::error::{PgError, PgResult};
use self::pool::{Conn, Pool, Statements};
use crate::backend::sql::{self, Migration};
use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, CollectionVisitor, Counts, FilterValue, Id, IdMarks, Query, Record, Records,
    Session, SessionQuery,
};
use crate::store::{Batch, Durability, RaceStore, SavedIds, SessionSummary};

/// How many records [`RaceStore::read_snapshot`] reads at a time.
const SNAPSHOT_PAGE: usize = 10_000;

/// racestore's migrations, in the order they apply. Append only: never edit one that shipped.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_schema",
        sql: include_str!("migrations/0001_schema.sql"),
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

/// The table recording which migrations a schema has had.
const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS racestore_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// First key of racestore's advisory locks (`pg_advisory_xact_lock(class, hashtext(schema))`),
/// so they do not meet other applications' locks: held while migrating a schema.
const LOCK_CLASS_MIGRATIONS: i32 = 0x5243_0001;

/// First key of the advisory lock a save holds from drawing its ids until its commit is visible
/// (`pg_advisory_xact_lock(class, hashtext('schema.table'))`): one lock per table, so ids are
/// drawn and become visible in the same order.
const LOCK_CLASS_IDS: i32 = 0x5243_0002;

/// A store in one schema of a PostgreSQL database (`postgres://USER@HOST/DB?schema=NAME`).
///
/// Open it with [`PostgresStore::open`] or [`crate::open`]. Calls from many threads run at
/// once on a pool of up to `pool_size` connections (default 4); any number of processes may
/// use the same schema at once. A connection the server drops (a restart,
/// `pg_terminate_backend`) fails the calls running on it, and the next calls open a new one:
/// the store never needs reopening.
pub struct PostgresStore {
    url: PostgresUrl,
    durability: Durability,
    pool: Pool,
    /// Whether opening found the schema without racestore's tables and created them.
    created: bool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url.redacted())
            .field("schema", &self.url.schema())
            .field("pool_size", &self.url.pool_size())
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the server `url` names, creates the schema if missing, and applies any
    /// pending migration.
    ///
    /// Fails with [`Error::Backend`] naming the server (`HOST:PORT`) when it cannot be reached
    /// or refuses the login. With [`Durability::PowerLoss`], a server configured with
    /// `synchronous_commit = off` gets `on` for racestore's connections, so a save returns
    /// only once its commit is flushed to the server's disk; with [`Durability::Process`] the
    /// server's setting is kept (any committed transaction survives racestore crashing).
    pub fn open(url: &PostgresUrl, durability: Durability) -> Result<PostgresStore> {
        Self::open_with(url, durability, true)
    }

    /// [`open`](Self::open); without `create`, a schema without racestore's tables is an error
    /// and is left as it was (a schema that did not exist is not created).
    pub(super) fn open_with(
        url: &PostgresUrl,
        durability: Durability,
        create: bool,
    ) -> Result<PostgresStore> {
        let fail = |e: PgError| e.into_error(url);
        let tls = tls::connector(url.tls())
            .map_err(|message| Error::backend("postgres", format!("{url}: {message}")))?;
        let config = url.driver_config();
        let mut first = config
            .connect(tls.clone())
            .map_err(|e| fail(PgError::Connect(e)))?;
        let setup = durability_setup(&mut first, durability).map_err(fail)?;
        if let Some(sql) = setup {
            first.batch_execute(sql).map_err(|e| fail(e.into()))?;
        }
        let created = migrate(&mut first, url, create).map_err(fail)?;
        let connect = Box::new(move || {
            let mut client = config.connect(tls.clone()).map_err(PgError::Connect)?;
            if let Some(sql) = setup {
                client.batch_execute(sql)?;
            }
            Ok(client)
        });
        Ok(PostgresStore {
            pool: Pool::new(connect, url.pool_size(), first),
            url: url.clone(),
            durability,
            created,
        })
    }

    /// The store's URL (its [`Display`](fmt::Display) hides the password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// Runs `f` on a pooled connection, converting its errors to racestore's. A connection the
    /// failure may have broken is dropped, not given back.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> PgResult<T>) -> Result<T> {
        let run = || {
            let mut conn = self.pool.get()?;
            let out = f(&mut conn);
            if out.as_ref().is_err_and(PgError::breaks_connection) {
                conn.discard();
            }
            out
        };
        run().map_err(|e| e.into_error(&self.url))
    }

    /// Runs `f` in a transaction, committed when `f` succeeds and rolled back otherwise.
    fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &mut Statements) -> PgResult<T>,
    ) -> Result<T> {
        self.with_conn(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            let mut tx = client.transaction()?;
            let out = f(&mut tx, statements)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// The second key of `collection`'s id lock (see [`LOCK_CLASS_IDS`]), hashed by the server.
    fn id_lock(&self, collection: Collection) -> String {
        format!("{}.{}", self.url.schema(), collection.name())
    }

    /// Runs a prepared statement and maps every row, stopping at the first damaged one.
    fn select<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: fn(&Row) -> PgResult<T>,
    ) -> Result<Vec<T>> {
        self.with_conn(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            select_with(client, statements, sql, params, map)
        })
    }

    /// `Closed` on a closed store, for calls that have nothing to send to the server.
    fn check_open<T>(&self, value: T) -> Result<T> {
        if self.pool.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(value)
        }
    }
}

/// Runs a prepared statement on `client` and maps every row.
fn select_with<T>(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: fn(&Row) -> PgResult<T>,
) -> PgResult<Vec<T>> {
    let statement = statements.get(client, sql)?;
    client.query(&statement, params)?.iter().map(map).collect()
}

/// Inserts one group of validated records into the sessions they name, in one statement: the
/// new ids in input order, or `NotFound` naming the first unknown session (nothing stored).
fn insert_group(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    records: &Records,
    lock: &str,
) -> PgResult<Vec<Id>> {
    let collection = records.collection();
    let mut sessions = Vec::new();
    if collection != Collection::Sessions {
        let mut seen = HashSet::new();
        sessions = records
            .session_ids()
            .into_iter()
            .filter(|id| seen.insert(*id))
            .collect();
    }
    let json = serde_json::Value::Array(records.to_json());
    let sql = rows::insert_statement(collection);
    // A refused insert is retried only if every session it named exists by the time racestore
    // looks which did not: one was created in between.
    for _ in 0..3 {
        let ids = select_with(
            client,
            statements,
            &sql,
            &[&sessions, &json, &LOCK_CLASS_IDS, &lock],
            id_of,
        )?;
        if !ids.is_empty() {
            // The id lock and ORDER BY make this so, unless something other than racestore drew
            // ids from the table's sequence meanwhile: then say so rather than break the contract.
            let consecutive = ids.len() == records.len() && ids.windows(2).all(|w| w[1] == w[0] + 1);
            if !consecutive {
                return Err(Error::Backend {
                    backend: "postgres",
                    message: format!(
                        "{collection}: the records were given ids that are not consecutive ({} to {}); \
                         something other than racestore draws ids from the table's sequence",
                        ids.first().copied().unwrap_or_default(),
                        ids.last().copied().unwrap_or_default()
                    ),
                    retryable: false,
                    engine: None,
                }
                .into());
            }
            return Ok(ids);
        }
        // Refused: a session is unknown. In input order, so the error names the first record's
        // unknown session, as on every backend.
        let existing: HashSet<Id> =
            select_with(client, statements, rows::EXISTING_SESSIONS, &[&sessions], id_of)?
                .into_iter()
                .collect();
        if let Some(missing) = sessions.iter().find(|id| !existing.contains(id)) {
            return Err(Error::session_not_found(*missing).into());
        }
    }
    Err(Error::Backend {
        backend: "postgres",
        message: format!(
            "{collection}: a save was refused three times although its sessions exist; nothing was stored"
        ),
        retryable: true,
        engine: None,
    }
    .into())
}

/// Reads one collection's records a `SELECT` returns.
struct ReadRows<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut Statements,
    sql: &'a str,
    params: &'a [&'a (dyn ToSql + Sync)],
}

impl<C: GenericClient> CollectionVisitor for ReadRows<'_, C> {
    type Output = PgResult<Records>;
    fn visit<R: Record>(self) -> PgResult<Records> {
        let records = select_with(
            self.client,
            self.statements,
            self.sql,
            self.params,
            rows::record::<R>,
        )?;
        Ok(Records::of(records))
    }
}

/// The `SELECT` a query runs, with its values.
fn select_for(query: &Query) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    // Destructured so that a field added to Query cannot be silently ignored here.
    let Query {
        collection,
        session_id,
        filters,
        after_id,
        limit,
    } = query;
    let mut values: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(*after_id)];
    let mut conditions = vec!["id > $1".to_owned()];
    if let Some(session_id) = session_id {
        values.push(Box::new(*session_id));
        conditions.push(format!("{} = ${}", collection.session_column(), values.len()));
    }
    for filter in filters {
        values.push(match &filter.value {
            FilterValue::Text(text) => Box::new(text.clone()),
            FilterValue::Integer(i) => Box::new(*i),
        });
        conditions.push(format!("{} = ${}", sql::quoted(filter.column), values.len()));
    }
    let mut sql = format!(
        "{} WHERE {} ORDER BY id",
        rows::select(*collection),
        conditions.join(" AND ")
    );
    if let Some(limit) = limit {
        values.push(Box::new(i64::try_from(*limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ${}", values.len()));
    }
    (sql, values)
}

impl RaceStore for PostgresStore {
    fn save(&self, batch: &Batch) -> Result<SavedIds> {
        // Checked before the server is asked anything: bad input never reaches it.
        let now = now_timestamp();
        let valid = batch.validate(&mut IdMarks::from_fn(|_| 1), &now)?;
        if valid.is_empty() {
            return self.check_open(SavedIds::default());
        }
        let locks: Vec<String> = Collection::ALL.iter().map(|c| self.id_lock(*c)).collect();
        let groups = valid.records.iter().filter(|g| !g.is_empty()).count();
        if let (Some(session), 0) = (&valid.session, groups) {
            // One statement, one round trip: a session on its own.
            let lock = &locks[Collection::Sessions.index()];
            let ids = self.with_conn(|conn| {
                let Conn {
                    client, statements, ..
                } = conn;
                insert_group(client, statements, &Records::of(vec![session.clone()]), lock)
            })?;
            return Ok(SavedIds {
                session: ids.first().copied(),
                records: valid.records.iter().map(|_| Vec::new()).collect(),
            });
        }
        if valid.session.is_none() && groups == 1 {
            // One statement, one round trip: the common case of laps (or a metric) into a session.
            let group = valid.records.iter().find(|g| !g.is_empty()).expect("one group");
            let ids = self.with_conn(|conn| {
                let Conn {
                    client, statements, ..
                } = conn;
                insert_group(client, statements, group, &locks[group.collection().index()])
            })?;
            return Ok(SavedIds {
                session: None,
                records: valid
                    .records
                    .iter()
                    .map(|g| if g.is_empty() { Vec::new() } else { ids.clone() })
                    .collect(),
            });
        }
        self.in_transaction(|tx, statements| {
            let mut saved = SavedIds::default();
            let mut session_id = None;
            if let Some(session) = &valid.session {
                let lock = &locks[Collection::Sessions.index()];
                let ids = insert_group(tx, statements, &Records::of(vec![session.clone()]), lock)?;
                session_id = ids.first().copied();
                saved.session = session_id;
            }
            for group in &batch.records {
                let mut group = group.clone();
                if let Some(id) = session_id {
                    group.set_session_id(id);
                }
                let records = Batch::records(group).validate(&mut IdMarks::from_fn(|_| 1), &now)?;
                let records = records.records.into_iter().next().expect("one group");
                if records.is_empty() {
                    saved.records.push(Vec::new());
                    continue;
                }
                let lock = &locks[records.collection().index()];
                saved.records.push(insert_group(tx, statements, &records, lock)?);
            }
            Ok(saved)
        })
    }

    fn read(&self, query: &Query) -> Result<Records> {
        let (sql, values) = select_for(query);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(std::convert::AsRef::as_ref).collect();
        self.with_conn(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            query.collection.visit(ReadRows {
                client,
                statements,
                sql: &sql,
                params: &params,
            })
        })
    }

    fn session_summaries(&self, query: &SessionQuery) -> Result<Vec<SessionSummary>> {
        let sessions: Vec<Session> = self.read(&Query::from(query))?.into_vec().unwrap_or_default();
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Id> = sessions.iter().map(|s| s.id).collect();
        let mut counts: HashMap<Id, Counts> = HashMap::new();
        // Laps are counted with their drivers and best lap below, in the one scan of the largest
        // table; the other collections by a count each.
        for collection in Collection::ALL
            .into_iter()
            .filter(|c| !matches!(c, Collection::Sessions | Collection::Laps))
        {
            let sql = format!(
                "SELECT session_id, count(*) FROM {} WHERE session_id = ANY($1::bigint[]) GROUP BY session_id",
                collection.name()
            );
            for (session_id, n) in self.select(&sql, &[&ids], |row| {
                Ok((row.try_get::<_, Id>(0)?, row.try_get::<_, i64>(1)?))
            })? {
                counts
                    .entry(session_id)
                    .or_default()
                    .set(collection, n.unsigned_abs());
            }
        }
        // Grouped by session and driver first, then by session: two hash aggregates over one
        // scan, where `count(DISTINCT driver_id)` sorted every lap (1.1 s against 0.6 s at 1M laps).
        let laps: HashMap<Id, (u64, u64, Option<f64>)> = self
            .select(
                "SELECT session_id, sum(laps)::bigint, count(*), min(best) FROM \
                 (SELECT session_id, driver_id, count(*) AS laps, min(lap_time) AS best \
                  FROM lap_data WHERE session_id = ANY($1::bigint[]) \
                  GROUP BY session_id, driver_id) AS per_driver \
                 GROUP BY session_id",
                &[&ids],
                |row| {
                    Ok((
                        row.try_get::<_, Id>(0)?,
                        (
                            row.try_get::<_, i64>(1)?.unsigned_abs(),
                            row.try_get::<_, i64>(2)?.unsigned_abs(),
                            row.try_get::<_, Option<f64>>(3)?,
                        ),
                    ))
                },
            )?
            .into_iter()
            .collect();
        Ok(sessions
            .into_iter()
            .map(|session| {
                let mut counts = counts.get(&session.id).copied().unwrap_or_default();
                counts.set(Collection::Sessions, 1);
                let (lap_count, drivers, best_lap) = laps.get(&session.id).copied().unwrap_or((0, 0, None));
                counts.set(Collection::Laps, lap_count);
                SessionSummary {
                    session,
                    counts,
                    drivers,
                    best_lap,
                }
            })
            .collect())
    }

    fn delete_session(&self, session_id: Id) -> Result<Counts> {
        self.in_transaction(|tx, statements| {
            // Waits for saves into the session to commit (they hold it FOR KEY SHARE); saves that
            // come later wait for this delete, then find no session. Each DELETE below runs with
            // a snapshot taken after the lock, so it sees every record those saves committed.
            let lock = statements.get(tx, "SELECT id FROM race_sessions WHERE id = $1 FOR UPDATE")?;
            if tx.query_opt(&lock, &[&session_id])?.is_none() {
                return Err(Error::session_not_found(session_id).into());
            }
            let mut counts = Counts::default();
            // Children first, the session last.
            for collection in Collection::ALL.into_iter().rev() {
                let sql = format!(
                    "DELETE FROM {} WHERE {} = $1",
                    collection.name(),
                    collection.session_column()
                );
                let statement = statements.get(tx, &sql)?;
                counts.set(collection, tx.execute(&statement, &[&session_id])?);
            }
            Ok(counts)
        })
    }

    fn delete_orphans(&self) -> Result<Counts> {
        self.in_transaction(|tx, statements| {
            let mut counts = Counts::default();
            for collection in Collection::ALL.into_iter().skip(1) {
                let sql = format!(
                    "DELETE FROM {table} WHERE {column} IS NULL OR NOT EXISTS \
                     (SELECT 1 FROM {sessions} s WHERE s.id = {table}.{column})",
                    table = collection.name(),
                    column = collection.session_column(),
                    sessions = Collection::Sessions.name(),
                );
                let statement = statements.get(tx, &sql)?;
                counts.set(collection, tx.execute(&statement, &[])?);
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
                .map(|c| format!("(SELECT count(*) FROM {})", c.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let counts = self.select(&sql, &[], |row| {
            let mut counts = Counts::default();
            for collection in Collection::ALL {
                // count(*) is never negative.
                counts.set(
                    collection,
                    row.try_get::<_, i64>(collection.index())?.unsigned_abs(),
                );
            }
            Ok(counts)
        })?;
        Ok(counts.into_iter().next().unwrap_or_default())
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return self.check_open(());
        }
        let collection = records.collection();
        let lock = self.id_lock(collection);
        let json = serde_json::Value::Array(records.to_json());
        self.in_transaction(|tx, _| {
            // The id lock keeps saves out until this commits, as for every save.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))",
                &[&LOCK_CLASS_IDS, &lock],
            )?;
            let highest: Id = tx
                .query_one(&rows::highest_id_given(collection), &[&collection.name()])?
                .get(0);
            records.validate_import(highest)?;
            if collection != Collection::Sessions {
                let sessions: Vec<Id> = records.session_ids();
                let existing: HashSet<Id> = tx
                    .query(
                        "SELECT id FROM race_sessions WHERE id = ANY($1::bigint[]) FOR KEY SHARE",
                        &[&sessions],
                    )?
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                if let Some(missing) = sessions.iter().find(|id| !existing.contains(id)) {
                    return Err(Error::session_not_found(*missing).into());
                }
            }
            // One round trip for the whole page: the rows travel as one JSON array.
            let sql = format!(
                "INSERT INTO {name} ({columns}) OVERRIDING SYSTEM VALUE \
                 SELECT {columns} FROM json_populate_recordset(NULL::{name}, $1::json)",
                name = collection.name(),
                columns = sql::column_list(collection)
            );
            tx.execute(&sql, &[&json])?;
            let last = records.ids().last().copied().unwrap_or(highest);
            tx.execute(
                "SELECT setval(pg_get_serial_sequence($1::text, 'id'), $2::bigint)",
                &[&collection.name(), &last],
            )?;
            Ok(())
        })
    }

    /// A PostgreSQL schema has no format on disk: [`crate::transfer::backup`] copies
    /// [`read_snapshot`](RaceStore::read_snapshot) into a JSON directory instead.
    fn backup(&self, destination: &Path) -> Result<()> {
        Err(Error::Unsupported {
            url: self.url.to_string(),
            message: format!(
                "a PostgreSQL store has no file to copy to {}; back it up with racestore::backup, \
                 which writes a JSON directory from one snapshot",
                destination.display()
            ),
        })
    }

    fn read_snapshot(&self, each: &mut dyn FnMut(&Records) -> Result<()>) -> Result<IdMarks> {
        let mut failure = None;
        let marks = self.with_conn(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                let highest: Id = tx
                    .query_one(&rows::highest_id_given(collection), &[&collection.name()])?
                    .get(0);
                marks.set(collection, highest);
            }
            for collection in Collection::ALL {
                let mut after: Id = 0;
                loop {
                    let (sql, values) = select_for(&Query::page(collection, after, SNAPSHOT_PAGE));
                    let params: Vec<&(dyn ToSql + Sync)> =
                        values.iter().map(std::convert::AsRef::as_ref).collect();
                    let page = collection.visit(ReadRows {
                        client: &mut tx,
                        statements,
                        sql: &sql,
                        params: &params,
                    })?;
                    let Some(&last) = page.ids().last() else { break };
                    if let Err(error) = each(&page) {
                        failure = Some(error);
                        return Ok(marks);
                    }
                    after = last;
                }
            }
            tx.commit()?;
            Ok(marks)
        })?;
        match failure {
            Some(error) => Err(error),
            None => Ok(marks),
        }
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        self.with_conn(|conn| {
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                let highest: Id = conn
                    .client
                    .query_one(&rows::highest_id_given(collection), &[&collection.name()])?
                    .get(0);
                marks.set(collection, highest);
            }
            Ok(marks)
        })
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        let locks: Vec<String> = Collection::ALL.iter().map(|c| self.id_lock(*c)).collect();
        self.in_transaction(|tx, _| {
            for (collection, lock) in Collection::ALL.iter().zip(&locks) {
                let mark = marks.get(*collection);
                // The id lock keeps saves out until this commits, as for every save.
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))",
                    &[&LOCK_CLASS_IDS, lock],
                )?;
                let highest: Id = tx
                    .query_one(&rows::highest_id_given(*collection), &[&collection.name()])?
                    .get(0);
                if mark > highest {
                    tx.execute(
                        "SELECT setval(pg_get_serial_sequence($1::text, 'id'), $2::bigint)",
                        &[&collection.name(), &mark],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn close(&self) -> Result<()> {
        // Every acknowledged save is committed already; closing only lets the connections go.
        if self.pool.close() {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }
}

/// The id in column 0 of a `RETURNING id` (or `SELECT id`) row.
fn id_of(row: &Row) -> PgResult<Id> {
    Ok(row.try_get(0)?)
}

/// What every new connection runs before use for `durability`, if anything: with
/// [`Durability::PowerLoss`] on a server whose `synchronous_commit` is `off`, turning it on.
/// Warns when the server runs with `fsync = off`, which no setting of racestore can make safe.
fn durability_setup(client: &mut Client, durability: Durability) -> PgResult<Option<&'static str>> {
    if durability != Durability::PowerLoss {
        return Ok(None);
    }
    let row = client.query_one(
        "SELECT current_setting('synchronous_commit'), current_setting('fsync')",
        &[],
    )?;
    let (synchronous_commit, fsync): (String, String) = (row.try_get(0)?, row.try_get(1)?);
    if fsync == "off" {
        tracing::warn!(
            "the PostgreSQL server runs with fsync = off: a power cut can lose or corrupt what racestore saved"
        );
    }
    Ok((synchronous_commit == "off").then_some("SET synchronous_commit TO on"))
}

/// Creates the schema if missing and applies every migration it has not had, in version order,
/// all in one transaction holding an advisory lock on the schema: two processes opening a fresh
/// database at once apply each migration exactly once, and a failure changes nothing. Returns
/// whether the schema had none of racestore's migrations before (a new store). Without `create`
/// such a schema is an error, and the transaction rolls back whatever it made.
fn migrate(client: &mut Client, url: &PostgresUrl, create: bool) -> PgResult<bool> {
    let schema = url.schema();
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS_MIGRATIONS, &schema],
    )?;
    let exists = tx
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?
        .is_some();
    if !exists {
        // The schema name was checked to be a plain lower-case SQL name: safe to write as it is.
        tx.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
        tracing::info!(url = %url, schema, "created schema");
    }
    tx.batch_execute(&format!("SET LOCAL search_path TO {schema}"))?;
    check_schema(&mut tx, url)?;
    tx.batch_execute(CREATE_MIGRATIONS_TABLE)?;
    let applied = tx
        .query("SELECT version FROM racestore_migrations", &[])?
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<std::result::Result<BTreeSet<i64>, _>>()?;
    if applied.is_empty() && !create {
        return Err(Error::backend(
            "postgres",
            format!(
                "{url}: there is no store in schema {schema} (a store is created only by a command that writes); \
                 nothing was changed"
            ),
        )
        .into());
    }
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(migration.sql).map_err(|e| {
            Error::backend(
                "postgres",
                format!(
                    "{url} (schema {schema}): applying migration {} failed ({}); nothing was changed",
                    migration.name,
                    error::PgError::from(e).into_error(url)
                ),
            )
        })?;
        tx.execute(
            "INSERT INTO racestore_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &now_timestamp()],
        )?;
        done.push(migration.name);
    }
    tx.commit()?;
    for name in done {
        tracing::info!(url = %url, schema, migration = name, "applied migration");
    }
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(version) = applied.last().copied().filter(|&v| v > newest) {
        tracing::warn!(
            url = %url,
            schema,
            version,
            newest,
            "the schema has a migration newer than this racestore knows; a newer racestore wrote it"
        );
    }
    Ok(applied.is_empty())
}

/// Checks that every racestore table that exists in the schema has the columns racestore reads,
/// so a schema holding other tables of the same names fails at open with a clear message, not
/// at the first read. Tables that do not exist yet are left to the migrations.
fn check_schema(client: &mut impl GenericClient, url: &PostgresUrl) -> PgResult<()> {
    let mut present: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in client.query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = $1",
        &[&url.schema()],
    )? {
        present
            .entry(row.try_get(0)?)
            .or_default()
            .insert(row.try_get(1)?);
    }
    for collection in Collection::ALL {
        let Some(columns) = present.get(collection.name()) else {
            continue;
        };
        let missing: Vec<&str> = collection
            .columns()
            .iter()
            .map(|c| c.name)
            .filter(|c| !columns.contains(*c))
            .collect();
        if !missing.is_empty() {
            return Err(Error::backend("postgres", format!(
                    "{url}: table {}.{} has no column {}, so it is not a racestore table; nothing was changed \
                     (use another schema with ?schema=NAME)",
                    url.schema(),
                    collection.name(),
                    missing.join(", ")
                ))
            .into());
        }
    }
    Ok(())
}
