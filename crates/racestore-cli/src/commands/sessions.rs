//! `racestore sessions`: what the store holds, one line per session.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::{RaceStoreExt, Session, SessionQuery};
use serde_json::json;

use super::{close_store, open_store};
use crate::table::{self, Align, Table};

/// Options of `racestore sessions`.
#[derive(Debug, Args)]
pub(crate) struct SessionsArgs {
    /// Only sessions at this circuit (the exact name, as stored)
    #[arg(long, value_name = "NAME")]
    circuit: Option<String>,

    /// Print the sessions as a JSON array instead of a table
    #[arg(long)]
    json: bool,
}

/// A session with what its laps say about it.
#[derive(Debug)]
struct SessionRow {
    session: Session,
    laps: usize,
    drivers: usize,
    best_lap: Option<f64>,
}

/// Runs `racestore sessions` against the store `url`.
pub(crate) fn run(url: &str, args: &SessionsArgs) -> anyhow::Result<()> {
    let store = open_store(url)?;
    let mut query = SessionQuery::all();
    if let Some(circuit) = &args.circuit {
        query = query.circuit(circuit);
    }
    let sessions = store
        .get_sessions(&query)
        .with_context(|| format!("listing the sessions in {url}"))?;
    let mut rows = Vec::with_capacity(sessions.len());
    for session in sessions {
        let laps = store
            .get_session_laps(session.id)
            .with_context(|| format!("reading the laps of session {}", session.id))?;
        rows.push(SessionRow {
            laps: laps.len(),
            drivers: laps
                .iter()
                .map(|l| l.driver_id.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            best_lap: laps.iter().map(|l| l.lap_time).reduce(f64::min),
            session,
        });
    }
    close_store(store.as_ref(), url)?;

    let mut out = std::io::stdout().lock();
    if args.json {
        let value: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut v = json!(r.session);
                v["laps"] = json!(r.laps);
                v["drivers"] = json!(r.drivers);
                v["best_lap"] = json!(r.best_lap);
                v
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else if rows.is_empty() {
        match &args.circuit {
            Some(circuit) => writeln!(out, "no sessions at {circuit:?} in {url}")?,
            None => writeln!(out, "no sessions in {url}")?,
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
                r.laps.to_string(),
                r.drivers.to_string(),
                table::or_dash(r.best_lap, table::lap_time),
            ]);
        }
        t.write(&mut out)?;
    }
    Ok(())
}
