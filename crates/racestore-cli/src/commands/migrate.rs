//! `racestore migrate`: every record of one store copied into another, ids and timestamps kept,
//! then verified against the source.

use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use racestore::transfer::{self, Verification};
use racestore::{Collection, Counts, RaceStore, StoreUrl};
use serde_json::json;

use super::progress::Progress;
use super::{close_store, counts_text, open_store, plural, shown_url};

/// Options of `racestore migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The store to copy from: any URL --store takes (json:DIR, sqlite:FILE, postgres://...)
    #[arg(long, value_name = "URL")]
    from: String,

    /// The store to copy into, created if missing; it must hold no record unless --into-non-empty
    #[arg(long, value_name = "URL")]
    to: String,

    /// Copy into a store that already holds records. Ids are kept, so in each collection the
    /// copied ids must be above every id the target has given: a collision stops the copy,
    /// and what was copied before it stays in the target
    #[arg(long)]
    into_non_empty: bool,

    /// Print the result as one JSON object (also when verification fails)
    #[arg(long)]
    json: bool,
}

/// Runs `racestore migrate`.
pub(crate) fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    let (from_url, to_url) = (shown_url(&args.from), shown_url(&args.to));
    if same_store(&args.from, &args.to) {
        bail!("--from and --to name the same store ({from_url}); migrate copies between two stores");
    }
    // Opening creates a missing JSON directory or SQLite file: a mistyped --from would copy nothing.
    if let Ok(from) = StoreUrl::parse(&args.from) {
        if !from.location.exists() {
            bail!("there is no store at {from_url} (--from): it does not exist");
        }
    }
    let from = open_store(&args.from).context("opening the source (--from)")?;
    let to = open_store(&args.to).context("opening the target (--to)")?;
    let result = migrate(args, from.as_ref(), to.as_ref(), &from_url, &to_url);
    // Both stores are closed whatever happened; the first error is the one reported.
    let closed_to = close_store(to.as_ref(), &to_url);
    let closed_from = close_store(from.as_ref(), &from_url);
    result.and(closed_to).and(closed_from)
}

fn migrate(
    args: &MigrateArgs,
    from: &dyn RaceStore,
    to: &dyn RaceStore,
    from_url: &str,
    to_url: &str,
) -> anyhow::Result<()> {
    let source = from
        .counts()
        .with_context(|| format!("counting the records of {from_url}"))?;
    let before = to
        .counts()
        .with_context(|| format!("counting the records of {to_url}"))?;
    if before.total() > 0 && !args.into_non_empty {
        bail!(
            "{to_url} is not empty (it holds {}); migrate copies into an empty store. Choose a new \
             target, or add to this one with --into-non-empty (records keep their ids, so ids the \
             target has already given are refused)",
            counts_text(&before)
        );
    }

    let started = Instant::now();
    let progress = Progress::records(source.total());
    let mut copied = Counts::default();
    let result = transfer::copy_all(from, to, |collection, done, _total| {
        let earlier: u64 = Collection::ALL
            .iter()
            .take_while(|c| **c != collection)
            .map(|c| source.get(*c))
            .sum();
        progress.set_message(collection.to_string());
        progress.set_position(earlier + done);
        copied.set(collection, done);
    });
    progress.clear();
    if let Err(err) = result {
        let kept = if copied.total() == 0 {
            "nothing was copied".to_owned()
        } else {
            format!(
                "copied before it and kept in the target: {}",
                counts_text(&copied)
            )
        };
        let hint = match &err {
            racestore::Error::Invalid { field, .. } if field == "id" && before.total() > 0 => {
                ". The target already holds records with these ids: records keep their ids, so \
                 --into-non-empty can only add records whose ids are above the target's"
            }
            _ => "",
        };
        return Err(anyhow!(err).context(format!("copying {from_url} into {to_url} stopped ({kept}){hint}")));
    }
    let elapsed = started.elapsed();
    let records = copied.total();

    let spinner = Progress::spinner(format!("verifying {}", plural(records, "record")));
    let verified = transfer::verify_copy(from, to, &before)
        .with_context(|| format!("verifying the copy in {to_url} against {from_url}"))?;
    drop(spinner);

    if args.json {
        let fingerprint = match &verified {
            Verification::Equal(fp) | Verification::FingerprintsDiffer { source: fp, .. } => Some(fp),
            _ => None,
        };
        let value = json!({
            "from": from_url,
            "to": to_url,
            "copied": copied,
            "records": records,
            "target_before": before,
            "seconds": elapsed.as_secs_f64(),
            "verified": verified.is_verified(),
            "fingerprint": fingerprint,
            "mismatch": verified.mismatch(),
        });
        super::print_json(&value)?;
    } else {
        println!(
            "copied {from_url} to {to_url}: {} ({}) in {:.1} s",
            counts_text(&copied),
            plural(records, "record"),
            elapsed.as_secs_f64()
        );
        match &verified {
            Verification::Equal(_) => println!("verified: {records} records, checksums match"),
            Verification::Contained => println!(
                "verified: {records} copied records read back equal from the target (which also holds the {} it had before)",
                plural(before.total(), "record")
            ),
            _ => {}
        }
    }
    match verified.mismatch() {
        Some(mismatch) => {
            bail!("verification failed: {mismatch}; was the source written to during the migration?")
        }
        None => Ok(()),
    }
}

/// Whether two URLs name the same store (the same file or directory, or the same schema).
fn same_store(a: &str, b: &str) -> bool {
    match (StoreUrl::parse(a), StoreUrl::parse(b)) {
        (Ok(a), Ok(b)) => a.same_store(&b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_store_is_recognised_under_different_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display();
        assert!(same_store(&format!("json:{path}"), &format!("{path}/.")));
        assert!(!same_store(
            &format!("json:{path}"),
            &format!("sqlite:{path}/r.db")
        ));
        assert!(same_store(
            "postgres://u:a@db/race?schema=x",
            "postgres://u:b@db/race?schema=x&pool_size=2"
        ));
        assert!(!same_store(
            "postgres://u@db/race?schema=x",
            "postgres://u@db/race?schema=y"
        ));
    }
}
