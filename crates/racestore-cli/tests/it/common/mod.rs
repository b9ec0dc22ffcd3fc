//! Helpers shared by the tests of export, show, migrate, backup and check.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use racestore::{
    NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, RaceStore, RaceStoreExt, Sectors,
};
use serde_json::json;

/// `racestore` with the environment's `RACESTORE_URL` removed, so only what a test sets counts.
pub(crate) fn racestore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_racestore"));
    command.env_remove("RACESTORE_URL");
    command
}

pub(crate) fn run(command: &mut Command) -> Output {
    command.output().expect("racestore runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that stderr (a pipe here, not a terminal) holds no progress bar: no escape sequence,
/// no carriage return, no bar.
pub(crate) fn assert_no_progress(output: &Output) {
    let err = stderr(output);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\r') && !err.contains("=>") && !err.contains("records,"),
        "progress drawn on a pipe: {err:?}"
    );
}

/// The line a writing command prints on stderr when it created the store at `location` (a
/// URL without options: `json:DIR`, `sqlite:FILE`), `kind` being JSON, SQLite or PostgreSQL.
pub(crate) fn created_line(kind: &str, location: &str) -> String {
    format!("racestore: created a new {kind} store at {location}\n")
}

/// stderr without the lines saying the command created a store its arguments or environment
/// name. A writing command on a new path says so: right wherever a test writes into a new
/// path; `integrity::a_writing_command_says_when_it_created_the_store_and_only_then` checks
/// that it is said exactly when a store is created.
pub(crate) fn stderr_besides_creation(command: &Command, output: &Output) -> String {
    let given: Vec<String> = command
        .get_args()
        .chain(command.get_envs().filter_map(|(_, value)| value))
        .map(|a| {
            a.to_string_lossy()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|a| !a.is_empty())
        .collect();
    let names_a_given_store = |line: &str| {
        line.strip_prefix("racestore: created a new ")
            .and_then(|rest| rest.split_once(" store at "))
            .and_then(|(_, at)| at.split('?').next())
            .is_some_and(|at| given.iter().any(|g| at.ends_with(g.as_str())))
    };
    stderr(output)
        .split_inclusive('\n')
        .filter(|line| !names_a_given_store(line.trim_end()))
        .collect()
}

/// Runs a command that must succeed; returns its stdout, and checks that stderr got nothing
/// (but the line saying it created the store it was given).
pub(crate) fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    assert_no_progress(&output);
    assert_eq!(
        stderr_besides_creation(command, &output),
        "",
        "{command:?}: piped, nothing goes to stderr"
    );
    stdout(&output)
}

/// Runs a command that must fail with exit status 1; returns its output.
pub(crate) fn run_fails(command: &mut Command) -> Output {
    let output = run(command);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{command:?} should fail with 1\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert_no_progress(&output);
    output
}

pub(crate) fn json_url(dir: &Path) -> String {
    format!("json:{}", dir.display())
}

pub(crate) fn sqlite_url(file: &Path) -> String {
    format!("sqlite:{}", file.display())
}

/// The read-only `shared/` folder beside the repository, or `None` after printing a visible SKIP
/// line; with `CI` set, its absence fails the test instead (as the library's tests do).
pub(crate) fn shared_dir(test: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("RACESTORE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    if candidate.join("fixtures").is_dir() {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is missing, and CI must not skip this test",
        candidate.display()
    );
    eprintln!(
        "SKIP {test}: {} not found (a fresh clone has no shared/ folder)",
        candidate.display()
    );
    None
}

/// Copies a fixture directory (or file) into `to`, making the copies writable.
pub(crate) fn copy_writable(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_writable(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
        let mut permissions = std::fs::metadata(to).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(to, permissions).unwrap();
    }
}

/// Fills the store at `url` with two generated races (through `racestore demo`: RACE_LAP,
/// IN_LAP and OUT_LAP laps, metrics, a prediction, a simulation) and, through the library, a
/// qualifying session with what the demo never writes: absent sectors and positions, unicode,
/// nested metric objects, a prediction without confidence.
pub(crate) fn fill(url: &str) {
    run_ok(racestore().args(["demo", "--store", url]));
    run_ok(racestore().args([
        "demo",
        "--store",
        url,
        "--seed",
        "7",
        "--drivers",
        "4",
        "--laps",
        "5",
    ]));
    let store = racestore::open(url).unwrap();
    let s = store
        .create_session(
            &NewSession::new("Autódromo Hermanos Rodríguez")
                .date("2025-10-26")
                .race_type("qualifying"),
        )
        .unwrap();
    store
        .save_laps(&[
            NewLap::new(s, "GR86-002-7", 1, 90.015)
                .sectors(Sectors::new(28.9, 31.515, 29.6))
                .lap_type("qualifying")
                .position(1),
            NewLap::new(s, "Pérez; \"Checo\"", 1, 118.25).lap_type("pit"),
            NewLap::new(s, "GR86-002-7", 2, 92.0).lap_type("qualifying"),
        ])
        .unwrap();
    store
        .save_driver_metrics(
            &NewDriverMetrics::from_json(
                s,
                "GR86-002-7",
                &json!({"consistency_index": 0.912, "sector_strength": {"S1": 0.98, "nested": {"a": [1, 2, "ü"]}}}),
            )
            .unwrap(),
        )
        .unwrap();
    store
        .save_prediction(&NewPrediction::new(
            s,
            "GR86-002-7",
            "finish_position",
            1.0,
            "models/q.pkl",
        ))
        .unwrap();
    store
        .save_simulation(&NewSimulation::new(
            s,
            json!({"GR86-002-7": 90.0}),
            10,
            50,
            json!({"win_probability": {"GR86-002-7": 1.0}, "big": 18446744073709551615u64}),
        ))
        .unwrap();
    store
        .save_entries(&[
            racestore::model::NewEntry::new(s, "GR86-002-7")
                .car("7")
                .class("Am")
                .vehicle("Toyota GR86"),
            racestore::model::NewEntry::new(s, "Pérez; \"Checo\"")
                .car("11")
                .driver_name("Sergio Pérez")
                .team("Red Bull Racing"),
        ])
        .unwrap();
    store.close().unwrap();
}

/// Everything a store holds, collection by collection, as the library reads it.
pub(crate) fn everything(url: &str) -> Vec<(racestore::Collection, Vec<serde_json::Value>)> {
    let store = racestore::open(url).unwrap();
    let all = read_all(store.as_ref());
    store.close().unwrap();
    all
}

/// Every record of every collection of an open store, as JSON objects.
pub(crate) fn read_all(store: &dyn RaceStore) -> Vec<(racestore::Collection, Vec<serde_json::Value>)> {
    racestore::Collection::ALL
        .iter()
        .map(|c| (*c, store.export_page(*c, 0, 1_000_000).unwrap().to_json()))
        .collect()
}
