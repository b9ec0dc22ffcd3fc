//! `racestore show SESSION`: one session, car by car (or driver by driver where no entry names a
//! car), computed by `racestore::analysis::race` from the laps and entries the store returns.

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

    /// Print the session, its classification and its entries as one JSON object instead of tables
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
    let entries = store
        .get_session_entries(id)
        .with_context(|| format!("reading the entries of session {id}"))?;
    let metrics = store.get_session_metrics(id)?.len();
    let predictions = store.get_session_predictions(id)?.len();
    let simulations = store.get_session_simulations(id)?.len();
    close_store(store.as_ref(), url)?;

    let analysis = race::analyse_entries(&session, &laps, &entries);
    let standings = &analysis.classification;
    let lap_types = &analysis.counts.lap_types;

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "session": session,
            "counts": {
                "competitors": analysis.counts.competitors,
                "drivers": analysis.counts.drivers,
                "laps": analysis.counts.laps,
                "entries": entries.len(),
                "driver_metrics": metrics,
                "predictions": predictions,
                "simulations": simulations,
            },
            "lap_types": lap_types,
            "classified_by": analysis.rule,
            "classification": standings,
            "entries": entries,
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
    let cars = standings.iter().filter(|s| s.competitor.is_car()).count();
    let who = if cars == 0 {
        plural(analysis.counts.drivers as u64, "driver")
    } else {
        let alone = standings.len() - cars;
        format!(
            "{}{}, {}",
            plural(cars as u64, "car"),
            if alone == 0 {
                String::new()
            } else {
                format!(" and {alone} without an entry naming a car")
            },
            plural(analysis.counts.drivers as u64, "driver")
        )
    };
    writeln!(
        out,
        "{who}, {}{}",
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
    if standings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let classes = standings.iter().any(|s| s.class.is_some());
    let teams = standings.iter().any(|s| s.team.is_some());
    let mut columns = vec![("POS", Align::Right)];
    if classes {
        columns.extend([("CLASS", Align::Left), ("PIC", Align::Right)]);
    }
    columns.push((if cars == 0 { "DRIVER" } else { "CAR" }, Align::Left));
    if teams {
        columns.push(("TEAM", Align::Left));
    }
    columns.extend([
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
    let mut t = Table::new(&columns);
    for d in standings {
        let s = &d.best_sectors;
        let mut row = vec![d.position.to_string()];
        if classes {
            row.push(d.class.clone().unwrap_or_else(|| "-".to_owned()));
            row.push(table::or_dash(d.class_position, |p| p.to_string()));
        }
        row.push(d.competitor.to_string());
        if teams {
            row.push(d.team.clone().unwrap_or_else(|| "-".to_owned()));
        }
        row.extend([
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
        t.row(row);
        // A car's drivers, each on a line of their own under it: id and name, laps, best lap;
        // not for a car driven by one unnamed driver under its own number (GR Cup).
        if says_more(d) {
            for driver in &d.drivers {
                let mut row = vec![String::new(); columns.len()];
                let at = |name: &str| columns.iter().position(|(c, _)| *c == name).unwrap_or(0);
                row[at("CAR")] = match &driver.driver_name {
                    Some(name) => format!("  {} {name}", driver.driver_id),
                    None => format!("  {}", driver.driver_id),
                };
                row[at("LAPS")] = driver.laps.to_string();
                row[at("BEST LAP")] = table::lap_time(driver.best_lap);
                t.row(row);
            }
        }
    }
    t.write(&mut out)?;
    writeln!(out)?;
    if standings.iter().any(says_more) {
        writeln!(
            out,
            "A car's laps are those of all its drivers (listed under it with their laps and best lap)."
        )?;
    }
    if classes {
        writeln!(out, "PIC: position in class.")?;
    }
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

/// Whether a car's drivers are worth listing under it: several, or one with a name or an id
/// other than the car number.
fn says_more(standing: &race::Standing) -> bool {
    standing.competitor.is_car()
        && (standing.drivers.len() > 1
            || standing
                .drivers
                .iter()
                .any(|d| d.driver_name.is_some() || d.driver_id != standing.competitor.id()))
}
