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
#[allow(clippy::struct_excessive_bools)] // clap flags
pub(crate) struct CheckArgs {
    /// Repair, all or nothing: what loses no valid record (a torn tail left by an interrupted
    /// save, an interrupted batch or delete), and what the flags below allow; then check again.
    /// Refuses, touching nothing, when any problem would remain
    #[arg(long)]
    repair: bool,

    /// With --repair: drop the records whose session does not exist (counted in the report),
    /// cutting off a torn session record that they prove was saved
    #[arg(long, requires = "repair")]
    drop_orphans: bool,

    /// With --repair: recreate, empty, a data file the store lost (its records are gone)
    #[arg(long, requires = "repair")]
    recreate_missing: bool,

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
    let options = check::CheckOptions {
        repair: args.repair,
        drop_orphans: args.drop_orphans,
        recreate_missing: args.recreate_missing,
    };
    let report = check::check(url, &options).with_context(|| format!("checking {shown}"))?;
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
        super::print_json(&value)?;
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
            match problem.repair_flag {
                Some(flag) if !problem.repairable => writeln!(
                    out,
                    "problem (repairable with {flag}, giving records up): {}: {}",
                    problem.location, problem.message
                )?,
                _ => writeln!(out, "problem ({kind}): {}: {}", problem.location, problem.message)?,
            }
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
    let mut flags: Vec<&str> = report.problems.iter().filter_map(|p| p.repair_flag).collect();
    flags.sort_unstable();
    flags.dedup();
    if args.repair && report.repaired.is_empty() {
        if !flags.is_empty() {
            bail!(
                "{found} left and nothing repaired (a repair is all or nothing): {} would repair \
                 by giving records up: racestore check --repair {} --store {}",
                flags.join(" and "),
                flags.join(" "),
                shell_quote(&shown)
            );
        }
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
