//! `racestore bench`, run as a user runs it: every measure present and plausible for each
//! backend, the large store really holding N laps (counted through the library), and clear
//! errors. No timing is asserted: machines are noisy.

use std::path::Path;
use std::process::{Command, Output};

use racestore::RaceStoreExt;
use serde_json::Value;

/// Laps in the large store: small, so a debug build runs the bench in seconds.
const LAPS: u64 = 20_000;

/// `racestore` with the environment's `RACESTORE_URL` removed, so only what a test sets counts.
fn racestore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_racestore"));
    command.env_remove("RACESTORE_URL");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("racestore runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn run_ok(command: &mut Command) -> (String, String) {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    (text(&output.stdout), text(&output.stderr))
}

/// The number at `path` (`/`-separated keys) of `value`.
fn number(value: &Value, path: &str) -> f64 {
    value
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {value:#}"))
}

/// Asserts the number at `path` is finite and positive.
fn positive(value: &Value, path: &str) -> f64 {
    let n = number(value, path);
    assert!(
        n.is_finite() && n > 0.0,
        "{path} = {n}, expected a positive number"
    );
    n
}

/// Every entry of the bench directory, as paths relative to it.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The opens at `path`: five fresh processes, each with a positive time; the median of those
/// times, the memory before and (where it can be reset) the highest peak.
fn assert_opens(report: &Value, path: &str, peak_resettable: bool) {
    assert_eq!(number(report, &format!("{path}/runs")), 5.0, "{path}");
    let seconds = report
        .pointer(&format!("{path}/runs_seconds"))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no runs at {path}"));
    let mut sorted: Vec<f64> = seconds.iter().map(|s| s.as_f64().unwrap()).collect();
    assert!(sorted.iter().all(|s| *s > 0.0), "{path}: {sorted:?}");
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        positive(report, &format!("{path}/seconds")),
        sorted[2],
        "{path}: the median"
    );
    let before = positive(report, &format!("{path}/rss_before_bytes"));
    if peak_resettable {
        let peak = positive(report, &format!("{path}/peak_rss_bytes"));
        let runs: Vec<f64> = report
            .pointer(&format!("{path}/runs_peak_rss_bytes"))
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 5);
        assert_eq!(
            peak,
            runs.iter().copied().fold(0.0, f64::max),
            "{path}: the highest peak"
        );
        assert!(peak >= before, "{path}");
        assert!(
            peak < 4.0 * 1024.0 * 1024.0 * 1024.0,
            "{path}: peak {peak} bytes is implausible"
        );
    }
}

/// The JSON directory's data files read once beside its opens (and no such baseline for other
/// backends), the opens again with any cache files deleted, and the single saves of two
/// processes into one store at once.
fn assert_read_files_and_concurrent_saves(report: &Value, name: &str) {
    let at = |path: &str| format!("/backends/{name}{path}");
    let b = &report["backends"][name];
    let cache_files = b["cache_files"].as_array().unwrap();
    assert!(
        cache_files
            .iter()
            .all(|f| f.as_str().unwrap().starts_with("racestore.index")),
        "{name}: {cache_files:?}"
    );
    if cache_files.is_empty() {
        assert!(b["open_cache_deleted"].is_null(), "{name}");
    } else {
        assert_opens(report, &at("/open_cache_deleted"), false);
    }
    if name == "json" {
        let collections = racestore::Collection::ALL.len() as f64;
        assert_eq!(number(report, &at("/read_files/files")), collections);
        positive(report, &at("/read_files/bytes"));
        positive(report, &at("/read_files/seconds"));
        assert_eq!(b["read_files"]["runs_seconds"].as_array().unwrap().len(), 5);
        let ratio = positive(report, &at("/open_over_read_files"));
        assert_eq!(number(report, "/open_over_read_files/json"), ratio);
    } else {
        assert!(b["read_files"].is_null(), "{name}: {b:#}");
        assert!(b["open_over_read_files"].is_null(), "{name}: {b:#}");
        assert!(report["open_over_read_files"].get(name).is_none(), "{name}");
    }

    let concurrent = &b["single_save"]["concurrent"];
    assert_eq!(number(report, &at("/single_save/concurrent/processes")), 2.0);
    let rate = positive(report, &at("/single_save/concurrent/saves_per_second"));
    let runs = concurrent["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{name}: {concurrent:#}");
    let sum: f64 = runs
        .iter()
        .map(|r| {
            assert!(r["saves"].as_f64().is_some_and(|s| s > 0.0), "{name}: {r}");
            r["saves_per_second"].as_f64().unwrap()
        })
        .sum();
    assert!(
        (rate - sum).abs() < 1e-6 * rate,
        "{name}: the processes' rates added up"
    );
}

#[test]
fn bench_measures_json_and_sqlite_and_the_kept_store_holds_n_laps() {
    let parent = tempfile::tempdir().unwrap();
    let (stdout, stderr) = run_ok(racestore().args([
        "bench",
        "--laps",
        &LAPS.to_string(),
        "--json",
        "--keep",
        "--dir",
        parent.path().to_str().unwrap(),
    ]));
    // Not a terminal: no progress bar, and with --json nothing else either.
    assert_eq!(stderr, "", "stderr should be silent when not a terminal");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    assert!(number(&report, "/machine/cores") >= 1.0);
    positive(&report, "/machine/memory_bytes");
    let fs_type = report.pointer("/machine/filesystem/type").and_then(Value::as_str);
    assert!(fs_type.is_some_and(|t| !t.is_empty()), "{report:#}");
    assert_eq!(report["machine"]["racestore_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(number(&report, "/laps"), LAPS as f64);

    let backends = report["backends"].as_object().unwrap();
    assert_eq!(
        backends.keys().collect::<Vec<_>>(),
        ["json", "sqlite"],
        "default backends, in order"
    );
    let peak_resettable = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    for (name, b) in backends {
        let at = |path: &str| format!("/backends/{name}{path}");
        for mode in ["process", "power_loss"] {
            positive(&report, &at(&format!("/single_save/{mode}/saves")));
            positive(&report, &at(&format!("/single_save/{mode}/saves_per_second")));
        }
        assert_eq!(number(&report, &at("/batch_ingest/laps")), LAPS as f64);
        positive(&report, &at("/batch_ingest/seconds"));
        positive(&report, &at("/batch_ingest/laps_per_second"));
        assert_eq!(number(&report, &at("/cost_per_save/base_laps")), 10_000.0);
        let base = positive(&report, &at("/cost_per_save/at_base/micros_per_save"));
        let at_n = positive(&report, &at("/cost_per_save/at_n/micros_per_save"));
        let growth = positive(&report, &at("/cost_per_save/growth"));
        assert!(
            (growth - at_n / base).abs() < 1e-9 * growth,
            "{name}: growth is at N / at 10k"
        );
        assert_eq!(number(&report, &at("/get_session_laps/reads")), 200.0);
        assert_eq!(number(&report, &at("/get_session_laps/laps_per_read")), 1000.0);
        let median = positive(&report, &at("/get_session_laps/median_ms"));
        assert!(positive(&report, &at("/get_session_laps/p99_ms")) >= median);
        assert_opens(&report, &at("/open"), peak_resettable);
        assert_read_files_and_concurrent_saves(&report, name);
        positive(&report, &at("/size_bytes"));
        assert_eq!(number(&report, &at("/laps_after_reopen")), LAPS as f64);

        for probe in ["at_base", "at_n"] {
            let rounds = b["cost_per_save"][probe]["rounds_micros_per_save"]
                .as_array()
                .unwrap();
            assert_eq!(rounds.len(), 5, "{name} {probe}");
            assert!(
                rounds.iter().all(|r| r.as_f64().is_some_and(|r| r > 0.0)),
                "{name} {probe}"
            );
        }

        // The kept large store, counted through the library: N laps in 1,000-lap sessions, then
        // five rounds of single saves made after it was measured (each 20 untimed saves in a
        // session of their own, then one 1,000-lap session).
        let url = b["store"].as_str().unwrap();
        assert!(url.contains("/large"), "{url}");
        let store = racestore::open(url).unwrap();
        let counts = store.counts().unwrap();
        assert_eq!(counts.laps(), LAPS + 5 * 1_020, "{name}: {counts:?}");
        assert_eq!(counts.laps() as f64, number(&report, &at("/laps_at_end")));
        assert_eq!(counts.sessions(), LAPS / 1_000 + 10, "{name}: {counts:?}");
        let sessions = store.get_all_sessions().unwrap();
        let per_session: Vec<usize> = sessions
            .iter()
            .map(|s| store.get_session_laps(s.id).unwrap().len())
            .collect();
        let mut expected = vec![1_000; (LAPS / 1_000) as usize];
        expected.extend([20, 1_000].repeat(5));
        assert_eq!(per_session, expected, "{name}");
        store.close().unwrap();
    }

    let growth = report["growth"].as_object().unwrap();
    assert_eq!(growth.len(), 2);
    let ratios = report["ratios"].as_array().unwrap();
    for measure in [
        "single_save_throughput_process",
        "single_save_throughput_power_loss",
        "batch_ingest_seconds",
        "micros_per_save_at_n",
        "get_session_laps_median",
        "get_session_laps_p99",
        "open_seconds",
        "size_on_disk",
    ] {
        let ratio = ratios
            .iter()
            .find(|r| r["measure"] == measure)
            .unwrap_or_else(|| panic!("no ratio for {measure}: {ratios:#?}"));
        assert_eq!(
            (&ratio["backend"], &ratio["versus"]),
            (&"json".into(), &"sqlite".into())
        );
        assert!(ratio["ratio"].as_f64().is_some_and(|r| r > 0.0), "{ratio}");
    }

    let kept = report["kept_directory"].as_str().unwrap();
    assert!(Path::new(kept).starts_with(parent.path()), "{kept}");
    let mut stores = entries(Path::new(kept));
    stores.sort();
    assert_eq!(stores, ["json", "sqlite"]);
}

#[test]
fn bench_prints_a_column_per_backend_in_the_order_given_and_cleans_up() {
    let parent = tempfile::tempdir().unwrap();
    let (stdout, _) = run_ok(racestore().args([
        "bench",
        "--laps",
        "10000",
        "--backends",
        "sqlite,json",
        "--dir",
        parent.path().to_str().unwrap(),
    ]));
    let mut lines = stdout.lines();
    assert!(
        lines.next().unwrap().starts_with("racestore bench: 10,000 laps"),
        "{stdout}"
    );
    let machine = lines.next().unwrap();
    assert!(
        machine.starts_with("machine: ") && machine.contains(" cores"),
        "{machine}"
    );
    let header = stdout.lines().find(|l| l.starts_with("MEASURE")).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["MEASURE", "sqlite", "json"]
    );
    for row in [
        "single saves/s, durability=process",
        "single saves/s, durability=power-loss",
        "batch ingest of 10,000 laps (s)",
        "µs per single save at 10,000 laps",
        "growth (at 10,000 / at 10,000)",
        "get_session_laps median (ms)",
        "get_session_laps p99 (ms)",
        "single saves/s, 2 processes at once",
        "open the 10,000-lap store (ms, median of 5)",
        "read its data files once (ms, median of 5)",
        "peak memory while opening (MiB, max of 5)",
        // The JSON store of 10,000 laps is large enough to keep racestore.index.
        "open, racestore.index* deleted first (ms, median)",
        "peak memory, racestore.index* deleted first (MiB, max)",
        "size on disk (MiB)",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(row)),
            "no row {row:?} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("sqlite vs json, measured in this run:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sqlite single-save throughput (process) = "),
        "{stdout}"
    );
    assert!(stdout.contains("growth ratio ("), "{stdout}");
    assert!(
        stdout.contains("json vs reading its own files, measured in this run:\n  json open time"),
        "{stdout}"
    );
    assert_eq!(
        entries(parent.path()),
        Vec::<String>::new(),
        "the stores are removed without --keep"
    );
}

#[test]
fn an_unknown_backend_is_refused_with_the_names_that_work() {
    let output = run(racestore().args(["bench", "--backends", "json,mongo"]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("invalid value 'mongo'"), "{stderr}");
    assert!(stderr.contains("json, sqlite, postgres"), "{stderr}");

    let output = run(racestore().args(["bench", "--backends", "postgres"]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--postgres URL"), "{stderr}");
}

#[test]
fn a_backend_that_cannot_be_measured_is_reported_and_the_others_still_are() {
    let parent = tempfile::tempdir().unwrap();
    // Nothing listens on port 1, and whether this build has the PostgreSQL backend or not,
    // opening fails: the report says so for postgres alone, without the password.
    let output = run(racestore().args([
        "bench",
        "--laps",
        "10000",
        "--backends",
        "json",
        "--postgres",
        "postgres://bench:s3cret@127.0.0.1:1/none?connect_timeout=2",
        "--json",
        "--dir",
        parent.path().to_str().unwrap(),
    ]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("1 of 2 backends could not be measured: postgres"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    positive(&report, "/backends/json/batch_ingest/laps_per_second");
    let error = report["backends"]["postgres"]["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("postgres"), "{error}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}\n{stderr}"
    );
    assert!(report["ratios"].as_array().unwrap().is_empty());
}
