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
        assert_eq!(next, have.len() as i64 + 1, "cut at {cut}");
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
        (
            "wrong type",
            String::from_utf8(whole.clone())
                .unwrap()
                .replacen("\"lap_time\": 91.1", "\"lap_time\": \"fast\"", 1)
                .into_bytes(),
        ),
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
    for cut in [start + 1, start + 700, (start + end) / 2, end - 1] {
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
    std::fs::write(&path, &after[..end + 1]).unwrap();
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
