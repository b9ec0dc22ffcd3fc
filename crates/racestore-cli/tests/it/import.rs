//! `racestore import alkamel`, run as a user runs it, checked through the library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use racestore::RaceStoreExt;
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

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout, and checks that stderr (not a
/// terminal here) got no progress bar or anything else.
fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(
        crate::common::stderr_besides_creation(command, &output),
        "",
        "piped, the import prints nothing on stderr (but that it created the store)"
    );
    stdout(&output)
}

/// `shared/data` beside the repository, or `None` after printing a visible SKIP line; with `CI`
/// set, its absence fails the test instead. (As the library's `tests/common::shared_dir` does.)
fn data_dir(test: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("RACESTORE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let data = shared.join("data");
    if data.join("grcup-aeropulse").is_dir() {
        return Some(data);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is missing, and CI must not skip this test",
        data.display()
    );
    eprintln!(
        "SKIP {test}: {} not found (a fresh clone has no shared/ folder)",
        data.display()
    );
    None
}

const BARBER_R1: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";
const BARBER_R2: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 2_Anonymized.CSV";
const COTA_R1: &str = "grcup-aeropulse/COTA/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";

#[test]
fn importing_both_barber_races_makes_two_sessions_with_every_lap() {
    let Some(data) = data_dir("importing_both_barber_races_makes_two_sessions_with_every_lap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("json:{}", dir.path().join("store").display());
    let out = run_ok(
        racestore()
            .args([
                "import",
                "alkamel",
                "--json",
                "--date",
                "2025-09-06",
                "--store",
                &url,
            ])
            .arg(data.join(BARBER_R1))
            .arg(data.join(BARBER_R2)),
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["imported"], true);
    assert_eq!(report["total"]["laps_imported"], 579 + 602);
    assert_eq!(report["total"]["skipped"], 0);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for (file, (id, race_type, laps)) in files.iter().zip([(1, "race 1", 579), (2, "race 2", 602)]) {
        assert_eq!(file["session"]["id"], id);
        assert_eq!(file["session"]["circuit"], "Barber Motorsports Park");
        assert_eq!(file["session"]["race_type"], race_type);
        assert_eq!(file["date_source"], "options");
        assert_eq!(file["laps_imported"], laps);
        assert_eq!(file["drivers"], 22);
        assert_eq!(file["problems"], Value::Array(vec![]));
    }
    // Race 1 started at 13:40:41 local time, by the file.
    assert_eq!(files[0]["session"]["date"], "2025-09-06T13:40:41");

    let store = racestore::open(&url).unwrap();
    assert_eq!(store.counts().unwrap().laps(), 579 + 602);
    let laps = store.get_session_laps(1).unwrap();
    let winner_last = laps
        .iter()
        .find(|l| l.driver_id == "13" && l.lap_number == 27)
        .unwrap();
    assert_eq!(winner_last.position, Some(1));
    store.close().unwrap();
}

/// COTA race 1 with the lap times of lines 2, 3 and 40 made unreadable, in `dir`/COTA/Race 1.
fn damaged_cota(data: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(data.join(COTA_R1)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for line in [2, 3, 40] {
        let mut cells: Vec<&str> = lines[line - 1].split(';').collect();
        cells[3] = "1:4x.000";
        lines[line - 1] = cells.join(";");
    }
    let path = dir.join("COTA/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_damaged_file_aborts_by_default_naming_file_and_line_and_imports_the_rest_when_told_to_skip() {
    let test = "a_damaged_file_aborts_by_default_naming_file_and_line_and_imports_the_rest_when_told_to_skip";
    let Some(data) = data_dir(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let url = format!("json:{}", store_dir.display());
    let damaged = damaged_cota(&data, dir.path());

    // Barber is fine, the damaged COTA is not: nothing at all is imported, not even Barber.
    let output = run(racestore()
        .args(["import", "alkamel", "--store", &url])
        .arg(data.join(BARBER_R1))
        .arg(&damaged));
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "{}: 3 of 486 rows cannot be trusted:",
            damaged.display()
        )),
        "{err}"
    );
    assert!(err.contains("3 unreadable value: lines 2, 3, 40"), "{err}");
    assert!(
        err.contains(
            r#"line 2: LAP_TIME: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "1:4x.000""#
        ),
        "{err}"
    );
    assert!(
        err.contains("error: 3 rows in 1 of the 2 files cannot be trusted, so nothing was imported; import the other rows with --on-bad-row skip"),
        "{err}"
    );
    assert!(
        !store_dir.exists(),
        "an aborted import does not even create the store"
    );

    // The same with --json: the problems on stdout for scripts, the error on stderr.
    let output = run(racestore()
        .args(["import", "alkamel", "--json", "--store", &url])
        .arg(&damaged));
    assert!(!output.status.success());
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["imported"], false);
    assert_eq!(report["files"][0]["session"], Value::Null);
    assert_eq!(report["files"][0]["problems_by_reason"]["bad_value"], 3);
    assert_eq!(report["files"][0]["problems"][0]["line"], 2);
    assert!(stderr(&output).contains("nothing was imported"));

    // Skipping: the text report says what was skipped and why.
    let out = run_ok(
        racestore()
            .args(["import", "alkamel", "--on-bad-row", "skip", "--store", &url])
            .arg(&damaged),
    );
    assert!(
        out.contains("session 1: Circuit of the Americas, race 1, "),
        "{out}"
    );
    assert!(
        out.contains("483 laps imported (31 drivers), 3 rows skipped:"),
        "{out}"
    );
    assert!(out.contains("3 unreadable value: lines 2, 3, 40"), "{out}");
    assert!(
        out.contains("(dated now: the file holds no date; give one with --date)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "total: 483 laps imported from 1 file, 3 rows skipped, into {url}"
        )),
        "{out}"
    );
    let store = racestore::open(&url).unwrap();
    assert_eq!(store.counts().unwrap().laps(), 483);
    // Both cars numbered 3 are there, apart.
    let laps = store.get_session_laps(1).unwrap();
    assert!(laps.iter().any(|l| l.driver_id == "3") && laps.iter().any(|l| l.driver_id == "3-Legends"));
    store.close().unwrap();
}

/// A made-up GR Cup export with `rows` (NUMBER;LAP_NUMBER;LAP_TIME;ELAPSED) under `folder`.
fn made_up_export(dir: &Path, folder: &str, rows: &[&str]) -> PathBuf {
    let path = dir
        .join(folder)
        .join("23_AnalysisEnduranceWithSections_Race 1.CSV");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = String::from("NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; ELAPSED;FLAG_AT_FL\n");
    for row in rows {
        let [number, lap, time, elapsed] = row.split(';').collect::<Vec<_>>()[..] else {
            panic!("{row}");
        };
        text.push_str(&format!("{number};1;{lap};{time};{elapsed};GF\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_garbage_time_aborts_with_file_and_line_and_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("races.db").display());
    let good = made_up_export(
        dir.path(),
        "barber",
        &["13;1;1:42.284;1:42.284", "22;1;1:43.019;1:43.019"],
    );
    run_ok(
        racestore()
            .args(["import", "alkamel", "--store", &url])
            .arg(&good),
    );
    let bad = made_up_export(
        dir.path(),
        "sebring",
        &["13;1;1:42.284;1:42.284", "22;1;1:4x.019;1:43.019"],
    );

    let before = racestore::open(&url).unwrap();
    let (counts, sessions) = (before.counts().unwrap(), before.get_all_sessions().unwrap());
    let laps = before.get_laps(&racestore::LapQuery::all()).unwrap();
    before.close().unwrap();

    let output = run(racestore().args(["import", "alkamel", "--store", &url]).arg(&bad));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains(&format!("{}: 1 of 2 rows cannot be trusted:", bad.display())),
        "{err}"
    );
    assert!(
        err.contains(
            r#"line 3: LAP_TIME: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "1:4x.019""#
        ),
        "{err}"
    );
    assert!(
        err.contains("error: 1 row in the file cannot be trusted, so nothing was imported"),
        "{err}"
    );

    let after = racestore::open(&url).unwrap();
    assert_eq!(after.counts().unwrap(), counts);
    assert_eq!(after.get_all_sessions().unwrap(), sessions);
    assert_eq!(after.get_laps(&racestore::LapQuery::all()).unwrap(), laps);
    after.close().unwrap();
}

#[test]
fn files_that_cannot_be_imported_at_all_say_why_and_import_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let url = format!("json:{}", store_dir.display());
    let good = made_up_export(dir.path(), "barber", &["13;1;1:42.284;1:42.284"]);

    let cases: [(Vec<String>, PathBuf, String); 4] = [
        (vec![], dir.path().join("missing.CSV"), "reading".to_owned()),
        (
            vec!["--date".into(), "06/09/2025".into()],
            good.clone(),
            format!("{}: invalid date: expected a date like 2025-09-06, a date and time like 2025-09-06T14:00:00", good.display()),
        ),
        (
            vec![],
            made_up_export(dir.path(), "somewhere", &["13;1;1:42.284;1:42.284"]),
            "names no circuit known to the importer in its name or folders; give the circuit's name (--circuit NAME)"
                .to_owned(),
        ),
        (vec![], {
            let results = dir.path().join("barber/03_Results.CSV");
            std::fs::write(&results, "POSITION;NUMBER;STATUS\n1;13;Classified\n").unwrap();
            results
        }, "03_Results.CSV line 1: has no LAP_NUMBER column, so it is not an Al Kamel lap analysis export".to_owned()),
    ];
    for (options, file, message) in cases {
        let output = run(racestore()
            .args(["import", "alkamel", "--store", &url])
            .args(&options)
            .arg(&good)
            .arg(&file));
        assert!(!output.status.success(), "{file:?}");
        let err = stderr(&output);
        assert!(err.contains(&message), "{err}");
        assert!(err.trim_end().ends_with("nothing was imported"), "{err}");
        assert!(!store_dir.exists(), "{file:?}: the store was touched");
    }
}

#[test]
fn the_help_explains_conventions_and_choices() {
    let help = run_ok(racestore().args(["import", "alkamel", "--help"]));
    for part in [
        "--on-bad-row <WHAT>",
        "[default: abort]",
        "007-2",
        "IN_LAP",
        "running order",
        "--circuit <NAME>",
        "--date <DATE>",
        "--json",
    ] {
        assert!(help.contains(part), "{part} missing from:\n{help}");
    }
    let top = run_ok(racestore().arg("--help"));
    assert!(top.contains("import"), "{top}");
}
