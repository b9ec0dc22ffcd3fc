//! `racestore demo`: generates a race, writes it through the library, and prints what the store
//! gives back.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::{
    Id, Lap, NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, Prediction, RaceStore,
    RaceStoreExt, Sectors, Session, Simulation,
};
use serde_json::{json, Value};

use super::{close_store, open_store, shell_quote};
use crate::synthetic::{self, Race};
use crate::table::{self, Align, Table};

/// Monte Carlo iterations of the demo's race simulation.
const ITERATIONS: usize = 1000;

/// Options of `racestore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the race generator: the same seed writes the same race
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Drivers on the grid (1 to 98)
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=98))]
    drivers: u16,

    /// Race distance in laps (1 to 200)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=200))]
    laps: u16,

    /// Print the summary as JSON (one object) instead of a table
    #[arg(long)]
    json: bool,
}

/// Runs `racestore demo` against the store `url`.
pub fn run(url: &str, args: &DemoArgs) -> anyhow::Result<()> {
    let race = synthetic::generate(args.seed, args.drivers.into(), args.laps.into());
    let store = open_store(url)?;
    let session = write_race(store.as_ref(), &race, args.seed)
        .with_context(|| format!("writing the demo race into {url}"))?;
    let summary = Summary::read(store.as_ref(), session)
        .with_context(|| format!("reading session {session} back from {url}"))?;
    close_store(store.as_ref(), url)?;

    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = summary.to_json();
        value["store"] = json!(url);
        value["seed"] = json!(args.seed);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        summary.write_table(&mut out, url, args.seed)?;
    }
    Ok(())
}

/// Writes the race, its metrics, a prediction and a simulation; returns the new session's id.
fn write_race(store: &dyn RaceStore, race: &Race, seed: u64) -> anyhow::Result<Id> {
    let session = store
        .create_session(
            &NewSession::new(synthetic::CIRCUIT)
                .date(synthetic::DATE)
                .race_type(synthetic::RACE_TYPE),
        )
        .context("creating the session")?;

    let laps: Vec<NewLap> = race
        .laps
        .iter()
        .map(|lap| {
            let [s1, s2, s3] = lap.sectors_ms.map(synthetic::seconds);
            NewLap::new(
                session,
                &race.drivers[lap.driver],
                lap.lap_number,
                synthetic::seconds(lap.lap_ms()),
            )
            .sectors(Sectors::new(s1, s2, s3))
            .lap_type(lap.kind.as_str())
            .position(lap.position)
        })
        .collect();
    store
        .save_laps(&laps)
        .with_context(|| format!("saving {} laps", laps.len()))?;

    let analyses = synthetic::analyse(race);
    for (driver, a) in race.drivers.iter().zip(&analyses) {
        let [s1, s2, s3] = a.sector_strength;
        let metrics = NewDriverMetrics {
            consistency_index: Some(a.consistency_index),
            aggression_score: Some(a.aggression_score),
            sector_strength: json!({"S1": s1, "S2": s2, "S3": s3}),
            pace_stability: json!({"std": a.pace_std, "trend": a.pace_trend}),
            fatigue_dropoff: json!({
                "dropoff_per_lap": a.dropoff_per_lap,
                "early_average": a.early_average,
                "late_average": a.late_average,
            }),
            ..NewDriverMetrics::new(session, driver)
        };
        store
            .save_driver_metrics(&metrics)
            .with_context(|| format!("saving the metrics of {driver}"))?;
    }

    // The leader's next lap, from the trend of their green laps.
    let final_lap = race.laps.iter().map(|l| l.lap_number).max().unwrap_or(0);
    let leader = race
        .laps
        .iter()
        .find(|l| l.lap_number == final_lap && l.position == 1)
        .map_or(0, |l| l.driver);
    let prediction = NewPrediction {
        session_id: session,
        driver_id: race.drivers[leader].clone(),
        prediction_type: "lap_time".to_owned(),
        prediction_value: analyses[leader].next_lap,
        model_path: synthetic::PREDICTION_MODEL.to_owned(),
        confidence: Some(analyses[leader].next_lap_confidence),
    };
    store
        .save_prediction(&prediction)
        .context("saving the lap-time prediction")?;

    let paces: Vec<f64> = analyses.iter().map(|a| a.median_lap).collect();
    let n_laps = usize::try_from(final_lap).unwrap_or(0).max(1);
    let simulated = synthetic::monte_carlo(&paces, n_laps, ITERATIONS, seed);
    let by_driver = |values: &[f64]| -> Value {
        Value::Object(
            race.drivers
                .iter()
                .cloned()
                .zip(values.iter().map(|&v| json!(v)))
                .collect(),
        )
    };
    let simulation = NewSimulation {
        session_id: session,
        driver_paces: by_driver(&paces),
        n_laps: n_laps as i64,
        iterations: ITERATIONS as i64,
        results: json!({
            "win_probability": by_driver(&simulated.win_probability),
            "expected_positions": by_driver(&simulated.expected_position),
        }),
    };
    store
        .save_simulation(&simulation)
        .context("saving the Monte Carlo simulation")?;
    Ok(session)
}

/// One driver's race, computed from the laps read back from the store.
#[derive(Debug)]
struct DriverRow {
    driver: String,
    /// Position at the end of the driver's last lap.
    position: Option<i64>,
    laps: usize,
    total_time: f64,
    best_lap: Option<f64>,
    /// Mean of the green-flag laps: `RACE_LAP` laps after the first.
    average_green_lap: Option<f64>,
    best_sectors: [Option<f64>; 3],
    pit_stops: usize,
    win_probability: Option<f64>,
}

/// A session as the store gives it back.
#[derive(Debug)]
struct Summary {
    session: Session,
    rows: Vec<DriverRow>,
    laps: usize,
    metrics: usize,
    predictions: Vec<Prediction>,
    simulations: Vec<Simulation>,
}

impl Summary {
    /// Reads session `id` and everything under it from the store.
    fn read(store: &dyn RaceStore, id: Id) -> anyhow::Result<Summary> {
        let session = store
            .get_session(id)?
            .with_context(|| format!("session {id} is not in the store"))?;
        let laps = store.get_session_laps(id)?;
        let metrics = store.get_session_metrics(id)?.len();
        let predictions = store.get_session_predictions(id)?;
        let simulations = store.get_session_simulations(id)?;
        let win_probability = simulations
            .last()
            .and_then(|s| s.results.get("win_probability"))
            .and_then(Value::as_object);

        let mut by_driver: Vec<(String, Vec<&Lap>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for lap in &laps {
            let slot = *index.entry(&lap.driver_id).or_insert_with(|| {
                by_driver.push((lap.driver_id.clone(), Vec::new()));
                by_driver.len() - 1
            });
            by_driver[slot].1.push(lap);
        }
        let mut rows: Vec<DriverRow> = by_driver
            .into_iter()
            .map(|(driver, laps)| {
                let min = |f: &dyn Fn(&Lap) -> Option<f64>| laps.iter().filter_map(|l| f(l)).reduce(f64::min);
                let green: Vec<f64> = laps
                    .iter()
                    .filter(|l| l.lap_type == "RACE_LAP" && l.lap_number > 1)
                    .map(|l| l.lap_time)
                    .collect();
                DriverRow {
                    position: laps.iter().max_by_key(|l| l.lap_number).and_then(|l| l.position),
                    laps: laps.len(),
                    total_time: laps.iter().map(|l| l.lap_time).sum(),
                    best_lap: min(&|l| Some(l.lap_time)),
                    average_green_lap: (!green.is_empty())
                        .then(|| (green.iter().sum::<f64>() / green.len() as f64 * 1000.0).round() / 1000.0),
                    best_sectors: [min(&|l| l.sector_1), min(&|l| l.sector_2), min(&|l| l.sector_3)],
                    pit_stops: laps.iter().filter(|l| l.lap_type == "IN_LAP").count(),
                    win_probability: win_probability
                        .and_then(|w| w.get(&driver))
                        .and_then(Value::as_f64),
                    driver,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let position = |r: &DriverRow| r.position.unwrap_or(i64::MAX);
            position(a)
                .cmp(&position(b))
                .then_with(|| a.driver.cmp(&b.driver))
        });
        Ok(Summary {
            session,
            rows,
            laps: laps.len(),
            metrics,
            predictions,
            simulations,
        })
    }

    /// The winner's race time, or the gap to the winner (in time, or in laps when lapped).
    fn time_or_gap(&self, row: &DriverRow) -> String {
        match self.rows.first() {
            Some(winner) if std::ptr::eq(winner, row) => table::lap_time(row.total_time),
            Some(winner) if winner.laps > row.laps => {
                format!("+{}", count(winner.laps - row.laps, "lap"))
            }
            Some(winner) => format!("+{}", table::seconds(row.total_time - winner.total_time)),
            None => "-".to_owned(),
        }
    }

    fn write_table(&self, out: &mut impl Write, url: &str, seed: u64) -> std::io::Result<()> {
        let s = &self.session;
        writeln!(
            out,
            "wrote session {} to {url}: {}, {}, {} driver metrics, {}, {} (seed {seed})",
            s.id,
            count(self.rows.len(), "driver"),
            count(self.laps, "lap"),
            self.metrics,
            count(self.predictions.len(), "prediction"),
            count(self.simulations.len(), "simulation"),
        )?;
        writeln!(
            out,
            "{}, {} on {}, as read back from the store:",
            s.circuit, s.race_type, s.date
        )?;
        writeln!(out)?;
        let mut t = Table::new(&[
            ("POS", Align::Right),
            ("DRIVER", Align::Left),
            ("LAPS", Align::Right),
            ("TIME/GAP", Align::Right),
            ("BEST LAP", Align::Right),
            ("AVG GREEN", Align::Right),
            ("BEST S1", Align::Right),
            ("BEST S2", Align::Right),
            ("BEST S3", Align::Right),
            ("PITS", Align::Right),
            ("WIN", Align::Right),
        ]);
        for row in &self.rows {
            let [s1, s2, s3] = row.best_sectors.map(|s| table::or_dash(s, table::seconds));
            t.row(vec![
                table::or_dash(row.position, |p| p.to_string()),
                row.driver.clone(),
                row.laps.to_string(),
                self.time_or_gap(row),
                table::or_dash(row.best_lap, table::lap_time),
                table::or_dash(row.average_green_lap, table::lap_time),
                s1,
                s2,
                s3,
                row.pit_stops.to_string(),
                table::or_dash(row.win_probability, table::percent),
            ]);
        }
        t.write(out)?;
        writeln!(out)?;
        for p in &self.predictions {
            let value = if p.prediction_type == "lap_time" {
                table::lap_time(p.prediction_value)
            } else {
                p.prediction_value.to_string()
            };
            let confidence = table::or_dash(p.confidence, |c| format!("{c:.2}"));
            writeln!(
                out,
                "prediction: {} next {} {value} (confidence {confidence}, {})",
                p.driver_id, p.prediction_type, p.model_path
            )?;
        }
        if let Some(sim) = self.simulations.last() {
            writeln!(
                out,
                "simulation: {} of {} from each driver's median green lap (WIN column)",
                count(sim.iterations.try_into().unwrap_or(0), "iteration"),
                count(sim.n_laps.try_into().unwrap_or(0), "lap"),
            )?;
        }
        writeln!(
            out,
            "list the sessions: racestore sessions --store {}",
            shell_quote(url)
        )
    }

    fn to_json(&self) -> Value {
        let drivers: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let [s1, s2, s3] = row.best_sectors;
                json!({
                    "position": row.position,
                    "driver_id": row.driver,
                    "laps": row.laps,
                    "total_time": (row.total_time * 1000.0).round() / 1000.0,
                    "best_lap": row.best_lap,
                    "average_green_lap": row.average_green_lap,
                    "best_sectors": {"S1": s1, "S2": s2, "S3": s3},
                    "pit_stops": row.pit_stops,
                    "win_probability": row.win_probability,
                })
            })
            .collect();
        json!({
            "store": null,
            "seed": null,
            "session": self.session,
            "written": {
                "laps": self.laps,
                "driver_metrics": self.metrics,
                "predictions": self.predictions.len(),
                "simulations": self.simulations.len(),
            },
            "drivers": drivers,
            "predictions": self.predictions,
            "simulation": self.simulations.last(),
        })
    }
}

/// `1 lap`, `2 laps`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
