//! PostgreSQL beyond the conformance suite: connections terminated while threads save, and a
//! store migrated from the JSON backend to PostgreSQL and back (with `racestore::transfer`, ids
//! and timestamps included, and through the saving calls alone). SKIP without
//! `RACESTORE_TEST_POSTGRES_URL` (a failure when `CI` is set).

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::TestSchema;
use racestore::{
    Durability, Error, Id, JsonStore, LapQuery, NewDriverMetrics, NewLap, NewPrediction, NewSession,
    NewSimulation, PostgresStore, RaceStore, RaceStoreExt, Sectors,
};
use serde_json::{json, Value};

const DRIVER: &str = "GR86-002-7";

/// The lap numbered `n`: its content is a function of `n`, so a read can check it.
fn lap(session: Id, n: i64) -> NewLap {
    NewLap::new(session, DRIVER, n, 90.0 + (n % 100) as f64 / 10.0).position(1 + n % 20)
}

/// Four threads save laps (singles and batches) while the test terminates the store's
/// connections from another session, three times. The saves running at those moments fail
/// with an error (no panic), later saves succeed without reopening the store, and every
/// acknowledged lap is there afterwards.
#[test]
fn terminated_connections_fail_the_calls_in_flight_and_the_store_recovers() {
    let Some(schema) = TestSchema::new("terminated_connections_fail_the_calls_in_flight") else {
        return;
    };
    // The store's connections carry the schema's name, so the test terminates only its own
    // (the server is shared with other tests, and perhaps other people).
    let url = schema.url(&format!("pool_size=4&application_name={}", schema.name));
    let store = Arc::new(PostgresStore::open(&url.parse().unwrap(), Durability::Process).unwrap());
    let session = store.create_session(&NewSession::new("Barber")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let next_number = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<(Id, i64)>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (store, stop, next_number, acked, errors) = (
                Arc::clone(&store),
                Arc::clone(&stop),
                Arc::clone(&next_number),
                Arc::clone(&acked),
                Arc::clone(&errors),
            );
            std::thread::spawn(move || {
                let mut calls = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    calls += 1;
                    let size = if (calls + w) % 5 == 0 { 5 } else { 1 };
                    let first = next_number.fetch_add(size, Ordering::SeqCst) as i64;
                    let batch: Vec<NewLap> = (first..first + size as i64).map(|n| lap(session, n)).collect();
                    match store.save_laps(&batch) {
                        Ok(ids) => {
                            let mut acked = acked.lock().unwrap();
                            acked.extend(ids.into_iter().zip(first..));
                        }
                        Err(err) => {
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
                            errors.lock().unwrap().push(err.to_string());
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            })
        })
        .collect();

    let acked_count = || acked.lock().unwrap().len();
    let wait_for_acks = |more: usize| {
        let target = acked_count() + more;
        while acked_count() < target {
            assert!(
                Instant::now() < deadline,
                "saves stopped succeeding: {:?}",
                errors.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let mut admin = schema.admin();
    let mut terminated = 0;
    for _ in 0..3 {
        wait_for_acks(300);
        terminated += admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1",
                &[&schema.name],
            )
            .unwrap()
            .len();
    }
    // Saves succeed again after the last round, without reopening anything.
    wait_for_acks(300);
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("a writer panicked");
    }
    let errors = errors.lock().unwrap().clone();
    assert!(terminated >= 3, "terminated {terminated} connections");
    assert!(!errors.is_empty(), "terminating busy connections failed no call");
    for error in &errors {
        assert!(
            error.contains("lost the connection") || error.contains("cannot connect"),
            "{error}"
        );
        assert!(
            error.contains(url.parse::<racestore::PostgresUrl>().unwrap().servers()),
            "{error}"
        );
    }
    // And now every call works, on the same store.
    for n in 0..20 {
        store.save_lap_data(&lap(session, 1_000_000 + n)).unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    let stored = store.get_session_laps(session).unwrap();
    let stored_ids: BTreeSet<Id> = stored.iter().map(|l| l.id).collect();
    assert_eq!(stored_ids.len(), stored.len(), "ids are unique");
    for (id, number) in &acked {
        let found = stored.iter().find(|l| l.id == *id);
        let found = found.unwrap_or_else(|| panic!("acknowledged lap {id} (number {number}) is lost"));
        let expected = lap(session, *number);
        assert_eq!(
            (found.lap_number, found.lap_time, found.position),
            (*number, expected.lap_time, expected.position)
        );
    }
    // Laps beyond the acknowledged ones can only be saves whose commit went through as the
    // connection broke: at most one batch (5 laps) per error.
    let unacknowledged = stored.len() - acked.len() - 20;
    assert!(
        unacknowledged <= errors.len() * 5,
        "{unacknowledged} laps stored that no call acknowledged, with {} errors",
        errors.len()
    );
    println!(
        "terminated {terminated} connections in 3 rounds: {} saves acknowledged, {} failed with an error, \
         {unacknowledged} committed as their connection broke",
        acked.len(),
        errors.len()
    );
}

/// Every record of a store, in id order per collection, as JSON text (key order included), with
/// `created_at`/`updated_at` blanked: a copy made through the public API gets its own.
fn snapshot(store: &dyn RaceStore) -> Vec<String> {
    let sessions = store.get_all_sessions().unwrap();
    let mut metrics = Vec::new();
    let mut predictions = Vec::new();
    let mut simulations = Vec::new();
    for session in &sessions {
        metrics.extend(store.get_session_metrics(session.id).unwrap());
        predictions.extend(store.get_session_predictions(session.id).unwrap());
        simulations.extend(store.get_session_simulations(session.id).unwrap());
    }
    metrics.sort_by_key(|r| r.id);
    predictions.sort_by_key(|r| r.id);
    simulations.sort_by_key(|r| r.id);
    let laps = store.get_laps(&LapQuery::all()).unwrap();
    let records = [
        serde_json::to_value(&sessions).unwrap(),
        serde_json::to_value(&metrics).unwrap(),
        serde_json::to_value(&laps).unwrap(),
        serde_json::to_value(&predictions).unwrap(),
        serde_json::to_value(&simulations).unwrap(),
    ];
    records
        .into_iter()
        .flat_map(|collection| collection.as_array().unwrap().clone())
        .map(|mut record| {
            for stamp in ["created_at", "updated_at"] {
                if let Some(value) = record.get_mut(stamp) {
                    *value = json!("<written by the save>");
                }
            }
            record.to_string()
        })
        .collect()
}

/// Copies every record of `from` into the empty store `to` through the public API, each
/// collection in id order, so every record gets the id it had; checks that it does.
fn copy(from: &dyn RaceStore, to: &dyn RaceStore) {
    let sessions = from.get_all_sessions().unwrap();
    for session in &sessions {
        let id = to
            .create_session(
                &NewSession::new(session.circuit.clone())
                    .date(session.date.clone())
                    .race_type(session.race_type.clone()),
            )
            .unwrap();
        assert_eq!(
            id, session.id,
            "session ids must be dense to copy through the public API"
        );
    }
    let laps = from.get_laps(&LapQuery::all()).unwrap();
    for chunk in laps.chunks(250) {
        let batch: Vec<NewLap> = chunk.iter().map(NewLap::from).collect();
        let ids = to.save_laps(&batch).unwrap();
        assert_eq!(ids, chunk.iter().map(|l| l.id).collect::<Vec<_>>());
    }
    let mut metrics = Vec::new();
    let mut predictions = Vec::new();
    let mut simulations = Vec::new();
    for session in &sessions {
        metrics.extend(from.get_session_metrics(session.id).unwrap());
        predictions.extend(from.get_session_predictions(session.id).unwrap());
        simulations.extend(from.get_session_simulations(session.id).unwrap());
    }
    metrics.sort_by_key(|r| r.id);
    predictions.sort_by_key(|r| r.id);
    simulations.sort_by_key(|r| r.id);
    for m in metrics {
        let id = to
            .save_driver_metrics(&NewDriverMetrics {
                consistency_index: m.consistency_index,
                aggression_score: m.aggression_score,
                sector_strength: m.sector_strength,
                pace_stability: m.pace_stability,
                fatigue_dropoff: m.fatigue_dropoff,
                ..NewDriverMetrics::new(m.session_id, m.driver_id)
            })
            .unwrap();
        assert_eq!(id, m.id);
    }
    for p in predictions {
        let id = to
            .save_prediction(&NewPrediction {
                session_id: p.session_id,
                driver_id: p.driver_id,
                prediction_type: p.prediction_type,
                prediction_value: p.prediction_value,
                model_path: p.model_path,
                confidence: p.confidence,
            })
            .unwrap();
        assert_eq!(id, p.id);
    }
    for s in simulations {
        let id = to
            .save_simulation(&NewSimulation {
                session_id: s.session_id,
                driver_paces: s.driver_paces,
                n_laps: s.n_laps,
                iterations: s.iterations,
                results: s.results,
            })
            .unwrap();
        assert_eq!(id, s.id);
    }
}

/// A JSON store with a bit of everything: sessions of every kind, laps of several sessions
/// interleaved, partial sectors, nested and awkward JSON values.
fn fill(store: &dyn RaceStore) {
    let barber = store
        .create_session(&NewSession::new("Barber Motorsports Park").date("2025-09-06T14:00:00"))
        .unwrap();
    let mexico = store
        .create_session(
            &NewSession::new("Autódromo Hermanos Rodríguez – \"Foro Sol\" 🏁")
                .date("2025-10-26T13:00:00-06:00")
                .race_type("qualifying"),
        )
        .unwrap();
    let cota = store.create_session(&NewSession::new("COTA")).unwrap();
    for n in 1..=40 {
        let session = [barber, mexico, cota][n as usize % 3];
        let mut lap = NewLap::new(
            session,
            ["GR86-002-7", "GR86-013-22", "Kévin"][n as usize % 3],
            n,
            91.482 + n as f64 / 7.0,
        );
        lap.sectors = Sectors {
            s1: Some(29.301 + n as f64 / 1000.0),
            s2: (n % 4 != 0).then_some(32.05),
            s3: (n % 5 != 0).then_some(0.1 + 0.2),
        };
        lap.position = (n % 6 != 0).then_some(1 + n % 20);
        if n % 9 == 0 {
            lap.lap_type = "pit".into();
        }
        if n % 7 == 0 {
            store
                .save_laps(&[lap, NewLap::new(barber, "GR86-002-7", 100 + n, 118.25)])
                .unwrap();
        } else {
            store.save_lap_data(&lap).unwrap();
        }
    }
    let tricky = json!({
        "max_u64": u64::MAX,
        "min_i64": i64::MIN,
        "big_float": 1.7976931348623157e308,
        "tiny": 5e-324,
        "z_first": "key order as given",
        "a_last": {"nested": [1, [2, {"b": [null, true, false, []]}]], "empty": {}},
        "text": "Kévin ESTRE – \"quoted\" \\ back\nslash\ttab \u{1F3C1}",
    });
    for (i, session) in [barber, mexico, barber, cota].into_iter().enumerate() {
        store
            .save_driver_metrics(&NewDriverMetrics {
                consistency_index: Some(0.912 + i as f64 / 100.0),
                aggression_score: (i != 2).then_some(0.65),
                sector_strength: if i == 0 {
                    tricky.clone()
                } else {
                    json!({"S1": 0.98, "S3": 1.01})
                },
                pace_stability: json!({"std": 0.41, "trend": -0.02}),
                fatigue_dropoff: Value::Null,
                ..NewDriverMetrics::new(session, "GR86-002-7")
            })
            .unwrap();
        store
            .save_prediction(&NewPrediction {
                session_id: session,
                driver_id: "GR86-013-22".into(),
                prediction_type: "lap_time".into(),
                prediction_value: 91.482 + i as f64,
                model_path: "models/lap_time_predictor.pkl".into(),
                confidence: (i % 2 == 0).then_some(0.87),
            })
            .unwrap();
        store
            .save_simulation(&NewSimulation {
                session_id: session,
                driver_paces: json!({"GR86-002-7": 91.5, "ÉLODIE": 91.8}),
                n_laps: 20 + i as i64,
                iterations: 1000,
                results: if i == 1 {
                    tricky.clone()
                } else {
                    json!({"win_probability": {"GR86-002-7": 0.62}})
                },
            })
            .unwrap();
    }
}

/// A JSON store copied into PostgreSQL, and from there into a new JSON store, reads back the
/// same records everywhere: every field of every record but the timestamps each save writes,
/// JSON values to the byte (key order included).
#[test]
fn a_json_store_copied_to_postgres_and_back_reads_the_same() {
    let Some(schema) = TestSchema::new("a_json_store_copied_to_postgres_and_back") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let original = JsonStore::open(temp.path().join("original"), Durability::Process).unwrap();
    fill(&original);
    let postgres = racestore::open(&schema.url("")).unwrap();
    copy(&original, &*postgres);
    let expected = snapshot(&original);
    assert_eq!(expected.len(), 3 + 45 + 4 * 3);
    assert_eq!(snapshot(&*postgres), expected, "JSON -> PostgreSQL");

    let back = JsonStore::open(temp.path().join("back"), Durability::Process).unwrap();
    copy(&*postgres, &back);
    assert_eq!(snapshot(&back), expected, "PostgreSQL -> JSON");
    // The copy survives reopening, on both sides.
    postgres.close().unwrap();
    back.close().unwrap();
    assert_eq!(snapshot(&*racestore::open(&schema.url("")).unwrap()), expected);
    assert_eq!(
        snapshot(&JsonStore::open(temp.path().join("back"), Durability::Process).unwrap()),
        expected
    );
}

/// The five data files of a JSON store directory.
const DATA_FILES: [&str; 5] = [
    "race_sessions.json",
    "driver_metrics.json",
    "lap_data.json",
    "predictions.json",
    "simulations.json",
];

/// Migrating with [`racestore::transfer::copy_all`] (ids and timestamps included) from a JSON
/// store with deleted sessions (gaps in every collection's ids) to PostgreSQL and on to a new
/// JSON store gives the same fingerprint everywhere and the very same bytes in every data file;
/// saves afterwards continue above the ids the source had given.
#[test]
fn a_json_store_migrated_to_postgres_and_back_is_identical_to_the_byte() {
    let Some(schema) = TestSchema::new("a_json_store_migrated_to_postgres_and_back") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let original_dir = temp.path().join("original");
    let original = JsonStore::open(&original_dir, Durability::Process).unwrap();
    fill(&original);
    let extra = original.create_session(&NewSession::new("Sebring")).unwrap();
    original.save_lap_data(&lap(extra, 1)).unwrap();
    // Gaps: the second session and everything under it, and the newest session, go.
    original.delete_session(2).unwrap();
    original.delete_session(extra).unwrap();
    let expected = racestore::transfer::fingerprint(&original).unwrap();

    let postgres = racestore::open(&schema.url("")).unwrap();
    racestore::transfer::copy_all(&original, &*postgres, |_, _, _| {}).unwrap();
    assert_eq!(racestore::transfer::fingerprint(&*postgres).unwrap(), expected);

    let back_dir = temp.path().join("back");
    let back = JsonStore::open(&back_dir, Durability::Process).unwrap();
    racestore::transfer::copy_all(&*postgres, &back, |_, _, _| {}).unwrap();
    assert_eq!(racestore::transfer::fingerprint(&back).unwrap(), expected);
    original.close().unwrap();
    back.close().unwrap();
    for file in DATA_FILES {
        let had = std::fs::read(original_dir.join(file)).unwrap();
        let has = std::fs::read(back_dir.join(file)).unwrap();
        assert!(had == has, "{file} differs after JSON -> PostgreSQL -> JSON");
    }

    // Saves in the PostgreSQL copy continue above the imported ids.
    let highest_session = postgres
        .get_all_sessions()
        .unwrap()
        .iter()
        .map(|s| s.id)
        .max()
        .unwrap();
    let next = postgres.create_session(&NewSession::new("Road America")).unwrap();
    assert!(next > highest_session, "{next} > {highest_session}");
    let laps = postgres.get_laps(&LapQuery::all()).unwrap();
    let highest_lap = laps.iter().map(|l| l.id).max().unwrap();
    let new_lap = postgres.save_lap_data(&lap(next, 1)).unwrap();
    assert!(new_lap > highest_lap, "{new_lap} > {highest_lap}");
}
