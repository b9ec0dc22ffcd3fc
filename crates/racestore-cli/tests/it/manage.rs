//! The CLI says what it did: deleting sessions, imports of files already imported, filters that
//! match nothing, values matched whatever their case, a date per file, and Ctrl-C mid-import.
//!
//! The exports here are made up in temporary folders, so these run on a fresh clone too.

use std::path::{Path, PathBuf};

use racestore::RaceStoreExt;
use serde_json::Value;

use crate::common::{fill, json_url, racestore, run, run_fails, run_ok, stderr, stdout};

/// A small GR Cup-like export at `dir/barber/NAME`: cars 13 and 22, three laps each, lap times
/// shifted by `tenths` so that files differ; the race starts at 13:40:41 by the file.
fn made_up(dir: &Path, name: &str, tenths: u32) -> PathBuf {
    let folder = dir.join("barber");
    std::fs::create_dir_all(&folder).unwrap();
    let mut text =
        String::from("NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; ELAPSED; HOUR;CLASS;GROUP;MANUFACTURER\n");
    for (car, base) in [("13", 98), ("22", 99)] {
        let mut elapsed = 0.0;
        for lap in 1..=3 {
            let time = f64::from(base) + f64::from(lap) * 0.5 + f64::from(tenths) / 10.0;
            elapsed += time;
            let hour = 13.0 * 3600.0 + 40.0 * 60.0 + 41.0 + elapsed;
            text.push_str(&format!(
                "{car};1;{lap};{}:{:06.3};{}:{:06.3};{:02}:{:02}:{:06.3};Am;{};Toyota Gazoo Racing\n",
                (time / 60.0) as u32,
                time % 60.0,
                (elapsed / 60.0) as u32,
                elapsed % 60.0,
                (hour / 3600.0) as u32,
                (hour / 60.0) as u32 % 60,
                hour % 60.0,
                if car == "22" { "Legends" } else { "" }
            ));
        }
    }
    let path = folder.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sessions(url: &str) -> Vec<Value> {
    let listed: Value =
        serde_json::from_str(&run_ok(racestore().args(["sessions", "--json", "--store", url]))).unwrap();
    listed.as_array().unwrap().clone()
}

#[test]
fn delete_removes_a_session_and_everything_recorded_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    fill(&url);
    let before = sessions(&url);
    assert_eq!(before.len(), 3);

    // Not a terminal: no question asked.
    let out = run_ok(racestore().args(["delete", "3", "--store", &url]));
    assert!(
        out.starts_with("deleted session 3 (Autódromo Hermanos Rodríguez, qualifying, 2025-10-26): 1 session, 1 driver metric"),
        "{out}"
    );
    assert!(out.contains("3 laps") && out.contains("2 entries"), "{out}");
    let after = sessions(&url);
    assert_eq!(after, before[..2]);
    let store = racestore::open(&url).unwrap();
    assert!(store.get_session_entries(3).unwrap().is_empty());
    assert!(store.get_session_laps(3).unwrap().is_empty());
    store.close().unwrap();

    // An unknown session: an error naming it, and nothing deleted.
    let failed = run_fails(racestore().args(["delete", "3", "--yes", "--store", &url]));
    let err = stderr(&failed);
    assert!(
        err.contains("there is no session 3 in") && err.contains("nothing was deleted"),
        "{err}"
    );
    assert_eq!(sessions(&url), after);
    let help = run_ok(racestore().args(["delete", "--help"]));
    assert!(help.contains("--yes") && help.contains("asks"), "{help}");
}

#[test]
fn a_file_imported_again_is_refused_unless_replace_or_skip_existing() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    let race_1 = made_up(dir.path(), "23_Analysis_Race 1.CSV", 0);
    let race_2 = made_up(dir.path(), "23_Analysis_Race 2.CSV", 3);
    run_ok(
        racestore()
            .args(["import", "alkamel", "--store", &url])
            .arg(&race_1),
    );
    assert_eq!(sessions(&url).len(), 1);

    // Again, with a new file beside it: refused as a whole, naming the session it went to.
    let failed = run_fails(
        racestore()
            .args(["import", "alkamel", "--store", &url])
            .arg(&race_2)
            .arg(&race_1),
    );
    let err = stderr(&failed);
    assert!(
        err.contains(&format!(
            "{}: already imported as session 1 (Barber Motorsports Park, race 1, ",
            race_1.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("--replace") && err.contains("--skip-existing"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(sessions(&url).len(), 1);
    // A different date does not make it another race: the laps are the same.
    run_fails(
        racestore()
            .args(["import", "alkamel", "--date", "2020-01-01", "--store", &url])
            .arg(&race_1),
    );

    // --skip-existing: the new file is imported, the other left as it is.
    let out = run_ok(
        racestore()
            .args(["import", "alkamel", "--skip-existing", "--store", &url])
            .arg(&race_2)
            .arg(&race_1),
    );
    assert!(
        out.contains("already imported as session 1: Barber Motorsports Park, race 1"),
        "{out}"
    );
    assert!(
        out.contains("  session 2: Barber Motorsports Park, race 2"),
        "{out}"
    );
    let ids: Vec<i64> = sessions(&url).iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2]);

    // --replace: imported again as a new session, the old one deleted.
    let out = run_ok(
        racestore()
            .args(["import", "alkamel", "--replace", "--json", "--store", &url])
            .arg(&race_1),
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["files"][0]["outcome"],
        serde_json::json!({"replaced": {"session": 1}})
    );
    assert_eq!(report["files"][0]["session"]["id"], 3);
    let ids: Vec<i64> = sessions(&url).iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [2, 3]);
    let store = racestore::open(&url).unwrap();
    assert_eq!(store.get_session_laps(3).unwrap().len(), 6);
    assert_eq!(store.get_session_entries(3).unwrap().len(), 2);
    assert!(store.get_session_laps(1).unwrap().is_empty());
    store.close().unwrap();

    // The two flags exclude each other.
    let output = run(racestore()
        .args([
            "import",
            "alkamel",
            "--replace",
            "--skip-existing",
            "--store",
            &url,
        ])
        .arg(&race_1));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn filters_that_match_nothing_say_so_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    fill(&url);
    let output = run(racestore().args(["export", "--driver", "nobody", "--store", &url]));
    assert!(output.status.success());
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&output)).unwrap(),
        Value::Array(vec![])
    );
    let err = stderr(&output);
    assert!(
        err.starts_with("note: no lap in ") && err.contains("matches --driver nobody"),
        "{err}"
    );

    let output = run(racestore().args([
        "export",
        "--session",
        "2",
        "--lap-type",
        "red_flag",
        "--format",
        "csv",
        "--store",
        &url,
    ]));
    assert!(output.status.success());
    assert_eq!(stdout(&output).lines().count(), 1, "the header alone");
    assert!(
        stderr(&output).contains("no lap in session 2 of"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("matches --lap-type RED_FLAG"),
        "{}",
        stderr(&output)
    );

    let output = run(racestore().args(["sessions", "--circuit", "Road Atlanta", "--store", &url]));
    assert!(output.status.success());
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(
        err.contains("note: no session's circuit contains \"Road Atlanta\""),
        "{err}"
    );
    let output = run(racestore().args(["sessions", "--json", "--circuit", "Road Atlanta", "--store", &url]));
    assert_eq!(stdout(&output).trim(), "[]");
    assert!(
        stderr(&output).contains("note: no session's circuit"),
        "{}",
        stderr(&output)
    );

    // A filter that matches: nothing on stderr.
    run_ok(racestore().args(["export", "--lap-type", "IN_LAP", "--store", &url]));
}

#[test]
fn lap_types_circuits_formats_and_choices_are_matched_whatever_their_case() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    fill(&url);
    let exact = run_ok(racestore().args(["export", "--lap-type", "IN_LAP", "--store", &url]));
    let lower = run_ok(racestore().args(["export", "--lap-type", "in_lap", "--store", &url]));
    assert_eq!(exact, lower);
    assert!(
        serde_json::from_str::<Value>(&exact)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
            > 1
    );
    let csv = run_ok(racestore().args([
        "export",
        "--format",
        "CSV",
        "--collection",
        "SESSIONS",
        "--store",
        &url,
    ]));
    assert!(csv.starts_with("id,circuit,"), "{csv}");

    // A lap type racestore does not know is refused, naming the ones it knows.
    let failed = run_fails(racestore().args(["export", "--lap-type", "RACELAP", "--store", &url]));
    let err = stderr(&failed);
    assert!(
        err.contains("--lap-type: \"RACELAP\" is not a lap type racestore knows: RACE_LAP, IN_LAP"),
        "{err}"
    );
    assert_eq!(stdout(&failed), "");

    // Circuits: a case-insensitive part of the name.
    let barber: Value = serde_json::from_str(&run_ok(racestore().args([
        "sessions",
        "--json",
        "--circuit",
        "barber",
        "--store",
        &url,
    ])))
    .unwrap();
    assert_eq!(barber.as_array().unwrap().len(), 2);
    let mexico: Value = serde_json::from_str(&run_ok(racestore().args([
        "sessions",
        "--json",
        "--circuit",
        "HERMANOS",
        "--store",
        &url,
    ])))
    .unwrap();
    assert_eq!(mexico[0]["id"], 3);

    let file = made_up(dir.path(), "23_Analysis_Race 1.CSV", 0);
    run_ok(
        racestore()
            .args(["import", "alkamel", "--on-bad-row", "SKIP", "--store", &url])
            .arg(&file),
    );
}

#[test]
fn each_file_can_have_its_own_date_stored_in_one_form() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    let files: Vec<PathBuf> = (0..3)
        .map(|i| made_up(dir.path(), &format!("23_Analysis_Race {}.CSV", i + 1), i))
        .collect();
    // Two dates for three files: refused before anything is read.
    let failed = run_fails(
        racestore()
            .args([
                "import",
                "alkamel",
                "--date",
                "2025-09-06",
                "--date",
                "2025-09-07",
                "--store",
                &url,
            ])
            .args(&files),
    );
    assert!(
        stderr(&failed).contains("3 files and 2 --date values"),
        "{}",
        stderr(&failed)
    );
    // An impossible date: refused, naming it, nothing imported.
    let failed = run_fails(
        racestore()
            .args(["import", "alkamel", "--date", "2025-02-30", "--store", &url])
            .arg(&files[0]),
    );
    let err = stderr(&failed);
    assert!(
        err.contains("\"2025-02-30\" is not one") && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(!dir.path().join("store").exists(), "not even a store was made");

    let report: Value = serde_json::from_str(&run_ok(
        racestore()
            .args([
                "import",
                "alkamel",
                "--json",
                "--date",
                "2025-09-06",
                "--date",
                "2025-09-07 10:00",
                "--date",
                "2025-09-08T10:00:00Z",
                "--store",
                &url,
            ])
            .args(&files),
    ))
    .unwrap();
    let dates: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["session"]["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        [
            "2025-09-06T13:40:41",
            "2025-09-07T10:00:00",
            "2025-09-08T10:00:00+00:00"
        ]
    );
}

#[test]
fn an_interrupted_import_reports_the_files_imported_before_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(&dir.path().join("store"));
    let files: Vec<PathBuf> = (0..3)
        .map(|i| made_up(dir.path(), &format!("23_Analysis_Race {}.CSV", i + 1), i))
        .collect();
    // Ctrl-C arrives once the first file is saved (the process sends itself SIGINT then).
    let failed = run_fails(
        racestore()
            .env("RACESTORE_TEST_INTERRUPT_AFTER_FILES", "1")
            .args(["import", "alkamel", "--store", &url])
            .args(&files),
    );
    let err = stderr(&failed);
    assert!(
        err.contains(&format!("imported: {} as session 1", files[0].display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("not imported: {}", files[1].display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("not imported: {}", files[2].display())),
        "{err}"
    );
    assert!(
        err.contains("interrupted: 1 file of the 3 files imported before it stopped"),
        "{err}"
    );
    assert_eq!(sessions(&url).len(), 1);
    // The rest, imported afterwards with --skip-existing, as the report suggests.
    run_ok(
        racestore()
            .args(["import", "alkamel", "--skip-existing", "--store", &url])
            .args(&files),
    );
    assert_eq!(sessions(&url).len(), 3);
}
