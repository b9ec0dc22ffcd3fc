//! A PostgreSQL password given in a store URL never appears in anything racestore prints: every
//! command, with the server up and with it down, quiet, with `-v`/`-vvv` and with
//! `RUST_LOG=trace`, on stdout and stderr alike.

use std::path::Path;
use std::process::Command;

use crate::common::{json_url, racestore, run, stderr, stdout};

/// The password every URL here carries; found nowhere in any output.
const SECRET: &str = "Pw9-hunter2-Zq";

/// `url` with `user:SECRET@` as its user part (replacing any password it had).
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (user, host) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let user = user.split_once(':').map_or(user, |(user, _)| user);
    format!("{scheme}://{user}:{SECRET}@{host}")
}

/// A made-up GR Cup export of two cars and two laps each.
fn export_file(dir: &Path) -> std::path::PathBuf {
    let path = dir
        .join("barber")
        .join("23_AnalysisEnduranceWithSections_Race 1.CSV");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; ELAPSED;FLAG_AT_FL\n\
         13;1;1;1:42.284;1:42.284;GF\n22;1;1;1:43.019;1:43.019;GF\n\
         13;1;2;1:41.900;3:24.184;GF\n22;1;2;1:42.500;3:25.519;GF\n",
    )
    .unwrap();
    path
}

/// Made-up Ergast tables of one race, two drivers and two laps each.
fn ergast_tables(dir: &Path) -> std::path::PathBuf {
    let tables = dir.join("ergast");
    std::fs::create_dir_all(&tables).unwrap();
    let write = |name: &str, text: &str| std::fs::write(tables.join(name), text).unwrap();
    write(
        "races.csv",
        "raceId,year,round,circuitId,name,date\n7,2001,1,1,\"A GP\",\"2001-03-04\"\n",
    );
    write("drivers.csv", "driverId,driverRef\n1,\"senna\"\n2,\"prost\"\n");
    write(
        "lap_times.csv",
        "raceId,driverId,lap,position,milliseconds\n7,1,1,1,80000\n7,2,1,2,81000\n7,1,2,1,79000\n7,2,2,2,79500\n",
    );
    tables
}

/// Every command of the CLI against the store `pg` (a URL with the password), as argument lists.
/// `pg2` is a second, empty store for migrate to copy into.
fn every_command(pg: &str, pg2: &str, dir: &Path, round: &str) -> Vec<Vec<String>> {
    let copy = json_url(&dir.join(format!("copy-{round}")));
    let file = export_file(dir).display().to_string();
    let tables = ergast_tables(dir).display().to_string();
    let backup = dir.join(format!("backup-{round}")).display().to_string();
    let store = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--store".to_owned(), pg.to_owned()]);
        all
    };
    vec![
        store(&["demo", "--drivers", "3", "--laps", "4"]),
        store(&["demo", "--drivers", "2", "--laps", "2", "--json"]),
        store(&["sessions"]),
        store(&["sessions", "--json"]),
        store(&["show", "1"]),
        store(&["show", "999"]),
        store(&["analyze", "1"]),
        store(&["analyze", "1", "--save"]),
        store(&["simulate", "1", "--iterations", "20"]),
        store(&["simulate", "1", "--iterations", "20", "--save", "--json"]),
        store(&["export"]),
        store(&["export", "--session", "1", "--format", "csv"]),
        // The same file again and again: each time in place of the session it went to before.
        store(&["import", "alkamel", "--replace", &file]),
        store(&["import", "alkamel", "--replace", "--json", &file]),
        store(&["import", "ergast", &tables]),
        store(&["import", "ergast", "--json", "--skip-existing", &tables]),
        store(&["backup", "--to", &backup]),
        store(&["check"]),
        store(&["delete", "2", "--yes"]),
        store(&["delete", "999", "--yes"]),
        store(&["check", "--repair", "--json"]),
        store(&["bench-probe", "open"]),
        vec![
            "migrate".into(),
            "--from".into(),
            pg.into(),
            "--to".into(),
            copy.clone(),
        ],
        vec!["migrate".into(), "--from".into(), copy, "--to".into(), pg2.into()],
        vec![
            "bench".into(),
            "--laps".into(),
            "10000".into(),
            "--backends".into(),
            "postgres".into(),
            "--postgres".into(),
            format!("{}&connect_timeout=1", pg.replace("5432", "1")),
            "--json".into(),
            "--dir".into(),
            dir.display().to_string(),
        ],
    ]
}

/// Runs `args` quiet, with `-v`, with `-vvv` and with `RUST_LOG=trace`, and once with the URL in
/// `RACESTORE_URL` instead of `--store`; fails naming the command if the password shows.
/// Returns how many of the runs succeeded.
fn run_everywhere(args: &[String], pg: &str) -> usize {
    let mut succeeded = 0;
    let variants: [(&str, Option<&str>); 4] = [("", None), ("-v", None), ("-vvv", None), ("", Some("trace"))];
    for (flag, rust_log) in variants {
        let mut command = racestore();
        command.args(args);
        if !flag.is_empty() {
            command.arg(flag);
        }
        if let Some(level) = rust_log {
            command.env("RUST_LOG", level);
        }
        succeeded += usize::from(assert_no_secret(&mut command));
    }
    if args.iter().any(|a| a == "--store") {
        let without: Vec<&String> = {
            let at = args.iter().position(|a| a == "--store").unwrap();
            args.iter()
                .enumerate()
                .filter(|(i, _)| *i != at && *i != at + 1)
                .map(|(_, a)| a)
                .collect()
        };
        let mut command = racestore();
        command.args(without).arg("-vvv").env("RACESTORE_URL", pg);
        succeeded += usize::from(assert_no_secret(&mut command));
    }
    succeeded
}

/// Runs the command and asserts the password is in neither stdout nor stderr; returns whether it succeeded.
fn assert_no_secret(command: &mut Command) -> bool {
    let output = run(command);
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "the password shows in the output of {command:?}\nstdout:\n{out}\nstderr:\n{err}"
    );
    output.status.success()
}

#[test]
fn no_command_ever_prints_a_postgres_password_with_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every command fails to connect, and says so.
    for pg in [
        format!("postgres://racer:{SECRET}@127.0.0.1:1/timing?connect_timeout=1"),
        format!("postgresql://racer@127.0.0.1:1/timing?password={SECRET}&connect_timeout=1"),
    ] {
        // serve stops at once when it cannot open the store (with the server up it would run on).
        let serve: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--store", &pg]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        assert_eq!(run_everywhere(&serve, &pg), 0, "serve ran with no server");
        for args in every_command(&pg, &pg, dir.path(), "down") {
            let succeeded = run_everywhere(&args, &pg);
            // migrate's JSON side and bench may run; nothing that reads the server can.
            if !matches!(args[0].as_str(), "migrate" | "bench") {
                assert_eq!(succeeded, 0, "{args:?} succeeded with no server");
            }
        }
    }
}

#[test]
fn no_command_ever_prints_a_postgres_password_with_the_server_up() {
    let test = "no_command_ever_prints_a_postgres_password_with_the_server_up";
    let server = match std::env::var("RACESTORE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: RACESTORE_TEST_POSTGRES_URL is not set, and CI must not skip PostgreSQL")
        }
        _ => {
            eprintln!("SKIP {test}: RACESTORE_TEST_POSTGRES_URL is not set");
            return;
        }
    };
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .subsec_nanos();
    let schema = format!("rs_cli_secret_{}_{nanos}", std::process::id());
    let base = server.split_once('?').map_or(server.as_str(), |(b, _)| b);
    // The test server trusts local connections, so a password is accepted and ignored: every
    // command runs to its end, printing the URL wherever it does.
    let pg = format!("{}?schema={schema}&connect_timeout=5", with_password(base));
    let pg2 = format!("{}?schema={schema}_to&connect_timeout=5", with_password(base));
    let dir = tempfile::tempdir().unwrap();
    let mut ran = Vec::new();
    for args in every_command(&pg, &pg2, dir.path(), "up") {
        let succeeded = run_everywhere(&args, &pg);
        ran.push((
            args[0].clone(),
            args.get(1).cloned().unwrap_or_default(),
            succeeded,
        ));
    }
    if let Ok(mut client) = postgres::Client::connect(&server, postgres::NoTls) {
        let _ = client.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_to CASCADE"
        ));
    }
    // The commands did reach the server (not a test that passes because nothing ran).
    for (command, first, succeeded) in &ran {
        let expected_to_work = !matches!(
            (command.as_str(), first.as_str()),
            ("show" | "delete", "999") | ("bench" | "check", _)
        );
        if expected_to_work {
            assert!(*succeeded > 0, "{command} {first} never succeeded: {ran:?}");
        }
    }
}

#[test]
fn a_new_postgres_schema_is_announced_once_with_the_password_redacted() {
    let test = "a_new_postgres_schema_is_announced_once_with_the_password_redacted";
    let server = match std::env::var("RACESTORE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: RACESTORE_TEST_POSTGRES_URL is not set, and CI must not skip PostgreSQL")
        }
        _ => {
            eprintln!("SKIP {test}: RACESTORE_TEST_POSTGRES_URL is not set");
            return;
        }
    };
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .subsec_nanos();
    let schema = format!("rs_cli_created_{}_{nanos}", std::process::id());
    let base = server.split_once('?').map_or(server.as_str(), |(b, _)| b);
    let pg = format!("{}?schema={schema}&connect_timeout=5", with_password(base));
    // Commands that read or need a session make no store: each fails, naming the schema.
    let mut refused = Vec::new();
    for args in [
        vec!["sessions"],
        vec!["delete", "1"],
        vec!["analyze", "1", "--save"],
    ] {
        refused.push((args.clone(), run(racestore().args(&args).args(["--store", &pg]))));
    }
    let schema_made = |server: &str| {
        postgres::Client::connect(server, postgres::NoTls)
            .unwrap()
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .unwrap()
            .is_some()
    };
    let made_by_refused = schema_made(&server);
    let demo = |pg: &str| run(racestore().args(["demo", "--drivers", "2", "--laps", "3", "--store", pg]));
    let first = demo(&pg);
    let second = demo(&pg);
    if let Ok(mut client) = postgres::Client::connect(&server, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
    for (args, output) in &refused {
        let err = stderr(output);
        assert!(!output.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(&format!("there is no store in schema {schema}")) && !err.contains(SECRET),
            "{args:?}: {err}"
        );
    }
    assert!(!made_by_refused, "a command that failed made the schema");
    assert!(first.status.success(), "{}", stderr(&first));
    let said = stderr(&first);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with("racestore: created a new PostgreSQL store at postgres://")
            && said.contains(":***@")
            && said.contains(&schema)
            && !said.contains(SECRET),
        "{said}"
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stderr(&second), "", "the schema existed: nothing said");
}
