//! Unit tests of the PostgreSQL backend's own machinery: migrations, the pool, TLS, durability
//! settings and error mapping. Those needing a server use `RACESTORE_TEST_POSTGRES_URL` (each in
//! a schema of its own, dropped afterwards) and print SKIP without it, or fail when `CI` is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;
use crate::model::{NewLap, NewSession};
use crate::store::RaceStoreExt;

const URL_ENV: &str = "RACESTORE_TEST_POSTGRES_URL";

/// A fresh schema on the test server, dropped when this is dropped.
struct Schema {
    name: String,
    server: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let server = match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("{test}: {URL_ENV} is not set, and CI must not skip the PostgreSQL tests")
            }
            _ => {
                eprintln!("SKIP {test}: {URL_ENV} is not set");
                return None;
            }
        };
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "rs_unit_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Some(Schema { name, server })
    }

    /// The store URL for the schema, with `extra` options; connections show the schema's name as
    /// their application_name, so a test can find (and terminate) exactly its own.
    fn url(&self, extra: &str) -> PostgresUrl {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        let mut url = format!(
            "{}{separator}schema={}&application_name={}",
            self.server, self.name, self.name
        );
        if !extra.is_empty() {
            url.push('&');
            url.push_str(extra);
        }
        url.parse().unwrap()
    }

    fn admin(&self) -> Client {
        Client::connect(&self.server, postgres::NoTls).expect("connect to the test server")
    }

    /// How many connections racestore has open for this schema.
    fn connections(&self) -> i64 {
        self.admin()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.name],
            )
            .unwrap()
            .get(0)
    }

    /// Terminates every connection racestore has open for this schema; returns how many.
    fn terminate_connections(&self) -> usize {
        self.admin()
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.name],
            )
            .unwrap()
            .len()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&self.server, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn open(url: &PostgresUrl) -> PostgresStore {
    PostgresStore::open(url, Durability::Process).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// A setting of one of the store's pooled connections.
fn setting(store: &PostgresStore, name: &str) -> String {
    store
        .with_conn(|conn| {
            Ok(conn
                .client
                .query_one("SELECT current_setting($1)", &[&name])?
                .get(0))
        })
        .unwrap()
}

#[test]
fn migrations_are_recorded_once_and_reopening_applies_nothing() {
    let Some(schema) = Schema::new("migrations_are_recorded_once") else {
        return;
    };
    let url = schema.url("");
    open(&url).close().unwrap();
    let store = open(&url);
    store.create_session(&NewSession::new("Barber")).unwrap();
    let recorded: Vec<(i64, String)> = schema
        .admin()
        .query(
            &format!(
                "SELECT version, name FROM {}.racestore_migrations ORDER BY version",
                schema.name
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    assert_eq!(recorded, expected);
    assert_eq!(setting(&store, "search_path"), schema.name);
}

#[test]
fn stores_opening_a_fresh_schema_at_once_migrate_it_exactly_once() {
    let Some(schema) = Schema::new("stores_opening_a_fresh_schema_at_once") else {
        return;
    };
    let url = schema.url("pool_size=1");
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let store = open(&url);
                store.create_session(&NewSession::new("Barber")).unwrap()
            })
        })
        .collect();
    let mut ids: Vec<Id> = openers.into_iter().map(|t| t.join().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=6).collect::<Vec<_>>());
    let applied: i64 = schema
        .admin()
        .query_one(
            &format!("SELECT count(*) FROM {}.racestore_migrations", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied, MIGRATIONS.len() as i64);
}

#[test]
fn a_schema_with_other_tables_of_the_same_names_is_refused_untouched() {
    let Some(schema) = Schema::new("a_schema_with_other_tables") else {
        return;
    };
    schema
        .admin()
        .batch_execute(&format!(
            "CREATE SCHEMA {0}; CREATE TABLE {0}.lap_data (id INT, lap TEXT); INSERT INTO {0}.lap_data VALUES (1, 'x')",
            schema.name
        ))
        .unwrap();
    let err = PostgresStore::open(&schema.url(""), Durability::Process).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains(&format!("{}.lap_data has no column session_id", schema.name)),
        "{text}"
    );
    let mut admin = schema.admin();
    let tables: i64 = admin
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created beside the foreign table");
}

#[test]
fn a_server_that_is_down_at_open_is_an_error_naming_host_and_port_but_not_the_password() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url: PostgresUrl = format!("postgres://race:s3cret-pw@127.0.0.1:{port}/timing?connect_timeout=2")
        .parse()
        .unwrap();
    let err = PostgresStore::open(&url, Durability::Process).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "postgres",
                ..
            }
        ),
        "{shown}"
    );
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    assert!(shown.contains("race:***@"), "{shown}");
    assert!(shown.contains("cannot connect"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn an_unknown_database_is_an_error_saying_so() {
    let Some(schema) = Schema::new("an_unknown_database") else {
        return;
    };
    let base = schema.url("");
    let config = base.driver_config();
    let servers = base.servers().to_owned();
    let user = config.get_user().unwrap();
    let url: PostgresUrl = format!("postgres://{user}:pw@{servers}/racestore_no_such_database")
        .parse()
        .unwrap();
    let err = PostgresStore::open(&url, Durability::Process).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not exist") && text.contains(&servers) && !text.contains(":pw@"),
        "{text}"
    );
}

#[test]
fn the_pool_opens_at_most_pool_size_connections_for_many_threads() {
    let Some(schema) = Schema::new("the_pool_opens_at_most_pool_size") else {
        return;
    };
    let store = Arc::new(open(&schema.url("pool_size=2")));
    let session = store.create_session(&NewSession::new("Barber")).unwrap();
    let savers: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..40 {
                    store
                        .save_laps(&[NewLap::new(session, format!("d{t}"), n, 91.0)])
                        .unwrap();
                }
            })
        })
        .collect();
    let mut admin = schema.admin();
    let mut most = 0;
    while savers.iter().any(|s| !s.is_finished()) {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&schema.name],
            )
            .unwrap()
            .get(0);
        most = most.max(open);
    }
    for saver in savers {
        saver.join().unwrap();
    }
    assert!((1..=2).contains(&most), "{most} connections");
    assert_eq!(store.counts().unwrap().laps(), 320);
    store.close().unwrap();
    // The server ends a session a moment after the client says goodbye.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while schema.connections() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(schema.connections(), 0, "close lets every connection go");
}

#[test]
fn connections_the_server_terminated_are_replaced_without_reopening() {
    let Some(schema) = Schema::new("connections_the_server_terminated") else {
        return;
    };
    let store = open(&schema.url("pool_size=3"));
    let session = store.create_session(&NewSession::new("Barber")).unwrap();
    for round in 0..2 {
        assert!(schema.terminate_connections() >= 1, "round {round}");
        // A connection idle that long is checked before use: the next call just works.
        std::thread::sleep(pool::IDLE_CHECK + std::time::Duration::from_millis(100));
        store
            .save_laps(&[NewLap::new(session, "GR86-002-7", round, 91.0)])
            .unwrap();
    }
    // Used at once, a terminated connection fails the one call that finds it dead (an error,
    // saying what happened), and that failure gets every other idle connection checked.
    // Three calls at once, so the pool holds three connections to lose.
    let calls = std::sync::Barrier::new(3);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                calls.wait();
                store.counts().unwrap();
            });
        }
    });
    assert!(schema.terminate_connections() >= 1);
    // Once the server has ended them, the pooled connections are dead for certain.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while schema.connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not end the sessions"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = store
        .save_laps(&[NewLap::new(session, "GR86-002-7", 2, 91.0)])
        .expect_err("the first call meets a connection the server ended");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "postgres",
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("lost the connection") && text.contains(schema.url("").servers()),
        "{text}"
    );
    for n in 3..6 {
        store
            .save_laps(&[NewLap::new(session, "GR86-002-7", n, 91.0)])
            .unwrap();
    }
    // Rounds 0 and 1, and 3 to 5: the failed save stored nothing.
    let laps = store.get_session_laps(session).unwrap().len();
    assert_eq!(laps, 5);
}

#[test]
fn power_loss_durability_turns_synchronous_commit_on_and_process_keeps_the_servers_setting() {
    let Some(schema) = Schema::new("power_loss_durability") else {
        return;
    };
    let lax = schema.url("options=-c%20synchronous_commit%3Doff");
    let process = open(&lax);
    assert_eq!(setting(&process, "synchronous_commit"), "off");
    let power_loss = PostgresStore::open(&lax, Durability::PowerLoss).unwrap();
    assert_eq!(setting(&power_loss, "synchronous_commit"), "on");
}

#[test]
fn tls_prefer_encrypts_and_require_checks_the_certificate() {
    let Some(schema) = Schema::new("tls_prefer_encrypts") else {
        return;
    };
    let server_ssl: String = schema.admin().query_one("SHOW ssl", &[]).unwrap().get(0);
    let encrypted = |store: &PostgresStore| -> bool {
        store
            .with_conn(|conn| {
                Ok(conn
                    .client
                    .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?
                    .get(0))
            })
            .unwrap()
    };
    assert!(!encrypted(&open(&schema.url("sslmode=disable"))));
    let prefer = open(&schema.url("sslmode=prefer"));
    assert_eq!(encrypted(&prefer), server_ssl == "on");
    // No public authority certifies a loopback address, so a local server's certificate cannot
    // verify against the system's roots: require must refuse it (or a server without TLS).
    let url = schema.url("sslmode=require");
    if url.servers().starts_with("127.0.0.1:") || url.servers().starts_with("localhost:") {
        let err = PostgresStore::open(&url, Durability::Process).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cannot connect") && text.contains(url.servers()),
            "{text}"
        );
        if server_ssl == "on" {
            assert!(text.to_lowercase().contains("certificate"), "{text}");
        }
    }
}

#[test]
fn constraint_violations_map_to_the_error_kinds_of_the_other_backends() {
    let Some(schema) = Schema::new("constraint_violations_map") else {
        return;
    };
    let store = open(&schema.url(""));
    // Straight to the database, past racestore's own checks: the same kinds come out.
    let run = |sql: &str| store.with_conn(|conn| Ok(conn.client.batch_execute(sql)?));
    let err = run("INSERT INTO lap_data (session_id, driver_id) VALUES (42, 'x')").unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "session",
                id: 42
            }
        ),
        "{err:?}"
    );
    let err = run("INSERT INTO predictions (session_id, driver_id) VALUES (NULL, NULL)").unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "driver_id"),
        "{err:?}"
    );
    // The connection survived those errors and is reused.
    assert_eq!(store.counts().unwrap(), Counts::default());
}

#[test]
fn debug_output_shows_no_password() {
    let url: PostgresUrl = "postgres://race:hunter2@db.example/timing?schema=team_a"
        .parse()
        .unwrap();
    let shown = format!("{url:?} {url}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let err = PgError::Connect(
        Client::connect("host=127.0.0.1 port=1 user=x connect_timeout=1", postgres::NoTls)
            .err()
            .expect("nothing listens on port 1"),
    )
    .into_error(&url);
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("db.example:5432"),
        "{shown}"
    );
}
