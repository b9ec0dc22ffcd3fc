//! `racestore backup`: a consistent snapshot of the store, opened afterwards to prove it and show
//! its fingerprint.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use racestore::transfer;
use racestore::StoreUrl;
use serde_json::json;

use super::progress::Progress;
use super::{close_store, counts_text, plural, shell_quote, shown_url};

/// Options of `racestore backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Where the snapshot goes; it must not exist yet. A directory for a JSON or PostgreSQL
    /// store (PostgreSQL backs up to a JSON directory), a file for SQLite
    #[arg(long, value_name = "PATH")]
    to: PathBuf,

    /// Print the result as one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs `racestore backup` against the store `url`.
pub(crate) fn run(url: &str, args: &BackupArgs) -> anyhow::Result<()> {
    let shown = shown_url(url);
    if args.to.exists() {
        bail!(
            "{} already exists; a backup goes to a new path, so nothing is ever overwritten",
            args.to.display()
        );
    }
    let parsed = StoreUrl::parse(url)?;

    let store = super::open_store_for_reading(url)?;
    let started = Instant::now();
    let spinner = Progress::spinner(format!("backing up {shown} to {}", args.to.display()));
    let result = transfer::backup(store.as_ref(), &args.to);
    drop(spinner);
    let closed = close_store(store.as_ref(), url);
    let format = result.with_context(|| format!("backing up {shown} to {}", args.to.display()))?;
    closed?;
    let snapshot_url = parsed.backup_url(&args.to, format);
    let elapsed = started.elapsed();

    // The proof: the snapshot opens as a store, and this is what it holds.
    let spinner = Progress::spinner("reading the snapshot back");
    // Read-only: reading it back writes nothing beside it (no -wal or -shm file on a disk the
    // backup may have filled).
    let snapshot = StoreUrl::parse(&snapshot_url)
        .and_then(|url| url.open_for_reading())
        .with_context(|| format!("the backup at {} does not open as a store", args.to.display()))?;
    let fingerprint = transfer::fingerprint(snapshot.as_ref())
        .with_context(|| format!("reading the backup at {} back", args.to.display()))?;
    close_store(snapshot.as_ref(), &snapshot_url)?;
    drop(spinner);

    if args.json {
        let value = json!({
            "store": shown,
            "backup": args.to,
            "backup_url": snapshot_url,
            "seconds": elapsed.as_secs_f64(),
            "fingerprint": fingerprint,
        });
        super::print_json(&value)?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "backed up {shown} to {} in {:.1} s",
        args.to.display(),
        elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "the backup holds {} ({})",
        counts_text(&fingerprint.counts),
        plural(fingerprint.counts.total(), "record")
    )?;
    let sums: Vec<String> = fingerprint
        .checksums
        .iter()
        .map(|(c, sum)| format!("{c} {sum}"))
        .collect();
    writeln!(out, "checksums: {}", sums.join(", "))?;
    writeln!(
        out,
        "open it with: racestore --store {} sessions",
        shell_quote(&snapshot_url)
    )?;
    Ok(())
}
