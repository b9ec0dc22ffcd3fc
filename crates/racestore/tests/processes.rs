//! Tests that need a second process: several processes writing and reading one JSON directory
//! (with a writer killed part-way), kill -9 mid-save, and several processes writing one SQLite
//! file or one PostgreSQL schema.
//!
//! This file has its own `main` (`harness = false`): the test binary runs the scenarios, and
//! re-runs itself as the child process of each (`RACESTORE_TEST_ROLE` picks the child's part).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "it/common/mod.rs"]
mod common;

use racestore::{
    Durability, Id, JsonStore, LapQuery, NewLap, NewSession, RaceStore, RaceStoreExt, SqliteStore,
};

const ROLE: &str = "RACESTORE_TEST_ROLE";
const DRIVER: &str = "GR86-002-7";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let arg = std::env::args()
            .nth(1)
            .expect("child gets the store's directory or URL");
        let dir = PathBuf::from(&arg);
        match role.as_str() {
            "writer" => writer(&dir),
            "json-saver" => json_saver(&dir),
            "json-reader" => json_reader(&dir, false),
            "json-ro-reader" => json_reader(&dir, true),
            "json-ro-watcher" => json_ro_watcher(&dir),
            "watched-saver" => watched_saver(&dir),
            "sqlite-writer" => sqlite_writer(&dir),
            "postgres-writer" => postgres_writer(&arg),
            "import" => crash_child_import(&dir),
            "backup" => crash_child_backup(&dir),
            "repair" => crash_child_repair(&dir),
            "sqlite-backup" => crash_child_sqlite_backup(&dir),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let scenarios: [(&str, fn()); 8] = [
        (
            "a_read_only_store_beside_two_writer_processes_sees_their_saves_in_bounded_memory",
            read_only_beside_two_writers,
        ),
        (
            "four_writer_processes_and_two_readers_share_one_json_directory_exactly",
            four_writers_two_readers_share_json,
        ),
        (
            "a_json_writer_process_killed_mid_run_loses_nothing_acknowledged_and_the_others_go_on",
            json_writer_killed_mid_run,
        ),
        (
            "kill_9_mid_save_loses_no_acknowledged_record_and_every_file_parses",
            kill_9_loses_nothing,
        ),
        (
            "two_processes_writing_one_sqlite_file_lose_nothing",
            two_processes_share_sqlite,
        ),
        (
            "four_processes_writing_one_postgres_schema_lose_nothing",
            four_processes_share_postgres,
        ),
        (
            "a_crash_at_every_file_operation_of_an_import_a_backup_and_a_repair_leaves_all_or_nothing",
            crash_at_every_file_operation,
        ),
        (
            "random_kill_9_of_imports_backups_and_repairs_leaves_all_or_nothing",
            random_kill_9_of_imports_backups_and_repairs,
        ),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut failed = 0;
    let mut passed = 0;
    for (name, scenario) in scenarios {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let outcome = std::panic::catch_unwind(scenario);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_ok() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

fn spawn(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .arg(dir)
        .env(ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process")
}

/// Child: saves laps forever (single saves and batches), printing each acknowledged id.
fn writer(dir: &Path) {
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    let session = match store.get_session(1).unwrap() {
        Some(s) => s.id,
        None => store
            .create_session(&NewSession::new("Barber Motorsports Park"))
            .unwrap(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    let mut n: i64 = store.counts().unwrap().laps() as i64;
    loop {
        if n % 7 == 0 {
            let batch: Vec<NewLap> = (0..40).map(|k| lap(session, n + k)).collect();
            let ids = store.save_laps(&batch).unwrap();
            n += 40;
            let line: Vec<String> = ids.iter().map(Id::to_string).collect();
            writeln!(out, "ack {}", line.join(" ")).unwrap();
        } else {
            let id = store.save_lap_data(&lap(session, n)).unwrap();
            n += 1;
            writeln!(out, "ack {id}").unwrap();
        }
    }
}

/// The lap with number `n`; its content is a function of `n` so the parent can check it.
fn lap(session: Id, n: i64) -> NewLap {
    NewLap::new(session, DRIVER, n, 90.0 + (n % 100) as f64 / 10.0).position(1 + n % 20)
}

/// How many single saves each writer process makes in the multi-process JSON tests.
const SAVES_PER_WRITER: i64 = 10_000;

/// The lap time a multi-process test's lap `n` has: readers check every lap they see by it.
fn shared_lap_time(n: i64) -> f64 {
    80.0 + (n % 997) as f64 / 64.0
}

/// Child: makes `SAVES_PER_WRITER` single saves into session 1 as driver `writer-K` (K from
/// `RACESTORE_TEST_WRITER`), printing each acknowledged id, then `done`.
fn json_saver(dir: &Path) {
    let writer = std::env::var("RACESTORE_TEST_WRITER").unwrap();
    let driver = format!("writer-{writer}");
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    for n in 0..SAVES_PER_WRITER {
        let id = store
            .save_lap_data(&NewLap::new(1, &driver, n, shared_lap_time(n)))
            .unwrap();
        writeln!(out, "ack {id}").unwrap();
    }
    writeln!(out, "done").unwrap();
}

/// Child: reads every lap over and over until its stdin closes, checking each read: ids
/// ascending and unique, every lap whole, never fewer laps than the read before. Prints how
/// many reads it made and the most laps it saw.
fn json_reader(dir: &Path, read_only: bool) {
    let store: Box<dyn RaceStore> = if read_only {
        racestore::open(&format!("json:{}?mode=ro", dir.display())).unwrap()
    } else {
        Box::new(JsonStore::open(dir, Durability::Process).unwrap())
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            stop.store(true, Ordering::SeqCst);
        });
    }
    println!("ready");
    let (mut reads, mut most) = (0u64, 0usize);
    while !stop.load(Ordering::SeqCst) {
        let laps = store.get_laps(&LapQuery::all()).unwrap();
        assert!(
            laps.len() >= most,
            "a read saw {} laps after one saw {most}",
            laps.len()
        );
        assert!(
            laps.windows(2).all(|w| w[0].id < w[1].id),
            "ids ascend, each once"
        );
        for lap in &laps {
            assert!(
                lap.driver_id.starts_with("writer-")
                    && lap.lap_time == shared_lap_time(lap.lap_number)
                    && lap.session_id == 1,
                "a lap not as saved: {lap:?}"
            );
        }
        most = laps.len();
        reads += 1;
    }
    println!("reads {reads} most {most}");
}

/// A child process and the lines it printed, read on a thread of their own.
struct Watched {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    fn start(role: &str, dir: &Path, env: &[(&str, String)]) -> Watched {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .arg(dir)
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn child test process");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in stdout.lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        Watched {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The ids the child acknowledged so far.
    fn acknowledged(&self) -> Vec<Id> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("ack "))
            .map(|id| id.parse().unwrap())
            .collect()
    }

    fn printed(&self, wanted: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.starts_with(wanted))
    }

    /// Waits for the child to exit (after closing its stdin), asserting it succeeded.
    fn finish(mut self, what: &str) -> Vec<String> {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        assert!(status.success(), "{what} failed: {status}");
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

/// Makes a JSON store with session 1 and nothing else.
fn store_with_one_session(dir: &Path) {
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    store
        .create_session(&NewSession::new("Barber Motorsports Park"))
        .unwrap();
    store.close().unwrap();
}

/// Runs four saver processes and two readers (one read-only) on one directory, killing the
/// first saver once it acknowledged `kill_after` saves if given; checks what the store holds.
fn writers_and_readers_on_json(kill_after: Option<usize>) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    store_with_one_session(&dir);
    let readers = [
        Watched::start("json-ro-reader", &dir, &[]),
        Watched::start("json-reader", &dir, &[]),
    ];
    let mut savers: Vec<Watched> = (0..4)
        .map(|k| Watched::start("json-saver", &dir, &[("RACESTORE_TEST_WRITER", k.to_string())]))
        .collect();
    let started = Instant::now();
    let mut killed_acks: Option<Vec<Id>> = None;
    if let Some(after) = kill_after {
        while savers[0].acknowledged().len() < after {
            assert!(
                !savers[0].printed("done"),
                "the saver finished before it could be killed"
            );
            assert!(started.elapsed() < Duration::from_secs(600), "savers stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut victim = savers.remove(0);
        victim.child.kill().unwrap(); // SIGKILL, mid-run
        victim.child.wait().unwrap();
        if let Some(reader) = victim.reader.take() {
            reader.join().unwrap();
        }
        killed_acks = Some(victim.acknowledged());
    }
    let mut acknowledged: Vec<(String, Vec<Id>)> = Vec::new();
    for (k, saver) in savers.into_iter().enumerate() {
        let lines = saver.finish("a saver");
        assert_eq!(lines.last().map(String::as_str), Some("done"));
        let acks: Vec<Id> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack "))
            .map(|id| id.parse().unwrap())
            .collect();
        let k = if kill_after.is_some() { k + 1 } else { k };
        acknowledged.push((format!("writer-{k}"), acks));
    }
    for reader in readers {
        let lines = reader.finish("a reader");
        let report = lines.last().cloned().unwrap_or_default();
        println!("  reader: {report}");
        assert!(report.starts_with("reads "), "{report}");
    }
    let elapsed = started.elapsed();

    let store = JsonStore::open(&dir, Durability::Process).unwrap();
    let laps = store.get_laps(&LapQuery::all()).unwrap();
    let ids: Vec<Id> = laps.iter().map(|l| l.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend, each once");
    let mut expected = 0;
    for (driver, acks) in &acknowledged {
        let theirs: Vec<Id> = laps
            .iter()
            .filter(|l| &l.driver_id == driver)
            .map(|l| l.id)
            .collect();
        assert_eq!(
            &theirs, acks,
            "{driver}: exactly the laps it acknowledged, in order"
        );
        assert_eq!(acks.len() as i64, SAVES_PER_WRITER);
        expected += acks.len();
    }
    if let Some(acks) = killed_acks {
        let theirs: Vec<Id> = laps
            .iter()
            .filter(|l| l.driver_id == "writer-0")
            .map(|l| l.id)
            .collect();
        let have: std::collections::BTreeSet<Id> = theirs.iter().copied().collect();
        let lost: Vec<&Id> = acks.iter().filter(|id| !have.contains(id)).collect();
        assert!(
            lost.is_empty(),
            "the killed saver's acknowledged laps {lost:?} were lost"
        );
        // At most the one save in flight when it died is there beyond what it acknowledged.
        assert!(
            theirs.len() <= acks.len() + 1,
            "{} laps of the killed saver, {} acknowledged",
            theirs.len(),
            acks.len()
        );
        expected += theirs.len();
        println!(
            "  killed saver: {} acknowledged, {} stored",
            acks.len(),
            theirs.len()
        );
    }
    assert_eq!(laps.len(), expected, "no lap lost or stored twice");
    if kill_after.is_none() {
        assert_eq!(laps.len(), 4 * SAVES_PER_WRITER as usize);
        assert_eq!(ids, (1..=laps.len() as Id).collect::<Vec<_>>(), "no gaps");
    }
    println!(
        "  {} laps from 4 saver processes beside 2 readers in {:.1} s",
        laps.len(),
        elapsed.as_secs_f64()
    );
}

/// How many laps the store a read-only process watches holds before the writers start.
const WATCHED_LAPS: i64 = 300_000;

/// Child: opens the store read-only, then reads until it has seen every save of two saver
/// processes (`WATCHED_LAPS` + 2 × `SAVES_PER_WATCHED` laps), and prints its peak memory.
fn json_ro_watcher(dir: &Path) {
    let store = racestore::open(&format!("json:{}?mode=ro", dir.display())).unwrap();
    println!("ready");
    let wanted = WATCHED_LAPS as u64 + 2 * SAVES_PER_WATCHED as u64;
    let started = Instant::now();
    let mut reads = 0;
    loop {
        let laps = store.counts().unwrap().laps();
        // The newest laps, read from the file, are whole and as saved.
        for lap in store.get_session_laps(2).unwrap().iter().rev().take(50) {
            assert_eq!(lap.lap_time, shared_lap_time(lap.lap_number), "{lap:?}");
        }
        reads += 1;
        if laps >= wanted {
            assert_eq!(laps, wanted);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "saw only {laps} of {wanted} laps"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    println!("reads {reads} peak {peak_kb}");
}

/// How many single saves each of the two savers beside the read-only watcher makes.
const SAVES_PER_WATCHED: i64 = 1_000;

/// Child: `SAVES_PER_WATCHED` single saves into session 2.
fn watched_saver(dir: &Path) {
    let writer = std::env::var("RACESTORE_TEST_WRITER").unwrap();
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    println!("ready");
    for n in 0..SAVES_PER_WATCHED {
        store
            .save_lap_data(&NewLap::new(2, format!("writer-{writer}"), n, shared_lap_time(n)))
            .unwrap();
    }
    println!("done");
}

fn read_only_beside_two_writers() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    {
        let store = JsonStore::open(&dir, Durability::Process).unwrap();
        let first = store
            .create_session(&NewSession::new("Barber Motorsports Park"))
            .unwrap();
        store.create_session(&NewSession::new("Sonoma Raceway")).unwrap();
        for batch in 0..WATCHED_LAPS / 10_000 {
            let laps: Vec<NewLap> = (0..10_000)
                .map(|k| {
                    let n = batch * 10_000 + k;
                    NewLap::new(first, format!("GR86-{:03}", n % 20), n / 20, shared_lap_time(n))
                })
                .collect();
            store.save_laps(&laps).unwrap();
        }
        store.close().unwrap();
    }
    let file_bytes = std::fs::metadata(dir.join("lap_data.json")).unwrap().len();
    let watcher = Watched::start("json-ro-watcher", &dir, &[]);
    while !watcher.printed("ready") {
        std::thread::sleep(Duration::from_millis(5));
    }
    let savers: Vec<Watched> = (0..2)
        .map(|k| Watched::start("watched-saver", &dir, &[("RACESTORE_TEST_WRITER", k.to_string())]))
        .collect();
    for saver in savers {
        let lines = saver.finish("a saver");
        assert_eq!(lines.last().map(String::as_str), Some("done"));
    }
    let lines = watcher.finish("the read-only watcher");
    let report = lines.last().cloned().unwrap_or_default();
    let peak_kb: u64 = report
        .split_whitespace()
        .last()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no peak in {report:?}"));
    let peak = peak_kb * 1024;
    println!(
        "  read-only store beside 2 savers: {report}; peak {} MiB for a {} MiB lap file",
        peak >> 20,
        file_bytes >> 20
    );
    // Memory holds the index, not the records: well under the file itself, within the target.
    assert!(peak < 100 << 20, "peak {} MiB", peak >> 20);
    assert!(
        peak < file_bytes,
        "peak {} MiB, lap file {} MiB",
        peak >> 20,
        file_bytes >> 20
    );
}

fn four_writers_two_readers_share_json() {
    writers_and_readers_on_json(None);
}

fn json_writer_killed_mid_run() {
    writers_and_readers_on_json(Some(2_500));
}

fn kill_9_loses_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let mut seed = std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
    println!("kill -9 test seed {seed}");
    let mut acknowledged: Vec<Id> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds = 0;
    let mut repaired_rounds = 0;
    let mut killed_while_opening = 0;
    // Torn records made: each may show an id, then given to no record.
    let mut torn_ids: Id = 0;
    while rounds < 12 || (Instant::now() < deadline && rounds < 40) {
        rounds += 1;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Every third round starts from a torn tail (an interrupted save) and kills the writer
        // within a few milliseconds: while it opens, that is while it repairs the tail.
        let during_repair = rounds % 3 == 0 && dir.join("lap_data.json").exists();
        if during_repair {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("lap_data.json"))
                .unwrap();
            // What an append killed part-way leaves: the start of the next record.
            let whole: Vec<serde_json::Value> =
                serde_json::from_slice(&std::fs::read(dir.join("lap_data.json")).unwrap()).unwrap();
            let next = whole.last().map_or(0, |l| l["id"].as_i64().unwrap()) + 1;
            let torn = format!(",\n  {{\n    \"id\": {next},\n    \"session_id\": 1,\n    \"driv");
            let torn = torn.as_bytes();
            let cut = 1 + (seed >> 40) as usize % (torn.len() - 1);
            torn_ids += 1;
            // The array was closed ("\n]"); an interrupted append overwrote that with its start.
            let len = file.metadata().unwrap().len();
            file.set_len(len - 2).unwrap();
            file.write_all(&torn[..cut]).unwrap();
        }
        let mut child = spawn("writer", &dir);
        let acks = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicBool::new(false));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let reader = {
            let (acks, started) = (Arc::clone(&acks), Arc::clone(&started));
            std::thread::spawn(move || {
                for line in stdout.lines() {
                    let Ok(line) = line else { break };
                    if line == "ready" {
                        started.store(true, Ordering::SeqCst);
                    } else if let Some(ids) = line.strip_prefix("ack ") {
                        acks.lock()
                            .unwrap()
                            .extend(ids.split(' ').map(|id| id.parse::<Id>().unwrap()));
                    }
                }
            })
        };
        if during_repair {
            std::thread::sleep(Duration::from_micros((seed >> 33) % 4000));
        } else {
            while !started.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(5 + (seed >> 33) % 120));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        if during_repair && !started.load(Ordering::SeqCst) {
            killed_while_opening += 1;
        }
        acknowledged.extend(acks.lock().unwrap().iter());

        let store = JsonStore::open(&dir, Durability::Process).expect("store opens after kill -9");
        if !store.repairs().is_empty() {
            repaired_rounds += 1;
        }
        let laps = store.get_laps(&LapQuery::all()).unwrap();
        let ids: Vec<Id> = laps.iter().map(|l| l.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend, each once");
        // Gaps only where a torn record showed its id: that id is never given again. A kill
        // can tear a batch's one write part-way (the kernel stops a write between pages for a
        // fatal signal), and the ids its rolled-back bytes show are never given either: at
        // most a batch's worth per reopen that repaired something.
        let allowed_gaps = torn_ids + 40 * Id::from(repaired_rounds);
        assert!(
            ids.len() as Id >= ids.last().copied().unwrap_or(0) - allowed_gaps,
            "more gaps than torn records: {} laps, highest id {:?}, missing {:?} (allowed {allowed_gaps}, acknowledged up to {:?})",
            ids.len(),
            ids.last(),
            {
                let have: std::collections::BTreeSet<Id> = ids.iter().copied().collect();
                (1..=ids.last().copied().unwrap_or(0)).filter(|i| !have.contains(i)).collect::<Vec<_>>()
            },
            acknowledged.iter().max()
        );
        for lap in &laps {
            let expected = self::lap(1, lap.lap_number);
            assert_eq!(
                (lap.lap_time, lap.position, lap.driver_id.as_str()),
                (expected.lap_time, expected.position, DRIVER)
            );
        }
        let last_acked = acknowledged.iter().copied().max().unwrap_or(0);
        // Every acknowledged lap is there; at most the one save in flight (up to a batch) beyond.
        let have: std::collections::BTreeSet<Id> = ids.iter().copied().collect();
        let lost: Vec<&Id> = acknowledged.iter().filter(|id| !have.contains(id)).collect();
        assert!(lost.is_empty(), "lost acknowledged laps {lost:?}");
        assert!(
            ids.last().copied().unwrap_or(0) <= last_acked + 41,
            "more laps than were ever saved"
        );
        for file in [
            "race_sessions.json",
            "lap_data.json",
            "driver_metrics.json",
            "predictions.json",
            "simulations.json",
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        }
        // Saving carries on above every id given, a torn record's included: the batch the kill
        // cut short may have shown ids up to a batch beyond the last acknowledged one.
        let highest = ids.last().copied().unwrap_or(0);
        let next = store.save_lap_data(&lap(1, ids.len() as i64)).unwrap();
        assert!(
            next > highest && next <= highest.max(last_acked) + 42,
            "next id {next} after {highest} (last acknowledged {last_acked})"
        );

        store.close().unwrap();
        acknowledged.push(next);
    }
    let unique: std::collections::BTreeSet<Id> = acknowledged.iter().copied().collect();
    assert_eq!(unique.len(), acknowledged.len(), "an id was acknowledged twice");
    println!(
        "kill -9: {rounds} rounds, {} acknowledged laps, {repaired_rounds} reopens repaired a torn tail, \
         {killed_while_opening} writers killed while opening (repairing)",
        unique.len()
    );
}

const SQLITE_SAVES: i64 = 600;

/// Child: saves `SQLITE_SAVES` laps (singles and batches of 10) into the SQLite file `path`.
fn sqlite_writer(path: &Path) {
    let store = SqliteStore::open(path, Durability::Process).unwrap();
    let driver = format!("process-{}", std::process::id());
    let mut ids = Vec::new();
    let mut n = 0;
    while n < SQLITE_SAVES {
        if n % 50 == 0 {
            let batch: Vec<NewLap> = (n..n + 10)
                .map(|k| NewLap::new(1, driver.as_str(), k, 91.0))
                .collect();
            ids.extend(store.save_laps(&batch).unwrap());
            n += 10;
        } else {
            ids.push(
                store
                    .save_lap_data(&NewLap::new(1, driver.as_str(), n, 91.0))
                    .unwrap(),
            );
            n += 1;
        }
    }
    store.close().unwrap();
    println!("{}", ids.iter().map(Id::to_string).collect::<Vec<_>>().join(" "));
}

fn two_processes_share_sqlite() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("race.db");
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    store.create_session(&NewSession::new("Barber")).unwrap();
    store.close().unwrap();
    let children: Vec<Child> = (0..2).map(|_| spawn("sqlite-writer", &path)).collect();
    let mut all_ids = std::collections::BTreeSet::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a writer process failed");
        for id in String::from_utf8(output.stdout).unwrap().split_whitespace() {
            assert!(
                all_ids.insert(id.parse::<Id>().unwrap()),
                "id {id} given to both processes"
            );
        }
    }
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    let laps = store.get_session_laps(1).unwrap();
    assert_eq!(laps.len() as i64, 2 * SQLITE_SAVES);
    assert_eq!(
        all_ids.into_iter().collect::<Vec<_>>(),
        laps.iter().map(|l| l.id).collect::<Vec<_>>()
    );
}

const POSTGRES_PROCESSES: usize = 4;
const POSTGRES_SAVES: i64 = 1000;

/// Child: opens the PostgreSQL store `url` (perhaps a fresh schema, with the other children
/// opening it at the same moment), creates its own session and saves `POSTGRES_SAVES` laps into
/// it (singles and batches of 10); prints the session's id, then the laps' ids.
fn postgres_writer(url: &str) {
    let store = racestore::open(url).unwrap();
    let session = store
        .create_session(&NewSession::new(format!("process {}", std::process::id())))
        .unwrap();
    let mut ids = Vec::new();
    let mut n = 0;
    while n < POSTGRES_SAVES {
        if n % 50 == 0 {
            let batch: Vec<NewLap> = (n..n + 10).map(|k| lap(session, k)).collect();
            ids.extend(store.save_laps(&batch).unwrap());
            n += 10;
        } else {
            ids.push(store.save_lap_data(&lap(session, n)).unwrap());
            n += 1;
        }
    }
    store.close().unwrap();
    println!("{session}");
    println!("{}", ids.iter().map(Id::to_string).collect::<Vec<_>>().join(" "));
}

fn four_processes_share_postgres() {
    let Some(schema) = common::postgres::TestSchema::new("four_processes_writing_one_postgres_schema") else {
        return;
    };
    let url = schema.url("");
    // All four open the fresh schema at once: migrations race, and must run exactly once.
    let children: Vec<Child> = (0..POSTGRES_PROCESSES)
        .map(|_| spawn("postgres-writer", Path::new(&url)))
        .collect();
    let mut all_ids = std::collections::BTreeSet::new();
    let mut sessions = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a writer process failed");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let mut lines = stdout.lines();
        let session: Id = lines.next().expect("session id").parse().unwrap();
        let ids: Vec<Id> = lines
            .next()
            .expect("lap ids")
            .split_whitespace()
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(ids.len() as i64, POSTGRES_SAVES);
        for id in &ids {
            assert!(all_ids.insert(*id), "id {id} given to two processes");
        }
        sessions.push((session, ids));
    }
    let total = POSTGRES_PROCESSES * POSTGRES_SAVES as usize;
    assert_eq!(all_ids.len(), total);
    assert_eq!(
        all_ids.iter().copied().collect::<Vec<_>>(),
        (1..=total as Id).collect::<Vec<_>>(),
        "ids are 1..=4000, no gap"
    );
    let store = racestore::open(&url).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.sessions(), counts.laps()),
        (POSTGRES_PROCESSES as u64, total as u64)
    );
    for (session, ids) in sessions {
        let laps = store.get_session_laps(session).unwrap();
        assert_eq!(
            laps.iter().map(|l| l.id).collect::<Vec<_>>(),
            ids,
            "session {session}"
        );
        for lap in &laps {
            let expected = self::lap(session, lap.lap_number);
            assert_eq!(
                (lap.lap_time, lap.position),
                (expected.lap_time, expected.position)
            );
        }
        assert_eq!(
            laps.iter().map(|l| l.lap_number).collect::<Vec<_>>(),
            (0..POSTGRES_SAVES).collect::<Vec<_>>()
        );
    }
    store.close().unwrap();
    let mut admin = schema.admin();
    let migrations: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {}.racestore_migrations", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    let shipped =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend/postgres/migrations"))
            .unwrap()
            .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|e| e == "sql"))
            .count();
    assert_eq!(
        usize::try_from(migrations).unwrap(),
        shipped,
        "each migration recorded once"
    );
}

// ---------------------------------------------------------------------------------------------
// Crashes of an import, a backup and a repair: at every file operation (the `crash-hook`
// feature aborts the child at the K-th), and at random moments (kill -9).

/// The variable the `crash-hook` feature reads.
const CRASH_AT: &str = "RACESTORE_CRASH_AT_FILE_OP";

/// Laps in the made-up export the import scenario imports.
const IMPORTED_LAPS: usize = 60;

/// What one crash scenario runs in its child and checks afterwards.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    Import,
    Backup,
    Repair,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Import, Scenario::Backup, Scenario::Repair];

    fn role(self) -> &'static str {
        match self {
            Scenario::Import => "import",
            Scenario::Backup => "backup",
            Scenario::Repair => "repair",
        }
    }
}

/// A made-up Al Kamel export of three cars, 20 laps each, beside the store.
fn export_file(dir: &Path) -> PathBuf {
    let path = dir
        .join("barber")
        .join("23_AnalysisEnduranceWithSections_Race 1.CSV");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = String::from("NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; ELAPSED;FLAG_AT_FL\n");
    for lap in 1..=(IMPORTED_LAPS / 3) {
        for (car, pace) in [("13", 100.0), ("22", 100.5), ("7", 101.0)] {
            let elapsed = pace * lap as f64;
            text.push_str(&format!(
                "{car};1;{lap};1:{:06.3};{}:{:06.3};GF\n",
                pace - 60.0,
                (elapsed / 60.0).floor(),
                elapsed % 60.0
            ));
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The store a scenario starts from, in `dir/storage`: a session with laps and a prediction;
/// for the repair, also a torn tail and a lap of a session that does not exist.
fn crash_base(scenario: Scenario, dir: &Path) -> PathBuf {
    let store_dir = dir.join("storage");
    std::fs::create_dir_all(dir).unwrap();
    let store = JsonStore::open(&store_dir, Durability::Process).unwrap();
    let s = store.create_session(&NewSession::new("Barber")).unwrap();
    store
        .save_laps(&(1..=30).map(|n| lap(s, n)).collect::<Vec<_>>())
        .unwrap();
    store
        .save_prediction(&racestore::NewPrediction::new(
            s, DRIVER, "lap_time", 91.0, "m.pkl",
        ))
        .unwrap();
    store.close().unwrap();
    if let Scenario::Repair = scenario {
        let laps = store_dir.join("lap_data.json");
        let text = std::fs::read_to_string(&laps).unwrap().replacen(
            "\"id\": 5,\n    \"session_id\": 1,",
            "\"id\": 5,\n    \"session_id\": 9,",
            1,
        );
        std::fs::write(&laps, &text.as_bytes()[..text.len() - 25]).unwrap();
    }
    export_file(dir);
    store_dir
}

/// Child: imports the export into the store, one batch.
fn crash_child_import(store_dir: &Path) {
    let store = JsonStore::open(store_dir, Durability::Process).unwrap();
    let file = export_file(store_dir.parent().unwrap());
    let summary =
        racestore::import::alkamel::import(&store, &file, &racestore::import::alkamel::Options::default())
            .unwrap();
    assert_eq!(summary.laps_imported, IMPORTED_LAPS);
    store.close().unwrap();
    println!("done");
}

/// Child: backs the store up to `backup` beside it.
fn crash_child_backup(store_dir: &Path) {
    let store = JsonStore::open(store_dir, Durability::Process).unwrap();
    racestore::transfer::backup(&store, &store_dir.with_file_name("backup")).unwrap();
    store.close().unwrap();
    println!("done");
}

/// Child: repairs the store, dropping the lap of a missing session.
fn crash_child_repair(store_dir: &Path) {
    let options = racestore::check::CheckOptions {
        repair: true,
        drop_orphans: true,
        recreate_missing: false,
    };
    let report = racestore::check::check(&format!("json:{}", store_dir.display()), &options).unwrap();
    assert!(report.is_ok(), "{report:?}");
    println!("done");
}

/// Every record of a store, as JSON text per collection.
fn records_of(store: &dyn RaceStore) -> Vec<Vec<String>> {
    racestore::Collection::ALL
        .iter()
        .map(|c| {
            store
                .export_page(*c, 0, 1_000_000)
                .unwrap()
                .to_json()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .collect()
}

/// Checks what a crashed (or finished) child left: all or nothing, nothing acknowledged lost.
fn check_after_crash(
    scenario: Scenario,
    store_dir: &Path,
    before: &[Vec<String>],
    finished: bool,
    what: &str,
) {
    let url = format!("json:{}", store_dir.display());
    match scenario {
        Scenario::Import => {
            let store =
                JsonStore::open(store_dir, Durability::Process).unwrap_or_else(|e| panic!("{what}: {e}"));
            let after = records_of(&store);
            let sessions = store.get_all_sessions().unwrap();
            match sessions.len() {
                1 => assert!(!finished, "{what}: the import finished but stored nothing"),
                2 => {
                    assert_eq!(
                        store.get_session_laps(2).unwrap().len(),
                        IMPORTED_LAPS,
                        "{what}: a partial session"
                    );
                }
                n => panic!("{what}: {n} sessions"),
            }
            for (had, has) in before.iter().zip(&after) {
                assert_eq!(
                    &has[..had.len()],
                    &had[..],
                    "{what}: a record that was there changed"
                );
            }
            store.close().unwrap();
            let report = racestore::check::check(&url, &racestore::check::CheckOptions::default()).unwrap();
            assert!(report.is_ok(), "{what}: {report:?}");
        }
        Scenario::Backup => {
            let backup = store_dir.with_file_name("backup");
            if backup.exists() {
                let copy = JsonStore::open(&backup, Durability::Process)
                    .unwrap_or_else(|e| panic!("{what}: the backup does not open: {e}"));
                assert_eq!(records_of(&copy), before, "{what}: a backup that is not whole");
                assert!(copy.repairs().is_empty(), "{what}: the backup needed repairs");
                copy.close().unwrap();
            } else {
                assert!(!finished, "{what}: the backup finished but is not there");
            }
            let store = JsonStore::open(store_dir, Durability::Process).unwrap();
            assert_eq!(records_of(&store), before, "{what}: backing up changed the store");
            store.close().unwrap();
        }
        Scenario::Repair => {
            // Opening repairs what a repair does on its own; the records of session 1 that
            // were whole are all there, with the orphan lap gone or still there.
            let store =
                JsonStore::open(store_dir, Durability::Process).unwrap_or_else(|e| panic!("{what}: {e}"));
            let laps: Vec<Id> = store.get_session_laps(1).unwrap().iter().map(|l| l.id).collect();
            let whole: Vec<Id> = (1..=29).filter(|id| *id != 5).collect();
            assert_eq!(laps, whole, "{what}: a lap of session 1 was lost");
            let orphans = store.counts().unwrap().laps() - laps.len() as u64;
            assert!(orphans <= 1, "{what}");
            if finished {
                assert_eq!(orphans, 0, "{what}: the repair finished but the orphan is there");
            }
            store.close().unwrap();
            // Repairing again finishes the job.
            let options = racestore::check::CheckOptions {
                repair: true,
                drop_orphans: true,
                recreate_missing: false,
            };
            let report = racestore::check::check(&url, &options).unwrap();
            assert!(report.is_ok(), "{what}: {report:?}");
        }
    }
}

/// What the scenario's base store holds, as the checks compare.
fn base_records(scenario: Scenario, store_dir: &Path) -> Vec<Vec<String>> {
    // For the repair, `before` is not compared; read without changing anything.
    let store = racestore::open(&format!("json:{}?mode=ro", store_dir.display())).unwrap();
    let records = records_of(store.as_ref());
    let _ = scenario;
    records
}

fn crash_at_every_file_operation() {
    for scenario in Scenario::ALL {
        let temp = tempfile::tempdir().unwrap();
        let base = crash_base(scenario, &temp.path().join("base"));
        let before = base_records(scenario, &base);
        let mut k = 1;
        loop {
            let run = temp.path().join(format!("k{k}"));
            common::copy_writable(&temp.path().join("base"), &run);
            let store_dir = run.join("storage");
            let output = Command::new(std::env::current_exe().unwrap())
                .arg(&store_dir)
                .env(ROLE, scenario.role())
                .env(CRASH_AT, k.to_string())
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .unwrap();
            let finished = output.status.success();
            assert!(
                finished || output.status.code().is_none(),
                "{scenario:?} at file operation {k}: the child failed instead of crashing: {output:?}"
            );
            check_after_crash(
                scenario,
                &store_dir,
                &before,
                finished,
                &format!("{scenario:?} crashed at file operation {k}"),
            );
            std::fs::remove_dir_all(&run).unwrap();
            if finished {
                println!("{scenario:?}: crashed at each of its {} file operations", k - 1);
                assert!(k > 3, "{scenario:?} made only {} file operations", k - 1);
                break;
            }
            k += 1;
            assert!(k < 400, "{scenario:?} never finished");
        }
    }
}

fn random_kill_9_of_imports_backups_and_repairs() {
    let mut seed = std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
    if let Ok(given) = std::env::var("RACESTORE_KILL_SEED") {
        seed = given.parse().unwrap();
    }
    println!("random kill -9 seed {seed} (RACESTORE_KILL_SEED={seed} repeats it)");
    let mut finished_runs = 0;
    for round in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let scenario = Scenario::ALL[round % 3];
        let temp = tempfile::tempdir().unwrap();
        let base = crash_base(scenario, &temp.path().join("base"));
        let before = base_records(scenario, &base);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(&base)
            .env(ROLE, scenario.role())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros((seed >> 33) % 30_000));
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let finished = output.status.success() && String::from_utf8_lossy(&output.stdout).contains("done");
        finished_runs += usize::from(finished);
        check_after_crash(
            scenario,
            &base,
            &before,
            finished,
            &format!("{scenario:?}, round {round}, seed {seed}"),
        );
    }
    println!("random kill -9: 60 runs, {finished_runs} finished before the kill");
    random_kill_9_of_sqlite_backups(&mut seed);
}

/// Child: backs the SQLite database up beside it.
fn crash_child_sqlite_backup(db: &Path) {
    let store = SqliteStore::open(db, Durability::Process).unwrap();
    store.backup(&db.with_file_name("backup.db")).unwrap();
    store.close().unwrap();
    println!("done");
}

/// Kills SQLite backups at random moments: the backup is complete, or there is none.
fn random_kill_9_of_sqlite_backups(seed: &mut u64) {
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("race.db");
    let store = SqliteStore::open(&db, Durability::Process).unwrap();
    let s = store.create_session(&NewSession::new("Barber")).unwrap();
    store
        .save_laps(&(1..=50_000).map(|n| lap(s, n)).collect::<Vec<_>>())
        .unwrap();
    let counts = store.counts().unwrap();
    store.close().unwrap();
    let backup = temp.path().join("backup.db");
    let mut complete = 0;
    for round in 0..12 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let _ = std::fs::remove_file(&backup);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(&db)
            .env(ROLE, "sqlite-backup")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros((*seed >> 33) % 150_000));
        let _ = child.kill();
        let _ = child.wait_with_output().unwrap();
        if backup.exists() {
            let copy = SqliteStore::open(&backup, Durability::Process)
                .unwrap_or_else(|e| panic!("SQLite backup, round {round}: the backup does not open: {e}"));
            assert_eq!(
                copy.counts().unwrap(),
                counts,
                "SQLite backup, round {round}: not whole"
            );
            copy.close().unwrap();
            complete += 1;
        }
    }
    println!("random kill -9 of SQLite backups: 12 runs, {complete} complete, none partial");
}
