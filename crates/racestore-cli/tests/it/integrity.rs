//! Integrity through the command line: reading commands open read-only and never create a
//! store, a mistyped path is an error, a damaged store is refused naming the file, and
//! `check --repair` is all or nothing, naming the flag for what gives records up.

use std::path::Path;

use crate::common::{
    created_line, fill, json_url, racestore, run, run_fails, run_ok, sqlite_url, stderr, stdout,
};

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn reading_commands_on_a_missing_store_fail_naming_it_and_create_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let backup = temp.path().join("backup").display().to_string();
    for (url, path) in [
        (
            json_url(&temp.path().join("storage")),
            temp.path().join("storage"),
        ),
        (
            sqlite_url(&temp.path().join("race.db")),
            temp.path().join("race.db"),
        ),
    ] {
        for args in [
            vec!["sessions"],
            vec!["show", "1"],
            vec!["export"],
            vec!["backup", "--to", &backup],
        ] {
            let output = run_fails(racestore().args(&args).args(["--store", &url]));
            let err = stderr(&output);
            assert!(err.contains(&path.display().to_string()), "{args:?} {url}: {err}");
            // Once: the operating system's words are not repeated.
            assert_eq!(
                err.matches("there is no store here").count(),
                1,
                "{args:?} {url}: {err}"
            );
        }
    }
    assert!(names(temp.path()).is_empty(), "{:?}", names(temp.path()));
}

#[test]
fn a_writing_command_does_not_create_a_store_in_a_folder_that_does_not_exist() {
    let temp = tempfile::tempdir().unwrap();
    for url in [
        json_url(&temp.path().join("typo").join("storage")),
        sqlite_url(&temp.path().join("typo").join("race.db")),
    ] {
        let output = run_fails(racestore().args(["demo", "--store", &url]));
        assert!(stderr(&output).contains("typo"), "{}", stderr(&output));
    }
    assert!(names(temp.path()).is_empty());
}

#[test]
fn a_store_that_lost_a_data_file_is_refused_by_every_command_naming_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let url = json_url(&dir);
    fill(&url);
    std::fs::remove_file(dir.join("lap_data.json")).unwrap();
    for args in [vec!["sessions"], vec!["demo"], vec!["export"]] {
        let output = run_fails(racestore().args(&args).args(["--store", &url]));
        let err = stderr(&output);
        assert!(
            err.contains("lap_data.json") && err.contains("--recreate-missing"),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.join("lap_data.json").exists());
    let output = run_fails(racestore().args(["check", "--store", &url]));
    assert!(stdout(&output).contains("lap_data.json"), "{}", stdout(&output));
    run_ok(racestore().args(["check", "--repair", "--recreate-missing", "--store", &url]));
    run_ok(racestore().args(["sessions", "--store", &url]));
}

#[test]
fn check_repair_changes_nothing_until_every_problem_can_be_repaired_and_names_the_flag() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let url = json_url(&dir);
    fill(&url);
    // A lap moved to a session that does not exist, and a torn tail in the predictions.
    let laps = dir.join("lap_data.json");
    let text = std::fs::read_to_string(&laps).unwrap().replacen(
        "\"id\": 7,\n    \"session_id\": 1,",
        "\"id\": 7,\n    \"session_id\": 42,",
        1,
    );
    std::fs::write(&laps, text).unwrap();
    let predictions = dir.join("predictions.json");
    let bytes = std::fs::read(&predictions).unwrap();
    std::fs::write(&predictions, &bytes[..bytes.len() - 20]).unwrap();
    let before: Vec<Vec<u8>> = [&laps, &predictions]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let output = run_fails(racestore().args(["check", "--repair", "--store", &url]));
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(
        out.contains("problem (repairable with --drop-orphans, giving records up): lap_data id 7"),
        "{out}"
    );
    assert!(
        out.contains("note: nothing was repaired (all or nothing)"),
        "{out}"
    );
    assert!(
        err.contains("racestore check --repair --drop-orphans --store"),
        "{err}"
    );
    let after: Vec<Vec<u8>> = [&laps, &predictions]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        after == before,
        "the torn tail was cut although the repair could not be complete"
    );

    let out = run_ok(racestore().args(["check", "--repair", "--drop-orphans", "--store", &url]));
    assert!(
        out.contains("dropped 1 record whose session does not exist (--drop-orphans): 1 lap"),
        "{out}"
    );
    assert!(out.contains("torn tail"), "{out}");
    assert!(out.contains("no problems: the store is sound"), "{out}");
}

#[test]
fn migrate_checks_the_whole_source_for_nul_characters_before_writing_anything() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("storage");
    let url = json_url(&dir);
    fill(&url);
    // A NUL character in the last lap's driver, as another program could have written it.
    let laps = dir.join("lap_data.json");
    let text = std::fs::read_to_string(&laps).unwrap();
    let at = text.rfind("\"driver_id\": \"").unwrap() + "\"driver_id\": \"".len();
    std::fs::write(&laps, format!("{}\\u0000{}", &text[..at], &text[at..])).unwrap();
    let db = temp.path().join("copy.db");
    let target = sqlite_url(&db);
    let output = run_fails(racestore().args(["migrate", "--from", &url, "--to", &target]));
    let err = stderr(&output);
    assert!(err.contains("driver_id") && err.contains("NUL"), "{err}");
    assert!(err.contains("lap_data id"), "{err}");
    let copy = racestore::open(&format!("{target}?mode=ro")).map(|s| s.counts().unwrap().total());
    assert!(matches!(copy, Ok(0) | Err(_)), "nothing was written: {copy:?}");
    // check flags the value.
    let output = run_fails(racestore().args(["check", "--store", &url]));
    assert!(stdout(&output).contains("NUL character"), "{}", stdout(&output));
}

#[test]
fn an_unrelated_sqlite_database_is_refused_by_every_command_and_left_unchanged() {
    let test = "an_unrelated_sqlite_database_is_refused_by_every_command_and_left_unchanged";
    let temp = tempfile::tempdir().unwrap();
    let db = temp.path().join("notes.db");
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes (id integer primary key, text text)'); c.execute(\"insert into notes (text) values ('keep me')\"); c.commit()",
        ])
        .arg(&db)
        .status();
    let Ok(made) = made else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: python3 is not on PATH (used to make a SQLite database of something else); CI must not skip this test"
        );
        eprintln!("SKIP {test}: python3 is not on PATH");
        return;
    };
    assert!(made.success());
    let before = std::fs::read(&db).unwrap();
    let url = sqlite_url(&db);
    for args in [vec!["sessions"], vec!["export"], vec!["demo"]] {
        let output = run_fails(racestore().args(&args).args(["--store", &url]));
        let err = stderr(&output);
        assert!(err.contains("holds other tables (notes)"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "no table was added");
}

/// Starts `racestore serve` on the store `url`, waits for its address line, stops it and gives
/// what it wrote on stderr.
#[cfg(feature = "server")]
fn serve_stderr(url: &str) -> String {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = racestore()
        .args(["--store", url, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("racestore serve starts");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(20));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let line = line.expect("racestore serve printed its address within 20 s");
    assert!(line.contains("http://"), "{line:?} {}", stderr(&output));
    stderr(&output)
}

#[test]
fn a_writing_command_says_when_it_created_the_store_and_only_then() {
    let temp = tempfile::tempdir().unwrap();
    let csv = temp.path().join("laps.csv");
    std::fs::write(
        &csv,
        "Driver,Lap,Time\nGR86-002-7,1,91.482\nGR86-002-7,2,1:30.9\n",
    )
    .unwrap();
    let bad = temp.path().join("bad.csv");
    std::fs::write(&bad, "Driver,Lap,Time\nGR86-002-7,1,fast\n").unwrap();
    let import = |url: &str, file: &Path| {
        let mut command = racestore();
        command
            .args(["import", "csv", "--circuit", "Barber", "--date", "2025-09-06"])
            .args(["--map", "driver_id=Driver,lap_number=Lap,lap_time=Time"])
            .args(["--store", url])
            .arg(file);
        command
    };
    // A 0-byte file is no store yet: the first write makes it one, and says so.
    let empty = temp.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let stores = [
        (
            "JSON",
            json_url(&temp.path().join("storage")),
            temp.path().join("storage"),
        ),
        (
            "SQLite",
            sqlite_url(&temp.path().join("race.db")),
            temp.path().join("race.db"),
        ),
        // A plain path: named in the message as the URL it was read as.
        (
            "SQLite",
            temp.path().join("plain.db").display().to_string(),
            temp.path().join("plain.db"),
        ),
        ("SQLite", sqlite_url(&empty), empty.clone()),
    ];
    for (kind, url, path) in &stores {
        let location = racestore::StoreUrl::parse(url).unwrap().location.to_string();
        let made = created_line(kind, &location);
        let existed = path.exists();
        // Commands that need a session, and an import of a file that cannot be read, make no
        // store and say none was made.
        for args in [
            vec!["analyze", "1", "--save"],
            vec!["simulate", "1", "--save", "--iterations", "50"],
            vec!["delete", "1"],
        ] {
            let output = run_fails(racestore().args(&args).args(["--store", url]));
            let err = stderr(&output);
            assert!(!err.contains("created a new"), "{args:?} {url}: {err}");
            if !existed {
                assert!(err.contains(&path.display().to_string()), "{args:?} {url}: {err}");
            }
        }
        let output = run_fails(&mut import(url, &bad));
        assert!(
            !stderr(&output).contains("created a new"),
            "{url}: {}",
            stderr(&output)
        );
        assert_eq!(path.exists(), existed, "{url}: a failed command made no store");
        if *kind == "SQLite" && existed {
            assert_eq!(std::fs::metadata(path).unwrap().len(), 0, "{url}");
        }

        // The first write makes the store and says so, in one line naming it.
        let output = run(&mut import(url, &csv));
        assert!(output.status.success(), "{url}: {}", stderr(&output));
        assert_eq!(stderr(&output), made, "{url}");
        assert!(made.contains(&path.display().to_string()), "{made}");

        // Once it exists nothing is said, by any writing command.
        for args in [
            vec!["demo", "--drivers", "3", "--laps", "4"],
            vec!["analyze", "1", "--save"],
            vec!["simulate", "1", "--save", "--iterations", "50"],
            vec!["delete", "2", "--yes"],
        ] {
            let output = run(racestore().args(&args).args(["--store", url]));
            assert!(output.status.success(), "{args:?} {url}: {}", stderr(&output));
            assert_eq!(stderr(&output), "", "{args:?} {url}");
        }

        // migrate names the target it created, and only that.
        let target = json_url(
            &temp
                .path()
                .join(format!("copy-{}", path.file_name().unwrap().to_string_lossy())),
        );
        let output = run(racestore().args(["migrate", "--from", url, "--to", &target]));
        assert!(output.status.success(), "{url}: {}", stderr(&output));
        assert_eq!(stderr(&output), created_line("JSON", &target), "{url}");
    }

    // serve: on a new store once, then on the same store without a word.
    #[cfg(feature = "server")]
    for (kind, url) in [
        ("JSON", json_url(&temp.path().join("served"))),
        ("SQLite", sqlite_url(&temp.path().join("served.db"))),
    ] {
        assert_eq!(serve_stderr(&url), created_line(kind, &url), "{url}");
        assert_eq!(serve_stderr(&url), "", "{url}");
    }
}
