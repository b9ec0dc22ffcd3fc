//! What opening a JSON directory does with damage: torn tails are cut and reported, interrupted
//! batches and deletes are undone or finished, and damage anywhere else is refused untouched.

use std::path::Path;

use racestore::{
    Durability, Error, JsonStore, LapQuery, NewLap, NewSession, RaceStore, RaceStoreExt, Sectors,
};

fn open(dir: &Path) -> racestore::Result<JsonStore> {
    JsonStore::open(dir, Durability::Process)
}

/// A store with one session and `laps` laps, closed; returns the lap file's path.
fn store_with_laps(dir: &Path, laps: i64) -> std::path::PathBuf {
    let store = open(dir).unwrap();
    let session = store
        .create_session(&NewSession::new("Barber Motorsports Park"))
        .unwrap();
    for n in 1..=laps {
        let lap = NewLap::new(session, "GR86-002-7", n, 91.0 + n as f64 / 10.0)
            .sectors(Sectors::new(29.5, 32.0, 30.1))
            .position(1);
        store.save_lap_data(&lap).unwrap();
    }
    store.close().unwrap();
    dir.join("lap_data.json")
}

fn lap_ids(store: &dyn RaceStore) -> Vec<i64> {
    store
        .get_laps(&LapQuery::all())
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect()
}

#[test]
fn a_torn_tail_at_any_byte_of_the_last_record_is_cut_reported_and_saving_goes_on() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 3);
    let whole = std::fs::read(&path).unwrap();
    let last_record = whole.windows(4).rposition(|w| w == b",\n  ").unwrap();
    for cut in last_record..whole.len() - 1 {
        std::fs::write(&path, &whole[..cut]).unwrap();
        let store = open(temp.path()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let repairs = store.repairs();
        assert_eq!(repairs.len(), 1, "cut at {cut}");
        assert_eq!(repairs[0].file, path);
        assert!(repairs[0].detail.contains("torn tail"), "{}", repairs[0]);
        // A cut inside the closing "\n]" keeps the complete last record.
        let expected: &[i64] = if cut >= whole.len() - 2 {
            &[1, 2, 3]
        } else {
            &[1, 2]
        };
        let have = lap_ids(&store);
        assert_eq!(have, expected, "cut at {cut}");
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap())
            .expect("repaired file parses");
        let next = store
            .save_lap_data(&NewLap::new(1, "GR86-002-7", 9, 95.0))
            .unwrap();
        // An id the torn record still shows was given: it is not given again.
        let torn_shows_3 = whole[..cut].windows(7).any(|w| w == b"\"id\": 3");
        let expected_next = if have.len() == 3 || torn_shows_3 { 4 } else { 3 };
        assert_eq!(next, expected_next, "cut at {cut}");
        drop(store);
        assert_eq!(lap_ids(&open(temp.path()).unwrap()).len(), have.len() + 1);
    }
}

#[test]
fn a_dangling_comma_or_zeros_after_the_last_record_are_cut() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 2);
    let whole = std::fs::read(&path).unwrap();
    let body = &whole[..whole.len() - 2];
    for tail in [
        &b",\n  "[..],
        b",",
        b",]",
        b"\n]\0\0\0\0",
        b"\0\0\0\0\0\0\0\0",
        b",\n  {\n    \"id\": 3,\0\0\0",
    ] {
        let mut damaged = body.to_vec();
        damaged.extend_from_slice(tail);
        std::fs::write(&path, &damaged).unwrap();
        let store = open(temp.path()).unwrap_or_else(|e| panic!("{tail:?}: {e}"));
        assert_eq!(store.repairs().len(), 1, "{tail:?}");
        assert_eq!(lap_ids(&store), [1, 2]);
        drop(store);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            whole,
            "{tail:?}: repaired to the original bytes"
        );
    }
}

#[test]
fn damage_before_the_tail_is_refused_naming_file_and_offset_and_nothing_is_changed() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 5);
    let whole = std::fs::read(&path).unwrap();
    let second_record = whole.windows(11).position(|w| w == b"\"id\": 2,\n  ").unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("flipped byte in a key", {
            let mut d = whole.clone();
            d[second_record + 1] = b'X';
            d[second_record + 2] = b'"';
            d
        }),
        ("garbage in a number", {
            let mut d = whole.clone();
            d[second_record + 6] = b'#';
            d
        }),
        ("missing comma between records", {
            let at = whole.windows(4).position(|w| w == b",\n  ").unwrap();
            let mut d = whole.clone();
            d[at] = b' ';
            d
        }),
        ("not an array", b"{\"id\": 1}".to_vec()),
        ("empty file", Vec::new()),
        ("only zeros", vec![0; 64]),
    ];
    for (what, damaged) in cases {
        std::fs::write(&path, &damaged).unwrap();
        let sessions_before = std::fs::read(temp.path().join("race_sessions.json")).unwrap();
        match open(temp.path()) {
            Err(Error::CorruptFile {
                path: bad,
                offset,
                line,
                message,
                ..
            }) => {
                assert_eq!(bad, path, "{what}");
                assert!(offset as usize <= damaged.len(), "{what}: offset {offset}");
                assert!(line >= 1, "{what}");
                let text = Error::CorruptFile {
                    path: bad,
                    offset,
                    line,
                    column: 1,
                    message,
                }
                .to_string();
                assert!(
                    text.contains("lap_data.json") && text.contains(&format!("byte {offset}")),
                    "{text}"
                );
            }
            other => panic!("{what}: expected CorruptFile, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            damaged,
            "{what}: the damaged file was changed"
        );
        assert_eq!(
            std::fs::read(temp.path().join("race_sessions.json")).unwrap(),
            sessions_before
        );
    }
}

/// Opening checks each file's structure, not each record's fields: a record whose field has
/// the wrong type opens, and reading it is the error, naming the file and offset; `check`
/// reads every record and reports it.
#[test]
fn a_field_of_the_wrong_type_is_an_error_naming_file_and_offset_when_read_and_check_reports_it() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 5);
    let damaged = String::from_utf8(std::fs::read(&path).unwrap())
        .unwrap()
        .replacen("\"lap_time\": 91.2", "\"lap_time\": \"fast\"", 1);
    std::fs::write(&path, &damaged).unwrap();
    let store = open(temp.path()).unwrap();
    assert_eq!(store.counts().unwrap().laps(), 5);
    let record_at = damaged[..damaged.find("\"fast\"").unwrap()].rfind('{').unwrap() as u64;
    match store.get_session_laps(1) {
        Err(Error::CorruptFile {
            path: bad,
            offset,
            message,
            ..
        }) => {
            assert_eq!(bad, path);
            assert!(
                offset >= record_at && offset <= damaged.find("\"fast\"").unwrap() as u64 + 6,
                "offset {offset}, record at {record_at}"
            );
            assert!(message.contains("lap_data.json"), "{message}");
        }
        other => panic!("expected CorruptFile, got {other:?}"),
    }
    // The records around it read as they are.
    assert_eq!(
        store
            .export_page(racestore::Collection::Laps, 0, 1)
            .unwrap()
            .len(),
        1
    );
    drop(store);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        damaged,
        "nothing was changed"
    );
    let url = format!("json:{}", temp.path().display());
    let report = racestore::check::check(&url, &racestore::check::CheckOptions::default()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.location.contains("lap_data.json")),
        "{:?}",
        report.problems
    );
}

#[test]
fn ids_that_do_not_ascend_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 3);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("\"id\": 3,", "\"id\": 1,", 1);
    std::fs::write(&path, &text).unwrap();
    let err = open(temp.path()).unwrap_err();
    assert!(matches!(err, Error::CorruptFile { .. }), "{err:?}");
    assert!(err.to_string().contains("ids must ascend"), "{err}");
}

#[test]
fn a_batch_a_crash_cut_short_is_rolled_back_whole() {
    let temp = tempfile::tempdir().unwrap();
    let path = store_with_laps(temp.path(), 2);
    let before = std::fs::read(&path).unwrap();
    let store = open(temp.path()).unwrap();
    let batch: Vec<NewLap> = (3..=12).map(|n| NewLap::new(1, "GR86-013-22", n, 92.0)).collect();
    store.save_laps(&batch).unwrap();
    drop(store);
    let after = std::fs::read(&path).unwrap();
    let (start, end) = (before.len() - 2, after.len() - 2);
    // Replay the crash: the journal announces the batch, and only part of it reached the file
    // (whole records included, which must still go: a batch is all or nothing).
    let journal = format!(r#"{{"op":"append","file":"lap_data.json","start":{start},"end":{end}}}"#);
    for cut in [start + 1, start + 700, usize::midpoint(start, end), end - 1] {
        std::fs::write(temp.path().join("racestore.journal"), &journal).unwrap();
        std::fs::write(&path, &after[..cut]).unwrap();
        let store = open(temp.path()).unwrap();
        let repairs = store.repairs();
        assert_eq!(repairs.len(), 1, "cut {cut}");
        assert!(
            repairs[0].detail.contains("rolled back a batch"),
            "{}",
            repairs[0]
        );
        assert_eq!(lap_ids(&store), [1, 2], "cut {cut}");
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), before, "cut {cut}");
    }
    // Every record of the batch landed (only the closing bracket is missing): it stays.
    std::fs::write(temp.path().join("racestore.journal"), &journal).unwrap();
    std::fs::write(&path, &after[..=end]).unwrap();
    let store = open(temp.path()).unwrap();
    assert!(
        store.repairs()[0].detail.contains("closing ']' is missing"),
        "{:?}",
        store.repairs()
    );
    assert_eq!(lap_ids(&store), (1..=12).collect::<Vec<_>>());
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), after);
    // The batch landed whole but the crash came before the journal was cleared: it stays.
    std::fs::write(temp.path().join("racestore.journal"), &journal).unwrap();
    let store = open(temp.path()).unwrap();
    assert!(store.repairs().is_empty(), "{:?}", store.repairs());
    assert_eq!(lap_ids(&store), (1..=12).collect::<Vec<_>>());
    drop(store);
    assert_eq!(
        std::fs::read_to_string(temp.path().join("racestore.journal")).unwrap(),
        "",
        "journal cleared"
    );
}

#[test]
fn a_delete_a_crash_interrupted_is_finished_on_open() {
    let temp = tempfile::tempdir().unwrap();
    store_with_laps(temp.path(), 3);
    let store = open(temp.path()).unwrap();
    let doomed = store.create_session(&NewSession::new("COTA")).unwrap();
    store
        .save_lap_data(&NewLap::new(doomed, "GR86-004-3", 1, 130.0))
        .unwrap();
    drop(store);
    std::fs::write(
        temp.path().join("racestore.journal"),
        format!(r#"{{"op":"delete_session","session_id":{doomed}}}"#),
    )
    .unwrap();
    let store = open(temp.path()).unwrap();
    assert!(store.repairs()[0]
        .detail
        .contains(&format!("finished deleting session {doomed}")));
    assert_eq!(store.get_session(doomed).unwrap(), None);
    assert_eq!(lap_ids(&store), [1, 2, 3]);
    // The deleted lap's id is not given again.
    assert_eq!(
        store
            .save_lap_data(&NewLap::new(1, "GR86-002-7", 4, 91.0))
            .unwrap(),
        5
    );
}

const DATA_FILES: [&str; 5] = [
    "race_sessions.json",
    "driver_metrics.json",
    "lap_data.json",
    "predictions.json",
    "simulations.json",
];

/// A closed store with several records in every one of the five files.
fn full_store(dir: &Path) {
    let store = open(dir).unwrap();
    for circuit in ["Barber", "COTA", "Sebring"] {
        let s = store
            .create_session(&NewSession::new(circuit).date("2025-09-06T14:00:00"))
            .unwrap();
        store
            .save_laps(
                &(1..=3)
                    .map(|n| NewLap::new(s, "GR86-002-7", n, 91.5))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        store
            .save_driver_metrics_json(
                s,
                "GR86-002-7",
                &serde_json::json!({"sector_strength": {"S1": 0.98}}),
            )
            .unwrap();
        store
            .save_prediction(
                &racestore::NewPrediction::new(s, "GR86-002-7", "lap_time", 91.4, "m.pkl").confidence(0.8),
            )
            .unwrap();
        store
            .save_simulation(&racestore::NewSimulation::new(
                s,
                serde_json::json!({"GR86-002-7": 91.5}),
                20,
                100,
                serde_json::json!({"win_probability": {"GR86-002-7": 1.0}, "note": "Pérez"}),
            ))
            .unwrap();
    }
    store.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in DATA_FILES {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// Each collection's records, as JSON text per record, in id order.
fn contents(store: &dyn RaceStore) -> Vec<Vec<String>> {
    let ids = store
        .get_all_sessions()
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect::<Vec<_>>();
    let text = |v: serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
    };
    let per_session = |f: &dyn Fn(i64) -> serde_json::Value| {
        let mut all: Vec<serde_json::Value> = ids
            .iter()
            .flat_map(|s| f(*s).as_array().unwrap().clone())
            .collect();
        all.sort_by_key(|r| r["id"].as_i64());
        text(serde_json::Value::Array(all))
    };
    vec![
        text(serde_json::to_value(store.get_all_sessions().unwrap()).unwrap()),
        per_session(&|s| serde_json::to_value(store.get_session_metrics(s).unwrap()).unwrap()),
        text(serde_json::to_value(store.get_laps(&LapQuery::all()).unwrap()).unwrap()),
        per_session(&|s| serde_json::to_value(store.get_session_predictions(s).unwrap()).unwrap()),
        per_session(&|s| serde_json::to_value(store.get_session_simulations(s).unwrap()).unwrap()),
    ]
}

#[test]
fn every_data_file_cut_inside_its_last_record_or_anywhere_opens_as_a_reported_prefix() {
    let temp = tempfile::tempdir().unwrap();
    let original = temp.path().join("original");
    full_store(&original);
    let whole = contents(&open(&original).unwrap());
    let mut opened = 0;
    for (index, file) in DATA_FILES.iter().enumerate() {
        let bytes = std::fs::read(original.join(file)).unwrap();
        let last_record = bytes.windows(4).rposition(|w| w == b",\n  ").unwrap();
        // Every byte of the last record and the closing bracket; a sample of offsets before it.
        let cuts = (last_record..bytes.len()).chain((1..last_record).step_by(37));
        for cut in cuts {
            let dir = temp.path().join(format!("{file}-{cut}"));
            copy_dir(&original, &dir);
            std::fs::write(dir.join(file), &bytes[..cut]).unwrap();
            if index == 0 && cut < bytes.len() - 2 {
                // Every session has records in the other files, which prove the torn one was
                // saved: opening refuses to cut it, and changes nothing.
                let err = open(&dir).unwrap_err();
                assert!(
                    matches!(err, Error::Damaged { .. }),
                    "{file} cut at {cut}: {err:?}"
                );
                assert_eq!(std::fs::read(dir.join(file)).unwrap(), &bytes[..cut]);
                std::fs::remove_dir_all(&dir).unwrap();
                continue;
            }
            let store = open(&dir).unwrap_or_else(|e| panic!("{file} cut at {cut}: {e}"));
            let repairs = store.repairs();
            if cut < bytes.len() {
                assert_eq!(repairs.len(), 1, "{file} cut at {cut}");
                assert_eq!(repairs[0].file, dir.join(file));
                assert!(repairs[0].offset <= cut as u64);
            }
            let got = contents(&store);
            for (other, (have, had)) in got.iter().zip(&whole).enumerate() {
                if other == index {
                    assert!(
                        have.len() <= had.len() && had[..have.len()] == have[..],
                        "{file} cut at {cut}"
                    );
                } else if index != 0 {
                    assert_eq!(have, had, "{file} cut at {cut} changed {}", DATA_FILES[other]);
                }
            }
            drop(store);
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join(file)).unwrap())
                .unwrap_or_else(|e| panic!("{file} cut at {cut} does not parse after the repair: {e}"));
            std::fs::remove_dir_all(&dir).unwrap();
            opened += 1;
        }
    }
    println!("{opened} truncated stores opened and repaired");
}

#[test]
fn every_data_file_with_a_flipped_structural_byte_is_refused_untouched_and_zeros_after_it_are_cut() {
    let temp = tempfile::tempdir().unwrap();
    let original = temp.path().join("original");
    full_store(&original);
    for file in DATA_FILES {
        let bytes = std::fs::read(original.join(file)).unwrap();
        let last_record = bytes.windows(4).rposition(|w| w == b",\n  ").unwrap();
        // Bytes of the JSON structure (not inside a string), where '#' is never valid.
        let structural: Vec<usize> = (2..last_record)
            .filter(|&i| match bytes[i] {
                b'{' | b'}' => true,
                b',' => bytes[i + 1] == b'\n',
                b':' => bytes[i - 1] == b'"' && bytes[i + 1] == b' ',
                b'"' => bytes[i - 1] == b' ' && bytes[i - 2] == b' ',
                _ => false,
            })
            .collect();
        for &at in structural.iter().step_by(7) {
            let dir = temp.path().join(format!("{file}-flip-{at}"));
            copy_dir(&original, &dir);
            let mut damaged = bytes.clone();
            damaged[at] = b'#';
            std::fs::write(dir.join(file), &damaged).unwrap();
            match open(&dir) {
                Err(Error::CorruptFile { path, offset, .. }) => {
                    assert_eq!(path, dir.join(file));
                    let flipped_line_end = at + bytes[at..].iter().position(|b| *b == b'\n').unwrap_or(0);
                    assert!(
                        (offset as usize) <= flipped_line_end + 1,
                        "{file} flip at {at}: offset {offset}"
                    );
                }
                other => panic!("{file} flip at {at}: expected CorruptFile, got {other:?}"),
            }
            assert_eq!(
                std::fs::read(dir.join(file)).unwrap(),
                damaged,
                "{file}: a refused file was changed"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let dir = temp.path().join(format!("{file}-zeros"));
        copy_dir(&original, &dir);
        let mut zeros = bytes.clone();
        zeros.extend_from_slice(&[0; 4096]);
        std::fs::write(dir.join(file), &zeros).unwrap();
        let store = open(&dir).unwrap();
        assert_eq!(store.repairs().len(), 1);
        drop(store);
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            bytes,
            "{file}: zeros cut, nothing else"
        );
    }
}
