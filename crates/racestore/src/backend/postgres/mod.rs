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
mod pool;
mod rows;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row, Transaction};

pub(crate) use self::config::redact_url;
pub use self::config::{PostgresUrl, TlsMode};
use self::error::{PgError, PgResult};
use self::pool::{Conn, Pool, Statements};
use self::rows::{LapColumns, Table};
use crate::backend::sql::Migration;
use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, Counts, DriverMetrics, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewLap,
    NewPrediction, NewSession, NewSimulation, Prediction, Records, Session, SessionQuery, Simulation,
};
use crate::store::RaceStore;
use crate::Durability;

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
        let fail = |e: PgError| e.into_error(url);
        let tls = tls::connector(url.tls()).map_err(|message| Error::Backend {
            backend: "postgres",
            message: format!("{url}: {message}"),
        })?;
        let config = url.driver_config();
        let mut first = config
            .connect(tls.clone())
            .map_err(|e| fail(PgError::Connect(e)))?;
        let setup = durability_setup(&mut first, durability).map_err(fail)?;
        if let Some(sql) = setup {
            first.batch_execute(sql).map_err(|e| fail(e.into()))?;
        }
        migrate(&mut first, url).map_err(fail)?;
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

    /// The second key of `table`'s id lock (see [`LOCK_CLASS_IDS`]), hashed by the server.
    fn id_lock(&self, table: Table) -> String {
        format!("{}.{}", self.url.schema(), table.name)
    }

    /// Runs one statement returning `id`s: the rows' ids, in the order returned.
    fn insert(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Id>> {
        self.select(sql, params, id_of)
    }

    /// Runs a prepared `SELECT` and maps every row, stopping at the first damaged one.
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
            let statement = statements.get(client, sql)?;
            client.query(&statement, params)?.iter().map(map).collect()
        })
    }

    /// The records of one session in `table`, in id order.
    fn session_records<T>(
        &self,
        table: Table,
        session_id: Id,
        map: fn(&Row) -> PgResult<T>,
    ) -> Result<Vec<T>> {
        let sql = format!("{} WHERE session_id = $1 ORDER BY id", table.select());
        self.select(&sql, &[&session_id], map)
    }

    /// Runs one of the `INSERT ... SELECT ... FROM session` statements of [`rows`]: the id of the
    /// new record, or `NotFound` when the session does not exist (and then nothing was stored).
    fn insert_into_session(&self, session_id: Id, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Id> {
        match self.insert(sql, params)?.first() {
            Some(id) => Ok(*id),
            None => Err(Error::session_not_found(session_id)),
        }
    }
}

impl RaceStore for PostgresStore {
    fn create_session(&self, session: &NewSession) -> Result<Id> {
        let now = now_timestamp();
        let r = session.validate(0, &now)?;
        let lock = self.id_lock(rows::SESSIONS);
        let ids = self.insert(
            rows::INSERT_SESSION,
            &[
                &r.circuit,
                &r.date,
                &r.race_type,
                &r.created_at,
                &r.updated_at,
                &LOCK_CLASS_IDS,
                &lock,
            ],
        )?;
        ids.first().copied().ok_or_else(|| Error::Backend {
            backend: "postgres",
            message: format!("{}: inserting a session returned no id", self.url),
        })
    }

    fn save_driver_metrics(&self, metrics: &NewDriverMetrics) -> Result<Id> {
        let now = now_timestamp();
        let r = metrics.validate(0, &now)?;
        self.insert_into_session(
            r.session_id,
            rows::INSERT_DRIVER_METRICS,
            &[
                &r.session_id,
                &r.driver_id,
                &r.consistency_index,
                &r.aggression_score,
                &r.sector_strength,
                &r.pace_stability,
                &r.fatigue_dropoff,
                &r.created_at,
                &LOCK_CLASS_IDS,
                &self.id_lock(rows::DRIVER_METRICS),
            ],
        )
    }

    fn save_laps(&self, laps: &[NewLap]) -> Result<Vec<Id>> {
        let now = now_timestamp();
        let records = laps
            .iter()
            .map(|lap| lap.validate(0, &now))
            .collect::<Result<Vec<Lap>>>()?;
        if records.is_empty() {
            // Nothing to store; still `Closed` on a closed store, like every other call.
            return if self.pool.is_closed() {
                Err(Error::Closed)
            } else {
                Ok(Vec::new())
            };
        }
        let mut sessions = Vec::new();
        let mut seen = HashSet::new();
        for lap in &records {
            if seen.insert(lap.session_id) {
                sessions.push(lap.session_id);
            }
        }
        let c = LapColumns::new(&records);
        let lock = self.id_lock(rows::LAPS);
        // A refused batch is retried only if every session it named exists by the time racestore
        // looks which did not: one was created in between.
        for _ in 0..3 {
            let ids = self.insert(
                rows::INSERT_LAPS,
                &[
                    &c.session_id,
                    &c.driver_id,
                    &c.lap_number,
                    &c.lap_time,
                    &c.sector_1,
                    &c.sector_2,
                    &c.sector_3,
                    &c.lap_type,
                    &c.position,
                    &now,
                    &LOCK_CLASS_IDS,
                    &lock,
                    &sessions,
                ],
            )?;
            if !ids.is_empty() {
                // The id lock and ORDER BY make this so; the contract depends on it.
                let consecutive = ids.len() == records.len() && ids.windows(2).all(|w| w[1] == w[0] + 1);
                if !consecutive {
                    tracing::error!(url = %self.url, ?ids, "a lap batch was given ids that are not consecutive");
                    debug_assert!(consecutive, "ids not consecutive: {ids:?}");
                }
                return Ok(ids);
            }
            // Refused: a session is unknown. In input order, so the error names the first lap's
            // unknown session, as on every backend.
            let existing: HashSet<Id> = self
                .select(rows::EXISTING_SESSIONS, &[&sessions], id_of)?
                .into_iter()
                .collect();
            if let Some(lap) = records.iter().find(|lap| !existing.contains(&lap.session_id)) {
                return Err(Error::session_not_found(lap.session_id));
            }
        }
        Err(Error::Backend {
            backend: "postgres",
            message: format!(
                "{}: a batch of laps was refused three times although its sessions exist; nothing was stored",
                self.url
            ),
        })
    }

    fn save_prediction(&self, prediction: &NewPrediction) -> Result<Id> {
        let now = now_timestamp();
        let r = prediction.validate(0, &now)?;
        self.insert_into_session(
            r.session_id,
            rows::INSERT_PREDICTION,
            &[
                &r.session_id,
                &r.driver_id,
                &r.prediction_type,
                &r.prediction_value,
                &r.model_path,
                &r.confidence,
                &r.created_at,
                &LOCK_CLASS_IDS,
                &self.id_lock(rows::PREDICTIONS),
            ],
        )
    }

    fn save_simulation(&self, simulation: &NewSimulation) -> Result<Id> {
        let now = now_timestamp();
        let r = simulation.validate(0, &now)?;
        self.insert_into_session(
            r.session_id,
            rows::INSERT_SIMULATION,
            &[
                &r.session_id,
                &r.driver_paces,
                &r.n_laps,
                &r.iterations,
                &r.results,
                &r.created_at,
                &LOCK_CLASS_IDS,
                &self.id_lock(rows::SIMULATIONS),
            ],
        )
    }

    fn get_session(&self, session_id: Id) -> Result<Option<Session>> {
        let sql = format!("{} WHERE id = $1", rows::SESSIONS.select());
        Ok(self
            .select(&sql, &[&session_id], rows::session)?
            .into_iter()
            .next())
    }

    fn get_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>> {
        // Destructured so that a filter added to SessionQuery cannot be silently ignored here.
        let SessionQuery { circuit } = query;
        let mut sql = rows::SESSIONS.select();
        let mut values: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(circuit) = circuit {
            sql.push_str(" WHERE circuit = $1");
            values.push(circuit);
        }
        sql.push_str(" ORDER BY id");
        self.select(&sql, &values, rows::session)
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
        let mut values: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(session_id) = session_id {
            values.push(session_id);
            conditions.push(format!("session_id = ${}", values.len()));
        }
        if let Some(driver_id) = driver_id {
            values.push(driver_id);
            conditions.push(format!("driver_id = ${}", values.len()));
        }
        if let Some(lap_type) = lap_type {
            values.push(lap_type);
            conditions.push(format!("lap_type = ${}", values.len()));
        }
        let mut sql = rows::LAPS.select();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        self.select(&sql, &values, rows::lap)
    }

    fn get_session_predictions(&self, session_id: Id) -> Result<Vec<Prediction>> {
        self.session_records(rows::PREDICTIONS, session_id, rows::prediction)
    }

    fn get_session_simulations(&self, session_id: Id) -> Result<Vec<Simulation>> {
        self.session_records(rows::SIMULATIONS, session_id, rows::simulation)
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
            let delete = |tx: &mut Transaction<'_>,
                          statements: &mut Statements,
                          table: &str,
                          key: &str|
             -> PgResult<u64> {
                let sql = format!("DELETE FROM {table} WHERE {key} = $1");
                let statement = statements.get(tx, &sql)?;
                Ok(tx.execute(&statement, &[&session_id])?)
            };
            Ok(Counts {
                driver_metrics: delete(tx, statements, rows::DRIVER_METRICS.name, "session_id")?,
                laps: delete(tx, statements, rows::LAPS.name, "session_id")?,
                predictions: delete(tx, statements, rows::PREDICTIONS.name, "session_id")?,
                simulations: delete(tx, statements, rows::SIMULATIONS.name, "session_id")?,
                sessions: delete(tx, statements, rows::SESSIONS.name, "id")?,
            })
        })
    }

    fn counts(&self) -> Result<Counts> {
        // One statement, so the five counts are of the same moment.
        let sql = "SELECT (SELECT count(*) FROM race_sessions), (SELECT count(*) FROM driver_metrics), \
                   (SELECT count(*) FROM lap_data), (SELECT count(*) FROM predictions), \
                   (SELECT count(*) FROM simulations)";
        let counts = self.select(sql, &[], |row| {
            // count(*) is never negative.
            let count = |index: usize| -> PgResult<u64> { Ok(row.try_get::<_, i64>(index)?.unsigned_abs()) };
            Ok(Counts {
                sessions: count(0)?,
                driver_metrics: count(1)?,
                laps: count(2)?,
                predictions: count(3)?,
                simulations: count(4)?,
            })
        })?;
        Ok(counts.into_iter().next().unwrap_or_default())
    }

    fn export_page(&self, collection: Collection, after_id: Id, limit: usize) -> Result<Records> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let Conn {
                client, statements, ..
            } = conn;
            export_page(client, statements, collection, after_id, limit)
        })
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return if self.pool.is_closed() {
                Err(Error::Closed)
            } else {
                Ok(())
            };
        }
        let table = rows::table_of(records.collection());
        let lock = self.id_lock(table);
        let json = serde_json::Value::Array(records.to_json());
        self.in_transaction(|tx, _| {
            // The id lock keeps saves out until this commits, as for every save.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))",
                &[&LOCK_CLASS_IDS, &lock],
            )?;
            let highest: Id = tx
                .query_one(&rows::highest_id_given(table), &[&table.name])?
                .get(0);
            records.validate_import(highest)?;
            if records.collection() != Collection::Sessions {
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
                name = table.name,
                columns = table.columns
            );
            tx.execute(&sql, &[&json])?;
            let last = records.ids().last().copied().unwrap_or(highest);
            tx.execute(
                "SELECT setval(pg_get_serial_sequence($1::text, 'id'), $2::bigint)",
                &[&table.name, &last],
            )?;
            Ok(())
        })
    }

    /// Writes the copy as a JSON directory (see [`crate::JsonStore`]), read from one snapshot
    /// (a `REPEATABLE READ` transaction) while other connections keep saving.
    fn backup(&self, destination: &Path) -> Result<()> {
        if destination.exists() {
            return Err(Error::invalid(
                "destination",
                format!(
                    "{} already exists; a backup goes to a new directory",
                    destination.display()
                ),
            ));
        }
        let copy = crate::JsonStore::open(destination, Durability::PowerLoss)?;
        self.with_conn(|conn| {
            let Conn { client, .. } = conn;
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let mut statements = Statements::default();
            for collection in Collection::ALL {
                let mut after = 0;
                loop {
                    let page = export_page(&mut tx, &mut statements, collection, after, 10_000)?;
                    let Some(&last) = page.ids().last() else { break };
                    copy.import(&page)?;
                    after = last;
                }
            }
            tx.commit()?;
            Ok(())
        })?;
        copy.close()
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        self.with_conn(|conn| {
            let mut marks = IdMarks::default();
            for collection in Collection::ALL {
                let table = rows::table_of(collection);
                let highest: Id = conn
                    .client
                    .query_one(&rows::highest_id_given(table), &[&table.name])?
                    .get(0);
                marks.set(collection, highest);
            }
            Ok(marks)
        })
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        let locks: Vec<String> = Collection::ALL
            .iter()
            .map(|c| self.id_lock(rows::table_of(*c)))
            .collect();
        self.in_transaction(|tx, _| {
            for (collection, lock) in Collection::ALL.iter().zip(&locks) {
                let table = rows::table_of(*collection);
                let mark = marks.get(*collection);
                // The id lock keeps saves out until this commits, as for every save.
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))",
                    &[&LOCK_CLASS_IDS, lock],
                )?;
                let highest: Id = tx
                    .query_one(&rows::highest_id_given(table), &[&table.name])?
                    .get(0);
                if mark > highest {
                    tx.execute(
                        "SELECT setval(pg_get_serial_sequence($1::text, 'id'), $2::bigint)",
                        &[&table.name, &mark],
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

/// Up to `limit` records of `collection` with ids above `after_id`, in id order.
fn export_page(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    collection: Collection,
    after_id: Id,
    limit: i64,
) -> PgResult<Records> {
    let table = rows::table_of(collection);
    let sql = format!("{} WHERE id > $1 ORDER BY id LIMIT $2", table.select());
    let statement = statements.get(client, &sql)?;
    let found = client.query(&statement, &[&after_id, &limit])?;
    fn all<T>(found: &[Row], map: fn(&Row) -> PgResult<T>) -> PgResult<Vec<T>> {
        found.iter().map(map).collect()
    }
    Ok(match collection {
        Collection::Sessions => Records::Sessions(all(&found, rows::session)?),
        Collection::DriverMetrics => Records::DriverMetrics(all(&found, rows::driver_metrics)?),
        Collection::Laps => Records::Laps(all(&found, rows::lap)?),
        Collection::Predictions => Records::Predictions(all(&found, rows::prediction)?),
        Collection::Simulations => Records::Simulations(all(&found, rows::simulation)?),
    })
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
/// database at once apply each migration exactly once, and a failure changes nothing.
fn migrate(client: &mut Client, url: &PostgresUrl) -> PgResult<()> {
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
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(migration.sql).map_err(|e| Error::Backend {
            backend: "postgres",
            message: format!(
                "{url} (schema {schema}): applying migration {} failed ({}); nothing was changed",
                migration.name,
                error::PgError::from(e).into_error(url)
            ),
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
    Ok(())
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
    for table in rows::TABLES {
        let Some(columns) = present.get(table.name) else {
            continue;
        };
        let missing: Vec<&str> = table.column_names().filter(|c| !columns.contains(*c)).collect();
        if !missing.is_empty() {
            return Err(Error::Backend {
                backend: "postgres",
                message: format!(
                    "{url}: table {}.{} has no column {}, so it is not a racestore table; nothing was changed \
                     (use another schema with ?schema=NAME)",
                    url.schema(),
                    table.name,
                    missing.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(())
}
