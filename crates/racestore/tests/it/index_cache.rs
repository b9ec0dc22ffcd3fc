//! The JSON directory's on-disk index, `racestore.index`: a cache that opens a large store
//! without scanning it, and that is never believed where it no longer fits the files.

use std::path::Path;

use racestore::{
    Batch, Durability, JsonStore, NewLap, NewRecords, NewSession, OpenOptions, RaceStore, RaceStoreExt,
};
use serde_json::Value;

const INDEX: &str = "racestore.index";

fn open(dir: &Path) -> JsonStore {
    JsonStore::open(dir, Durability::Process).unwrap()
}

/// Saves `sessions` sessions of `laps` laps each (about 280 bytes a lap), returns their ids.
fn save_sessions(store: &JsonStore, sessions: usize, laps: i64) -> Vec<i64> {
    (0..sessions)
        .map(|s| {
            let laps: Vec<NewLap> = (1..=laps)
                .map(|n| {
                    NewLap::new(
                        0,
                        format!("GR86-{:03}-7", s % 7),
                        n,
                        90.0 + (n % 13) as f64 / 10.0,
                    )
                })
                .collect();
            store
                .save(&Batch::session(NewSession::new("barber")).with(NewRecords::Laps(laps)))
                .unwrap()
                .session
                .unwrap()
        })
        .collect()
}

/// Everything the store holds, as JSON, in id order per collection: what a scan of the files
/// gives is the truth every open must agree with.
fn everything(store: &dyn RaceStore) -> Vec<Value> {
    let mut all = Vec::new();
    store
        .read_snapshot(&mut |page| {
            all.extend(page.to_json());
            Ok(())
        })
        .unwrap();
    all
}

/// What a store that scans every file reads in `dir` (the cache moved away and put back).
fn scanned(dir: &Path) -> Vec<Value> {
    let cache = dir.join(INDEX);
    let kept = std::fs::read(&cache).ok();
    let _ = std::fs::remove_file(&cache);
    let store = JsonStore::open_with(dir, &OpenOptions::read_only(), None).unwrap();
    let found = everything(&store);
    store.close().unwrap();
    if let Some(bytes) = kept {
        std::fs::write(&cache, bytes).unwrap();
    }
    found
}

fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_large_store_keeps_an_index_that_opens_it_and_deleting_the_index_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage");
    let small = open(&path);
    save_sessions(&small, 2, 100);
    small.close().unwrap();
    assert!(
        !path.join(INDEX).exists(),
        "a small store needs no index: opening it scans little"
    );

    let store = open(&path);
    let sessions = save_sessions(&store, 4, 1_500);
    store.close().unwrap();
    assert!(
        path.join(INDEX).exists(),
        "closing a store of 6,200 laps writes its index"
    );
    let files = data_files(&path);

    // Opened from the index: the same records, and saves go on past it.
    let store = open(&path);
    assert_eq!(everything(&store), scanned(&path));
    assert_eq!(store.get_session_laps(sessions[2]).unwrap().len(), 1_500);
    let more = save_sessions(&store, 1, 300);
    let summaries = store.get_all_sessions().unwrap();
    store.close().unwrap();
    assert_eq!(summaries.len(), 7);

    // Records saved after the index was written are found by scanning only them.
    let store = open(&path);
    assert_eq!(store.get_session_laps(more[0]).unwrap().len(), 300);
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();

    // Deleted, it is rebuilt, and nothing it held was the only copy of anything.
    std::fs::remove_file(path.join(INDEX)).unwrap();
    let store = open(&path);
    assert_eq!(everything(&store).len(), scanned(&path).len());
    assert_eq!(store.get_session_laps(sessions[0]).unwrap().len(), 1_500);
    store.close().unwrap();
    assert!(
        path.join(INDEX).exists(),
        "a writable open writes the index it had to do without"
    );
    let after: Vec<(String, Vec<u8>)> = data_files(&path);
    assert_eq!(after.len(), files.len());
    assert!(
        after
            .iter()
            .zip(&files)
            .all(|((name, now), (_, before))| name == "racestore.meta.json"
                || now.starts_with(&before[..before.len() - 2])),
        "the data files only grew by the saves: the index never changes them"
    );
}

#[test]
fn a_read_only_open_uses_the_index_but_never_writes_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage");
    let store = open(&path);
    let sessions = save_sessions(&store, 5, 1_000);
    store.close().unwrap();
    std::fs::remove_file(path.join(INDEX)).unwrap();

    let reader = JsonStore::open_with(&path, &OpenOptions::read_only(), None).unwrap();
    assert_eq!(reader.get_session_laps(sessions[4]).unwrap().len(), 1_000);
    reader.close().unwrap();
    assert!(
        !path.join(INDEX).exists(),
        "a read-only store writes nothing, not even its index"
    );

    let writer = open(&path);
    writer.close().unwrap();
    let reader = JsonStore::open_with(&path, &OpenOptions::read_only(), None).unwrap();
    assert_eq!(everything(&reader), scanned(&path));
    reader.close().unwrap();
}

/// Replaces the first occurrence of `from` in `file` by `to`, in place (the same inode, as an
/// editor that writes over the file does).
fn edit_in_place(file: &Path, from: &str, to: &str) {
    let bytes = std::fs::read(file).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap();
    let mut edited = bytes[..at].to_vec();
    edited.extend_from_slice(to.as_bytes());
    edited.extend_from_slice(&bytes[at + from.len()..]);
    let mut handle = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(file)
        .unwrap();
    std::io::Write::write_all(&mut handle, &edited).unwrap();
}

/// Appends `record` (pretty-printed as the original writes) to `file` by hand, in place.
fn append_in_place(file: &Path, record: &str) {
    let bytes = std::fs::read(file).unwrap();
    assert!(bytes.ends_with(b"\n]"));
    let mut grown = bytes[..bytes.len() - 2].to_vec();
    grown.extend_from_slice(b",\n  ");
    grown.extend_from_slice(record.as_bytes());
    grown.extend_from_slice(b"\n]");
    std::fs::write(file, grown).unwrap();
}

#[test]
fn an_index_that_no_longer_fits_its_file_is_never_believed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage");
    let laps_file = path.join("lap_data.json");
    let store = open(&path);
    let sessions = save_sessions(&store, 4, 1_500);
    store.close().unwrap();
    let index = std::fs::read(path.join(INDEX)).unwrap();

    // The same length, edited by hand: the file's modification time gives it away.
    edit_in_place(&laps_file, "\"lap_number\": 7,", "\"lap_number\": 9,");
    let store = open(&path);
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();

    // Longer by a byte before the end the index covers: the bytes before its tail differ.
    std::fs::write(path.join(INDEX), &index).unwrap();
    edit_in_place(&laps_file, "\"GR86-001-7\"", "\"GR86-0001-7\"");
    let store = open(&path);
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();

    // A record moved to another session by hand, in place, and one appended by hand: the file
    // grew, and its end is as the index knew it, but it was modified after racestore last
    // wrote to the store.
    let store = open(&path);
    store.close().unwrap();
    move_first_lap_and_append_one(&laps_file, sessions[0], sessions[1]);
    let store = open(&path);
    assert_eq!(
        store.get_session_laps(sessions[1]).unwrap().len(),
        1_501,
        "the file's answer, not the index's"
    );
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();

    // The same with the file's modification time put back (as `cp -p` or `rsync -t` would):
    // every check at opening passes. The moved record is not where the index says: reading
    // the session the index gives it notices, and the store scans its files and answers as
    // they say.
    let store = open(&path);
    store.close().unwrap();
    move_first_lap_and_append_one(&laps_file, sessions[1], sessions[0]);
    let last_change = std::fs::metadata(path.join("racestore.changes"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&laps_file)
        .unwrap()
        .set_modified(last_change)
        .unwrap();
    let store = open(&path);
    assert_eq!(store.get_session_laps(sessions[1]).unwrap().len(), 1_500);
    assert_eq!(store.get_session_laps(sessions[0]).unwrap().len(), 1_500);
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();

    // A damaged index is ignored whole, and written anew.
    let mut damaged = std::fs::read(path.join(INDEX)).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    std::fs::write(path.join(INDEX), &damaged).unwrap();
    let store = open(&path);
    assert_eq!(everything(&store), scanned(&path));
    store.close().unwrap();
    assert_ne!(std::fs::read(path.join(INDEX)).unwrap(), damaged);
}

/// Moves the file's first lap from session `from` to `to` (same number of digits) and appends
/// a copy of its last lap with the next id, both by hand and in place.
fn move_first_lap_and_append_one(laps_file: &Path, from: i64, to: i64) {
    let first_lap = store_lap_json(laps_file, 0);
    let moved = first_lap.replacen(
        &format!("\"session_id\": {from}"),
        &format!("\"session_id\": {to}"),
        1,
    );
    assert_eq!(moved.len(), first_lap.len(), "session ids of one digit each");
    edit_in_place(laps_file, &first_lap, &moved);
    let text = std::fs::read_to_string(laps_file).unwrap();
    let count = text.matches("\n  {").count();
    let last = store_lap_json(laps_file, count - 1);
    let last_id: i64 = last
        .split("\"id\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    append_in_place(
        laps_file,
        &last.replacen(
            &format!("\"id\": {last_id}"),
            &format!("\"id\": {}", last_id + 1),
            1,
        ),
    );
}

/// The `n`th record of a pretty-printed lap file, as its bytes stand (`{` to `}`).
fn store_lap_json(file: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let records: Vec<&str> = text
        .trim_start_matches("[\n  ")
        .trim_end_matches("\n]")
        .split(",\n  {")
        .collect();
    let record = records[n];
    if n == 0 {
        record.to_owned()
    } else {
        format!("{{{record}")
    }
}

#[test]
fn deleting_a_session_of_a_store_opened_from_its_index_keeps_every_other_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage");
    let store = open(&path);
    let sessions = save_sessions(&store, 5, 1_200);
    store.close().unwrap();
    // A delete copies records by a scan of the file, never by the index alone.
    let store = open(&path);
    store.delete_session(sessions[2]).unwrap();
    let left = everything(&store);
    store.close().unwrap();
    assert_eq!(left, scanned(&path));
    let store = open(&path);
    for (k, session) in sessions.iter().enumerate() {
        let expected = if k == 2 { 0 } else { 1_200 };
        assert_eq!(store.get_session_laps(*session).unwrap().len(), expected);
    }
    store.close().unwrap();
}

#[test]
fn a_temporary_index_a_killed_process_left_is_removed_by_the_next_writable_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage");
    let store = open(&path);
    save_sessions(&store, 1, 10);
    store.close().unwrap();
    // A process that has exited: its id names no process now.
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let gone = exited.id();
    exited.wait().unwrap();
    let abandoned = path.join(format!("{INDEX}.{gone}-0.tmp"));
    let in_progress = path.join(format!("{INDEX}.{}-7.tmp", std::process::id()));
    std::fs::write(&abandoned, b"half an index").unwrap();
    std::fs::write(&in_progress, b"an index being written").unwrap();

    let reader = JsonStore::open_with(&path, &OpenOptions::read_only(), None).unwrap();
    reader.close().unwrap();
    assert!(abandoned.exists(), "a read-only open removes nothing");

    let writer = open(&path);
    writer.close().unwrap();
    assert!(!abandoned.exists(), "what a process that is gone left is removed");
    assert!(
        in_progress.exists(),
        "a live process's write in progress is left alone"
    );
}
