//! `racestore show SESSION`: one session, driver by driver, computed from the laps the store returns.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::analysis::race::{self, Rule};
use racestore::{Id, RaceStoreExt};
use serde_json::json;

use super::{close_store, open_store_for_reading, plural, shell_quote, shown_url};
use crate::table::{self, Align, Table};

/// Options of `racestore show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The session's id (racestore sessions lists them)
    #[arg(value_name = "SESSION")]
    session: Id,

    /// Print the session and its per-driver summary as one JSON object instead of tables
    #[arg(long)]
    json: bool,
}

/// Runs `racestore show` against the store `url`.
pub(crate) fn run(url: &str, args: &ShowArgs) -> anyhow::Result<()> {
    let store = open_store_for_reading(url)?;
    let id = args.session;
    let session = store
        .get_session(id)
        .with_context(|| format!("reading session {id}"))?
        .with_context(|| {
            format!(
                "there is no session {id} in {}; list them with: racestore sessions --store {}",
                shown_url(url),
                shell_quote(&shown_url(url))
            )
        })?;
    let laps = store
        .get_session_laps(id)
        .with_context(|| format!("reading the laps of session {id}"))?;
    let metrics = store.get_session_metrics(id)?.len();
    let predictions = store.get_session_predictions(id)?.len();
    let simulations = store.get_session_simulations(id)?.len();
    close_store(store.as_ref(), url)?;

    let analysis = race::analyse(&session, &laps);
    let drivers = &analysis.classification;
    let lap_types = &analysis.counts.lap_types;

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "session": session,
            "counts": {
                "drivers": analysis.counts.competitors,
                "laps": analysis.counts.laps,
                "driver_metrics": metrics,
                "predictions": predictions,
                "simulations": simulations,
            },
            "lap_types": lap_types,
            "classified_by": analysis.rule,
            "drivers": drivers,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }

    writeln!(
        out,
        "session {}: {}, {}, {}",
        session.id, session.circuit, session.race_type, session.date
    )?;
    let types: Vec<String> = lap_types.iter().map(|(t, n)| format!("{t} {n}")).collect();
    writeln!(
        out,
        "{}, {}{}",
        plural(analysis.counts.competitors as u64, "driver"),
        plural(analysis.counts.laps as u64, "lap"),
        if types.is_empty() {
            String::new()
        } else {
            format!(" ({})", types.join(", "))
        }
    )?;
    writeln!(
        out,
        "{metrics} driver metrics, {}, {}; recorded {}",
        plural(predictions as u64, "prediction"),
        plural(simulations as u64, "simulation"),
        session.created_at
    )?;
    if drivers.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut t = Table::new(&[
        ("POS", Align::Right),
        ("DRIVER", Align::Left),
        ("LAPS", Align::Right),
        ("TIME/GAP", Align::Right),
        ("BEST LAP", Align::Right),
        ("ON LAP", Align::Right),
        ("BEST S1", Align::Right),
        ("BEST S2", Align::Right),
        ("BEST S3", Align::Right),
        ("THEORETICAL", Align::Right),
        ("AVG GREEN", Align::Right),
        ("PITS", Align::Right),
    ]);
    for d in drivers {
        let s = &d.best_sectors;
        t.row(vec![
            d.position.to_string(),
            d.competitor.to_string(),
            d.laps.to_string(),
            table::time_or_gap(analysis.rule, d),
            table::lap_time(d.best_lap),
            d.best_lap_number.to_string(),
            table::or_dash(s.s1, table::seconds),
            table::or_dash(s.s2, table::seconds),
            table::or_dash(s.s3, table::seconds),
            table::or_dash(d.theoretical_best, table::lap_time),
            table::or_dash(d.average_green_lap, table::lap_time),
            d.pit_stops.to_string(),
        ]);
    }
    t.write(&mut out)?;
    writeln!(out)?;
    match analysis.rule {
        Rule::Race => writeln!(
            out,
            "POS: most laps, then shortest total time. TIME/GAP: the winner's race time, then the gap to the\n\
             winner (in laps when lapped)."
        )?,
        Rule::BestLap => writeln!(
            out,
            "POS: fastest lap first. TIME/GAP: the fastest lap, then the gap to it."
        )?,
    }
    writeln!(
        out,
        "THEORETICAL: best S1 + S2 + S3. AVG GREEN: mean of RACE_LAP (normal, qualifying) laps, lap 1 of\n\
         a race left out. PITS: IN_LAP (pit) laps."
    )?;
    Ok(())
}
