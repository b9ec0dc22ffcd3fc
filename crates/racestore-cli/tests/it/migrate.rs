//! `racestore migrate`: every record copied between backends, verified, ids and timestamps kept;
//! the original system's directory through SQLite (and PostgreSQL) and back exports byte for byte
//! the same.

use crate::common;

use common::{
    copy_writable, everything, fill, json_url, racestore, run_fails, run_ok, shared_dir, sqlite_url, stderr,
};
use racestore::transfer::fingerprint;
use racestore::{NewLap, NewSession, RaceStoreExt};
use serde_json::Value;

fn export(url: &str) -> String {
    run_ok(racestore().args(["export", "--store", url]))
}

fn fingerprint_of(url: &str) -> racestore::transfer::Fingerprint {
    let store = racestore::open(url).unwrap();
    let fp = fingerprint(store.as_ref()).unwrap();
    store.close().unwrap();
    fp
}

fn migrate(from: &str, to: &str) -> String {
    run_ok(racestore().args(["migrate", "--from", from, "--to", to]))
}

#[test]
fn the_originals_directory_to_sqlite_and_back_to_json_exports_byte_for_byte_the_same() {
    let test = "the_originals_directory_to_sqlite_and_back_to_json_exports_byte_for_byte_the_same";
    let Some(shared) = shared_dir(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let original = temp.path().join("original");
    copy_writable(&shared.join("fixtures/original-json-storage"), &original);
    let (json, sqlite, back) = (
        json_url(&original),
        sqlite_url(&temp.path().join("race.db")),
        json_url(&temp.path().join("back")),
    );

    let first = export(&json);
    let parsed: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        parsed["lap_data"].as_array().unwrap().len(),
        6,
        "the fixture's laps"
    );

    let said = migrate(&json, &sqlite);
    assert!(
        said.starts_with(&format!("copied {json} to {sqlite}: 2 sessions, 2 driver metrics, 6 laps, 2 predictions, 1 simulation, 0 entries (13 records)")),
        "{said}"
    );
    assert_eq!(
        said.lines().last().unwrap(),
        "verified: 13 records, checksums match"
    );
    assert_eq!(export(&sqlite), first, "SQLite exports the same");

    let said = migrate(&sqlite, &back);
    assert_eq!(
        said.lines().last().unwrap(),
        "verified: 13 records, checksums match"
    );
    assert_eq!(
        export(&back),
        first,
        "the JSON directory made from SQLite exports the same"
    );
    for format in ["ndjson", "csv"] {
        assert_eq!(
            run_ok(racestore().args(["export", "--format", format, "--store", &back])),
            run_ok(racestore().args(["export", "--format", format, "--store", &json])),
            "{format}"
        );
    }
    assert_eq!(fingerprint_of(&json), fingerprint_of(&back));
    // The original's own timestamps (no Z, no offset) were kept, not rewritten.
    assert!(first.contains("\"created_at\": \"2026-11-25T16:33:08.010359\""));
}

/// A PostgreSQL schema of its own, dropped afterwards; `None` after a SKIP line when
/// `RACESTORE_TEST_POSTGRES_URL` is unset (a failure when `CI` is set).
struct Schema {
    server: String,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        let server = match std::env::var("RACESTORE_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("{test}: RACESTORE_TEST_POSTGRES_URL is not set, and CI must not skip PostgreSQL")
            }
            _ => {
                eprintln!("SKIP {test}: RACESTORE_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .subsec_nanos();
        let name = format!("rs_cli_test_{}_{nanos}", std::process::id());
        Some(Schema { server, name })
    }

    fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!("{}{separator}schema={}", self.server, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

#[test]
fn a_store_goes_through_postgresql_and_back_unchanged_and_its_backup_exports_the_same() {
    let test = "a_store_goes_through_postgresql_and_back_unchanged_and_its_backup_exports_the_same";
    let Some(schema) = Schema::new(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let json = json_url(&temp.path().join("storage"));
    fill(&json);
    let pg = schema.url();
    let back = sqlite_url(&temp.path().join("back.db"));
    let first = export(&json);

    let said = migrate(&json, &pg);
    assert!(said.ends_with("checksums match\n"), "{said}");
    assert_eq!(export(&pg), first);
    migrate(&pg, &back);
    assert_eq!(export(&back), first);

    let snapshot = temp.path().join("pg-backup");
    let said = run_ok(
        racestore()
            .args(["backup", "--to"])
            .arg(&snapshot)
            .args(["--store", &pg]),
    );
    assert!(said.contains("open it with: racestore --store json:"), "{said}");
    assert_eq!(
        export(&json_url(&snapshot)),
        first,
        "PostgreSQL backs up to a JSON directory"
    );
}

#[test]
fn a_non_empty_target_is_refused_and_left_as_it_was() {
    let temp = tempfile::tempdir().unwrap();
    let (from, to) = (
        json_url(&temp.path().join("from")),
        sqlite_url(&temp.path().join("to.db")),
    );
    fill(&from);
    let store = racestore::open(&to).unwrap();
    store.create_session(&NewSession::new("Sebring")).unwrap();
    store.close().unwrap();
    let before = fingerprint_of(&to);

    let output = run_fails(racestore().args(["migrate", "--from", &from, "--to", &to]));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "{to} is not empty (it holds 1 session, 0 driver metrics, 0 laps"
        )) && err.contains("--into-non-empty"),
        "{err}"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(fingerprint_of(&to), before);

    // Told to, it still refuses ids the target has given, and says so.
    let output = run_fails(racestore().args(["migrate", "--into-non-empty", "--from", &from, "--to", &to]));
    let err = stderr(&output);
    assert!(
        err.contains("stopped (nothing was copied)")
            && err.contains("already holds records with these ids")
            && err.contains("race_sessions id 1 is not above 1"),
        "{err}"
    );
    assert_eq!(fingerprint_of(&to), before);

    let missing = json_url(&temp.path().join("typo"));
    let output = run_fails(racestore().args(["migrate", "--from", &missing, "--to", &to]));
    assert!(
        stderr(&output).contains(&format!("there is no store at {missing} (--from)")),
        "{}",
        stderr(&output)
    );
    assert!(!temp.path().join("typo").exists());

    let output = run_fails(racestore().args(["migrate", "--from", &from, "--to", &from]));
    assert!(
        stderr(&output).contains("name the same store"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn into_non_empty_adds_records_whose_ids_are_above_the_targets_and_verifies_them() {
    let temp = tempfile::tempdir().unwrap();
    let (a, source, target) = (
        json_url(&temp.path().join("a")),
        json_url(&temp.path().join("source")),
        sqlite_url(&temp.path().join("target.db")),
    );
    fill(&a);
    migrate(&a, &target);
    // The source: a copy of `a`, one more session with laps, then a's sessions deleted, so all
    // its ids are above the target's.
    migrate(&a, &source);
    let store = racestore::open(&source).unwrap();
    let s = store.create_session(&NewSession::new("Road America")).unwrap();
    store
        .save_laps(&[
            NewLap::new(s, "GR86-002-7", 1, 140.2),
            NewLap::new(s, "GR86-002-7", 2, 139.9),
        ])
        .unwrap();
    for old in 1..s {
        store.delete_session(old).unwrap();
    }
    store.close().unwrap();

    let said = run_ok(racestore().args(["migrate", "--into-non-empty", "--from", &source, "--to", &target]));
    assert!(
        said.contains("verified: 3 copied records read back equal from the target (which also holds the"),
        "{said}"
    );
    let store = racestore::open(&target).unwrap();
    assert_eq!(store.get_session(s).unwrap().unwrap().circuit, "Road America");
    assert_eq!(store.get_session_laps(s).unwrap().len(), 2);
    assert_eq!(store.counts().unwrap().sessions(), s as u64);
    store.close().unwrap();
}

#[test]
fn json_output_reports_what_was_copied_and_the_fingerprint() {
    let temp = tempfile::tempdir().unwrap();
    let (from, to) = (
        json_url(&temp.path().join("from")),
        sqlite_url(&temp.path().join("to.db")),
    );
    fill(&from);
    let out: Value = serde_json::from_str(&run_ok(
        racestore().args(["migrate", "--json", "--from", &from, "--to", &to]),
    ))
    .unwrap();
    let fp = fingerprint_of(&from);
    assert_eq!(out["verified"], true);
    assert_eq!(out["mismatch"], Value::Null);
    assert_eq!(out["records"], fp.counts.total());
    assert_eq!(out["copied"], serde_json::to_value(fp.counts).unwrap());
    assert_eq!(out["target_before"]["sessions"], 0);
    for (collection, sum) in &fp.checksums {
        assert_eq!(out["fingerprint"]["checksums"][collection.name()], sum.as_str());
    }
    assert_eq!(everything(&from), everything(&to));
}

#[test]
fn migrate_help_mentions_its_options_and_that_store_plays_no_part() {
    let help = run_ok(racestore().args(["migrate", "--help"]));
    for needle in [
        "--from <URL>",
        "--to <URL>",
        "--into-non-empty",
        "--json",
        "checksums match",
        "--store plays no part",
    ] {
        assert!(help.contains(needle), "migrate --help lacks {needle}:\n{help}");
    }
}
