//! The `racestore` binary, run as a user runs it, checked against what the library reads back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use racestore::{Lap, RaceStore, RaceStoreExt};
use serde_json::Value;

/// `racestore` with the environment's `RACESTORE_URL` removed, so only what a test sets counts.
fn racestore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_racestore"));
    command.env_remove("RACESTORE_URL");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("racestore runs")
}

/// Runs a command that must succeed; returns its stdout.
fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_url(dir: &Path) -> String {
    format!("json:{}", dir.display())
}

/// The result-table rows of `racestore demo`'s output: a position, then a driver id.
fn driver_rows(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            words.next().is_some_and(|w| w.parse::<u32>().is_ok())
                && words.next().is_some_and(|w| w.starts_with("GR86-"))
        })
        .collect()
}

/// The lap count `racestore demo` reports on its first line (`... 20 drivers, 600 laps, ...`).
fn reported_laps(stdout: &str) -> u64 {
    let first = stdout.lines().next().unwrap_or_default();
    let words: Vec<&str> = first.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "laps,")
        .unwrap_or_else(|| panic!("no lap count in {first:?}"));
    words[at - 1].parse().expect("a lap count")
}

/// Runs the default demo against `url` and checks, through the library, everything it stored.
fn demo_fills_the_store(url: &str) {
    let stdout = run_ok(racestore().args(["demo", "--store", url]));
    let first = stdout.lines().next().unwrap();
    assert!(first.contains(url) && first.contains("session 1"), "{first}");
    assert_eq!(driver_rows(&stdout).len(), 20, "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("racestore sessions --store"), "{last}");
    let reported = reported_laps(&stdout);

    let store = racestore::open(url).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.sessions(), 1);
    assert_eq!(counts.driver_metrics(), 20);
    assert!(counts.predictions() >= 1);
    assert_eq!(counts.simulations(), 1);
    // Every driver of the demo finishes every lap: 20 drivers × 30 laps, as the output says.
    assert_eq!(counts.laps(), 600);
    assert_eq!(counts.laps(), reported);

    let session = store.get_all_sessions().unwrap().remove(0);
    assert_eq!(session.circuit, "Barber Motorsports Park");
    assert_eq!(session.race_type, "race");
    let laps = store.get_session_laps(session.id).unwrap();
    assert_eq!(laps.len() as u64, counts.laps());
    check_laps(store.as_ref(), session.id, &laps);

    let metrics = store.get_session_metrics(session.id).unwrap();
    let metric_drivers: BTreeSet<&str> = metrics.iter().map(|m| m.driver_id.as_str()).collect();
    let lap_drivers: BTreeSet<&str> = laps.iter().map(|l| l.driver_id.as_str()).collect();
    assert_eq!(metric_drivers, lap_drivers);
    // The library's driver metrics of the stored laps, in the original's record shape.
    let computed = racestore::analysis::metrics::analyze_session(store.as_ref(), session.id).unwrap();
    for m in &metrics {
        let expected = computed
            .drivers
            .get(&m.driver_id)
            .unwrap()
            .to_record(session.id, &m.driver_id);
        assert!(m.consistency_index.is_some_and(|c| c > 0.0 && c <= 1.0), "{m:?}");
        assert_eq!(m.consistency_index, expected.consistency_index, "{m:?}");
        assert_eq!(m.aggression_score, expected.aggression_score, "{m:?}");
        assert_eq!(m.sector_strength, expected.sector_strength, "{m:?}");
        assert_eq!(m.pace_stability, expected.pace_stability, "{m:?}");
        assert_eq!(m.fatigue_dropoff, expected.fatigue_dropoff, "{m:?}");
    }

    let predictions = store.get_session_predictions(session.id).unwrap();
    assert_eq!(predictions[0].model_path, "models/lap_time_predictor.pkl");
    assert!(predictions[0]
        .confidence
        .is_some_and(|c| (0.0..=1.0).contains(&c)));

    let simulation = store.get_session_simulations(session.id).unwrap().remove(0);
    assert_eq!((simulation.n_laps, simulation.iterations), (30, 1000));
    let wins = simulation.results["win_probability"].as_object().unwrap();
    assert_eq!(wins.len(), 20);
    let total: f64 = wins.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-6, "win probabilities sum to {total}");
    assert_eq!(simulation.results["model"], "original");
    assert_eq!(
        simulation.results["expected_finishing_time"]
            .as_object()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(simulation.driver_paces.as_object().unwrap().len(), 20);
    store.close().unwrap();
}

/// Checks the laps of a demo race: numbering, sectors, lap types, and positions lap by lap.
fn check_laps(store: &dyn RaceStore, session: racestore::Id, laps: &[Lap]) {
    let mut by_driver: BTreeMap<&str, Vec<&Lap>> = BTreeMap::new();
    for lap in laps {
        by_driver.entry(&lap.driver_id).or_default().push(lap);
    }
    assert_eq!(by_driver.len(), 20);
    for (driver, own) in &by_driver {
        let parts: Vec<&str> = driver.split('-').collect();
        assert_eq!(
            (parts.len(), parts[0], parts[1].len()),
            (3, "GR86", 3),
            "{driver}"
        );
        assert_eq!(store.get_driver_laps(session, driver).unwrap().len(), own.len());
        let numbers: Vec<i64> = own.iter().map(|l| l.lap_number).collect();
        assert_eq!(numbers, (1..=30).collect::<Vec<_>>(), "{driver}");
        for (i, lap) in own.iter().enumerate() {
            let sectors = [lap.sector_1, lap.sector_2, lap.sector_3].map(|s| s.expect("timed sector"));
            let sum: f64 = sectors.iter().sum();
            assert!((sum - lap.lap_time).abs() < 1e-6, "{lap:?}");
            assert!((90.0..160.0).contains(&lap.lap_time), "{lap:?}");
            match lap.lap_type.as_str() {
                "RACE_LAP" => {}
                "IN_LAP" => assert_eq!(own[i + 1].lap_type, "OUT_LAP", "{driver} lap {}", i + 2),
                "OUT_LAP" => assert_eq!(own[i - 1].lap_type, "IN_LAP", "{driver} lap {i}"),
                other => panic!("unexpected lap type {other}"),
            }
        }
    }
    let pit_stops = laps.iter().filter(|l| l.lap_type == "IN_LAP").count();
    assert!((1..=6).contains(&pit_stops), "{pit_stops} pit stops");
    // On every lap, and so on the final one, the positions are a permutation of 1..=20 and
    // follow the time elapsed since the start.
    let mut elapsed: BTreeMap<&str, f64> = BTreeMap::new();
    for lap_number in 1..=30 {
        let mut this_lap: Vec<&Lap> = laps.iter().filter(|l| l.lap_number == lap_number).collect();
        for lap in &this_lap {
            *elapsed.entry(&lap.driver_id).or_default() += lap.lap_time;
        }
        let mut positions: Vec<i64> = this_lap.iter().map(|l| l.position.expect("a position")).collect();
        positions.sort_unstable();
        assert_eq!(positions, (1..=20).collect::<Vec<_>>(), "lap {lap_number}");
        this_lap.sort_by_key(|l| l.position);
        for pair in this_lap.windows(2) {
            assert!(
                elapsed[pair[0].driver_id.as_str()] <= elapsed[pair[1].driver_id.as_str()] + 1e-6,
                "lap {lap_number}: {} ahead of {}",
                pair[0].driver_id,
                pair[1].driver_id
            );
        }
    }
}

#[test]
fn demo_writes_a_whole_race_into_a_json_store() {
    let dir = tempfile::tempdir().unwrap();
    demo_fills_the_store(&json_url(dir.path()));
    assert!(dir.path().join("lap_data.json").is_file());
}

#[test]
fn demo_writes_a_whole_race_into_a_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("race.db");
    demo_fills_the_store(&format!("sqlite:{}", db.display()));
    assert!(db.is_file());
}

#[test]
fn demo_is_deterministic_for_a_seed() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, seed) in dirs.iter().zip(["9", "9", "10"]) {
        run_ok(racestore().args(["demo", "--seed", seed, "--store", &json_url(dir.path())]));
    }
    let read = |dir: &Path| {
        let store = racestore::open(&json_url(dir)).unwrap();
        let mut laps = store.get_session_laps(1).unwrap();
        for l in &mut laps {
            l.created_at.clear();
        }
        let mut metrics = store.get_session_metrics(1).unwrap();
        for m in &mut metrics {
            m.created_at.clear();
        }
        let mut simulations = store.get_session_simulations(1).unwrap();
        for s in &mut simulations {
            s.created_at.clear();
        }
        let mut predictions = store.get_session_predictions(1).unwrap();
        for p in &mut predictions {
            p.created_at.clear();
        }
        store.close().unwrap();
        (laps, metrics, simulations, predictions)
    };
    let (a, b, c) = (read(dirs[0].path()), read(dirs[1].path()), read(dirs[2].path()));
    assert_eq!(a.0.len(), 600);
    assert_eq!(a, b, "the same seed wrote different data");
    assert_ne!(a.0, c.0, "another seed wrote the same laps");
}

#[test]
fn demo_json_output_matches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let stdout = run_ok(racestore().args([
        "demo",
        "--json",
        "--drivers",
        "8",
        "--laps",
        "12",
        "--store",
        &url,
    ]));
    let summary: Value = serde_json::from_str(&stdout).expect("--json prints one JSON value");
    assert_eq!(summary["store"], url.as_str());
    assert_eq!(summary["seed"], 42);
    assert_eq!(summary["session"]["id"], 1);
    let drivers = summary["drivers"].as_array().unwrap();
    assert_eq!(drivers.len(), 8);
    let positions: Vec<i64> = drivers.iter().map(|d| d["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
    let laps: u64 = drivers.iter().map(|d| d["laps"].as_u64().unwrap()).sum();

    let store = racestore::open(&url).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.laps(), 8 * 12);
    assert_eq!(laps, counts.laps());
    assert_eq!(summary["written"]["laps"], counts.laps());
    assert_eq!(summary["written"]["driver_metrics"], counts.driver_metrics());
    let best = store
        .get_session_laps(1)
        .unwrap()
        .iter()
        .map(|l| l.lap_time)
        .fold(f64::INFINITY, f64::min);
    let best_in_summary = drivers
        .iter()
        .map(|d| d["best_lap"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best, best_in_summary);
    store.close().unwrap();
}

#[test]
fn sessions_lists_what_demo_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    run_ok(racestore().args(["demo", "--store", &url]));
    run_ok(racestore().args([
        "demo",
        "--store",
        &url,
        "--seed",
        "2",
        "--drivers",
        "4",
        "--laps",
        "3",
    ]));

    let table = run_ok(racestore().args(["sessions", "--store", &url]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("BEST LAP"),
        "{table}"
    );
    for (line, laps, drivers) in [(lines[1], "600", "20"), (lines[2], "12", "4")] {
        assert!(
            line.contains("Barber Motorsports Park") && line.contains("2025-09-06T14:00:00"),
            "{line}"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(words.windows(2).any(|w| w == [laps, drivers]), "{line}");
    }

    let listed: Value =
        serde_json::from_str(&run_ok(racestore().args(["sessions", "--json", "--store", &url]))).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0]["id"].as_i64(), listed[0]["laps"].as_u64()),
        (Some(1), Some(600))
    );
    assert_eq!(listed[1]["drivers"], 4);
    assert!(listed[0]["best_lap"].as_f64().is_some());

    let filtered = run_ok(racestore().args([
        "sessions",
        "--circuit",
        "Barber Motorsports Park",
        "--store",
        &url,
    ]));
    assert_eq!(filtered.lines().count(), 3);
    let none = run(racestore().args(["sessions", "--circuit", "Road Atlanta", "--store", &url]));
    assert!(none.status.success());
    assert_eq!(String::from_utf8_lossy(&none.stdout), "");
    let note = String::from_utf8_lossy(&none.stderr);
    assert!(
        note.starts_with("note: no session's circuit contains \"Road Atlanta\""),
        "{note}"
    );
}

#[test]
fn sessions_on_an_empty_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let stdout = run_ok(racestore().args(["sessions", "--store", &url]));
    assert_eq!(stdout.trim_end(), format!("no sessions in {url}"));
    let json = run_ok(racestore().args(["sessions", "--json", "--store", &url]));
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn racestore_url_chooses_the_store_when_store_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let (from_env, from_flag) = (dir.path().join("env"), dir.path().join("flag"));
    let stdout = run_ok(racestore().env("RACESTORE_URL", json_url(&from_env)).args([
        "demo",
        "--drivers",
        "3",
        "--laps",
        "2",
    ]));
    assert!(
        stdout.lines().next().unwrap().contains(&json_url(&from_env)),
        "{stdout}"
    );
    assert!(from_env.join("lap_data.json").is_file());
    let listed = run_ok(
        racestore()
            .env("RACESTORE_URL", json_url(&from_env))
            .arg("sessions"),
    );
    assert!(listed.contains("Barber Motorsports Park"), "{listed}");

    // --store wins over the environment.
    run_ok(racestore().env("RACESTORE_URL", json_url(&from_env)).args([
        "demo",
        "--drivers",
        "3",
        "--laps",
        "2",
        "--store",
        &json_url(&from_flag),
    ]));
    let store = racestore::open(&json_url(&from_env)).unwrap();
    assert_eq!(store.counts().unwrap().sessions(), 1);
    store.close().unwrap();
    assert!(from_flag.join("lap_data.json").is_file());
}

#[test]
fn without_store_or_racestore_url_the_store_is_storage_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_ok(
        racestore()
            .current_dir(dir.path())
            .args(["demo", "--drivers", "2", "--laps", "3"]),
    );
    assert!(stdout.starts_with("wrote session 1 to json:storage:"), "{stdout}");
    assert!(dir.path().join("storage").join("lap_data.json").is_file());
    assert!(
        stdout
            .trim_end()
            .ends_with("racestore sessions --store json:storage"),
        "{stdout}"
    );

    // An empty RACESTORE_URL counts as unset, as it does for the library.
    let listed = run_ok(
        racestore()
            .current_dir(dir.path())
            .env("RACESTORE_URL", "")
            .arg("sessions"),
    );
    assert!(listed.contains("Barber Motorsports Park"), "{listed}");
}

#[test]
fn an_unsupported_url_fails_with_the_valid_forms() {
    for url in ["mongodb://x", "json:", ""] {
        let output = run(racestore().args(["sessions", "--store", url]));
        assert_eq!(output.status.code(), Some(1), "{url}");
        let err = stderr(&output);
        assert!(err.starts_with("error: unsupported store URL"), "{err}");
        assert!(err.contains("json:DIR") && err.contains("sqlite:FILE"), "{err}");
        assert_eq!(err.lines().count(), 1, "one clean line, no debug output: {err}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_store_another_process_has_open_is_shared_and_each_sees_the_others_saves() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let holder = racestore::open(&url).unwrap();
    let session = holder
        .create_session(&racestore::NewSession::new("Barber Motorsports Park"))
        .unwrap();
    run_ok(racestore().args(["demo", "--store", &url]));
    // The holder sees the demo's sessions on its next read, and the CLI the holder's.
    let sessions = holder.get_sessions(&racestore::SessionQuery::default()).unwrap();
    assert!(sessions.len() > 1, "{sessions:?}");
    let listed = run_ok(racestore().args(["sessions", "--store", &url]));
    assert!(listed.contains("Barber Motorsports Park"), "{listed}");
    let lap = holder
        .save_lap_data(&racestore::NewLap::new(session, "GR86-002-7", 1, 91.5))
        .unwrap();
    assert!(lap > 1, "lap ids go on above the demo's: {lap}");
    holder.close().unwrap();
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["demo", "--drivers", "0"][..],
        &["demo", "--laps", "x"],
        &["nope"],
        &[],
    ] {
        let output = run(racestore().args(args));
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn help_documents_every_command_and_option() {
    let help = run_ok(racestore().arg("--help"));
    for needle in [
        "demo",
        "sessions",
        "--store <URL>",
        "RACESTORE_URL",
        "json:storage",
        "sqlite:FILE",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let demo = run_ok(racestore().args(["demo", "--help"]));
    for needle in [
        "--seed <N>",
        "--drivers <N>",
        "--laps <N>",
        "--json",
        "--store <URL>",
        "[default: 42]",
    ] {
        assert!(demo.contains(needle), "demo --help lacks {needle}:\n{demo}");
    }
    let sessions = run_ok(racestore().args(["sessions", "--help"]));
    for needle in ["--circuit <NAME>", "--json", "--store <URL>"] {
        assert!(
            sessions.contains(needle),
            "sessions --help lacks {needle}:\n{sessions}"
        );
    }
}
