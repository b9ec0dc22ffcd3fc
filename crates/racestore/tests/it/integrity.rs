//! Integrity promises of issue 10: ids are never reused after a torn session record, a store
//! that lost a data file is refused, backups are complete or absent, read-only opens change
//! nothing, and a repair is all or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use racestore::check::{check, CheckOptions};
use racestore::{
    Batch, Durability, Error, Fault, FaultInjector, FileOp, JsonStore, NewLap, NewRecords, NewSession,
    RaceStore, RaceStoreExt,
};

fn open(dir: &Path) -> racestore::Result<JsonStore> {
    JsonStore::open(dir, Durability::Process)
}

/// Every file of `dir` (not the lock file, whose holder line changes) with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "racestore.lock")
        .map(|p| {
            let bytes = if p.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (p, bytes)
        })
        .collect()
}

/// A store of sessions `circuits`, each saved in one batch with `laps` laps.
fn store_of(dir: &Path, sessions: &[(&str, i64)]) {
    let store = open(dir).unwrap();
    for (circuit, laps) in sessions {
        let laps: Vec<NewLap> = (1..=*laps)
            .map(|n| NewLap::new(0, "GR86-002-7", n, 91.0))
            .collect();
        store
            .save(&Batch::session(NewSession::new(*circuit)).with(NewRecords::Laps(laps)))
            .unwrap();
    }
    store.close().unwrap();
}

/// Cuts `race_sessions.json` in the middle of its last record, past its `"id"`.
fn tear_last_session(dir: &Path) -> PathBuf {
    let path = dir.join("race_sessions.json");
    let whole = std::fs::read(&path).unwrap();
    let last = whole.windows(4).rposition(|w| w == b",\n  ").unwrap();
    std::fs::write(&path, &whole[..last + 30]).unwrap();
    path
}

fn url(dir: &Path) -> String {
    format!("json:{}", dir.display())
}

#[test]
fn a_torn_session_record_its_laps_prove_was_saved_is_never_cut_silently_nor_its_id_reused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3), ("Sonoma", 2)]);
    let sessions = tear_last_session(&dir);
    let before = files(&dir);

    let err = open(&dir).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Damaged { path, .. } if *path == sessions),
        "{err:?}"
    );
    assert!(text.contains("lap_data.json holds 2 laps of session 2"), "{text}");
    assert!(text.contains("racestore check --repair --drop-orphans"), "{text}");
    assert_eq!(files(&dir), before, "refusing changed nothing");

    // check names the flag; a repair without it changes nothing.
    let report = check(&url(&dir), &CheckOptions::default()).unwrap();
    let torn = report
        .problems
        .iter()
        .find(|p| p.location.starts_with("race_sessions.json"))
        .expect("the torn record is reported");
    assert_eq!(
        (torn.repairable, torn.repair_flag),
        (false, Some("--drop-orphans"))
    );
    let repair = CheckOptions {
        repair: true,
        ..CheckOptions::default()
    };
    let report = check(&url(&dir), &repair).unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert!(
        report.notes.iter().any(|n| n.contains("--drop-orphans")),
        "{report:?}"
    );
    assert_eq!(files(&dir), before, "an incomplete repair changes nothing");

    // With the flag: cut, the two laps dropped and counted, and id 2 never given again.
    let report = check(
        &url(&dir),
        &CheckOptions {
            drop_orphans: true,
            ..repair
        },
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(
        report
            .repaired
            .iter()
            .any(|r| r.contains("dropped 2 records") && r.contains("2 laps")),
        "{report:?}"
    );
    let store = open(&dir).unwrap();
    assert_eq!(store.counts().unwrap().laps(), 3);
    assert_eq!(store.create_session(&NewSession::new("COTA")).unwrap(), 3);
    assert!(store.get_session_laps(3).unwrap().is_empty());
}

#[test]
fn a_session_id_only_a_torn_tail_still_shows_is_never_given_again() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3), ("Sonoma", 0)]);
    tear_last_session(&dir);
    // Nothing else names session 2, so opening cuts the tear; its id stays given.
    let store = open(&dir).unwrap();
    assert_eq!(store.repairs().len(), 1, "{:?}", store.repairs());
    assert_eq!(store.create_session(&NewSession::new("COTA")).unwrap(), 3);
}

#[test]
fn laps_of_a_session_missing_from_an_intact_file_keep_its_id_from_being_given() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 1), ("Sonoma", 2)]);
    // The file cut exactly after its first record, as a whole array: nothing torn to see.
    std::fs::write(dir.join("race_sessions.json"), {
        let text = std::fs::read_to_string(dir.join("race_sessions.json")).unwrap();
        let first_end = text.find("\n  },").unwrap() + 4;
        format!("{}\n]", &text[..first_end])
    })
    .unwrap();
    let store = open(&dir).unwrap();
    assert_eq!(store.create_session(&NewSession::new("COTA")).unwrap(), 3);
    assert!(
        store.get_session_laps(3).unwrap().is_empty(),
        "no orphan joins the new session"
    );
}

#[test]
fn a_store_that_lost_a_data_file_is_refused_naming_it_and_check_reports_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3)]);
    let laps = dir.join("lap_data.json");
    std::fs::remove_file(&laps).unwrap();
    let before = files(&dir);

    let err = open(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Damaged { path, .. } if *path == laps),
        "{err:?}"
    );
    assert!(err.to_string().contains("--recreate-missing"), "{err}");
    assert!(!laps.exists(), "the lost file is not recreated empty");
    let read_only = racestore::open(&format!("{}?mode=ro", url(&dir))).unwrap_err();
    assert!(matches!(read_only, Error::Damaged { .. }), "{read_only:?}");
    assert_eq!(files(&dir), before);

    let report = check(&url(&dir), &CheckOptions::default()).unwrap();
    let lost = report
        .problems
        .iter()
        .find(|p| p.location == "lap_data.json")
        .expect("check reports the missing file");
    assert_eq!(
        (lost.repairable, lost.repair_flag),
        (false, Some("--recreate-missing"))
    );
    let repair = CheckOptions {
        repair: true,
        ..CheckOptions::default()
    };
    assert!(check(&url(&dir), &repair).unwrap().repaired.is_empty());
    assert_eq!(files(&dir), before);
    let report = check(
        &url(&dir),
        &CheckOptions {
            recreate_missing: true,
            ..repair
        },
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.repaired.len(), 1, "{report:?}");
    let store = open(&dir).unwrap();
    assert_eq!(store.counts().unwrap().sessions(), 1);
}

#[test]
fn a_collection_newer_than_the_store_is_created_not_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 1)]);
    // As a store written before entries existed: no entries.json, no list of files.
    std::fs::remove_file(dir.join("entries.json")).unwrap();
    std::fs::remove_file(dir.join("racestore.meta.json")).unwrap();
    let store = racestore::open(&format!("{}?mode=ro", url(&dir))).unwrap();
    assert_eq!(store.counts().unwrap().entries(), 0);
    store.close().unwrap();
    assert!(!dir.join("entries.json").exists(), "read-only creates nothing");
    let store = open(&dir).unwrap();
    assert_eq!(store.counts().unwrap().laps(), 1);
    assert!(dir.join("entries.json").exists());
}

/// Fails every write to a file in a backup being written.
#[derive(Debug)]
struct FailBackupWrites;

impl FaultInjector for FailBackupWrites {
    fn inject(&self, op: &FileOp<'_>) -> Option<Fault> {
        match op {
            FileOp::Write { path, .. }
                if path.to_string_lossy().contains("backup")
                    && path.ends_with("lap_data.json.racestore-tmp") =>
            {
                Some(Fault::Fail(std::io::Error::other("disk full")))
            }
            _ => None,
        }
    }
}

#[test]
fn a_backup_cut_short_leaves_nothing_that_opens_as_a_store() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3)]);
    let store = JsonStore::open_with_faults(
        &dir,
        Durability::Process,
        Some(std::sync::Arc::new(FailBackupWrites)),
    )
    .unwrap();
    let destination = temp.path().join("backup");
    let err = store.backup(&destination).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(!destination.exists(), "no part of a backup at its name");
    let left: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["storage"], "nothing left beside the store");
    let err = racestore::open(&format!("json:{}?mode=ro", destination.display())).unwrap_err();
    assert!(err.to_string().contains("there is no store here"), "{err}");
}

#[test]
fn a_read_only_store_creates_locks_repairs_and_changes_nothing_and_refuses_writes() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3)]);
    // As the original left it: no lock file, no journal; and a torn tail in the laps.
    std::fs::remove_file(dir.join("racestore.lock")).unwrap();
    std::fs::remove_file(dir.join("racestore.journal")).unwrap();
    let laps = dir.join("lap_data.json");
    let bytes = std::fs::read(&laps).unwrap();
    std::fs::write(&laps, &bytes[..bytes.len() - 40]).unwrap();
    let before = files(&dir);
    let names = |dir: &Path| -> Vec<_> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let listed = names(&dir);

    let store = racestore::open(&format!("{}?mode=ro", url(&dir))).unwrap();
    assert_eq!(
        store.get_session_laps(1).unwrap().len(),
        2,
        "the torn lap is not read"
    );
    assert!(store.repairs().is_empty());
    for err in [
        store.create_session(&NewSession::new("COTA")).unwrap_err(),
        store
            .save_lap_data(&NewLap::new(1, "GR86-002-7", 9, 90.0))
            .unwrap_err(),
        store.delete_session(1).unwrap_err(),
    ] {
        assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    let backup = temp.path().join("copy");
    store.backup(&backup).unwrap();
    store.close().unwrap();
    assert_eq!(files(&dir), before, "nothing changed");
    assert_eq!(names(&dir), listed, "nothing created, not even a lock file");
    let copy = open(&backup).unwrap();
    assert_eq!(copy.get_session_laps(1).unwrap().len(), 2);
    assert!(
        copy.repairs().is_empty(),
        "the backup of a read-only store is whole"
    );

    // A store that does not exist is an error naming it, and is not created.
    let missing = temp.path().join("nope");
    let err = racestore::open(&format!("{}?mode=ro", url(&missing))).unwrap_err();
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert!(!missing.exists());

    // Beside a store that writes, a read-only one reads, and sees each save on its next read.
    let writer = open(&dir).unwrap();
    let reader = racestore::open(&format!("{}?mode=ro", url(&dir))).unwrap();
    assert_eq!(reader.get_session_laps(1).unwrap().len(), 2);
    writer
        .save_lap_data(&NewLap::new(1, "GR86-004-78", 3, 92.25))
        .unwrap();
    let laps = reader.get_session_laps(1).unwrap();
    assert_eq!(laps.len(), 3);
    assert_eq!(laps[2].lap_time, 92.25);
    assert!(matches!(
        reader.save_lap_data(&NewLap::new(1, "GR86-004-78", 4, 92.5)),
        Err(Error::ReadOnly { .. })
    ));
    writer.close().unwrap();
}

#[test]
fn a_read_only_sqlite_store_reads_and_refuses_writes_and_a_missing_one_is_not_created() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("race.db");
    let store = racestore::open(&format!("sqlite:{}", db.display())).unwrap();
    let s = store.create_session(&NewSession::new("Barber")).unwrap();
    store
        .save_lap_data(&NewLap::new(s, "GR86-002-7", 1, 91.0))
        .unwrap();
    store.close().unwrap();
    let before = std::fs::read(&db).unwrap();
    let store = racestore::open(&format!("sqlite:{}?mode=ro", db.display())).unwrap();
    assert_eq!(store.get_session_laps(s).unwrap().len(), 1);
    let err = store.create_session(&NewSession::new("COTA")).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    store.close().unwrap();
    assert_eq!(std::fs::read(&db).unwrap(), before);

    let missing = temp.path().join("missing.db");
    let err = racestore::open(&format!("sqlite:{}?mode=ro", missing.display())).unwrap_err();
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert!(!missing.exists());
    // Nor does a writing open create a store in a folder that does not exist.
    let nested = temp.path().join("typo").join("race.db");
    let err = racestore::open(&format!("sqlite:{}", nested.display())).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = racestore::open(&url(&temp.path().join("typo").join("storage"))).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(!temp.path().join("typo").exists());
}

#[test]
fn check_repair_is_all_or_nothing_and_names_the_flag_for_what_drops_records() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 3)]);
    // A torn tail (repairable on its own) and a lap of a session that does not exist.
    let laps = dir.join("lap_data.json");
    let text = std::fs::read_to_string(&laps).unwrap().replacen(
        "\"id\": 2,\n    \"session_id\": 1,",
        "\"id\": 2,\n    \"session_id\": 9,",
        1,
    );
    std::fs::write(&laps, &text.as_bytes()[..text.len() - 30]).unwrap();
    let before = files(&dir);
    let repair = CheckOptions {
        repair: true,
        ..CheckOptions::default()
    };
    let report = check(&url(&dir), &repair).unwrap();
    assert!(report.repaired.is_empty(), "{report:?}");
    assert_eq!(
        files(&dir),
        before,
        "the torn tail is not cut while an orphan stays"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("all or nothing") && n.contains("--drop-orphans")),
        "{report:?}"
    );
    let report = check(
        &url(&dir),
        &CheckOptions {
            drop_orphans: true,
            ..repair
        },
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.repaired.len(), 2, "{report:?}");
    assert!(report.repaired[1].contains("dropped 1 record"), "{report:?}");
    assert_eq!(report.counts.laps(), 1);
}

#[test]
fn files_pythons_json_dump_wrote_with_nan_infinity_and_deep_nesting_open_and_stay_as_written() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_of(&dir, &[("Barber", 2)]);
    // As the original's json.dump(..., indent=2) wrote them: a NaN lap time, an infinite and an
    // integer sector, and metrics nested 200 levels deep with Infinity inside.
    let laps = dir.join("lap_data.json");
    let text = std::fs::read_to_string(&laps).unwrap();
    let lap3 = "  {\n    \"id\": 3,\n    \"session_id\": 1,\n    \"driver_id\": \"GR86-002-7\",\n    \"lap_number\": 3,\n    \"lap_time\": NaN,\n    \"sector_1\": -Infinity,\n    \"sector_2\": 30,\n    \"sector_3\": null,\n    \"lap_type\": \"RACE_LAP\",\n    \"position\": 1,\n    \"created_at\": \"2025-09-06T14:00:00\"\n  }";
    std::fs::write(&laps, format!("{},\n{lap3}\n]", &text[..text.len() - 2])).unwrap();
    let deep = format!("{}{{\"x\": Infinity}}{}", "{\"a\": ".repeat(200), "}".repeat(200));
    let metrics = dir.join("driver_metrics.json");
    std::fs::write(
        &metrics,
        format!("[\n  {{\n    \"id\": 1,\n    \"session_id\": 1,\n    \"driver_id\": \"GR86-002-7\",\n    \"consistency_index\": NaN,\n    \"aggression_score\": Infinity,\n    \"sector_strength\": {deep},\n    \"pace_stability\": {{}},\n    \"fatigue_dropoff\": {{}},\n    \"created_at\": \"2025-09-06T14:00:00\"\n  }}\n]"),
    )
    .unwrap();
    let (laps_before, metrics_before) = (std::fs::read(&laps).unwrap(), std::fs::read(&metrics).unwrap());

    let store = open(&dir).unwrap();
    let lap = &store.get_session_laps(1).unwrap()[2];
    assert!(lap.lap_time.is_nan(), "{lap:?}");
    assert_eq!(
        (lap.sector_1, lap.sector_2),
        (Some(f64::NEG_INFINITY), Some(30.0))
    );
    let m = &store.get_session_metrics(1).unwrap()[0];
    assert!(m.consistency_index.unwrap().is_nan());
    assert_eq!(m.aggression_score, Some(f64::INFINITY));
    let mut inner = &m.sector_strength;
    for _ in 0..200 {
        inner = &inner["a"];
    }
    assert_eq!(
        inner,
        &serde_json::json!({"x": null}),
        "inside a JSON value, Infinity reads as null"
    );
    // Saving more appends; what Python wrote stays byte for byte.
    store
        .save_lap_data(&NewLap::new(1, "GR86-002-7", 4, 91.0))
        .unwrap();
    store.close().unwrap();
    assert!(std::fs::read(&laps)
        .unwrap()
        .starts_with(&laps_before[..laps_before.len() - 2]));
    assert_eq!(std::fs::read(&metrics).unwrap(), metrics_before);

    // check flags both files and the lap time a save would refuse.
    let report = check(&url(&dir), &CheckOptions::default()).unwrap();
    let at: Vec<&str> = report.problems.iter().map(|p| p.location.as_str()).collect();
    assert!(
        at.contains(&"lap_data.json") && at.contains(&"driver_metrics.json"),
        "{report:?}"
    );
    assert!(at.contains(&"lap_data id 3"), "{report:?}");
    assert_eq!(report.counts.laps(), 4);
}

#[test]
fn an_invalid_value_of_ten_megabytes_is_never_echoed_back_whole() {
    let temp = tempfile::tempdir().unwrap();
    let store = open(&temp.path().join("storage")).unwrap();
    let s = store.create_session(&NewSession::new("Barber")).unwrap();
    let huge = serde_json::Value::String("x".repeat(10 << 20));
    for err in [
        store
            .save_driver_metrics_json(s, "GR86-002-7", &huge)
            .unwrap_err(),
        store
            .create_session(&NewSession::new("Barber").date("9".repeat(10 << 20)))
            .unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            matches!(err, Error::Invalid { .. }),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(text.len() < 1_000, "an error of {} bytes", text.len());
    }
}

/// Opens `url` with [`racestore::StoreUrl::open_reporting`] and closes it; whether it created the store.
fn created_by_opening(url: &str) -> bool {
    let opened = racestore::StoreUrl::parse(url).unwrap().open_reporting().unwrap();
    opened.store.close().unwrap();
    opened.created
}

#[test]
fn opening_says_whether_it_created_the_store_on_every_backend() {
    let temp = tempfile::tempdir().unwrap();
    let empty = temp.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    for url in [
        format!("json:{}", temp.path().join("storage").display()),
        format!("sqlite:{}", temp.path().join("race.db").display()),
        // A file of no table is no store yet.
        format!("sqlite:{}", empty.display()),
    ] {
        assert!(created_by_opening(&url), "{url}: the first open created it");
        assert!(!created_by_opening(&url), "{url}: the second found it");
        // Read-only opens never create, and a store already open in the process was not
        // created by the open that shares it.
        let parsed = racestore::StoreUrl::parse(&format!("{url}?mode=ro")).unwrap();
        assert!(!parsed.open_reporting().unwrap().created, "{url}");
        let shared = racestore::open_shared_reporting(&url).unwrap();
        let again = racestore::open_shared_reporting(&url).unwrap();
        assert!(!shared.created && !again.created, "{url}");
    }
    let fresh = format!("json:{}", temp.path().join("shared").display());
    let first = racestore::open_shared_reporting(&fresh).unwrap();
    let second = racestore::open_shared_reporting(&fresh).unwrap();
    assert!(first.created && !second.created);

    let Some(schema) = crate::common::postgres::TestSchema::new(
        "opening_says_whether_it_created_the_store_on_every_backend",
    ) else {
        return;
    };
    let url = schema.url("");
    assert!(created_by_opening(&url), "{url}: the schema was made");
    assert!(!created_by_opening(&url), "{url}: the schema was there");
}
