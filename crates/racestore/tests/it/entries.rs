//! The entries collection beside the original's five: the original's own reader
//! (`../shared/original-python/database/storage.py`, run with `RACESTORE_TEST_PYTHON`) reads a
//! directory that has `entries.json` as it reads any, and what it writes leaves the entries alone.

use std::path::Path;
use std::process::Command;

use racestore::model::NewEntry;
use racestore::{
    Durability, JsonStore, NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, RaceStore,
    RaceStoreExt, Sectors,
};
use serde_json::{json, Value};

use crate::common;

/// Reads the directory `argv[2]` with the original's `RaceStorage` (its module's folder is
/// `argv[1]`): every session and, per session, its laps, metrics and predictions, as its getters
/// return them; then saves one lap through it. Prints what it read as JSON.
const READ_WITH_THE_ORIGINAL: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from storage import RaceStorage
storage = RaceStorage(sys.argv[2])
sessions = storage.get_sessions()
out = {
    "sessions": sessions,
    "laps": {s["id"]: storage.get_session_laps(s["id"]) for s in sessions},
    "metrics": {s["id"]: storage.get_session_metrics(s["id"]) for s in sessions},
    "predictions": {s["id"]: storage.get_session_predictions(s["id"]) for s in sessions},
    "simulations": storage._read_file(storage.simulations_file),
}
storage.save_lap_data(sessions[0]["id"], "007-1", 3, 230.5, {"S1": 70.1}, "RACE_LAP", 1)
print(json.dumps(out))
"#;

#[test]
fn the_originals_reader_reads_a_store_with_entries_and_its_writes_leave_them_alone() {
    let test = "the_originals_reader_reads_a_store_with_entries_and_its_writes_leave_them_alone";
    let (Some(shared), Some(python)) = (common::shared_dir(test), common::test_python(test)) else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    let s = store
        .create_session(&NewSession::new("Circuit de la Sarthe").date("2024-06-15T16:00:00+02:00"))
        .unwrap();
    store
        .save_laps(&[
            NewLap::new(s, "007-1", 1, 230.112)
                .sectors(Sectors::new(70.2, 80.3, 79.612))
                .lap_type("RACE_LAP")
                .position(4),
            NewLap::new(s, "007-2", 2, 228.9).lap_type("IN_LAP").position(3),
        ])
        .unwrap();
    store
        .save_entries(&[
            NewEntry::new(s, "007-1")
                .car("007")
                .driver_name("Kévin ESTRE")
                .class("HYPERCAR")
                .group("H")
                .team("Aston Martin Thor Team")
                .manufacturer("Aston Martin"),
            NewEntry::new(s, "007-2").car("007").driver_name("Tom GAMBLE"),
        ])
        .unwrap();
    store
        .save_driver_metrics(&NewDriverMetrics::new(s, "007-1"))
        .unwrap();
    store
        .save_prediction(&NewPrediction::new(s, "007-1", "lap_time", 229.0, "m.pkl"))
        .unwrap();
    store
        .save_simulation(&NewSimulation::new(s, json!({"007-1": 229.0}), 10, 20, json!({})))
        .unwrap();
    let laps = store.get_session_laps(s).unwrap();
    let metrics = store.get_session_metrics(s).unwrap();
    let predictions = store.get_session_predictions(s).unwrap();
    let simulations = store.get_session_simulations(s).unwrap();
    let sessions = store.get_all_sessions().unwrap();
    let entries = store.get_session_entries(s).unwrap();
    store.close().unwrap();
    drop(store);
    let entries_file = std::fs::read(dir.join("entries.json")).unwrap();

    let output = Command::new(&python)
        .arg("-c")
        .arg(READ_WITH_THE_ORIGINAL)
        .arg(shared.join("original-python/database"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the original's storage.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    let key = s.to_string();
    assert_eq!(read["sessions"], json!(sessions));
    assert_eq!(read["laps"][&key], json!(laps));
    assert_eq!(read["metrics"][&key], json!(metrics));
    assert_eq!(read["predictions"][&key], json!(predictions));
    assert_eq!(read["simulations"], json!(simulations));

    // The original wrote a lap (rewriting lap_data.json its own way) and knows nothing of
    // entries.json: racestore reopens the directory with both.
    assert_eq!(std::fs::read(dir.join("entries.json")).unwrap(), entries_file);
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    assert_eq!(store.get_session_entries(s).unwrap(), entries);
    let laps_now = store.get_session_laps(s).unwrap();
    assert_eq!(laps_now.len(), 3);
    assert_eq!(
        store.get_lap_entry(s, &laps_now[2].driver_id).unwrap(),
        Some(entries[0].clone())
    );
    store.close().unwrap();
    assert!(Path::new(&dir).join("entries.json").is_file());
}
