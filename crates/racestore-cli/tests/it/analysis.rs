//! `racestore analyze` and `racestore simulate`, run as a user runs them, compared with what the
//! library computes and stores.

use crate::common::{json_url, racestore, run, run_fails, run_ok, stderr, stdout};
use racestore::analysis::metrics;
use racestore::{NewLap, NewSession, RaceStoreExt, Sectors};
use serde_json::Value;

/// A JSON store with one 15-lap race of four drivers (pit laps, a caution lap, a sector never
/// timed for one driver) and one session without laps; returns the store's URL.
fn race_store(dir: &std::path::Path) -> String {
    let url = json_url(&dir.join("storage"));
    let store = racestore::open(&url).unwrap();
    let race = store
        .create_session(
            &NewSession::new("Barber Motorsports Park")
                .date("2025-09-06")
                .race_type("race 1"),
        )
        .unwrap();
    store
        .create_session(&NewSession::new("Circuit of the Americas").date("2025-04-27"))
        .unwrap();
    let mut laps = Vec::new();
    for (d, driver) in ["13", "22", "7", "88"].iter().enumerate() {
        for n in 1..=15i64 {
            let time =
                98.0 + d as f64 * 0.3 + ((n * 37 + d as i64 * 11) % 17) as f64 / 20.0 + n as f64 * 0.01;
            let kind = match (d, n) {
                (1, 8) => "IN_LAP",
                (1, 9) => "OUT_LAP",
                (_, 5) => "FULL_COURSE_YELLOW",
                _ => "RACE_LAP",
            };
            let s3 = if *driver == "88" { None } else { Some(time * 0.3) };
            laps.push(
                NewLap::new(race, *driver, n, time)
                    .sectors(Sectors {
                        s1: Some(time * 0.27),
                        s2: Some(time * 0.43),
                        s3,
                    })
                    .lap_type(kind)
                    .position(d as i64 + 1),
            );
        }
    }
    store.save_laps(&laps).unwrap();
    store.close().unwrap();
    url
}

#[test]
fn analyze_prints_every_driver_and_json_gives_the_originals_keys_and_the_librarys_values() {
    let dir = tempfile::tempdir().unwrap();
    let url = race_store(dir.path());
    let text = run_ok(racestore().args(["analyze", "1", "--store", &url]));
    assert!(
        text.starts_with("session 1: driver metrics of 4 drivers"),
        "{text}"
    );
    for driver in ["13", "22", "7", "88"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{driver} "))),
            "{driver}: {text}"
        );
    }

    let printed: Value = serde_json::from_str(&run_ok(
        racestore().args(["analyze", "1", "--json", "--store", &url]),
    ))
    .unwrap();
    let drivers = printed["drivers"].as_object().unwrap();
    assert_eq!(drivers.len(), 4);
    let store = racestore::open(&url).unwrap();
    let expected = metrics::session_metrics(&store.get_session_laps(1).unwrap()).unwrap();
    store.close().unwrap();
    for (driver, m) in &expected {
        assert_eq!(drivers[driver], serde_json::to_value(m).unwrap(), "{driver}");
        let keys: Vec<&str> = drivers[driver]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "consistency_index",
                "aggression_score",
                "pace_stability",
                "fatigue_dropoff",
                "sector_strength"
            ]
        );
    }
    // A sector never timed is NaN in the original, null in JSON; the significance a boolean.
    assert!(drivers["88"]["sector_strength"]["sector_means"]["S3"].is_null());
    assert!(drivers["13"]["fatigue_dropoff"]["significant"].is_boolean());
    assert!(printed.get("saved_ids").is_none());
}

#[test]
fn analyze_save_stores_the_metrics_in_the_originals_record_shape() {
    let dir = tempfile::tempdir().unwrap();
    let url = race_store(dir.path());
    let printed: Value = serde_json::from_str(&run_ok(
        racestore().args(["analyze", "1", "--json", "--save", "--store", &url]),
    ))
    .unwrap();
    assert_eq!(printed["saved_ids"], serde_json::json!([1, 2, 3, 4]));
    let store = racestore::open(&url).unwrap();
    let saved = store.get_session_metrics(1).unwrap();
    store.close().unwrap();
    assert_eq!(saved.len(), 4);
    for record in saved {
        let m = &printed["drivers"][&record.driver_id];
        assert_eq!(record.session_id, 1);
        assert_eq!(
            Some(record.consistency_index.unwrap()),
            m["consistency_index"].as_f64()
        );
        // Only the aggression score's number is kept, as the original's save_driver_metrics did.
        assert_eq!(
            record.aggression_score,
            m["aggression_score"]["aggression_score"].as_f64()
        );
        assert_eq!(record.pace_stability, m["pace_stability"]);
        assert_eq!(record.fatigue_dropoff, m["fatigue_dropoff"]);
        assert_eq!(record.sector_strength, m["sector_strength"]);
    }
    let text = run_ok(racestore().args(["analyze", "1", "--save", "--store", &url]));
    assert!(
        text.contains("saved 4 driver metrics records into session 1 (ids 5-8)"),
        "{text}"
    );
}

#[test]
fn simulate_json_gives_paces_and_per_driver_win_positions_and_expected_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = race_store(dir.path());
    let args = [
        "simulate",
        "1",
        "--iterations",
        "3000",
        "--seed",
        "9",
        "--json",
        "--store",
        &url,
    ];
    let printed: Value = serde_json::from_str(&run_ok(racestore().args(args))).unwrap();
    assert_eq!(printed["model"], "original");
    assert_eq!(
        (
            printed["n_laps"].as_i64(),
            printed["iterations"].as_u64(),
            printed["seed"].as_u64()
        ),
        (Some(15), Some(3000), Some(9))
    );
    let paces = printed["driver_paces"].as_object().unwrap();
    assert_eq!(paces.len(), 4);
    let drivers = printed["drivers"].as_array().unwrap();
    let mut wins = 0.0;
    for d in drivers {
        let positions: Vec<f64> = d["position_distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert_eq!(positions.len(), 4);
        assert!((positions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(d["win_probability"].as_f64(), Some(positions[0]));
        assert!(d["expected_finishing_time"].as_f64().unwrap() > 15.0 * 98.0);
        assert_eq!(d["pace"], paces[d["driver_id"].as_str().unwrap()]);
        wins += positions[0];
    }
    assert!((wins - 1.0).abs() < 1e-9);
    // The fastest pace wins most often.
    let fastest = paces
        .iter()
        .min_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
        .unwrap()
        .0;
    let best = drivers
        .iter()
        .max_by(|a, b| {
            a["win_probability"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["win_probability"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(best["driver_id"].as_str(), Some(fastest.as_str()));

    // The same seed prints the same; another seed does not.
    assert_eq!(
        serde_json::from_str::<Value>(&run_ok(racestore().args(args))).unwrap(),
        printed
    );
    let other: Value = serde_json::from_str(&run_ok(racestore().args([
        "simulate",
        "1",
        "--iterations",
        "3000",
        "--seed",
        "10",
        "--json",
        "--store",
        &url,
    ])))
    .unwrap();
    assert_ne!(other["drivers"], printed["drivers"]);
}

#[test]
fn simulate_save_stores_the_simulation_as_the_original_did_and_names_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let url = race_store(dir.path());
    let text = run_ok(racestore().args([
        "simulate",
        "1",
        "--iterations",
        "500",
        "--laps",
        "10",
        "--model",
        "fitted",
        "--save",
        "--store",
        &url,
    ]));
    assert!(
        text.contains("500 simulated races of 10 laps, model fitted, seed 42"),
        "{text}"
    );
    assert!(text.contains("saved simulation 1 into session 1"), "{text}");
    assert!(text.contains("fitted: fuel effect"), "{text}");
    let store = racestore::open(&url).unwrap();
    let saved = store.get_session_simulations(1).unwrap();
    store.close().unwrap();
    assert_eq!(saved.len(), 1);
    let sim = &saved[0];
    assert_eq!((sim.n_laps, sim.iterations), (10, 500));
    assert_eq!(sim.driver_paces.as_object().unwrap().len(), 4);
    let keys: Vec<&str> = sim
        .results
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "iterations",
            "average_times",
            "position_probabilities",
            "most_likely_positions",
            "simulations",
            "model",
            "seed",
            "n_laps",
            "win_probability",
            "expected_finishing_time",
            "fitted"
        ]
    );
    assert_eq!(sim.results["model"], "fitted");
    assert_eq!(sim.results["simulations"].as_array().unwrap().len(), 10);
    assert!(sim.results["position_probabilities"]["13"]["1"].is_f64());
}

#[test]
fn what_cannot_be_computed_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = race_store(dir.path());
    let cases: &[(&[&str], &str)] = &[
        (&["analyze", "9"], "there is no session 9 in"),
        (
            &["simulate", "9", "--iterations", "10"],
            "there is no session 9 in",
        ),
        (&["analyze", "2"], "session 2 has no laps to analyse"),
        (
            &["simulate", "2", "--iterations", "10"],
            "session 2 has no laps to analyse",
        ),
        (
            &["simulate", "1", "--iterations", "0"],
            "invalid iterations: must be 1 or more, got 0",
        ),
        (
            &["simulate", "1", "--iterations", "10", "--laps", "0"],
            "invalid n_laps: must be 1 or more laps, got 0",
        ),
        (
            &["simulate", "1", "--iterations", "10", "--laps", "-4"],
            "invalid n_laps: must be 1 or more laps, got -4",
        ),
    ];
    for (args, message) in cases {
        let output = run_fails(racestore().args(*args).args(["--store", &url]));
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
        assert_eq!(stdout(&output), "", "{args:?}");
    }
    // Nothing was stored by the failed commands.
    let store = racestore::open(&url).unwrap();
    assert_eq!(
        (
            store.get_session_metrics(1).unwrap().len(),
            store.get_session_simulations(1).unwrap().len()
        ),
        (0, 0)
    );
    store.close().unwrap();

    // A lap time so large that the model's lap times overflow: refused, naming the driver.
    let store = racestore::open(&url).unwrap();
    let s = store
        .create_session(&NewSession::new("Nowhere").race_type("qualifying"))
        .unwrap();
    store
        .save_laps(&[
            NewLap::new(s, "huge", 1, 1e308).lap_type("RACE_LAP"),
            NewLap::new(s, "huge", 2, 1e308).lap_type("RACE_LAP"),
        ])
        .unwrap();
    store.close().unwrap();
    let output = run_fails(racestore().args([
        "simulate",
        &s.to_string(),
        "--iterations",
        "10",
        "--laps",
        "30",
        "--store",
        &url,
    ]));
    assert!(
        stderr(&output).contains(
            "invalid driver_paces.huge: the original model gives a lap time of inf s on lap 11 of a stint"
        ),
        "{}",
        stderr(&output)
    );

    // An unknown model is refused before anything runs.
    let output = run(racestore().args([
        "simulate",
        "1",
        "--iterations",
        "10",
        "--model",
        "magic",
        "--store",
        &url,
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("expected original or fitted"),
        "{}",
        stderr(&output)
    );
}
