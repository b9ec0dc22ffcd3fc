//! What racestore writes reads in Python's `json` module exactly as the original's files do.

use crate::common;

use racestore::{
    Durability, JsonStore, NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, RaceStore,
    RaceStoreExt, Sectors,
};
use serde_json::json;

/// Checks, per file: a JSON array; every record has the original's keys in the original's order
/// and value types; and the bytes are exactly what `json.dump(data, f, indent=2,
/// ensure_ascii=False)` writes for that data, so the original code cannot tell the difference.
const CHECK: &str = r#"
import json, sys, os
d = sys.argv[1]
keys = {
  "race_sessions.json": ["id", "circuit", "date", "race_type", "created_at", "updated_at"],
  "driver_metrics.json": ["id", "session_id", "driver_id", "consistency_index", "aggression_score", "sector_strength", "pace_stability", "fatigue_dropoff", "created_at"],
  "lap_data.json": ["id", "session_id", "driver_id", "lap_number", "lap_time", "sector_1", "sector_2", "sector_3", "lap_type", "position", "created_at"],
  "predictions.json": ["id", "session_id", "driver_id", "prediction_type", "prediction_value", "model_path", "confidence", "created_at"],
  "simulations.json": ["id", "session_id", "driver_paces", "n_laps", "iterations", "results", "created_at"],
}
types = {"id": int, "session_id": int, "lap_number": int, "position": (int, type(None)), "n_laps": int,
         "iterations": int, "lap_time": float, "circuit": str, "driver_id": str, "created_at": str,
         "sector_strength": dict, "pace_stability": dict, "fatigue_dropoff": dict, "driver_paces": dict}
counts = {}
for name, expected in keys.items():
    with open(os.path.join(d, name), encoding="utf-8") as f:
        text = f.read()
    data = json.loads(text)
    assert isinstance(data, list), name
    for record in data:
        assert list(record.keys()) == expected, (name, list(record.keys()))
        for key, kind in types.items():
            if key in record:
                assert isinstance(record[key], kind), (name, key, record[key])
    assert [r["id"] for r in data] == sorted(r["id"] for r in data), name
    again = json.dumps(data, indent=2, ensure_ascii=False)
    assert again == text, (name, "differs from json.dump output")
    counts[name] = len(data)
print(json.dumps(counts, sort_keys=True))
"#;

#[test]
fn files_racestore_writes_parse_in_python_into_the_originals_record_shape() {
    let Some(python) =
        common::python3("files_racestore_writes_parse_in_python_into_the_originals_record_shape")
    else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let store = JsonStore::open(temp.path(), Durability::Process).unwrap();
    let s1 = store
        .create_session(&NewSession::new("Barber Motorsports Park").date("2025-09-06T14:00:00"))
        .unwrap();
    let s2 = store
        .create_session(&NewSession::new("Autódromo Hermanos Rodríguez").race_type("qualifying"))
        .unwrap();
    store
        .save_driver_metrics_json(
            s1,
            "GR86-002-7",
            &json!({"consistency_index": 0.912, "aggression_score": {"aggression_score": 0.65, "brake_events": 12},
                    "sector_strength": {"S1": 0.98, "S2": 1.01, "S3": 0.99}, "pace_stability": {"std": 0.41, "trend": -0.02}}),
        )
        .unwrap();
    store
        .save_driver_metrics(&NewDriverMetrics::new(s1, "GR86-013-22"))
        .unwrap();
    store
        .save_lap_data(
            &NewLap::new(s1, "GR86-002-7", 1, 91.482)
                .sectors(Sectors::new(29.301, 32.05, 30.131))
                .position(1),
        )
        .unwrap();
    store
        .save_laps(
            &(2..=40)
                .map(|n| NewLap::new(s2, "GR86-013-22", n, 90.0 + n as f64 / 100.0).position(2))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    store
        .save_lap_json(
            s1,
            "GR86-013-22",
            2,
            118.25,
            &json!({"S1": 29.6, "S2": 32.4}),
            "pit",
            None,
        )
        .unwrap();
    store
        .save_prediction(&NewPrediction {
            session_id: s1,
            driver_id: "GR86-013-22".into(),
            prediction_type: "finish_position".into(),
            prediction_value: 2.0,
            model_path: "models/position_model.pkl".into(),
            confidence: None,
        })
        .unwrap();
    store
        .save_simulation(&NewSimulation {
            session_id: s1,
            driver_paces: json!({"GR86-002-7": 91.5, "GR86-013-22": 91.8}),
            n_laps: 20,
            iterations: 1000,
            results: json!({"win_probability": {"GR86-002-7": 0.62}, "positions": [[1, 2], []], "note": "Pérez – undercut", "empty": {}}),
        })
        .unwrap();
    // A delete rewrites files: they must keep the same shape afterwards.
    let doomed = store.create_session(&NewSession::new("COTA")).unwrap();
    store
        .save_lap_data(&NewLap::new(doomed, "GR86-004-3", 1, 130.0))
        .unwrap();
    store.delete_session(doomed).unwrap();
    store.close().unwrap();

    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(CHECK)
        .arg(temp.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python check failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        counts,
        json!({"driver_metrics.json": 2, "lap_data.json": 41, "predictions.json": 1, "race_sessions.json": 2, "simulations.json": 1})
    );
}
