//! Fault injection on the JSON backend: every write, fsync, truncate and rename can fail, and
//! after any failure the caller has the error, acknowledged records are intact, and a failed
//! fsync is never followed by a reported success.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use racestore::{
    Durability, Error, Fault, FaultInjector, FileOp, Id, JsonStore, LapQuery, NewDriverMetrics, NewLap,
    NewSession, RaceStore, RaceStoreExt,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Truncate,
    Sync,
    SyncDir,
    Rename,
}

fn kind_of(op: &FileOp<'_>) -> Option<Kind> {
    Some(match op {
        FileOp::Write { .. } => Kind::Write,
        FileOp::Truncate { .. } => Kind::Truncate,
        FileOp::Sync { .. } => Kind::Sync,
        FileOp::SyncDir { .. } => Kind::SyncDir,
        FileOp::Rename { .. } => Kind::Rename,
        _ => return None,
    })
}

/// Fails the `target`-th operation of `kind` once armed (a write is torn half-way); counts all.
#[derive(Debug)]
struct FailNth {
    kind: Kind,
    target: usize,
    armed: AtomicBool,
    seen: AtomicUsize,
    log: Mutex<Vec<(Kind, String)>>,
    failed_file: Mutex<Option<String>>,
}

impl FailNth {
    fn new(kind: Kind, target: usize) -> Arc<Self> {
        Arc::new(FailNth {
            kind,
            target,
            armed: AtomicBool::new(false),
            seen: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            failed_file: Mutex::new(None),
        })
    }

    fn count(&self, kind: Kind) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == kind)
            .count()
    }
}

impl FaultInjector for FailNth {
    fn inject(&self, op: &FileOp<'_>) -> Option<Fault> {
        let kind = kind_of(op)?;
        if !self.armed.load(Ordering::SeqCst) {
            return None;
        }
        let file = match op {
            FileOp::Write { path, .. }
            | FileOp::Truncate { path, .. }
            | FileOp::Sync { path }
            | FileOp::SyncDir { path } => path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            FileOp::Rename { to, .. } => to.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            _ => String::new(),
        };
        self.log.lock().unwrap().push((kind, file.clone()));
        if kind != self.kind || self.seen.fetch_add(1, Ordering::SeqCst) + 1 != self.target {
            return None;
        }
        *self.failed_file.lock().unwrap() = Some(file);
        let error = std::io::Error::other(format!("injected {kind:?} failure"));
        Some(match op {
            FileOp::Write { len, .. } => Fault::ShortWrite(len / 2, error),
            _ => Fault::Fail(error),
        })
    }
}

/// What the workload had acknowledged when it stopped.
#[derive(Debug, Default)]
struct Acknowledged {
    laps: Vec<(Id, i64)>,
    /// The session whose delete was under way (its records may be gone or not).
    deleting: Option<Id>,
    sessions: Vec<Id>,
    deleted: Vec<Id>,
    /// Lap numbers the failed call was saving (they may or may not be there).
    in_flight: Vec<i64>,
}

/// Runs a fixed mix of saves, batches and a delete; stops at the first error and returns it.
fn workload(store: &JsonStore, acked: &mut Acknowledged) -> Option<Error> {
    let mut lap_number = 0;
    let mut step = |acked: &mut Acknowledged, session: Id, batch: usize| -> Result<(), Error> {
        let laps: Vec<NewLap> = (0..batch)
            .map(|k| NewLap::new(session, "GR86-002-7", lap_number + k as i64, 91.0 + k as f64))
            .collect();
        acked.in_flight = laps.iter().map(|l| l.lap_number).collect();
        let ids = store.save_laps(&laps)?;
        acked
            .laps
            .extend(ids.into_iter().zip(laps.iter().map(|l| l.lap_number)));
        acked.in_flight.clear();
        lap_number += batch as i64;
        Ok(())
    };
    let result = (|| -> Result<(), Error> {
        let a = store.create_session(&NewSession::new("Barber"))?;
        acked.sessions.push(a);
        for batch in [1, 1, 5, 1] {
            step(acked, a, batch)?;
        }
        store.save_driver_metrics(&NewDriverMetrics::new(a, "GR86-002-7"))?;
        let b = store.create_session(&NewSession::new("COTA"))?;
        acked.sessions.push(b);
        step(acked, b, 3)?;
        acked.deleting = Some(b);
        store.delete_session(b)?;
        acked.deleting = None;
        acked.laps.retain(|(id, _)| *id <= 8);
        acked.deleted.push(b);
        for batch in [2, 1] {
            step(acked, a, batch)?;
        }
        Ok(())
    })();
    result.err()
}

fn reopen_and_check(dir: &Path, acked: &Acknowledged) {
    let store = JsonStore::open(dir, Durability::PowerLoss).expect("reopens after the failure");
    for file in ["race_sessions.json", "lap_data.json", "driver_metrics.json"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let laps = store.get_laps(&LapQuery::all()).unwrap();
    for (id, number) in &acked.laps {
        if acked.deleting.is_some() && *id > 8 {
            continue; // a lap of the session whose delete failed part-way
        }
        let lap = laps
            .iter()
            .find(|l| l.id == *id)
            .unwrap_or_else(|| panic!("acknowledged lap {id} lost"));
        assert_eq!(lap.lap_number, *number);
    }
    for lap in &laps {
        let known =
            acked.laps.iter().any(|(id, _)| *id == lap.id) || acked.in_flight.contains(&lap.lap_number);
        assert!(known, "lap {} was never saved: {lap:?}", lap.id);
    }
    for session in &acked.sessions {
        if !acked.deleted.contains(session) && acked.deleting != Some(*session) {
            assert!(
                store.get_session(*session).unwrap().is_some(),
                "session {session} lost"
            );
        }
    }
}

#[test]
fn any_failed_file_operation_gives_the_caller_an_error_and_keeps_acknowledged_records() {
    // Count the operations of each kind a full run makes, then fail each one in turn.
    let probe_dir = tempfile::tempdir().unwrap();
    let probe = FailNth::new(Kind::Write, usize::MAX);
    let store =
        JsonStore::open_with_faults(probe_dir.path(), Durability::PowerLoss, Some(probe.clone())).unwrap();
    probe.armed.store(true, Ordering::SeqCst);
    assert!(workload(&store, &mut Acknowledged::default()).is_none());
    let mut failures = 0;
    for kind in [
        Kind::Write,
        Kind::Truncate,
        Kind::Sync,
        Kind::SyncDir,
        Kind::Rename,
    ] {
        let total = probe.count(kind);
        assert!(total > 0, "the workload makes no {kind:?}");
        for target in 1..=total {
            let temp = tempfile::tempdir().unwrap();
            let injector = FailNth::new(kind, target);
            let store =
                JsonStore::open_with_faults(temp.path(), Durability::PowerLoss, Some(injector.clone()))
                    .unwrap();
            injector.armed.store(true, Ordering::SeqCst);
            let mut acked = Acknowledged::default();
            let Some(error) = workload(&store, &mut acked) else {
                // Only clearing the journal after a finished step may fail unreported: the step
                // is done, and a journal naming a finished step is harmless.
                let failed = injector.failed_file.lock().unwrap().clone();
                assert_eq!(
                    (kind, failed.as_deref()),
                    (Kind::Truncate, Some("racestore.journal"))
                );
                drop(store);
                reopen_and_check(temp.path(), &acked);
                continue;
            };
            assert!(
                matches!(&error, Error::Io { os_error, .. } if os_error.to_string().contains("injected")),
                "{kind:?} #{target}: {error:?}"
            );
            // A failed fsync poisons the store: nothing is reported as saved afterwards.
            let next = store.save_lap_data(&NewLap::new(1, "GR86-002-7", 99, 95.0));
            if kind == Kind::Sync {
                assert!(
                    matches!(next, Err(Error::Poisoned(_))),
                    "{kind:?} #{target}: {next:?}"
                );
            } else if let Ok(id) = next {
                acked.laps.push((id, 99));
            }
            drop(store);
            reopen_and_check(temp.path(), &acked);
            failures += 1;
        }
    }
    println!("{failures} injected failures, each reported and recovered from");
}

#[test]
fn power_loss_mode_fsyncs_every_save_and_the_directory_of_every_created_or_replaced_file() {
    let temp = tempfile::tempdir().unwrap();
    let counter = FailNth::new(Kind::Write, usize::MAX);
    counter.armed.store(true, Ordering::SeqCst);
    let store =
        JsonStore::open_with_faults(temp.path(), Durability::PowerLoss, Some(counter.clone())).unwrap();
    // Opening an empty directory creates the five files (and the meta/journal), each made durable.
    assert!(
        counter.count(Kind::SyncDir) >= 5,
        "{:?}",
        counter.log.lock().unwrap()
    );
    let baseline = |c: &FailNth| (c.count(Kind::Sync), c.count(Kind::SyncDir));

    let before = baseline(&counter);
    let session = store.create_session(&NewSession::new("Barber")).unwrap();
    store
        .save_lap_data(&NewLap::new(session, "GR86-002-7", 1, 91.0))
        .unwrap();
    assert_eq!(
        baseline(&counter),
        (before.0 + 2, before.1),
        "one fsync per single save"
    );
    let synced: Vec<String> = counter
        .log
        .lock()
        .unwrap()
        .iter()
        .rev()
        .filter(|(k, _)| *k == Kind::Sync)
        .take(2)
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(synced, ["lap_data.json", "race_sessions.json"]);

    let before = baseline(&counter);
    let batch: Vec<NewLap> = (2..=20)
        .map(|n| NewLap::new(session, "GR86-002-7", n, 91.0))
        .collect();
    store.save_laps(&batch).unwrap();
    assert_eq!(
        baseline(&counter),
        (before.0 + 2, before.1),
        "a batch fsyncs its journal entry, then the data"
    );

    let before = baseline(&counter);
    let doomed = store.create_session(&NewSession::new("COTA")).unwrap();
    store
        .save_lap_data(&NewLap::new(doomed, "GR86-002-7", 1, 91.0))
        .unwrap();
    store.delete_session(doomed).unwrap();
    let (syncs, dir_syncs) = baseline(&counter);
    // Journal, meta file, and the two rewritten files (laps, sessions) are each fsynced, and
    // each rename is followed by a directory fsync.
    assert!(syncs >= before.0 + 2 + 4, "{syncs} vs {before:?}");
    assert!(dir_syncs >= before.1 + 3, "{dir_syncs} vs {before:?}");

    // The default mode writes without fsync.
    drop(store);
    let counter = FailNth::new(Kind::Write, usize::MAX);
    let store = JsonStore::open_with_faults(temp.path(), Durability::Process, Some(counter.clone())).unwrap();
    counter.armed.store(true, Ordering::SeqCst);
    store.save_laps(&batch).unwrap();
    store
        .save_lap_data(&NewLap::new(session, "GR86-002-7", 30, 91.0))
        .unwrap();
    assert_eq!(counter.count(Kind::Sync), 0);
    store.close().unwrap();
    assert_eq!(
        counter.count(Kind::Sync),
        racestore::Collection::COUNT,
        "close fsyncs each data file"
    );
}

/// Counts fsyncs; holds the first one back until every saving thread's first save is queued
/// behind it, as saves arriving during a slow fsync on a real disk are.
#[derive(Debug, Default)]
struct GatedSyncs {
    syncs: AtomicUsize,
    store: std::sync::OnceLock<std::sync::Weak<JsonStore>>,
    threads: AtomicUsize,
}

impl FaultInjector for GatedSyncs {
    fn inject(&self, op: &FileOp<'_>) -> Option<Fault> {
        if let FileOp::Sync { .. } = op {
            let first = self.syncs.fetch_add(1, Ordering::SeqCst) == 0;
            let threads = self.threads.load(Ordering::SeqCst) as u64;
            let store = self.store.get().and_then(std::sync::Weak::upgrade);
            if let (true, Some(store)) = (first && threads > 0, store) {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while store.saves_awaiting_sync() < threads {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the other saves never queued"
                    );
                    std::thread::yield_now();
                }
            }
        }
        None
    }
}

#[test]
fn concurrent_single_saves_in_power_loss_mode_share_fsyncs_and_each_waits_for_its_own() {
    const THREADS: usize = 8;
    const SAVES: usize = 25;
    let temp = tempfile::tempdir().unwrap();
    let syncs = Arc::new(GatedSyncs::default());
    let store = Arc::new(
        JsonStore::open_with_faults(temp.path(), Durability::PowerLoss, Some(syncs.clone())).unwrap(),
    );
    let session = store.create_session(&NewSession::new("Barber")).unwrap();
    syncs.syncs.store(0, Ordering::SeqCst);
    syncs.store.set(Arc::downgrade(&store)).unwrap();
    syncs.threads.store(THREADS, Ordering::SeqCst);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..SAVES)
                    .map(|n| {
                        store
                            .save_lap_data(&NewLap::new(session, format!("car-{t}"), n as i64, 91.0))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<Id> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let fsyncs = syncs.syncs.load(Ordering::SeqCst);
    ids.sort_unstable();
    assert_eq!(ids, (1..=(THREADS * SAVES) as Id).collect::<Vec<_>>());
    // The seven saves queued during the first fsync were written and synced by one more.
    assert!(
        fsyncs <= THREADS * SAVES - (THREADS - 2),
        "{fsyncs} fsyncs for {} saves",
        THREADS * SAVES
    );
    // Nothing is lost by sharing: the file holds every acknowledged save, whole.
    drop(store);
    let reopened = JsonStore::open(temp.path(), Durability::PowerLoss).unwrap();
    assert!(reopened.repairs().is_empty());
    assert_eq!(reopened.get_session_laps(session).unwrap().len(), THREADS * SAVES);
    println!(
        "{} saves from {THREADS} threads took {fsyncs} fsyncs",
        THREADS * SAVES
    );
}

/// Panics on the first write once armed, as a bug in code running under the store's lock would.
#[derive(Debug, Default)]
struct PanicOnWrite(AtomicBool);

impl FaultInjector for PanicOnWrite {
    fn inject(&self, op: &FileOp<'_>) -> Option<Fault> {
        let armed = matches!(op, FileOp::Write { .. }) && self.0.swap(false, Ordering::SeqCst);
        assert!(!armed, "injected panic while writing");
        None
    }
}

#[test]
fn after_a_thread_panics_while_saving_every_call_says_the_store_is_poisoned_and_reopening_recovers() {
    let temp = tempfile::tempdir().unwrap();
    let injector = Arc::new(PanicOnWrite::default());
    let store = Arc::new(
        JsonStore::open_with_faults(temp.path(), Durability::Process, Some(injector.clone())).unwrap(),
    );
    let session = store.create_session(&NewSession::new("Barber")).unwrap();
    store.save_lap_data(&NewLap::new(session, "7", 1, 91.0)).unwrap();
    injector.0.store(true, Ordering::SeqCst);
    let panicking = Arc::clone(&store);
    let outcome =
        std::thread::spawn(move || panicking.save_lap_data(&NewLap::new(session, "7", 2, 91.0))).join();
    assert!(outcome.is_err(), "the save panicked");
    for result in [
        store.save_lap_data(&NewLap::new(session, "7", 3, 91.0)).map(drop),
        store.get_session_laps(session).map(drop),
        store.counts().map(drop),
    ] {
        assert!(
            matches!(result, Err(Error::Poisoned(ref why)) if why.contains("panicked")),
            "{result:?}"
        );
    }
    drop(store);
    let reopened = JsonStore::open(temp.path(), Durability::Process).unwrap();
    let laps = reopened.get_session_laps(session).unwrap();
    assert_eq!(laps.iter().map(|l| l.lap_number).collect::<Vec<_>>(), [1]);
}
