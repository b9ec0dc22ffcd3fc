//! `check` finds damage, orphans and bad values and repairs only what loses nothing; `transfer`
//! copies a store between backends exactly.

use crate::common;

use std::path::Path;

use racestore::check::{check, CheckOptions};

const REPAIR: CheckOptions = CheckOptions {
    repair: true,
    drop_orphans: false,
    recreate_missing: false,
};
use racestore::transfer::{copy_all, fingerprint};
use racestore::{
    Collection, Durability, JsonStore, NewLap, NewSession, RaceStore, RaceStoreExt, SqliteStore,
};
use serde_json::json;

fn populate(store: &dyn RaceStore) {
    for circuit in ["Barber", "COTA"] {
        let s = store
            .create_session(&NewSession::new(circuit).date("2025-09-06"))
            .unwrap();
        store
            .save_laps(
                &(1..=5)
                    .map(|n| NewLap::new(s, "GR86-002-7", n, 91.0 + n as f64))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        store
            .save_driver_metrics_json(s, "GR86-002-7", &json!({"consistency_index": 0.9}))
            .unwrap();
    }
}

fn json_store(dir: &Path) {
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    populate(&store);
    store.close().unwrap();
}

#[test]
fn sound_stores_check_clean_on_every_backend() {
    let temp = tempfile::tempdir().unwrap();
    json_store(&temp.path().join("j"));
    let report = check(
        &format!("json:{}", temp.path().join("j").display()),
        &CheckOptions::default(),
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (
            report.counts.sessions(),
            report.counts.laps(),
            report.counts.driver_metrics()
        ),
        (2, 10, 2)
    );

    let db = temp.path().join("s.db");
    let store = SqliteStore::open(&db, Durability::Process).unwrap();
    populate(&store);
    store.close().unwrap();
    let report = check(&format!("sqlite:{}", db.display()), &CheckOptions::default()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.counts.laps(), 10);
}

#[test]
fn a_torn_tail_is_reported_as_repairable_left_alone_then_repaired_on_request() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    json_store(&dir);
    let laps = dir.join("lap_data.json");
    let mut bytes = std::fs::read(&laps).unwrap();
    bytes.truncate(bytes.len() - 40);
    std::fs::write(&laps, &bytes).unwrap();
    let url = format!("json:{}", dir.display());

    let report = check(&url, &CheckOptions::default()).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    let torn = &report.problems[0];
    assert!(
        torn.repairable && torn.location.starts_with("lap_data.json at byte"),
        "{torn:?}"
    );
    assert!(torn.message.contains("torn tail"), "{torn:?}");
    assert_eq!(
        std::fs::read(&laps).unwrap(),
        bytes,
        "check without --repair changes nothing"
    );
    assert_eq!(report.counts.laps(), 9, "the complete records are still checked");

    let report = check(&url, &REPAIR).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.repaired.len(), 1);
    assert!(
        report.repaired[0].contains("lap_data.json"),
        "{:?}",
        report.repaired
    );
    serde_json::from_slice::<serde_json::Value>(&std::fs::read(&laps).unwrap()).unwrap();
}

#[test]
fn damage_that_would_lose_records_is_reported_with_its_offset_and_never_repaired() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    json_store(&dir);
    let laps = dir.join("lap_data.json");
    let mut bytes = std::fs::read(&laps).unwrap();
    let at = bytes.windows(8).position(|w| w == b"\"id\": 2,").unwrap();
    bytes[at] = b'#';
    std::fs::write(&laps, &bytes).unwrap();
    let url = format!("json:{}", dir.display());
    for repair in [false, true] {
        let report = check(
            &url,
            &CheckOptions {
                repair,
                ..CheckOptions::default()
            },
        )
        .unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
        let problem = &report.problems[0];
        assert!(!problem.repairable);
        assert!(
            problem
                .location
                .starts_with(&format!("lap_data.json at byte {at} (line")),
            "{problem:?}"
        );
        assert!(report.repaired.is_empty());
        assert_eq!(
            std::fs::read(&laps).unwrap(),
            bytes,
            "refused damage is left as it is"
        );
    }
}

#[test]
fn orphans_and_invalid_values_are_reported_by_collection_and_id() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    json_store(&dir);
    // Hand edits: lap 3 moved to a session that does not exist, lap 4 given a negative time.
    let laps = dir.join("lap_data.json");
    let text = std::fs::read_to_string(&laps).unwrap();
    let text = text.replacen(
        "\"id\": 3,\n    \"session_id\": 1,",
        "\"id\": 3,\n    \"session_id\": 9,",
        1,
    );
    let text = text.replacen("\"lap_time\": 95.0,", "\"lap_time\": -95.0,", 1);
    std::fs::write(&laps, text).unwrap();
    let report = check(&format!("json:{}", dir.display()), &REPAIR).unwrap();
    let found: Vec<(&str, bool)> = report
        .problems
        .iter()
        .map(|p| (p.location.as_str(), p.message.contains("session 9")))
        .collect();
    assert_eq!(
        found,
        [("lap_data id 3", true), ("lap_data id 4", false)],
        "{report:?}"
    );
    assert!(
        report.problems[1].message.contains("lap_time"),
        "{:?}",
        report.problems[1]
    );
    assert!(report.repaired.is_empty(), "nothing here is repairable");

    // The same in SQLite, where the original never enforced its foreign keys.
    let db = temp.path().join("s.db");
    let store = SqliteStore::open(&db, Durability::Process).unwrap();
    populate(&store);
    store.close().unwrap();
    rusqlite_free_orphan(&db);
    let report = check(&format!("sqlite:{}", db.display()), &CheckOptions::default()).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].location, "lap_data id 2");
}

/// Moves lap 2 to session 42 behind racestore's back, as the original's code could.
fn rusqlite_free_orphan(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    // The original ran without foreign keys, as racestore does (bundled SQLite enforces them).
    conn.execute_batch("PRAGMA foreign_keys = OFF; UPDATE lap_data SET session_id = 42 WHERE id = 2")
        .unwrap();
}

#[test]
fn the_originals_directory_copied_to_sqlite_and_back_is_the_same_record_for_record() {
    let Some(shared) = common::shared_dir("the_originals_directory_copied_to_sqlite_and_back") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let original = temp.path().join("original");
    common::copy_writable(&shared.join("fixtures/original-json-storage"), &original);
    let source = JsonStore::open(&original, Durability::Process).unwrap();
    let sqlite = SqliteStore::open(&temp.path().join("copy.db"), Durability::Process).unwrap();
    let mut progress = Vec::new();
    let copied = copy_all(&source, &sqlite, |c, done, total| progress.push((c, done, total))).unwrap();
    assert_eq!(
        (copied.sessions(), copied.laps(), copied.simulations()),
        (2, 6, 1)
    );
    assert!(progress.contains(&(Collection::Laps, 6, 6)), "{progress:?}");
    let back = JsonStore::open(temp.path().join("back"), Durability::Process).unwrap();
    copy_all(&sqlite, &back, |_, _, _| {}).unwrap();

    let first = fingerprint(&source).unwrap();
    assert_eq!(fingerprint(&sqlite).unwrap(), first);
    assert_eq!(fingerprint(&back).unwrap(), first);
    for collection in Collection::ALL {
        let page = |store: &dyn RaceStore| store.export_page(collection, 0, 100).unwrap();
        assert_eq!(page(&back), page(&source), "{collection}");
    }
    // The copy gives no id the original gave, not even one of a deleted record.
    source.delete_session(2).unwrap();
    let after_delete = JsonStore::open(temp.path().join("after-delete"), Durability::Process).unwrap();
    copy_all(&source, &after_delete, |_, _, _| {}).unwrap();
    assert_eq!(after_delete.highest_ids().unwrap(), source.highest_ids().unwrap());
    let next = racestore::NewSession::new("COTA");
    assert_eq!(
        after_delete.create_session(&next).unwrap(),
        source.create_session(&next).unwrap()
    );
    // Saving goes on above the copied ids, and a copy into a non-empty store is refused.
    assert_eq!(
        back.save_lap_data(&NewLap::new(1, "GR86-002-7", 3, 91.0))
            .unwrap(),
        7
    );
    let err = copy_all(&source, &back, |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("is the target store empty?"), "{err}");
}

/// A JSON array of `n` laps of session 1 followed by one lap of session 99, written as the
/// original's `json.dump(..., indent=2)` would.
fn lap_file_with_an_orphan(n: i64) -> String {
    let lap = |id: i64, session: i64| {
        format!(
            "  {{\n    \"id\": {id},\n    \"session_id\": {session},\n    \"driver_id\": \"GR86-{:03}\",\n    \"lap_number\": {id},\n    \"lap_time\": 91.5,\n    \"sector_1\": null,\n    \"sector_2\": null,\n    \"sector_3\": null,\n    \"lap_type\": \"RACE_LAP\",\n    \"position\": null,\n    \"created_at\": \"2025-09-06T14:00:00\"\n  }}",
            id % 20
        )
    };
    let mut laps: Vec<String> = (1..=n).map(|id| lap(id, 1)).collect();
    laps.push(lap(n + 1, 99));
    format!("[\n{}\n]", laps.join(",\n"))
}

#[test]
fn check_reads_every_record_of_a_store_of_100k_laps_and_finds_an_orphan_lap_and_prediction() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    let s = store.create_session(&NewSession::new("Barber")).unwrap();
    store
        .save_prediction(&racestore::NewPrediction::new(
            s, "GR86-002", "lap_time", 91.0, "m.pkl",
        ))
        .unwrap();
    store
        .save_prediction(&racestore::NewPrediction::new(
            s, "GR86-003", "lap_time", 92.0, "m.pkl",
        ))
        .unwrap();
    store.close().unwrap();
    // 100,000 laps of session 1 and one of session 99, which does not exist; prediction 2
    // moved to session 77, which does not exist either: both after a collection of >= 10,000.
    std::fs::write(dir.join("lap_data.json"), lap_file_with_an_orphan(100_000)).unwrap();
    let predictions = dir.join("predictions.json");
    let text = std::fs::read_to_string(&predictions).unwrap();
    let text = text.replacen(
        "\"id\": 2,\n    \"session_id\": 1,",
        "\"id\": 2,\n    \"session_id\": 77,",
        1,
    );
    std::fs::write(&predictions, text).unwrap();

    let url = format!("json:{}", dir.display());
    let report = check(&url, &CheckOptions::default()).unwrap();
    assert_eq!(
        (report.counts.laps(), report.counts.predictions()),
        (100_001, 2),
        "every record is read: {:?}",
        report.counts
    );
    let found: Vec<&str> = report.problems.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(found, ["lap_data id 100001", "predictions id 2"], "{report:?}");
    assert!(report.problems[0].message.contains("session 99"), "{report:?}");
    assert!(report.problems[1].message.contains("session 77"), "{report:?}");

    // The same through an open store (the path SQLite and PostgreSQL take).
    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    let (problems, counts) = racestore::check::check_store(&store).unwrap();
    store.close().unwrap();
    assert_eq!((counts.laps(), counts.predictions()), (100_001, 2));
    let found: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(found, ["lap_data id 100001", "predictions id 2"]);
}
