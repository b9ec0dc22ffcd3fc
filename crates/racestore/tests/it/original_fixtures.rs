//! The original GR Race Guardian's files open as they are, and hold exactly what
//! shared/fixtures/README.md says its 13-call scenario wrote.

use crate::common;

use racestore::{Durability, JsonStore, LapQuery, NewLap, RaceStore, RaceStoreExt, SqliteStore};
use serde_json::json;

const D1: &str = "GR86-002-7";
const D2: &str = "GR86-013-22";
const DATA_FILES: [&str; 5] = [
    "race_sessions.json",
    "driver_metrics.json",
    "lap_data.json",
    "predictions.json",
    "simulations.json",
];

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`: Python's naive `datetime.now().isoformat()`.
fn is_python_isoformat(text: &str) -> bool {
    let b = text.as_bytes();
    let base = b.len() >= 19
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    base && (b.len() == 19 || (b.len() == 26 && b[19] == b'.' && b[20..].iter().all(u8::is_ascii_digit)))
}

/// `YYYY-MM-DD HH:MM:SS`: SQLite's `CURRENT_TIMESTAMP`.
fn is_sqlite_current_timestamp(text: &str) -> bool {
    text.len() == 19 && text.as_bytes()[10] == b' ' && is_python_isoformat(&text.replacen(' ', "T", 1))
}

/// Checks every value the fixture README lists; `timestamp` checks the wall-clock fields' format.
fn assert_original_scenario(store: &dyn RaceStore, timestamp: fn(&str) -> bool) {
    let sessions = store.get_all_sessions().unwrap();
    assert_eq!(sessions.len(), 2);
    let (barber, mexico) = (&sessions[0], &sessions[1]);
    assert_eq!(
        (barber.id, barber.circuit.as_str()),
        (1, "Barber Motorsports Park")
    );
    assert_eq!(
        (barber.date.as_str(), barber.race_type.as_str()),
        ("2025-09-06T14:00:00", "race")
    );
    assert_eq!(
        (mexico.id, mexico.circuit.as_str(), mexico.race_type.as_str()),
        (2, "Autódromo Hermanos Rodríguez", "qualifying")
    );
    assert!(
        is_python_isoformat(&mexico.date),
        "session 2 date {}",
        mexico.date
    );
    for s in &sessions {
        assert!(timestamp(&s.created_at) && timestamp(&s.updated_at), "{s:?}");
    }

    let metrics = store.get_session_metrics(1).unwrap();
    assert_eq!(metrics.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    let (m1, m2) = (&metrics[0], &metrics[1]);
    assert_eq!(
        (
            m1.session_id,
            m1.driver_id.as_str(),
            m1.consistency_index,
            m1.aggression_score
        ),
        (1, D1, Some(0.912), Some(0.65))
    );
    assert_eq!(m1.sector_strength, json!({"S1": 0.98, "S2": 1.01, "S3": 0.99}));
    assert_eq!(m1.pace_stability, json!({"std": 0.41, "trend": -0.02}));
    assert_eq!(m1.fatigue_dropoff, json!({"dropoff_per_lap": 0.035}));
    assert_eq!(
        (
            m2.session_id,
            m2.driver_id.as_str(),
            m2.consistency_index,
            m2.aggression_score
        ),
        (1, D2, None, Some(0.72))
    );
    assert_eq!(m2.sector_strength, json!({"S1": 1.02, "S2": 0.97}));
    assert_eq!(
        (&m2.pace_stability, &m2.fatigue_dropoff),
        (&json!({}), &json!({}))
    );
    assert!(metrics.iter().all(|m| timestamp(&m.created_at)));
    assert!(store.get_session_metrics(2).unwrap().is_empty());

    let laps = store.get_laps(&LapQuery::all()).unwrap();
    let expected = [
        (
            1,
            1,
            D1,
            1,
            91.482,
            Some(29.301),
            Some(32.05),
            Some(30.131),
            "normal",
            1,
        ),
        (
            2,
            1,
            D2,
            1,
            91.907,
            Some(29.5),
            Some(32.2),
            Some(30.207),
            "normal",
            2,
        ),
        (3, 1, D1, 2, 92.0, Some(29.4), Some(32.3), Some(30.3), "normal", 1),
        (4, 1, D2, 2, 118.25, Some(29.6), Some(32.4), None, "pit", 2),
        (
            5,
            2,
            D1,
            1,
            90.015,
            Some(28.9),
            Some(31.515),
            Some(29.6),
            "qualifying",
            1,
        ),
        (
            6,
            2,
            D2,
            1,
            90.5,
            Some(29.0),
            Some(31.7),
            Some(29.8),
            "qualifying",
            2,
        ),
    ];
    assert_eq!(laps.len(), expected.len());
    for (lap, (id, session, driver, number, time, s1, s2, s3, kind, position)) in laps.iter().zip(expected) {
        assert_eq!(
            (lap.id, lap.session_id, lap.driver_id.as_str(), lap.lap_number),
            (id, session, driver, number)
        );
        assert_eq!(
            (lap.lap_time, lap.sector_1, lap.sector_2, lap.sector_3),
            (time, s1, s2, s3)
        );
        assert_eq!((lap.lap_type.as_str(), lap.position), (kind, Some(position)));
        assert!(timestamp(&lap.created_at), "{}", lap.created_at);
    }
    assert_eq!(
        store
            .get_session_laps(1)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        store
            .get_session_laps(2)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>(),
        [5, 6]
    );

    let predictions = store.get_session_predictions(1).unwrap();
    assert_eq!(predictions.len(), 2);
    let (p1, p2) = (&predictions[0], &predictions[1]);
    assert_eq!(
        (
            p1.id,
            p1.driver_id.as_str(),
            p1.prediction_type.as_str(),
            p1.prediction_value
        ),
        (1, D1, "lap_time", 91.482)
    );
    assert_eq!(
        (p1.model_path.as_str(), p1.confidence),
        ("models/lap_time_predictor.pkl", Some(0.87))
    );
    assert_eq!(
        (
            p2.id,
            p2.driver_id.as_str(),
            p2.prediction_type.as_str(),
            p2.prediction_value
        ),
        (2, D2, "finish_position", 2.0)
    );
    assert_eq!(
        (p2.model_path.as_str(), p2.confidence),
        ("models/position_model.pkl", None)
    );

    let simulations = store.get_session_simulations(1).unwrap();
    assert_eq!(simulations.len(), 1);
    let sim = &simulations[0];
    assert_eq!(
        (sim.id, sim.session_id, sim.n_laps, sim.iterations),
        (1, 1, 20, 1000)
    );
    assert_eq!(sim.driver_paces, json!({D1: 91.5, D2: 91.8}));
    assert_eq!(
        sim.results,
        json!({
            "win_probability": {D1: 0.62, D2: 0.38},
            "expected_positions": {D1: 1.38, D2: 1.62},
            "note": "Pérez-style undercut – low tyre wear",
        })
    );
    let keys: Vec<_> = sim.results.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["win_probability", "expected_positions", "note"]);
    assert!(timestamp(&sim.created_at));
}

#[test]
fn the_originals_json_directory_opens_as_it_is_with_every_value() {
    let Some(shared) = common::shared_dir("the_originals_json_directory_opens_as_it_is_with_every_value")
    else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    common::copy_writable(&shared.join("fixtures/original-json-storage"), &dir);
    let originals: Vec<Vec<u8>> = DATA_FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();

    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    assert!(store.repairs().is_empty(), "{:?}", store.repairs());
    assert_original_scenario(&store, is_python_isoformat);
    store.close().unwrap();
    drop(store);
    for (file, original) in DATA_FILES.iter().zip(&originals) {
        assert_eq!(
            &std::fs::read(dir.join(file)).unwrap(),
            original,
            "opening and reading changed {file}"
        );
    }

    // Saving goes on from the original's ids and leaves its records byte for byte as written.
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    assert_eq!(store.save_lap_data(&NewLap::new(1, D1, 3, 91.7)).unwrap(), 7);
    assert_eq!(
        store.create_session(&racestore::NewSession::new("COTA")).unwrap(),
        3
    );
    drop(store);
    let laps = std::fs::read(dir.join("lap_data.json")).unwrap();
    let original = &originals[2];
    assert_eq!(&laps[..original.len() - 2], &original[..original.len() - 2]);
    assert_eq!(&laps[original.len() - 2..original.len() + 4], b",\n  {\n");
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    assert_eq!(store.get_session_laps(1).unwrap().len(), 5);
    assert_eq!(store.get_laps(&LapQuery::all()).unwrap()[6].lap_time, 91.7);
}

#[test]
fn the_originals_sqlite_database_opens_as_it_is_with_every_value() {
    let Some(shared) = common::shared_dir("the_originals_sqlite_database_opens_as_it_is_with_every_value")
    else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("race_data.db");
    common::copy_writable(&shared.join("fixtures/original-sqlite/race_data.db"), &db);

    let store = SqliteStore::open(&db, Durability::Process).unwrap();
    assert_original_scenario(&store, is_sqlite_current_timestamp);
    // The original's AUTOINCREMENT counters carry on.
    assert_eq!(store.save_lap_data(&NewLap::new(1, D1, 3, 91.7)).unwrap(), 7);
    assert_eq!(store.save_driver_metrics_json(2, D2, &json!({})).unwrap(), 3);
    store.close().unwrap();
    drop(store);
    let store = SqliteStore::open(&db, Durability::Process).unwrap();
    assert_eq!(store.get_session_laps(1).unwrap().len(), 5);
}
