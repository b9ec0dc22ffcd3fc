//! `racestore simulate SESSION`: the original's Monte Carlo race simulation from the session's
//! paces, computed by the library (`racestore::analysis::simulation`), printed and optionally
//! stored.

use std::io::Write;
use std::time::Instant;

use clap::Args;
use racestore::analysis::simulation::{self, Model, SessionOptions};
use racestore::Id;
use serde_json::json;

use super::{close_store, open_existing_store, open_store_for_reading, shell_quote, shown_url};
use crate::table::{self, Align, Table};

/// The seed when none is given, so that a plain run repeats.
pub(crate) const DEFAULT_SEED: u64 = 42;

/// Options of `racestore simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The session's id (racestore sessions lists them)
    #[arg(value_name = "SESSION")]
    session: Id,

    /// Races to simulate (each from its own random stream; run in parallel)
    #[arg(long, value_name = "N")]
    iterations: u64,

    /// Laps per race [default: the session's distance, its highest lap number]
    #[arg(long, value_name = "L", allow_negative_numbers = true)]
    laps: Option<i64>,

    /// The seed: the same seed gives the same results on any machine and thread count
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    seed: u64,

    /// The lap-time model: original (+8 % of the pace per lap of a stint, as the original
    /// GR Race Guardian; finishing times about twice a real race's) or fitted (each driver's
    /// degradation and the fuel effect fitted from the session's green laps)
    #[arg(long, value_name = "MODEL", default_value = "original", value_parser = parse_model)]
    model: Model,

    /// Print the paces and per driver the win probability, position distribution and expected
    /// finishing time as one JSON object
    #[arg(long)]
    json: bool,

    /// Store the simulation (paces, laps, iterations, results) in the session, as the
    /// original's save_simulation did
    #[arg(long)]
    save: bool,
}

fn parse_model(text: &str) -> Result<Model, String> {
    text.parse::<Model>()
        .map_err(|_| format!("expected original or fitted, got {text:?}"))
}

/// Runs `racestore simulate` against the store `url`.
pub(crate) fn run(url: &str, args: &SimulateArgs) -> anyhow::Result<()> {
    // Without --save nothing is written: opened read-only, and a missing store is an error.
    let store = if args.save {
        open_existing_store(url)?
    } else {
        open_store_for_reading(url)?
    };
    let id = args.session;
    let options = SessionOptions {
        n_laps: args.laps,
        iterations: args.iterations,
        seed: args.seed,
        model: args.model,
        sample_races: simulation::SAMPLE_RACES,
    };
    let started = Instant::now();
    let sim = simulation::simulate_session(store.as_ref(), id, &options).map_err(|err| match err {
        racestore::Error::NotFound { .. } => anyhow::anyhow!(
            "there is no session {id} in {}; list them with: racestore sessions --store {}",
            shown_url(url),
            shell_quote(&shown_url(url))
        ),
        err => anyhow::Error::new(err).context(format!("simulating session {id}")),
    })?;
    let elapsed = started.elapsed();
    let saved = if args.save {
        Some(simulation::save_simulation(store.as_ref(), &sim).map_err(|err| {
            anyhow::Error::new(err).context(format!("saving the simulation of session {id}"))
        })?)
    } else {
        None
    };
    close_store(store.as_ref(), url)?;

    let results = &sim.results;
    let drivers: Vec<_> = sim
        .paces
        .driver_paces
        .iter()
        .map(|(driver, pace)| {
            let stats = results.average_times.get(driver).copied();
            json!({
                "driver_id": driver,
                "pace": pace,
                "win_probability": results.win_probability(driver),
                "position_distribution": results.position_distribution(driver),
                "expected_finishing_time": results.expected_finishing_time(driver),
                "finishing_time_std": stats.map(|s| s.std),
                "most_likely_position": results.most_likely_positions.get(driver),
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = json!({
            "session_id": id,
            "model": results.model,
            "seed": results.seed,
            "n_laps": results.n_laps,
            "iterations": results.iterations,
            "driver_paces": simulation::Keyed(sim.paces.driver_paces.clone()),
            "left_out": sim.paces.left_out,
            "drivers": drivers,
        });
        if let Some(fitted) = &results.fitted {
            value["fitted"] = json!(fitted);
        }
        if let Some(saved) = saved {
            value["saved_id"] = json!(saved);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }

    writeln!(
        out,
        "session {id}: {} simulated races of {} laps, model {}, seed {} ({:.2} s)",
        thousands(results.iterations),
        results.n_laps,
        results.model,
        results.seed,
        elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "paces: each driver's median green lap{}",
        if sim.paces.left_out.is_empty() {
            String::new()
        } else {
            format!("; left out (no green lap): {}", sim.paces.left_out.join(", "))
        }
    )?;
    if let Some(fit) = &results.fitted {
        writeln!(
            out,
            "fitted: fuel effect {:+.4} s per lap of a stint; DEGR: each driver's own degradation beyond it",
            fit.fuel_effect_per_lap
        )?;
    }
    writeln!(out)?;
    let mut columns = vec![
        ("DRIVER", Align::Left),
        ("PACE", Align::Right),
        ("WIN", Align::Right),
        ("PODIUM", Align::Right),
        ("LIKELIEST", Align::Right),
        ("EXPECTED TIME", Align::Right),
        ("STDEV", Align::Right),
    ];
    if results.fitted.is_some() {
        columns.push(("DEGR S/LAP", Align::Right));
    }
    let mut t = Table::new(&columns);
    let mut order: Vec<&(String, f64)> = sim.paces.driver_paces.iter().collect();
    order.sort_by(|a, b| {
        let win = |d: &str| results.win_probability(d).unwrap_or(0.0);
        let time = |d: &str| results.expected_finishing_time(d).unwrap_or(f64::INFINITY);
        win(&b.0)
            .total_cmp(&win(&a.0))
            .then(time(&a.0).total_cmp(&time(&b.0)))
    });
    for (driver, pace) in order {
        let positions = results.position_distribution(driver).unwrap_or_default();
        let likeliest = results.most_likely_positions.get(driver);
        let mut row = vec![
            driver.clone(),
            table::lap_time(*pace),
            table::percent(positions.first().copied().unwrap_or(0.0)),
            table::percent(positions.iter().take(3).sum()),
            likeliest.map_or_else(String::new, |m| {
                format!("P{} {}", m.position, table::percent(m.probability))
            }),
            table::or_dash(results.expected_finishing_time(driver), table::race_time),
            table::or_dash(results.average_times.get(driver).map(|s| s.std), |s| {
                format!("{s:.3}")
            }),
        ];
        if let Some(fit) = &results.fitted {
            row.push(table::or_dash(
                fit.degradation_per_lap.get(driver).copied(),
                |d| format!("{d:+.4}"),
            ));
        }
        t.row(row);
    }
    t.write(&mut out)?;
    writeln!(out)?;
    writeln!(
        out,
        "WIN, PODIUM: share of races finished first, in the top 3. LIKELIEST: most frequent position."
    )?;
    if results.model == "original" {
        writeln!(
            out,
            "The original model adds 8 % of the pace per lap of a stint, so its times are about twice a"
        )?;
        writeln!(out, "real race's; --model fitted uses the session's own trends.")?;
    }
    if let Some(saved) = saved {
        writeln!(out, "saved simulation {saved} into session {id}")?;
    }
    Ok(())
}

/// `100000` as `100,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
