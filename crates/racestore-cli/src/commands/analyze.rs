//! `racestore analyze SESSION`: the original's five driver metrics of a session, computed by the
//! library (`racestore::analysis::metrics`), printed and optionally stored.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::analysis::metrics::{self, Metrics};
use racestore::Id;
use serde_json::json;

use super::{close_store, open_existing_store, open_store_for_reading, plural, shell_quote, shown_url};
use crate::table::{Align, Table};

/// Options of `racestore analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// The session's id (racestore sessions lists them)
    #[arg(value_name = "SESSION")]
    session: Id,

    /// Print per driver the original's metrics dict (its keys and values) as one JSON object
    #[arg(long)]
    json: bool,

    /// Store each driver's metrics in the session, as the original's save_driver_metrics did
    #[arg(long)]
    save: bool,
}

/// Runs `racestore analyze` against the store `url`.
pub(crate) fn run(url: &str, args: &AnalyzeArgs) -> anyhow::Result<()> {
    // Without --save nothing is written: opened read-only, and a missing store is an error.
    let store = if args.save {
        open_existing_store(url)?
    } else {
        open_store_for_reading(url)?
    };
    let id = args.session;
    let analysis = metrics::analyze_session(store.as_ref(), id).map_err(|err| match err {
        racestore::Error::NotFound { .. } => anyhow::anyhow!(
            "there is no session {id} in {}; list them with: racestore sessions --store {}",
            shown_url(url),
            shell_quote(&shown_url(url))
        ),
        err => anyhow::Error::new(err).context(format!("analysing session {id}")),
    })?;
    let saved = if args.save {
        Some(
            metrics::save_session_metrics(store.as_ref(), &analysis)
                .with_context(|| format!("saving the driver metrics of session {id}"))?,
        )
    } else {
        None
    };
    close_store(store.as_ref(), url)?;

    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = json!({"session_id": id, "drivers": analysis.drivers});
        if let Some(ids) = &saved {
            value["saved_ids"] = json!(ids);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "session {id}: driver metrics of {}, as the original GR Race Guardian computes them",
        plural(analysis.drivers.0.len() as u64, "driver")
    )?;
    writeln!(out)?;
    let mut t = Table::new(&[
        ("DRIVER", Align::Left),
        ("CONSISTENCY", Align::Right),
        ("AGGRESSION", Align::Right),
        ("STYLE", Align::Left),
        ("TREND S/LAP", Align::Right),
        ("R²", Align::Right),
        ("DROPOFF", Align::Right),
        ("FATIGUE", Align::Left),
        ("BEST", Align::Left),
        ("WORST", Align::Left),
        ("STRENGTH", Align::Right),
    ]);
    for (driver, m) in &analysis.drivers.0 {
        t.row(row(driver, m));
    }
    t.write(&mut out)?;
    writeln!(out)?;
    writeln!(
        out,
        "CONSISTENCY: 1 - stdev/mean of the kept laps (all but IN_LAP, OUT_LAP, SAFETY_CAR, ERROR_LAP,"
    )?;
    writeln!(
        out,
        "PIT_LAP). TREND: slope of lap time over lap number. DROPOFF: second half of the kept laps vs"
    )?;
    writeln!(
        out,
        "the first (* = t-test p < 0.05). BEST/WORST: sector with the highest/lowest best/mean ratio;"
    )?;
    writeln!(
        out,
        "STRENGTH: their ratio. Definitions and quirks: docs/analysis.md."
    )?;
    if let Some(ids) = saved {
        writeln!(
            out,
            "saved {} driver metrics records into session {id} (ids {})",
            ids.len(),
            id_range(&ids)
        )?;
    }
    Ok(())
}

fn row(driver: &str, m: &Metrics) -> Vec<String> {
    let number = |v: f64, decimals: usize| {
        if v.is_nan() {
            "-".to_owned()
        } else {
            format!("{v:.decimals$}")
        }
    };
    let fatigue = &m.fatigue_dropoff;
    vec![
        driver.to_owned(),
        number(m.consistency_index, 4),
        number(m.aggression_score.aggression_score, 3),
        m.aggression_score.interpretation.clone(),
        if m.pace_stability.p_value.is_some() {
            format!("{:+.4}", m.pace_stability.slope)
        } else {
            "-".to_owned()
        },
        if m.pace_stability.p_value.is_some() {
            number(m.pace_stability.r_squared, 3)
        } else {
            "-".to_owned()
        },
        match &fatigue.interpretation {
            Some(_) => format!(
                "{:+.2}%{}",
                fatigue.dropoff_percent,
                if fatigue.significant { "*" } else { "" }
            ),
            None => "-".to_owned(),
        },
        fatigue
            .interpretation
            .clone()
            .unwrap_or_else(|| "(under 10 laps)".to_owned()),
        m.sector_strength.best_sector.clone(),
        m.sector_strength.worst_sector.clone(),
        number(m.sector_strength.strength_index, 4),
    ]
}

/// `4` or `4-25`.
pub(crate) fn id_range(ids: &[Id]) -> String {
    match (ids.first(), ids.last()) {
        (Some(a), Some(b)) if a != b => format!("{a}-{b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    }
}
