//! Race analysis benchmark: racestore's driver metrics and Monte Carlo simulation beside the
//! original GR Race Guardian's Python code, measured in the same run. `scripts/bench-analysis`
//! runs it in a release build:
//!
//! ```text
//! cargo run --release -p racestore --example bench_analysis -- --python .venv/bin/python
//! ```
//!
//! - Metrics: a generated 40-car × 300-lap session (race laps, pit in- and out-laps, a caution
//!   period, some untimed sectors). racestore computes all 40 drivers' metrics from the laps
//!   (the median of 20 runs); the original computes `analyze_driver_performance` for each
//!   driver from the DataFrame it would see (the DataFrames built beforehand, not timed; the
//!   best of 3 runs).
//! - Simulation: 20 drivers × 30 laps with the original's model. racestore simulates 100,000
//!   races (on every core); the original 2,000 races (`simulate_race_strategy`, one core).
//!   Compared per simulated race.
//!
//! The original's code is run from ../shared/original-python (or `--original DIR`) through
//! `crates/racestore/tests/python/original_analysis.py` with the interpreter given by
//! `--python` (pandas 2.2.0, numpy 1.26.3, scipy 1.12.0 in scripts/requirements-test.txt).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use racestore::analysis::metrics;
use racestore::analysis::simulation::{self, Setup};
use racestore::Lap;
use serde_json::{json, Value};

const CARS: usize = 40;
const LAPS: i64 = 300;
const SIM_DRIVERS: usize = 20;
const SIM_LAPS: i64 = 30;
const OUR_RACES: u64 = 100_000;
const ORIGINAL_RACES: u64 = 2_000;

/// splitmix64: a small generator for the made-up session, so every run measures the same laps.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 40-car × 300-lap race: each car's own pace and trend, noise, a pit stop every 60 laps (in-
/// and out-lap), a full-course yellow on laps 100–103, a sector now and then untimed.
fn session() -> Vec<Lap> {
    let mut rng = SplitMix(2025);
    let mut laps = Vec::with_capacity(CARS * LAPS as usize);
    for car in 0..CARS {
        let pace = 98.0 + car as f64 * 0.05 + rng.next();
        let trend = rng.next() * 0.01 - 0.004;
        for n in 1..=LAPS {
            let (kind, extra) = match n {
                n if n % 60 == 0 => ("IN_LAP", 18.0),
                n if n % 60 == 1 && n > 1 => ("OUT_LAP", 22.0),
                100..=103 => ("FULL_COURSE_YELLOW", 35.0),
                _ => ("RACE_LAP", 0.0),
            };
            let time = pace + trend * n as f64 + rng.next() * 1.2 + extra;
            let untimed = rng.next() < 0.01;
            laps.push(Lap {
                id: laps.len() as i64 + 1,
                session_id: 1,
                driver_id: format!("{}", car + 1),
                lap_number: n,
                lap_time: (time * 1000.0).round() / 1000.0,
                sector_1: Some(time * 0.28),
                sector_2: if untimed { None } else { Some(time * 0.43) },
                sector_3: Some(time * 0.29),
                lap_type: kind.to_owned(),
                position: Some(car as i64 + 1),
                created_at: String::new(),
            });
        }
    }
    laps
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn run_original(python: &Path, original: &Path, request: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/original_analysis.py");
    let mut request = request;
    request["original"] = json!(original);
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let input = serde_json::to_vec(&request).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "the original's code failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn main() {
    let mut python = std::env::var_os("RACESTORE_TEST_PYTHON").map(PathBuf::from);
    let mut original = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/original-python");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--python" => python = args.next().map(PathBuf::from),
            "--original" => original = args.next().map(PathBuf::from).unwrap(),
            other => panic!("unknown argument {other}; expected --python PATH, --original DIR"),
        }
    }
    let python =
        python.expect("give the test environment's interpreter with --python (or RACESTORE_TEST_PYTHON)");

    println!(
        "machine: {} cores; racestore runs on {} threads (rayon), the original on one",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        rayon::current_num_threads()
    );

    // Metrics.
    let laps = session();
    let ours: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let m = metrics::session_metrics(&laps).unwrap();
            let took = started.elapsed();
            assert_eq!(m.len(), CARS);
            took
        })
        .collect();
    let ours_metrics = median(ours).as_secs_f64();

    // Simulation.
    let paces: Vec<(String, f64)> = (0..SIM_DRIVERS)
        .map(|i| (format!("car-{}", i + 1), 97.0 + i as f64 * 0.12))
        .collect();
    let setup = Setup::new(paces.clone(), SIM_LAPS, OUR_RACES, 42);
    let started = Instant::now();
    let results = simulation::simulate(&setup).unwrap();
    let ours_sim = started.elapsed().as_secs_f64();
    assert_eq!(results.iterations, OUR_RACES);

    let request = json!({
        "metrics": [{"key": "metrics", "laps": laps, "repeat": 1}, {"key": "metrics 2", "laps": laps}, {"key": "metrics 3", "laps": laps}],
        "simulations": [{"key": "simulation", "driver_paces": paces, "n_laps": SIM_LAPS, "iterations": ORIGINAL_RACES, "seed": 42}],
    });
    let answer = run_original(&python, &original, request);
    let seconds = |key: &str| answer["seconds"][key].as_f64().unwrap();
    let theirs_metrics = seconds("metrics")
        .min(seconds("metrics 2"))
        .min(seconds("metrics 3"));
    let theirs_sim = seconds("simulation");

    let per_race_ours = ours_sim / OUR_RACES as f64;
    let per_race_theirs = theirs_sim / ORIGINAL_RACES as f64;
    println!();
    println!(
        "metrics of a {CARS}-car x {LAPS}-lap session ({} laps)",
        laps.len()
    );
    println!(
        "  racestore            {:>10.2} ms  (median of 20 runs)",
        ours_metrics * 1e3
    );
    println!(
        "  original (Python)    {:>10.2} ms  (best of 3 runs)",
        theirs_metrics * 1e3
    );
    println!(
        "  ratio                {:>10.0} x faster  (target >= 100 x)",
        theirs_metrics / ours_metrics
    );
    println!();
    println!("Monte Carlo simulation, {SIM_DRIVERS} drivers x {SIM_LAPS} laps, original model");
    println!(
        "  racestore            {:>10.3} s for {OUR_RACES} races = {:>8.2} us per race",
        ours_sim,
        per_race_ours * 1e6
    );
    println!(
        "  original (Python)    {:>10.3} s for {ORIGINAL_RACES} races   = {:>8.2} us per race",
        theirs_sim,
        per_race_theirs * 1e6
    );
    println!(
        "  ratio                {:>10.0} x faster per race  (target >= 200 x)",
        per_race_theirs / per_race_ours
    );
    let win = |d: &str| results.win_probability(d).unwrap();
    let theirs_win = answer["simulations"]["simulation"]["car-1"]["win"]
        .as_f64()
        .unwrap();
    println!(
        "  car-1 wins {:.1} % of racestore's races and {:.1} % of the original's",
        win("car-1") * 100.0,
        theirs_win * 100.0
    );
}
