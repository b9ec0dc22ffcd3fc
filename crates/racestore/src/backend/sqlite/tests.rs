//! Tests of what only the SQLite backend does: reading the original's `race_data.db`,
//! migrations, several connections on one file, PRAGMAs, damaged rows and SQLite's errors.
//! The behaviour every backend shares is checked by the conformance suite.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use super::*;
use crate::model::{Lap, LapQuery, NewDriverMetrics, NewLap, NewSession, NewSimulation, Sectors};
use crate::store::RaceStoreExt;

const D1: &str = "GR86-002-7";
const D2: &str = "GR86-013-22";

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("race.db"), Durability::Process).unwrap();
    (dir, store)
}

/// The fixtures the original system wrote: `shared/fixtures` beside the repository (where CI
/// puts it), else `/work/shared/fixtures`. `None`, after a visible SKIP line, when absent;
/// a failure instead when `CI` is set, so CI can never skip it quietly.
fn fixtures() -> Option<PathBuf> {
    let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    let found = [beside_repo, PathBuf::from("/work/shared/fixtures")]
        .into_iter()
        .find(|dir| dir.join("original-sqlite/race_data.db").is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the original system's fixtures (shared/fixtures/original-sqlite/race_data.db) are missing, and CI is set"
        );
        eprintln!("SKIP: shared/fixtures/original-sqlite/race_data.db not found");
    }
    found
}

/// A writable copy of the original's `race_data.db` (the fixture itself is read-only).
fn original_db_copy() -> Option<(tempfile::TempDir, PathBuf)> {
    let source = fixtures()?.join("original-sqlite/race_data.db");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race_data.db");
    std::fs::write(&path, std::fs::read(source).unwrap()).unwrap();
    Some((dir, path))
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |row| row.get::<_, String>(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn table_sql(conn: &Connection) -> Vec<String> {
    strings(
        conn,
        "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master \
         WHERE name IN ('race_sessions', 'driver_metrics', 'lap_data', 'predictions', 'simulations') ORDER BY name",
    )
}

fn sequence(conn: &Connection) -> Vec<String> {
    strings(
        conn,
        "SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name",
    )
}

fn migrations(conn: &Connection) -> Vec<String> {
    strings(
        conn,
        "SELECT version || ' ' || name || ' ' || applied_at FROM racestore_migrations ORDER BY version",
    )
}

fn pragma(store: &SqliteStore, name: &str) -> String {
    let guard = store.lock();
    let conn = guard.as_ref().unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |row| {
        row.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    })
    .unwrap()
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().unwrap().keys().map(String::as_str).collect()
}

fn lap_ids(laps: &[Lap]) -> Vec<Id> {
    laps.iter().map(|lap| lap.id).collect()
}

#[test]
fn the_original_race_data_db_reads_as_the_fixture_readme_describes() {
    let Some((_dir, path)) = original_db_copy() else {
        return;
    };
    let store = SqliteStore::open(&path, Durability::Process).unwrap();

    let sessions = store.get_all_sessions().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0],
        Session {
            id: 1,
            circuit: "Barber Motorsports Park".into(),
            date: "2025-09-06T14:00:00".into(),
            race_type: "race".into(),
            created_at: "2026-11-25 16:33:08".into(),
            updated_at: "2026-11-25 16:33:08".into(),
        }
    );
    assert_eq!(sessions[1].id, 2);
    assert_eq!(sessions[1].circuit, "Autódromo Hermanos Rodríguez");
    assert_eq!(sessions[1].race_type, "qualifying");
    crate::model::validate_iso8601("date", &sessions[1].date).unwrap();
    let at_barber = store
        .get_sessions(&SessionQuery::all().circuit("Barber Motorsports Park"))
        .unwrap();
    assert_eq!(at_barber, sessions[..1]);

    let metrics = store.get_session_metrics(1).unwrap();
    assert_eq!(metrics.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        (metrics[0].driver_id.as_str(), metrics[0].consistency_index),
        (D1, Some(0.912))
    );
    assert_eq!(metrics[0].aggression_score, Some(0.65));
    assert_eq!(
        metrics[0].sector_strength,
        json!({"S1": 0.98, "S2": 1.01, "S3": 0.99})
    );
    assert_eq!(keys(&metrics[0].sector_strength), ["S1", "S2", "S3"]);
    assert_eq!(metrics[0].pace_stability, json!({"std": 0.41, "trend": -0.02}));
    assert_eq!(metrics[0].fatigue_dropoff, json!({"dropoff_per_lap": 0.035}));
    assert_eq!(
        (metrics[1].driver_id.as_str(), metrics[1].consistency_index),
        (D2, None)
    );
    assert_eq!(metrics[1].aggression_score, Some(0.72));
    assert_eq!(metrics[1].sector_strength, json!({"S1": 1.02, "S2": 0.97}));
    assert_eq!(
        (&metrics[1].pace_stability, &metrics[1].fatigue_dropoff),
        (&json!({}), &json!({}))
    );

    let laps = store.get_session_laps(1).unwrap();
    assert_eq!(lap_ids(&laps), [1, 2, 3, 4]);
    assert_eq!(lap_ids(&store.get_session_laps(2).unwrap()), [5, 6]);
    assert_eq!(
        laps[0],
        Lap {
            id: 1,
            session_id: 1,
            driver_id: D1.into(),
            lap_number: 1,
            lap_time: 91.482,
            sector_1: Some(29.301),
            sector_2: Some(32.05),
            sector_3: Some(30.131),
            lap_type: "normal".into(),
            position: Some(1),
            created_at: "2026-11-25 16:33:08".into(),
        }
    );
    assert_eq!(laps[2].lap_time, 92.0);
    assert_eq!((laps[3].lap_type.as_str(), laps[3].sector_3), ("pit", None));
    assert_eq!(
        lap_ids(&store.get_laps(&LapQuery::all().lap_type("qualifying")).unwrap()),
        [5, 6]
    );
    assert_eq!(lap_ids(&store.get_driver_laps(1, D2).unwrap()), [2, 4]);

    let predictions = store.get_session_predictions(1).unwrap();
    assert_eq!(predictions.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        (predictions[0].confidence, predictions[0].model_path.as_str()),
        (Some(0.87), "models/lap_time_predictor.pkl")
    );
    assert_eq!(
        (predictions[1].prediction_value, predictions[1].confidence),
        (2.0, None)
    );

    let simulations = store.get_session_simulations(1).unwrap();
    assert_eq!(simulations.len(), 1);
    let simulation = &simulations[0];
    assert_eq!(
        (simulation.id, simulation.n_laps, simulation.iterations),
        (1, 20, 1000)
    );
    assert_eq!(simulation.driver_paces, json!({D1: 91.5, D2: 91.8}));
    assert_eq!(
        keys(&simulation.results),
        ["win_probability", "expected_positions", "note"]
    );
    assert_eq!(simulation.results["note"], "Pérez-style undercut – low tyre wear");
    assert_eq!(simulation.results["win_probability"], json!({D1: 0.62, D2: 0.38}));

    let counts = store.counts().unwrap();
    assert_eq!(
        counts,
        Counts::of(&[
            (Collection::Sessions, 2),
            (Collection::DriverMetrics, 2),
            (Collection::Laps, 6),
            (Collection::Predictions, 2),
            (Collection::Simulations, 1)
        ])
    );
}

#[test]
fn opening_the_original_database_migrates_it_without_changing_its_tables_or_counters() {
    let Some((_dir, path)) = original_db_copy() else {
        return;
    };
    let (tables_before, sequence_before) = {
        let conn = raw(&path);
        (table_sql(&conn), sequence(&conn))
    };
    assert_eq!(
        sequence_before,
        [
            "driver_metrics=2",
            "lap_data=6",
            "predictions=2",
            "race_sessions=2",
            "simulations=1"
        ]
    );

    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    store.close().unwrap();
    {
        let conn = raw(&path);
        assert_eq!(
            table_sql(&conn),
            tables_before,
            "the original tables must be kept as they were"
        );
        assert_eq!(sequence(&conn), sequence_before, "sqlite_sequence must be kept");
        let applied = migrations(&conn);
        assert_eq!(applied.len(), 3, "{applied:?}");
        assert!(
            applied[0].starts_with("1 0001_original_schema 20")
                && applied[1].starts_with("2 0002_indexes 20")
                && applied[2].starts_with("3 0003_entries 20")
        );
        assert_eq!(
            strings(
                &conn,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
            ),
            ["entries"],
            "racestore's own table is added beside the original's"
        );
        let indexes = strings(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%' ORDER BY name",
        );
        assert_eq!(
            indexes,
            [
                "idx_driver_metrics_session_id",
                "idx_entries_session_id",
                "idx_lap_data_session_id",
                "idx_predictions_session_id",
                "idx_race_sessions_circuit",
                "idx_simulations_session_id"
            ]
        );
    }

    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    let lap = store.save_lap_data(&NewLap::new(2, D1, 2, 90.4)).unwrap();
    assert_eq!(lap, 7, "ids go on from the original's counters");
    assert_eq!(store.create_session(&NewSession::new("Sebring")).unwrap(), 3);
    let saved = store.get_laps(&LapQuery::session(2).driver(D1)).unwrap();
    assert_eq!(lap_ids(&saved), [5, 7]);
    assert_eq!(
        saved[0].created_at, "2026-11-25 16:33:08",
        "the original's timestamps are returned as stored"
    );
    assert!(
        saved[1].created_at.ends_with('Z') && saved[1].created_at.len() == 27,
        "{}",
        saved[1].created_at
    );
    store.close().unwrap();
    assert_eq!(
        sequence(&raw(&path)),
        [
            "driver_metrics=2",
            "lap_data=7",
            "predictions=2",
            "race_sessions=3",
            "simulations=1"
        ]
    );
}

#[test]
fn reopening_applies_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    SqliteStore::open(&path, Durability::Process)
        .unwrap()
        .close()
        .unwrap();
    let first = migrations(&raw(&path));
    assert_eq!(first.len(), MIGRATIONS.len());
    for _ in 0..2 {
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        store.create_session(&NewSession::new("Road America")).unwrap();
        drop(store);
        assert_eq!(
            migrations(&raw(&path)),
            first,
            "applied_at would change if a migration ran again"
        );
    }
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    assert_eq!(store.counts().unwrap().sessions(), 2);
}

#[test]
fn stores_opening_a_fresh_file_at_once_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("race.db"));
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                SqliteStore::open(&path, Durability::Process).unwrap()
            })
        })
        .collect();
    let stores: Vec<SqliteStore> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(migrations(&raw(&path)).len(), MIGRATIONS.len());
    for store in &stores {
        store.create_session(&NewSession::new("Laguna Seca")).unwrap();
    }
    assert_eq!(stores[0].counts().unwrap().sessions(), 4);
}

#[test]
fn two_stores_on_one_file_both_write_and_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let a = Arc::new(SqliteStore::open(&path, Durability::Process).unwrap());
    let b = Arc::new(SqliteStore::open(&path, Durability::PowerLoss).unwrap());
    assert_eq!(a.create_session(&NewSession::new("Sonoma")).unwrap(), 1);
    assert_eq!(b.create_session(&NewSession::new("VIR")).unwrap(), 2);
    assert_eq!(b.get_session(1).unwrap().unwrap().circuit, "Sonoma");
    assert_eq!(a.save_lap_data(&NewLap::new(2, D1, 1, 100.0)).unwrap(), 1);
    assert_eq!(b.save_lap_data(&NewLap::new(1, D2, 1, 101.0)).unwrap(), 2);

    let threads: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .enumerate()
        .map(|(n, store)| {
            std::thread::spawn(move || {
                (0..50)
                    .map(|lap| {
                        let laps = [NewLap::new(1, D1, lap, 90.0), NewLap::new(2, D2, lap, 91.0)];
                        let ids = store.save_laps(&laps).unwrap();
                        assert_eq!(ids[1], ids[0] + 1, "store {n}: a batch's ids are consecutive");
                        ids
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<Id> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every save got its own id");
    assert_eq!(a.counts().unwrap().laps(), 202);
    assert_eq!(
        lap_ids(&b.get_laps(&LapQuery::all()).unwrap()),
        (1..=202).collect::<Vec<_>>()
    );
}

#[test]
fn pragmas_follow_the_durability() {
    let dir = tempfile::tempdir().unwrap();
    let process = SqliteStore::open(&dir.path().join("p.db"), Durability::Process).unwrap();
    let power_loss = SqliteStore::open(&dir.path().join("f.db"), Durability::PowerLoss).unwrap();
    for store in [&process, &power_loss] {
        assert_eq!(pragma(store, "journal_mode"), "wal");
        assert_eq!(pragma(store, "foreign_keys"), "0");
        assert_eq!(pragma(store, "busy_timeout"), "10000");
    }
    assert_eq!(pragma(&process, "synchronous"), "1", "NORMAL");
    assert_eq!(pragma(&power_loss, "synchronous"), "2", "FULL");
}

#[test]
fn opening_creates_the_file_but_never_a_missing_parent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/race.db");
    let err = SqliteStore::open(&path, Durability::Process).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.path().join("a").exists(), "a mistyped path creates nothing");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    assert_eq!(store.path(), path);
    assert!(path.is_file());
    assert!(format!("{store:?}").contains("race.db"));
}

#[test]
fn json_columns_round_trip_exactly_and_are_stored_as_json_text() {
    let (dir, store) = fresh();
    let session = store
        .create_session(&NewSession::new("Mid-Ohio").date("2025-06-01"))
        .unwrap();
    let strength =
        json!({"S3": 1.0, "S1": 0.5, "naïve – ünïcode": {"deep": [1, -2, u64::MAX, i64::MIN, 0.1]}});
    let metrics = NewDriverMetrics {
        consistency_index: Some(0.5),
        sector_strength: strength.clone(),
        ..NewDriverMetrics::new(session, D1)
    };
    let id = store.save_driver_metrics(&metrics).unwrap();
    let read = store.get_session_metrics(session).unwrap().remove(0);
    assert_eq!(read, metrics.validate(id, &read.created_at).unwrap());
    assert_eq!(keys(&read.sector_strength), ["S3", "S1", "naïve – ünïcode"]);
    assert_eq!(
        read.sector_strength["naïve – ünïcode"]["deep"][2].as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(
        read.pace_stability,
        json!({}),
        "a missing object is stored as {{}}"
    );

    let simulation = NewSimulation {
        session_id: session,
        driver_paces: json!({D2: 91.8, D1: 91.5}),
        n_laps: 3,
        iterations: 10,
        results: Value::Null,
    };
    let id = store.save_simulation(&simulation).unwrap();
    let read = store.get_session_simulations(session).unwrap().remove(0);
    assert_eq!(read, simulation.validate(id, &read.created_at).unwrap());
    assert_eq!(keys(&read.driver_paces), [D2, D1]);

    let conn = raw(&dir.path().join("race.db"));
    let (text, kind): (String, String) = conn
        .query_row(
            "SELECT sector_strength, typeof(pace_stability) FROM driver_metrics",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), strength);
    assert_eq!(kind, "text");
}

#[test]
fn records_read_back_as_saved_with_racestore_timestamps() {
    let (_dir, store) = fresh();
    let session = store
        .create_session(&NewSession::new("Barber Motorsports Park"))
        .unwrap();
    let read = store.get_session(session).unwrap().unwrap();
    assert_eq!((read.race_type.as_str(), &read.date), ("race", &read.created_at));
    assert_eq!(read.updated_at, read.created_at);
    crate::model::validate_iso8601("created_at", &read.created_at).unwrap();
    assert!(read.created_at.ends_with('Z'));

    let lap = NewLap::new(session, D1, 0, 91.482)
        .sectors(Sectors::new(29.301, 32.05, 30.131))
        .position(3);
    let id = store.save_lap_data(&lap).unwrap();
    let read = store.get_session_laps(session).unwrap().remove(0);
    assert_eq!(read, lap.validate(id, &read.created_at).unwrap());
    assert_eq!(store.get_session(99).unwrap(), None);
    assert!(store.get_session_laps(99).unwrap().is_empty());
}

#[test]
fn a_rejected_batch_stores_nothing_and_uses_no_id() {
    let (_dir, store) = fresh();
    let session = store.create_session(&NewSession::new("COTA")).unwrap();
    let bad = [
        NewLap::new(session, D1, 1, 90.0),
        NewLap::new(session, D1, 2, -1.0),
    ];
    let err = store.save_laps(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "lap_time"),
        "{err:?}"
    );
    let unknown = [
        NewLap::new(session, D1, 1, 90.0),
        NewLap::new(session + 1, D1, 2, 91.0),
    ];
    let err = store.save_laps(&unknown).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "session", id } if id == session + 1),
        "{err:?}"
    );
    assert_eq!(store.counts().unwrap().laps(), 0);
    assert_eq!(store.save_laps(&[]).unwrap(), Vec::<Id>::new());
    let ids = store
        .save_laps(&[
            NewLap::new(session, D1, 1, 90.0),
            NewLap::new(session, D2, 1, 90.5),
        ])
        .unwrap();
    assert_eq!(ids, [1, 2], "the rejected batches used no id");
}

#[test]
fn deleting_a_session_counts_what_went_and_ids_are_not_reused_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    let (one, two) = (
        store.create_session(&NewSession::new("A")).unwrap(),
        store.create_session(&NewSession::new("B")).unwrap(),
    );
    store
        .save_laps(&[
            NewLap::new(one, D1, 1, 90.0),
            NewLap::new(one, D1, 2, 90.0),
            NewLap::new(two, D1, 1, 90.0),
        ])
        .unwrap();
    store
        .save_driver_metrics(&NewDriverMetrics::new(one, D1))
        .unwrap();
    let counts = store.delete_session(one).unwrap();
    assert_eq!(
        counts,
        Counts::of(&[
            (Collection::Sessions, 1),
            (Collection::DriverMetrics, 1),
            (Collection::Laps, 2),
            (Collection::Predictions, 0),
            (Collection::Simulations, 0)
        ])
    );
    assert!(matches!(
        store.delete_session(one),
        Err(Error::NotFound { what: "session", .. })
    ));
    assert_eq!(lap_ids(&store.get_laps(&LapQuery::all()).unwrap()), [3]);
    drop(store);

    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    store.delete_session(two).unwrap();
    assert_eq!(store.counts().unwrap(), Counts::default());
    assert_eq!(store.create_session(&NewSession::new("C")).unwrap(), 3);
    assert_eq!(store.save_lap_data(&NewLap::new(3, D1, 1, 90.0)).unwrap(), 4);
}

#[test]
fn damaged_rows_are_reported_naming_table_row_and_column() {
    let (dir, store) = fresh();
    let session = store.create_session(&NewSession::new("Watkins Glen")).unwrap();
    let conn = raw(&dir.path().join("race.db"));
    conn.execute_batch(
        "INSERT INTO driver_metrics (session_id, driver_id, sector_strength) VALUES (1, 'x', '{\"S1\": NaN}');
         INSERT INTO lap_data (session_id, driver_id, lap_number, lap_type) VALUES (1, 'x', 1, 'normal');
         INSERT INTO simulations (session_id, driver_paces, n_laps, iterations, results, created_at)
             VALUES (1, '{}', 1, 1, NULL, 'then');
         INSERT INTO race_sessions (circuit, date, race_type) VALUES ('Road Atlanta', '2025-01-01', NULL);",
    )
    .unwrap();

    let err = store.get_session_metrics(session).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptRow { table: "driver_metrics", id: 1, message } if message.contains("sector_strength")),
        "{err:?}"
    );
    let err = store.get_session_laps(session).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptRow { table: "lap_data", id: 1, message } if message.contains("lap_time")),
        "{err:?}"
    );
    let err = store.get_session(2).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptRow { table: "race_sessions", id: 2, message } if message.contains("race_type")),
        "{err:?}"
    );
    let simulation = store.get_session_simulations(session).unwrap().remove(0);
    assert_eq!(
        simulation.results,
        Value::Null,
        "SQL NULL in a JSON column reads as null"
    );
}

#[test]
fn every_call_after_close_is_closed() {
    let (_dir, store) = fresh();
    store.create_session(&NewSession::new("Daytona")).unwrap();
    store.close().unwrap();
    assert!(matches!(store.counts(), Err(Error::Closed)));
    assert!(matches!(store.get_session(1), Err(Error::Closed)));
    assert!(matches!(
        store.create_session(&NewSession::new("Daytona")),
        Err(Error::Closed)
    ));
    assert!(matches!(store.save_laps(&[]), Err(Error::Closed)));
    assert!(matches!(store.close(), Err(Error::Closed)));
}

#[test]
fn a_write_blocked_past_the_busy_timeout_says_the_database_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let store = SqliteStore::open_with_timeout(
        &path,
        crate::store::OpenOptions::default(),
        Duration::from_millis(200),
    )
    .unwrap();
    let other = raw(&path);
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .create_session(&NewSession::new("Indianapolis"))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "sqlite",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("busy") && text.contains("race.db"), "{text}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.create_session(&NewSession::new("Indianapolis")).unwrap(), 1);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_it_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let content = b"these are lap notes, not a database; ".repeat(40);
    std::fs::write(&path, &content).unwrap();
    let err = SqliteStore::open(&path, Durability::Process).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("notes.db") && text.contains("not a SQLite database"),
        "{text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), content);
}

#[test]
fn a_database_with_other_tables_of_the_same_names_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE lap_data (id INTEGER PRIMARY KEY, seconds REAL)")
        .unwrap();
    let err = SqliteStore::open(&path, Durability::Process).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("lap_data") && text.contains("session_id") && text.contains("other.db"),
        "{text}"
    );
    let names = strings(&raw(&path), "SELECT name FROM sqlite_master ORDER BY name");
    assert_eq!(names, ["lap_data"], "nothing was created");
}

#[test]
fn a_directory_in_place_of_the_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    std::fs::create_dir(&path).unwrap();
    let err = SqliteStore::open(&path, Durability::Process).unwrap_err();
    assert!(err.to_string().contains("race.db"), "{err}");
}
