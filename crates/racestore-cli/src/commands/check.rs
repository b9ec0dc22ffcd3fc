//! `racestore check`: is the store sound, and if not, where and can it be repaired.

use std::io::Write;

use anyhow::{bail, Context};
use clap::Args;
use racestore::check;
use racestore::StoreUrl;
use serde_json::json;

use super::{counts_text, plural, shell_quote, shown_url};

/// Options of `racestore check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Repair what can be repaired without losing a valid record (a torn tail left by an
    /// interrupted save), then check again. Refuses, touching nothing, when any problem cannot
    /// be repaired that way
    #[arg(long)]
    repair: bool,

    /// Print the report as one JSON object (problems, repaired, notes, counts, ok)
    #[arg(long)]
    json: bool,
}

/// Runs `racestore check` against the store `url`: exit status 0 when sound, 1 otherwise.
pub(crate) fn run(url: &str, args: &CheckArgs) -> anyhow::Result<()> {
    let shown = shown_url(url);
    if let Ok(parsed) = StoreUrl::parse(url) {
        if !parsed.location.exists() {
            bail!("there is no store at {shown}: it does not exist, so there is nothing to check");
        }
    }
    let report = check::check(url, args.repair).with_context(|| format!("checking {shown}"))?;
    let problems = report.problems.len() as u64;
    let repairable = report.problems.iter().filter(|p| p.repairable).count() as u64;

    if args.json {
        let value = json!({
            "store": shown,
            "ok": report.is_ok(),
            "problems": report.problems,
            "repaired": report.repaired,
            "notes": report.notes,
            "counts": report.counts,
        });
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&value)?
        )?;
    } else {
        let mut out = std::io::stdout().lock();
        if report.records_checked {
            writeln!(out, "checked {shown}: {}", counts_text(&report.counts))?;
        } else {
            writeln!(
                out,
                "checked {shown}: the records were not checked, as a file cannot be read"
            )?;
        }
        for repair in &report.repaired {
            writeln!(out, "{repair}")?;
        }
        for problem in &report.problems {
            let kind = if problem.repairable {
                "repairable"
            } else {
                "not repairable"
            };
            writeln!(out, "problem ({kind}): {}: {}", problem.location, problem.message)?;
        }
        for note in &report.notes {
            writeln!(out, "note: {note}")?;
        }
        if report.is_ok() {
            writeln!(out, "no problems: the store is sound")?;
        }
    }

    if report.is_ok() {
        return Ok(());
    }
    let found = plural(problems, "problem");
    if args.repair && report.repaired.is_empty() {
        bail!(
            "{found} left and nothing repaired: repairing would lose records. Restore a backup, or \
             fix the damage by hand at the place shown"
        );
    }
    if args.repair {
        bail!(
            "{found} left after repairing what could be repaired: the rest cannot be repaired \
             without losing records. Restore a backup, or fix them by hand at the place shown"
        );
    }
    if repairable == problems {
        bail!(
            "{found} found; all can be repaired without losing a record: racestore check --repair --store {}",
            shell_quote(&shown)
        );
    }
    bail!(
        "{found} found, {} repairable without losing a record; check --repair refuses to touch a \
         store with damage it cannot repair: restore a backup, or fix it by hand at the place shown",
        if repairable == 0 {
            "none".to_owned()
        } else {
            repairable.to_string()
        }
    );
}
