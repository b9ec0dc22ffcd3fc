//! One file per command group; the helpers here are what every command shares.

pub(crate) mod analyze;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod delete;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod interrupt;
pub(crate) mod migrate;
pub(crate) mod progress;
#[cfg(feature = "server")]
pub(crate) mod serve;
pub(crate) mod sessions;
pub(crate) mod show;
pub(crate) mod simulate;

use anyhow::Context;
use racestore::{Collection, Counts, OpenOptions, RaceStore, StoreUrl};

/// Opens the store `url` names for a command that writes, creating it if it is missing (its
/// parent folder must exist), and says so on stderr when it did; reports on stderr anything the
/// library repaired while opening.
///
/// The library's error already names the file, the lock holder or the valid URL forms; the
/// context adds which URL was being opened (except for an unsupported URL, which names itself).
pub(crate) fn open_store(url: &str) -> anyhow::Result<Box<dyn RaceStore>> {
    let parsed = StoreUrl::parse(url)?;
    let opened = parsed
        .open_reporting()
        .with_context(|| format!("cannot open store {}", shown_url(url)))?;
    if opened.created {
        say_created(&parsed);
    }
    note_repairs(opened.store.as_ref());
    Ok(opened.store)
}

/// Opens the store `url` names for a command that changes what a store holds but never makes a
/// new one (delete, analyze --save, simulate --save: they work on a session it already has), so
/// a store that does not exist is an error naming it.
pub(crate) fn open_existing_store(url: &str) -> anyhow::Result<Box<dyn RaceStore>> {
    let parsed = StoreUrl::parse(url)?;
    let store = parsed
        .open_with(&OpenOptions {
            create: false,
            ..OpenOptions::default()
        })
        .with_context(|| format!("cannot open store {}", shown_url(url)))?;
    note_repairs(store.as_ref());
    Ok(store)
}

/// Tells the user on stderr that a store was created where none was, in one line naming where:
/// a mistyped path shows at once instead of filling a new store unnoticed.
pub(crate) fn say_created(url: &StoreUrl) {
    let kind = match url.backend() {
        "json" => "JSON",
        "sqlite" => "SQLite",
        "postgres" => "PostgreSQL",
        other => other,
    };
    eprintln!("racestore: created a new {kind} store at {}", url.location);
}

fn note_repairs(store: &dyn RaceStore) {
    for repair in store.repairs() {
        eprintln!("note: {repair}");
    }
}

/// Opens the store `url` names for a command that only reads: read-only where the backend has
/// such a mode (JSON, SQLite), so nothing is created, locked for writing, repaired or changed,
/// and a store that does not exist is an error naming it.
pub(crate) fn open_store_for_reading(url: &str) -> anyhow::Result<Box<dyn RaceStore>> {
    let parsed = StoreUrl::parse(url)?;
    parsed
        .open_for_reading()
        .with_context(|| format!("cannot open store {}", shown_url(url)))
}

/// Closes the store, so that a failure to flush is reported instead of lost in a drop.
pub(crate) fn close_store(store: &dyn RaceStore, url: &str) -> anyhow::Result<()> {
    store.close().with_context(|| {
        format!(
            "closing store {}: the last writes may not have reached the disk",
            shown_url(url)
        )
    })
}

/// The URL as it may be shown: a PostgreSQL password replaced by `***`.
pub(crate) fn shown_url(url: &str) -> String {
    match StoreUrl::parse(url) {
        Ok(parsed) => parsed.to_string(),
        Err(_) => racestore::redact_url(url),
    }
}

/// `1 lap`, `2 laps`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// What the counts hold, in words: `2 sessions, 0 driver metrics, 6 laps, 2 predictions, 1 simulation`.
pub(crate) fn counts_text(counts: &Counts) -> String {
    Collection::ALL
        .iter()
        .map(|c| records_of(*c, counts.get(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` records of a collection, in words: `1 session`, `2 driver metrics`, `600 laps`.
pub(crate) fn records_of(collection: Collection, n: u64) -> String {
    collection.count_text(n)
}

/// Prints `value` as pretty JSON on stdout, what every command's `--json` writes.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(value)?
    )?;
    Ok(())
}

/// Whether an error is stdout's reader having gone away.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().or_else(|| {
            match cause.downcast_ref::<racestore::Error>() {
                Some(racestore::Error::Io { os_error, .. }) => Some(os_error),
                _ => None,
            }
        });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Quotes `text` for a POSIX shell when it holds anything but plainly safe characters.
pub(crate) fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words_and_passwords_are_never_shown() {
        let counts = Counts::of(&[
            (Collection::Sessions, 1),
            (Collection::DriverMetrics, 2),
            (Collection::Laps, 600),
            (Collection::Predictions, 0),
            (Collection::Simulations, 1),
            (Collection::Entries, 3),
        ]);
        assert_eq!(
            counts_text(&counts),
            "1 session, 2 driver metrics, 600 laps, 0 predictions, 1 simulation, 3 entries"
        );
        assert_eq!(shown_url("json:storage"), "json:storage");
        let shown = shown_url("postgres://race:hunter2@db/timing");
        assert!(
            !shown.contains("hunter2") && shown.contains("race:***@db"),
            "{shown}"
        );
    }

    #[test]
    fn shell_quote_leaves_plain_urls_alone_and_quotes_the_rest() {
        assert_eq!(shell_quote("json:storage"), "json:storage");
        assert_eq!(shell_quote("sqlite:/tmp/r.db"), "sqlite:/tmp/r.db");
        assert_eq!(shell_quote("json:my races"), "'json:my races'");
        assert_eq!(
            shell_quote("sqlite:r.db?durability=power-loss"),
            "'sqlite:r.db?durability=power-loss'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
