//! `racestore import ergast`, run as a user runs it, checked through the library.

use std::path::PathBuf;

use racestore::RaceStoreExt;
use serde_json::Value;

use crate::common::{json_url, racestore, run_fails, run_ok, shared_dir, stderr, stdout};

/// `shared/data/ergast-f1-2020-2024`, or `None` after a SKIP line (a failure when `CI` is set).
fn ergast_dir(test: &str) -> Option<PathBuf> {
    Some(shared_dir(test)?.join("data/ergast-f1-2020-2024"))
}

#[test]
fn a_season_imports_as_one_session_per_race_with_a_line_each() {
    let test = "a_season_imports_as_one_session_per_race_with_a_line_each";
    let Some(dir) = ergast_dir(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let url = json_url(&temp.path().join("storage"));
    let out = run_ok(
        racestore()
            .args([
                "import", "ergast", "--season", "2021", "--race", "1031", "--store", &url,
            ])
            .arg(&dir),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 22 + 3, "{out}");
    // The 2020 Austrian Grand Prix: 1,140 rows of lap_times.csv, 38 of pit_stops.csv.
    assert_eq!(
        lines[0],
        "race 1031 (2020 round 1, Austrian Grand Prix): session 1, Austrian Grand Prix, 2020-07-05T00:00:00: 1140 laps, 20 drivers, 38 pit stops marked"
    );
    assert!(
        lines[1].starts_with("race 1052 (2021 round 1, Bahrain Grand Prix): session 2, "),
        "{out}"
    );
    assert_eq!(lines[23], format!("not in {}: circuits.csv", dir.display()));
    let store = racestore::open(&url).unwrap();
    let laps = store.counts().unwrap().laps();
    assert_eq!(
        lines[24],
        format!(
            "total: {laps} laps imported from 23 races, 0 races without lap times not stored, into {url}"
        )
    );
    assert_eq!(store.get_all_sessions().unwrap().len(), 23);
    store.close().unwrap();

    // Again: refused, naming the race stored already; with --skip-existing, nothing to do.
    let again = || {
        let mut command = racestore();
        command
            .args([
                "import", "ergast", "--season", "2021", "--race", "1031", "--store", &url,
            ])
            .arg(&dir);
        command
    };
    let output = run_fails(&mut again());
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}: race 1031 (2020 Austrian Grand Prix) is in the store already as session 1, and 22 more races; nothing was imported (leave the races stored already as they are with --skip-existing, or store them again with --replace)\n",
            dir.display()
        )
    );
    let out = run_ok(again().arg("--skip-existing"));
    assert_eq!(
        out.lines().collect::<Vec<_>>()[..2],
        [
            "23 races in the store already, left as they were: race 1031 was session 1, ...",
            &format!("not in {}: circuits.csv", dir.display()),
        ]
    );
    let store = racestore::open(&url).unwrap();
    assert_eq!(store.get_all_sessions().unwrap().len(), 23);
}

#[test]
fn json_output_reports_every_race_and_errors_name_file_line_and_column() {
    let temp = tempfile::tempdir().unwrap();
    let tables = temp.path().join("tables");
    std::fs::create_dir(&tables).unwrap();
    let write = |name: &str, text: &str| std::fs::write(tables.join(name), text).unwrap();
    write("races.csv", "raceId,year,round,circuitId,name,date\n5,2001,1,1,\"A GP\",\"2001-03-04\"\n6,2001,2,1,\"B GP\",\"2001-03-18\"\n");
    write(
        "drivers.csv",
        "driverId,driverRef,forename,surname\n1,\"senna\",\"Ayrton\",\"Senna\"\n",
    );
    write(
        "lap_times.csv",
        "raceId,driverId,lap,position,milliseconds\n5,1,1,1,80000\n5,1,2,1,79500\n",
    );
    let url = json_url(&temp.path().join("storage"));
    let out = run_ok(
        racestore()
            .args(["import", "ergast", "--json", "--store", &url])
            .arg(&tables),
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    let report = &value["report"];
    assert_eq!(report["imported"][0]["race_id"], 5);
    assert_eq!(report["imported"][0]["laps"], 2);
    assert_eq!(report["imported"][0]["session"]["circuit"], "A GP");
    assert_eq!(report["races_without_laps"][0]["race_id"], 6);

    write(
        "lap_times.csv",
        "raceId,driverId,lap,position,milliseconds\n6,1,1,1,80000\n6,1,2,1,1:19.5\n",
    );
    let output = run_fails(
        racestore()
            .args(["import", "ergast", "--store", &url])
            .arg(&tables),
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}/lap_times.csv line 3: column milliseconds: expected a whole number, got \"1:19.5\"; nothing was imported\n",
            tables.display()
        )
    );
    let store = racestore::open(&url).unwrap();
    assert_eq!(
        store.get_all_sessions().unwrap().len(),
        1,
        "the first import only"
    );
}
