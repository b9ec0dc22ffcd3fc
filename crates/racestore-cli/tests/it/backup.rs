//! `racestore backup`: a snapshot of one moment, even while others keep saving, that opens as a
//! store and exports exactly as the store did.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{everything, fill, json_url, racestore, run_fails, run_ok, sqlite_url, stderr};
use racestore::transfer::fingerprint;
use racestore::{Collection, NewLap, NewPrediction, NewSession, RaceStore, RaceStoreExt};
use serde_json::Value;

fn export(url: &str) -> String {
    run_ok(racestore().args(["export", "--store", url]))
}

#[test]
fn a_backup_opens_as_a_store_that_exports_byte_for_byte_the_same() {
    let temp = tempfile::tempdir().unwrap();
    for (url, snapshot, snapshot_url) in [
        (
            json_url(&temp.path().join("storage")),
            temp.path().join("json-backup"),
            json_url(&temp.path().join("json-backup")),
        ),
        (
            sqlite_url(&temp.path().join("race.db")),
            temp.path().join("backups/race-backup.db"),
            sqlite_url(&temp.path().join("backups/race-backup.db")),
        ),
    ] {
        fill(&url);
        let said = run_ok(
            racestore()
                .args(["backup", "--to"])
                .arg(&snapshot)
                .args(["--store", &url]),
        );
        let lines: Vec<&str> = said.lines().collect();
        assert!(
            lines[0].starts_with(&format!("backed up {url} to {} in ", snapshot.display())),
            "{said}"
        );
        assert_eq!(
            lines[1],
            "the backup holds 3 sessions, 25 driver metrics, 623 laps, 3 predictions, 3 simulations, 2 entries (659 records)"
        );
        let store = racestore::open(&url).unwrap();
        let fp = fingerprint(store.as_ref()).unwrap();
        store.close().unwrap();
        for (collection, sum) in &fp.checksums {
            assert!(lines[2].contains(&format!("{collection} {sum}")), "{said}");
        }
        assert_eq!(
            lines[3],
            format!("open it with: racestore --store {snapshot_url} sessions")
        );
        assert_eq!(export(&snapshot_url), export(&url), "{url}");

        // --json: the same, for scripts.
        let again = temp.path().join(format!(
            "again-{}",
            snapshot.file_name().unwrap().to_string_lossy()
        ));
        let out: Value = serde_json::from_str(&run_ok(
            racestore()
                .args(["backup", "--json", "--to"])
                .arg(&again)
                .args(["--store", &url]),
        ))
        .unwrap();
        assert_eq!(
            out["backup_url"],
            Value::String(
                snapshot_url.replace(&snapshot.display().to_string(), &again.display().to_string(),)
            )
        );
        assert_eq!(out["fingerprint"]["records"], 659);
        for (collection, sum) in &fp.checksums {
            assert_eq!(out["fingerprint"]["checksums"][collection.name()], sum.as_str());
        }

        // Never over an existing path.
        let output = run_fails(
            racestore()
                .args(["backup", "--to"])
                .arg(&snapshot)
                .args(["--store", &url]),
        );
        assert!(stderr(&output).contains("already exists"), "{}", stderr(&output));
    }
}

#[test]
fn a_json_directory_another_process_has_open_is_backed_up_with_its_saves() {
    let temp = tempfile::tempdir().unwrap();
    let url = json_url(&temp.path().join("storage"));
    let store = racestore::open(&url).unwrap();
    let session = store
        .create_session(&racestore::NewSession::new("Barber Motorsports Park"))
        .unwrap();
    store
        .save_laps(&[racestore::NewLap::new(session, "GR86-002-7", 1, 91.5)])
        .unwrap();
    run_ok(
        racestore()
            .args(["backup", "--to"])
            .arg(temp.path().join("b"))
            .args(["--store", &url]),
    );
    // The store open in this process goes on saving beside the backup it did not wait for.
    store
        .save_laps(&[racestore::NewLap::new(session, "GR86-002-7", 2, 90.5)])
        .unwrap();
    let copy = racestore::open(&json_url(&temp.path().join("b"))).unwrap();
    assert_eq!(copy.get_session_laps(session).unwrap().len(), 1);
    assert_eq!(store.get_session_laps(session).unwrap().len(), 2);
    store.close().unwrap();
}

/// Checks a snapshot taken while `final_url`'s store was being written: it is sound, it holds
/// the first records of every collection exactly as the store ended up holding them (a moment
/// of the store: nothing later, no gap), every batch of laps whole, and its export (by the
/// CLI) is those records. Returns how many laps it holds.
fn assert_one_moment(
    snapshot_url: &str,
    last: &[(Collection, Vec<Value>)],
    batch_sizes: &dyn Fn(i64) -> usize,
) -> usize {
    run_ok(racestore().args(["check", "--store", snapshot_url]));
    let exported: Value = serde_json::from_str(&export(snapshot_url)).unwrap();
    let mut laps = 0;
    for (collection, records) in last {
        let held = exported[collection.name()].as_array().unwrap();
        assert!(held.len() <= records.len(), "{snapshot_url}: {collection}");
        assert_eq!(held[..], records[..held.len()], "{snapshot_url}: {collection}");
        if *collection == Collection::Laps {
            laps = held.len();
            let mut per_session: BTreeMap<i64, usize> = BTreeMap::new();
            for lap in held {
                *per_session
                    .entry(lap["session_id"].as_i64().unwrap())
                    .or_default() += 1;
            }
            for (session, n) in per_session {
                assert_eq!(
                    n % batch_sizes(session),
                    0,
                    "{snapshot_url}: a batch of session {session} is cut"
                );
            }
        }
    }
    laps
}

#[test]
fn a_json_backup_taken_while_threads_keep_saving_holds_one_moment() {
    let temp = tempfile::tempdir().unwrap();
    let url = json_url(&temp.path().join("storage"));
    let store: Arc<dyn RaceStore> = Arc::from(racestore::open(&url).unwrap());
    let sessions: Vec<i64> = (0..4)
        .map(|i| {
            store
                .create_session(&NewSession::new(format!("Circuit {i}")))
                .unwrap()
        })
        .collect();
    const BATCH: usize = 5;
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = sessions
        .iter()
        .map(|&session| {
            let (store, stop, batches) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&batches));
            std::thread::spawn(move || {
                let mut lap = 0;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<NewLap> = (0..BATCH)
                        .map(|_| {
                            lap += 1;
                            NewLap::new(session, format!("car-{session}"), lap, 90.0 + lap as f64 / 1000.0)
                        })
                        .collect();
                    store.save_laps(&batch).unwrap();
                    if lap % 50 == 0 {
                        store
                            .save_prediction(&NewPrediction::new(
                                session,
                                format!("car-{session}"),
                                "lap_time",
                                90.0,
                                "m",
                            ))
                            .unwrap();
                    }
                    batches.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The call `racestore backup` makes, while the writers run.
    let mut snapshots = Vec::new();
    for k in 0..6 {
        let seen = batches.load(Ordering::Relaxed);
        while batches.load(Ordering::Relaxed) < seen + 20 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let snapshot = temp.path().join(format!("snapshot-{k}"));
        store.backup(&snapshot).unwrap();
        snapshots.push(snapshot);
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    store.close().unwrap();
    drop(store);

    let last = everything(&url);
    let total_laps = last.iter().find(|(c, _)| *c == Collection::Laps).unwrap().1.len();
    let mut held = Vec::new();
    for snapshot in &snapshots {
        held.push(assert_one_moment(&json_url(snapshot), &last, &|_| BATCH));
    }
    assert!(
        held.windows(2).all(|w| w[0] < w[1]),
        "each snapshot later than the one before: {held:?}"
    );
    assert!(
        held[snapshots.len() - 1] < total_laps,
        "the writers kept going after the last snapshot"
    );

    // Quiet now: the CLI's backup exports exactly as the store.
    let quiet = temp.path().join("quiet");
    run_ok(
        racestore()
            .args(["backup", "--to"])
            .arg(&quiet)
            .args(["--store", &url]),
    );
    assert_eq!(export(&json_url(&quiet)), export(&url));
}

#[test]
fn a_sqlite_backup_taken_while_other_processes_keep_saving_holds_one_moment() {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("race.db");
    let url = sqlite_url(&db);
    run_ok(racestore().args(["demo", "--store", &url]));

    // The writers: one `racestore demo` process after another (each a session, its metrics,
    // then 600 laps in one batch, a prediction and a simulation) until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let demos = Arc::new(AtomicU64::new(1));
    let writer = {
        let (url, stop, demos) = (url.clone(), Arc::clone(&stop), Arc::clone(&demos));
        std::thread::spawn(move || {
            let mut seed = 100;
            while !stop.load(Ordering::Relaxed) {
                seed += 1;
                run_ok(racestore().args(["demo", "--seed", &seed.to_string(), "--store", &url]));
                demos.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut snapshots = Vec::new();
    while demos.load(Ordering::Relaxed) < 5 || snapshots.len() < 8 {
        let snapshot = temp.path().join(format!("snapshot-{}.db", snapshots.len()));
        run_ok(
            racestore()
                .args(["backup", "--to"])
                .arg(&snapshot)
                .args(["--store", &url]),
        );
        snapshots.push(snapshot);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    let last = everything(&url);
    let sessions = last[0].1.len();
    assert!(sessions >= 5, "{sessions} demos ran");
    let laps_of = |session: i64| {
        last.iter()
            .find(|(c, _)| *c == Collection::Laps)
            .unwrap()
            .1
            .iter()
            .filter(|l| l["session_id"] == session)
            .count()
    };
    let mut held = Vec::new();
    for snapshot in &snapshots {
        // A session's laps are one batch: all there, or none.
        held.push(assert_one_moment(&sqlite_url(snapshot), &last, &laps_of));
    }
    let total_laps = last.iter().find(|(c, _)| *c == Collection::Laps).unwrap().1.len();
    assert!(
        held.iter().any(|&n| n > 600 && n < total_laps),
        "some snapshot was taken while the demos were writing: {held:?} of {total_laps}"
    );
    assert!(held.windows(2).all(|w| w[0] <= w[1]), "{held:?}");
}

#[test]
fn backup_help_mentions_its_options() {
    let help = run_ok(racestore().args(["backup", "--help"]));
    for needle in ["--to <PATH>", "--json", "must not exist", "--store <URL>", "keep"] {
        assert!(help.contains(needle), "backup --help lacks {needle}:\n{help}");
    }
}
