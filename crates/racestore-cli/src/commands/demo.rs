//! `racestore demo`: generates a race, writes it through the library, and prints what the store
//! gives back.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::analysis::metrics;
use racestore::analysis::race::{self, SessionAnalysis};
use racestore::analysis::simulation::{self, Model, SessionOptions};
use racestore::{
    Id, NewLap, NewPrediction, NewSession, Prediction, RaceStore, RaceStoreExt, Sectors, Session, Simulation,
};
use serde_json::{json, Value};

use super::{close_store, open_store, plural, shell_quote, shown_url};
use crate::synthetic::{self, Race};
use crate::table::{self, Align, Table};

/// Monte Carlo iterations of the demo's race simulation.
const ITERATIONS: u64 = 1000;

/// Options of `racestore demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
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
pub(crate) fn run(url: &str, args: &DemoArgs) -> anyhow::Result<()> {
    let race = synthetic::generate(args.seed, args.drivers.into(), args.laps.into());
    let shown = shown_url(url);
    let store = open_store(url)?;
    let session = write_race(store.as_ref(), &race, args.seed)
        .with_context(|| format!("writing the demo race into {shown}"))?;
    let summary = Summary::read(store.as_ref(), session)
        .with_context(|| format!("reading session {session} back from {shown}"))?;
    close_store(store.as_ref(), url)?;

    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = summary.to_json();
        value["store"] = json!(shown);
        value["seed"] = json!(args.seed);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        summary.write_table(&mut out, &shown, args.seed)?;
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

    // The driver metrics and the simulation: the library's, from the laps as stored.
    let metrics = metrics::analyze_session(store, session).context("computing the driver metrics")?;
    metrics::save_session_metrics(store, &metrics).context("saving the driver metrics")?;
    let analyses = synthetic::analyse(race);

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

    let options = SessionOptions {
        n_laps: None,
        iterations: ITERATIONS,
        seed,
        model: Model::Original,
        // The original keeps its first 10 races lap by lap; in the demo's store they would be
        // most of its size (about 250 KB a run), so the demo's record keeps none.
        sample_races: 0,
    };
    let simulated = simulation::simulate_session(store, session, &options).context("simulating the race")?;
    simulation::save_simulation(store, &simulated).context("saving the Monte Carlo simulation")?;
    Ok(session)
}

/// A session as the store gives it back, analysed.
#[derive(Debug)]
struct Summary {
    session: Session,
    analysis: SessionAnalysis,
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
        Ok(Summary {
            analysis: race::analyse(&session, &laps),
            session,
            metrics: store.get_session_metrics(id)?.len(),
            predictions: store.get_session_predictions(id)?,
            simulations: store.get_session_simulations(id)?,
        })
    }

    /// The chance the last simulation gave `driver` of winning, if it gave one.
    fn win_probability(&self, driver: &str) -> Option<f64> {
        self.simulations
            .last()
            .and_then(|s| s.results.get("win_probability"))
            .and_then(|w| w.get(driver))
            .and_then(Value::as_f64)
    }

    fn write_table(&self, out: &mut impl Write, url: &str, seed: u64) -> std::io::Result<()> {
        let s = &self.session;
        writeln!(
            out,
            "wrote session {} to {url}: {}, {}, {} driver metrics, {}, {} (seed {seed})",
            s.id,
            count(self.analysis.counts.competitors, "driver"),
            count(self.analysis.counts.laps, "lap"),
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
        for row in &self.analysis.classification {
            let [s1, s2, s3] = row
                .best_sectors
                .to_array()
                .map(|s| table::or_dash(s, table::seconds));
            t.row(vec![
                row.position.to_string(),
                row.competitor.to_string(),
                row.laps.to_string(),
                table::time_or_gap(self.analysis.rule, row),
                table::lap_time(row.best_lap),
                table::or_dash(row.average_green_lap, table::lap_time),
                s1,
                s2,
                s3,
                row.pit_stops.to_string(),
                table::or_dash(self.win_probability(row.competitor.id()), table::percent),
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
                "simulation: {} of {} from each driver's median green lap, model {} (WIN column)",
                count(sim.iterations.try_into().unwrap_or(0), "iteration"),
                count(sim.n_laps.try_into().unwrap_or(0), "lap"),
                sim.results
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("original"),
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
            .analysis
            .classification
            .iter()
            .map(|row| {
                let mut value = json!(row);
                value["win_probability"] = json!(self.win_probability(row.competitor.id()));
                value
            })
            .collect();
        json!({
            "store": null,
            "seed": null,
            "session": self.session,
            "written": {
                "laps": self.analysis.counts.laps,
                "driver_metrics": self.metrics,
                "predictions": self.predictions.len(),
                "simulations": self.simulations.len(),
            },
            "classified_by": self.analysis.rule,
            "drivers": drivers,
            "predictions": self.predictions,
            "simulation": self.simulations.last(),
        })
    }
}

/// `1 lap`, `2 laps`.
fn count(n: usize, noun: &str) -> String {
    plural(n as u64, noun)
}
