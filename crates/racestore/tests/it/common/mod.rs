//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub(crate) mod postgres;

/// The read-only `shared/` folder beside the repository (fixtures and real timing data), or
/// `None` after printing a visible SKIP line. With `CI` set, its absence fails the test instead.
pub(crate) fn shared_dir(test: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("RACESTORE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    if candidate.join("fixtures").is_dir() {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is missing, and CI must not skip this test",
        candidate.display()
    );
    eprintln!(
        "SKIP {test}: {} not found (a fresh clone has no shared/ folder)",
        candidate.display()
    );
    None
}

/// Copies a fixture directory (or file) into `to`, making the copies writable
/// (the fixtures themselves are read-only and must stay untouched).
pub(crate) fn copy_writable(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_writable(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
        let mut permissions = std::fs::metadata(to).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(to, permissions).unwrap();
    }
}

/// `python3`'s path, or `None` after a SKIP line (a failure when `CI` is set).
pub(crate) fn python3(test: &str) -> Option<&'static str> {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("python3");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: python3 is not on PATH (this test compares racestore's files with what Python's json module writes); install python3, CI must not skip this test"
    );
    eprintln!("SKIP {test}: python3 is not on PATH (needed to compare with Python's json module)");
    None
}

/// The pinned test interpreter `RACESTORE_TEST_PYTHON` (scripts/test points it at `.venv`), or
/// `None` after a SKIP line (a failure when `CI` is set).
pub(crate) fn test_python(test: &str) -> Option<PathBuf> {
    let why = match std::env::var_os("RACESTORE_TEST_PYTHON").map(PathBuf::from) {
        Some(path) if path.exists() => return Some(path),
        Some(path) => format!(
            "RACESTORE_TEST_PYTHON={} does not exist (run scripts/test, which creates .venv)",
            path.display()
        ),
        None => "RACESTORE_TEST_PYTHON is not set (scripts/test sets it to the pinned .venv)".to_owned(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {why}, and CI must not skip this test"
    );
    eprintln!("SKIP {test}: {why}");
    None
}
