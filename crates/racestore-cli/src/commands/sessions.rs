//! `racestore sessions`: what the store holds, one line per session.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::SessionQuery;
use serde_json::json;

use super::{close_store, open_store_for_reading, shown_url};
use crate::table::{self, Align, Table};

/// Options of `racestore sessions`.
#[derive(Debug, Args)]
pub(crate) struct SessionsArgs {
    /// Only sessions at a circuit whose name contains this, case ignored (barber, "le mans")
    #[arg(long, value_name = "NAME")]
    circuit: Option<String>,

    /// Print the sessions as a JSON array instead of a table
    #[arg(long)]
    json: bool,
}

/// Runs `racestore sessions` against the store `url`.
///
/// Each line comes from the store's session summaries (counts and best lap computed by the
/// backend), so listing reads no lap.
pub(crate) fn run(url: &str, args: &SessionsArgs) -> anyhow::Result<()> {
    let store = open_store_for_reading(url)?;
    let mut rows = store
        .session_summaries(&SessionQuery::all())
        .with_context(|| format!("listing the sessions in {}", shown_url(url)))?;
    close_store(store.as_ref(), url)?;
    let all = rows.len();
    if let Some(circuit) = &args.circuit {
        rows.retain(|r| SessionQuery::names_circuit(circuit, &r.session.circuit));
        if rows.is_empty() && all > 0 {
            eprintln!(
                "note: no session's circuit contains {circuit:?} (case ignored) among the {all} in {}; racestore sessions lists them all",
                shown_url(url)
            );
        }
    }

    let mut out = std::io::stdout().lock();
    if args.json {
        let value: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut v = json!(r.session);
                v["laps"] = json!(r.counts.laps());
                v["drivers"] = json!(r.drivers);
                v["best_lap"] = json!(r.best_lap);
                v
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else if rows.is_empty() {
        if all == 0 {
            writeln!(out, "no sessions in {}", shown_url(url))?;
        }
    } else {
        let mut t = Table::new(&[
            ("ID", Align::Right),
            ("CIRCUIT", Align::Left),
            ("DATE", Align::Left),
            ("TYPE", Align::Left),
            ("LAPS", Align::Right),
            ("DRIVERS", Align::Right),
            ("BEST LAP", Align::Right),
        ]);
        for r in &rows {
            t.row(vec![
                r.session.id.to_string(),
                r.session.circuit.clone(),
                r.session.date.clone(),
                r.session.race_type.clone(),
                r.counts.laps().to_string(),
                r.drivers.to_string(),
                table::or_dash(r.best_lap, table::lap_time),
            ]);
        }
        t.write(&mut out)?;
    }
    Ok(())
}
