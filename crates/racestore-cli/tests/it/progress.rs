//! Long commands draw progress on a terminal, and nothing when piped.

use crate::common;

use std::process::Command;

use common::{created_line, fill, json_url, racestore, run, run_ok, sqlite_url, stderr};

/// `script`, which runs a command on a pseudo-terminal, or `None` after a SKIP line (a failure
/// when `CI` is set).
fn script(test: &str) -> Option<&'static str> {
    let found = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("script");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: script (util-linux) is missing, and CI must not skip this test"
    );
    eprintln!("SKIP {test}: script (util-linux) not found");
    None
}

fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Runs racestore with `args` on a terminal; returns what the terminal showed.
fn on_terminal(script: &str, args: &[&str]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_racestore"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new(script)
        .args(["-qec", &line, "/dev/null"])
        .env_remove("RACESTORE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn migrate_export_and_backup_draw_progress_on_a_terminal_and_nothing_when_piped() {
    let test = "migrate_export_and_backup_draw_progress_on_a_terminal_and_nothing_when_piped";
    let Some(script) = script(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let from = json_url(&temp.path().join("storage"));
    fill(&from);
    let path = |name: &str| temp.path().join(name).display().to_string();

    let shown = on_terminal(
        script,
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &sqlite_url(&temp.path().join("a.db")),
        ],
    );
    assert!(
        shown.contains("records,") && shown.contains("\u{1b}["),
        "no bar on a terminal: {shown:?}"
    );
    assert!(
        shown.contains("verified: 659 records, checksums match"),
        "{shown:?}"
    );
    let target = sqlite_url(&temp.path().join("b.db"));
    let piped = run(racestore().args(["migrate", "--from", &from, "--to", &target]));
    assert!(piped.status.success());
    // No progress: only the line saying the target was created.
    assert_eq!(stderr(&piped), created_line("SQLite", &target));

    let shown = on_terminal(
        script,
        &["export", "--store", &from, "--output", &path("out.json")],
    );
    assert!(
        shown.contains("lap_data") && shown.contains("records,"),
        "no bar on a terminal: {shown:?}"
    );
    // Exporting to the terminal itself: the bar would be in the way of the records.
    let shown = on_terminal(script, &["export", "--store", &from, "--collection", "sessions"]);
    assert!(
        !shown.contains("records,") && !shown.contains("\u{1b}["),
        "{shown:?}"
    );
    run_ok(racestore().args(["export", "--store", &from, "--output", &path("piped.json")]));

    let shown = on_terminal(script, &["backup", "--store", &from, "--to", &path("backup")]);
    assert!(
        shown.contains("backing up"),
        "no spinner on a terminal: {shown:?}"
    );
    run_ok(racestore().args(["backup", "--store", &from, "--to", &path("backup-piped")]));
}
