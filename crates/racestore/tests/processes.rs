//! Tests that need a second process: the JSON directory's writer lock, kill -9 mid-save, and
//! several processes writing one SQLite file or one PostgreSQL schema.
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
    Durability, Error, Id, JsonStore, LapQuery, NewLap, NewSession, RaceStore, RaceStoreExt, SqliteStore,
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
            "hold-lock" => hold_lock(&dir),
            "writer" => writer(&dir),
            "sqlite-writer" => sqlite_writer(&dir),
            "postgres-writer" => postgres_writer(&arg),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let scenarios: [(&str, fn()); 4] = [
        (
            "a_second_process_is_refused_the_json_directory_with_the_holder_named",
            second_process_is_refused,
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

/// Child: holds the store open until its stdin closes.
fn hold_lock(dir: &Path) {
    let store = JsonStore::open(dir, Durability::Process).unwrap();
    store.create_session(&NewSession::new("Barber")).unwrap();
    println!("ready");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    store.close().unwrap();
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

fn second_process_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let mut child = spawn("hold-lock", &dir);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    match JsonStore::open(&dir, Durability::Process) {
        Err(Error::Locked { path, holder }) => {
            assert_eq!(path, dir);
            assert!(
                holder.contains(&format!("process {}", child.id())),
                "holder: {holder}"
            );
            let message = Error::Locked { path, holder }.to_string();
            assert!(message.contains(&dir.display().to_string()), "{message}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // Refused means untouched: the holder's session is still the only one.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let store = JsonStore::open(&dir, Durability::Process).expect("free once the holder closed it");
    assert_eq!(store.counts().unwrap().sessions(), 1);
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
        // Gaps only where a torn record showed its id: that id is never given again.
        assert!(
            ids.len() as Id >= ids.last().copied().unwrap_or(0) - torn_ids,
            "more gaps than torn records: {} laps, highest id {:?}",
            ids.len(),
            ids.last()
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
        // Saving carries on above every id given (a torn record's included).
        let highest = ids.last().copied().unwrap_or(0);
        let next = store.save_lap_data(&lap(1, ids.len() as i64)).unwrap();
        assert!(
            next == highest + 1 || next == highest + 2,
            "next id {next} after {highest}"
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
