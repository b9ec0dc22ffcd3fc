//! Stores on real filesystems that misbehave: a backup onto a full disk (a small tmpfs), and
//! stores on a read-only filesystem (a read-only bind mount). Mounting needs root; a test that
//! cannot mount prints SKIP, and fails when `CI` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{fill, json_url, racestore, run, run_fails, sqlite_url, stderr, stdout};

/// A mount, unmounted when dropped (also when the test fails).
struct Mount {
    at: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.at).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Still busy (a process of the test not yet gone): detach it, so it goes when free.
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

/// Runs `mount ARGS...`; `None` after a SKIP line when mounting is not possible here (not root,
/// no mount command, a container without the right), and a failure when `CI` is set.
fn mount(test: &str, args: &[&std::ffi::OsStr], at: &Path) -> Option<Mount> {
    let output = Command::new("mount").args(args).output();
    match output {
        Ok(output) if output.status.success() => Some(Mount { at: at.to_owned() }),
        other => {
            let why = match other {
                Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                Err(err) => err.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: cannot mount ({why}), and CI must not skip this test"
            );
            eprintln!("SKIP {test}: cannot mount ({why}); run as root to test real filesystems");
            None
        }
    }
}

/// A tmpfs of `size` (`256k`) mounted at `at`.
fn mount_tmpfs(test: &str, at: &Path, size: &str) -> Option<Mount> {
    std::fs::create_dir_all(at).unwrap();
    let options = format!("size={size}");
    mount(
        test,
        &[
            "-t".as_ref(),
            "tmpfs".as_ref(),
            "-o".as_ref(),
            options.as_ref(),
            "tmpfs".as_ref(),
            at.as_os_str(),
        ],
        at,
    )
}

/// `from` seen read-only at `at`: a bind mount remounted read-only (writes there fail with
/// EROFS, whoever tries).
fn mount_read_only(test: &str, from: &Path, at: &Path) -> Option<Mount> {
    std::fs::create_dir_all(at).unwrap();
    let bound = mount(test, &["--bind".as_ref(), from.as_os_str(), at.as_os_str()], at)?;
    let remounted = mount(
        test,
        &["-o".as_ref(), "remount,bind,ro".as_ref(), at.as_os_str()],
        at,
    )?;
    // One mount to undo: the remount changed the bind mount, it made none of its own.
    std::mem::forget(remounted);
    Some(bound)
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else {
            all.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    all
}

#[test]
fn a_sqlite_backup_onto_a_full_disk_names_the_destination_and_leaves_nothing() {
    let test = "a_sqlite_backup_onto_a_full_disk_names_the_destination_and_leaves_nothing";
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("race.db");
    let url = sqlite_url(&source);
    fill(&url);
    for seed in ["1", "2"] {
        let output = run(racestore().args(["demo", "--store", &url, "--seed", seed, "--laps", "40"]));
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let size = std::fs::metadata(&source).unwrap().len();
    assert!(
        size > 256 * 1024,
        "the store ({size} bytes) must not fit the 256 KiB disk"
    );

    let full = temp.path().join("full");
    let Some(_mount) = mount_tmpfs(test, &full, "256k") else {
        return;
    };
    let destination = full.join("backup.db");
    let output = run_fails(
        racestore()
            .args(["backup", "--store", &url, "--to"])
            .arg(&destination),
    );
    let err = stderr(&output);
    let (source, destination) = (source.display().to_string(), destination.display().to_string());
    assert!(
        err.contains(&format!("writing the backup: {destination}: the disk is full")),
        "{err}"
    );
    // The source is named once, as what was being backed up, never as the disk that is full.
    assert_eq!(err.matches(&source).count(), 1, "{err}");
    assert!(
        err.contains(&format!("backing up sqlite:{source} to {destination}")),
        "{err}"
    );
    // No partial backup left, under any name.
    assert_eq!(
        std::fs::read_dir(&full).unwrap().count(),
        0,
        "{:?}",
        files(&full).keys()
    );
}

/// A file name a `file:` URI would misread unescaped (`#`, `%`, a space).
const SQLITE_NAME: &str = "race #1 %41.db";

#[test]
fn stores_on_a_read_only_filesystem_are_read_backed_up_and_never_written() {
    let test = "stores_on_a_read_only_filesystem_are_read_backed_up_and_never_written";
    let temp = tempfile::tempdir().unwrap();
    let writable = temp.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    fill(&json_url(&writable.join("storage")));
    fill(&sqlite_url(&writable.join(SQLITE_NAME)));
    // A cleanly closed SQLite store has no -wal or -shm file, and none can be made read-only.
    assert!(
        !writable.join(format!("{SQLITE_NAME}-wal")).exists()
            && !writable.join(format!("{SQLITE_NAME}-shm")).exists()
    );
    let before = files(&writable);

    let read_only = temp.path().join("ro");
    let Some(mount) = mount_read_only(test, &writable, &read_only) else {
        return;
    };
    let backups = temp.path().join("backups");
    for (name, url) in [
        ("json", json_url(&read_only.join("storage"))),
        ("sqlite", sqlite_url(&read_only.join(SQLITE_NAME))),
    ] {
        let path = if name == "json" {
            read_only.join("storage")
        } else {
            read_only.join(SQLITE_NAME)
        };
        // As the reading commands open a store (read-only), and with ?mode=ro said outright.
        for (form, url) in [("plain", url.clone()), ("mode=ro", format!("{url}?mode=ro"))] {
            let read = |args: &[&str]| {
                let output = run(racestore().args(args).args(["--store", &url]));
                assert!(
                    output.status.success(),
                    "{args:?} {url}: {}\n{}",
                    stderr(&output),
                    stdout(&output)
                );
                assert_eq!(stderr(&output), "", "{args:?} {url}");
                stdout(&output)
            };
            assert!(
                read(&["sessions"]).contains("Autódromo Hermanos Rodríguez"),
                "{url}"
            );
            assert!(read(&["show", "1"]).contains("Barber"), "{url}");
            assert!(
                read(&["export", "--format", "ndjson"]).lines().count() > 600,
                "{url}"
            );
            assert!(read(&["check"]).contains("no problems"), "{url}");
            let backup = backups.join(format!("{name}-{form}"));
            let backup = if name == "sqlite" {
                backup.with_extension("db")
            } else {
                backup
            };
            assert!(read(&["backup", "--to", &backup.display().to_string()]).contains("open it with"));
            assert!(backup.exists(), "{url}");
        }

        // Every write is refused, naming the path.
        for args in [
            vec!["demo"],
            vec!["delete", "1"],
            vec!["analyze", "1", "--save"],
            vec!["simulate", "1", "--save", "--iterations", "20"],
        ] {
            for url in [url.clone(), format!("{url}?mode=ro")] {
                let output = run_fails(racestore().args(&args).args(["--store", &url]));
                let err = stderr(&output);
                assert!(
                    err.contains(&path.display().to_string())
                        && (err.contains("read-only") || err.contains("Read-only")),
                    "{args:?} {url}: {err}"
                );
                if name == "json" && !url.ends_with("mode=ro") {
                    // Said as what it is, with what still works; not a lock file's error.
                    assert!(
                        err.contains("on a read-only filesystem") && err.contains("?mode=ro"),
                        "{args:?} {url}: {err}"
                    );
                }
                assert!(!err.contains("created a new"), "{args:?} {url}: {err}");
            }
        }
    }
    drop(mount);
    assert_eq!(
        files(&writable),
        before,
        "nothing on the read-only filesystem changed"
    );
    // The backups are stores holding what the originals hold.
    for (backup, original) in [
        (
            json_url(&backups.join("json-plain")),
            json_url(&writable.join("storage")),
        ),
        (
            sqlite_url(&backups.join("sqlite-mode=ro.db")),
            sqlite_url(&writable.join(SQLITE_NAME)),
        ),
    ] {
        let export = |url: &str| stdout(&run(racestore().args(["export", "--store", url])));
        assert_eq!(export(&backup), export(&original), "{backup}");
    }
}
