//! `racestore show SESSION`: one session, driver by driver, computed from the laps the store returns.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use clap::Args;
use racestore::model::lap_type;
use racestore::{Id, Lap, RaceStoreExt, Session};
use serde::Serialize;
use serde_json::json;

use super::{close_store, open_store, plural, shell_quote, shown_url};
use crate::table::{self, Align, Table};

/// Lap types at racing speed under the green flag, counted in the average green lap.
const GREEN: [&str; 3] = [lap_type::RACE_LAP, "normal", "qualifying"];

/// Lap types that end in the pit lane, counted as pit stops.
const PIT: [&str; 2] = [lap_type::IN_LAP, "pit"];

/// Options of `racestore show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The session's id (racestore sessions lists them)
    #[arg(value_name = "SESSION")]
    session: Id,

    /// Print the session and its per-driver summary as one JSON object instead of tables
    #[arg(long)]
    json: bool,
}

/// One driver's session, from their laps.
#[derive(Debug, Serialize)]
struct DriverSummary {
    driver_id: String,
    /// Running position at the end of the driver's last lap.
    final_position: Option<i64>,
    laps: usize,
    best_lap: Option<f64>,
    /// The lap number of the best lap.
    best_lap_number: Option<i64>,
    best_sectors: BestSectors,
    /// The sum of the best sectors, when all three were timed.
    theoretical_best: Option<f64>,
    /// The mean of the green laps, when there is one.
    average_green_lap: Option<f64>,
    green_laps: usize,
    pit_stops: usize,
}

/// Best time in each sector.
#[derive(Debug, Default, Serialize)]
struct BestSectors {
    #[serde(rename = "S1")]
    s1: Option<f64>,
    #[serde(rename = "S2")]
    s2: Option<f64>,
    #[serde(rename = "S3")]
    s3: Option<f64>,
}

/// Runs `racestore show` against the store `url`.
pub fn run(url: &str, args: &ShowArgs) -> anyhow::Result<()> {
    let store = open_store(url)?;
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

    let drivers = summarize(&session, &laps);
    let mut lap_types: BTreeMap<&str, usize> = BTreeMap::new();
    for lap in &laps {
        *lap_types.entry(lap.lap_type.as_str()).or_default() += 1;
    }

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "session": session,
            "counts": {
                "drivers": drivers.len(),
                "laps": laps.len(),
                "driver_metrics": metrics,
                "predictions": predictions,
                "simulations": simulations,
            },
            "lap_types": lap_types,
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
        plural(drivers.len() as u64, "driver"),
        plural(laps.len() as u64, "lap"),
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
        ("BEST LAP", Align::Right),
        ("ON LAP", Align::Right),
        ("BEST S1", Align::Right),
        ("BEST S2", Align::Right),
        ("BEST S3", Align::Right),
        ("THEORETICAL", Align::Right),
        ("AVG GREEN", Align::Right),
        ("PITS", Align::Right),
    ]);
    for d in &drivers {
        let s = &d.best_sectors;
        t.row(vec![
            table::or_dash(d.final_position, |p| p.to_string()),
            d.driver_id.clone(),
            d.laps.to_string(),
            table::or_dash(d.best_lap, table::lap_time),
            table::or_dash(d.best_lap_number, |n| n.to_string()),
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
    writeln!(
        out,
        "POS: position at the driver's last lap. THEORETICAL: best S1 + S2 + S3. AVG GREEN: mean of"
    )?;
    writeln!(
        out,
        "RACE_LAP (normal, qualifying) laps, lap 1 of a race left out. PITS: IN_LAP (pit) laps."
    )?;
    Ok(())
}

/// Per driver, in finishing order (drivers without a position last, by laps then best lap).
fn summarize(session: &Session, laps: &[Lap]) -> Vec<DriverSummary> {
    let is_race = session.race_type.to_ascii_lowercase().starts_with("race");
    let mut by_driver: BTreeMap<&str, Vec<&Lap>> = BTreeMap::new();
    for lap in laps {
        by_driver.entry(&lap.driver_id).or_default().push(lap);
    }
    let mut drivers: Vec<DriverSummary> = by_driver
        .into_iter()
        .map(|(driver, laps)| {
            let best =
                |sector: fn(&Lap) -> Option<f64>| laps.iter().filter_map(|l| sector(l)).reduce(f64::min);
            let best_sectors = BestSectors {
                s1: best(|l| l.sector_1),
                s2: best(|l| l.sector_2),
                s3: best(|l| l.sector_3),
            };
            let fastest = laps.iter().min_by(|a, b| a.lap_time.total_cmp(&b.lap_time));
            let green: Vec<f64> = laps
                .iter()
                .filter(|l| GREEN.contains(&l.lap_type.as_str()) && !(is_race && l.lap_number <= 1))
                .map(|l| l.lap_time)
                .collect();
            DriverSummary {
                driver_id: driver.to_owned(),
                // The last lap: the highest number, and of equal numbers the last saved.
                final_position: laps
                    .iter()
                    .max_by_key(|l| (l.lap_number, l.id))
                    .and_then(|l| l.position),
                laps: laps.len(),
                best_lap: fastest.map(|l| l.lap_time),
                best_lap_number: fastest.map(|l| l.lap_number),
                theoretical_best: match (best_sectors.s1, best_sectors.s2, best_sectors.s3) {
                    (Some(a), Some(b), Some(c)) => Some(millis(a + b + c)),
                    _ => None,
                },
                best_sectors,
                average_green_lap: (!green.is_empty())
                    .then(|| millis(green.iter().sum::<f64>() / green.len() as f64)),
                green_laps: green.len(),
                pit_stops: laps.iter().filter(|l| PIT.contains(&l.lap_type.as_str())).count(),
            }
        })
        .collect();
    drivers.sort_by(|a, b| {
        let position = |d: &DriverSummary| d.final_position.unwrap_or(i64::MAX);
        position(a)
            .cmp(&position(b))
            .then_with(|| b.laps.cmp(&a.laps))
            .then_with(|| {
                let best = |d: &DriverSummary| d.best_lap.unwrap_or(f64::INFINITY);
                best(a).total_cmp(&best(b))
            })
            .then_with(|| a.driver_id.cmp(&b.driver_id))
    });
    drivers
}

/// Rounded to the millisecond, as timing shows times.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lap(id: Id, driver: &str, number: i64, time: f64, sectors: [Option<f64>; 3], kind: &str) -> Lap {
        Lap {
            id,
            session_id: 1,
            driver_id: driver.into(),
            lap_number: number,
            lap_time: time,
            sector_1: sectors[0],
            sector_2: sectors[1],
            sector_3: sectors[2],
            lap_type: kind.into(),
            position: Some(if driver == "A" { 2 } else { 1 }),
            created_at: String::new(),
        }
    }

    fn session(race_type: &str) -> Session {
        Session {
            id: 1,
            circuit: "Barber".into(),
            date: "2025-09-06".into(),
            race_type: race_type.into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_driver_summary_takes_best_sectors_from_any_lap_and_green_laps_after_the_start() {
        let laps = [
            lap(1, "A", 1, 95.0, [Some(30.0), Some(33.0), Some(32.0)], "RACE_LAP"),
            lap(2, "A", 2, 92.0, [Some(30.5), Some(31.0), Some(30.5)], "RACE_LAP"),
            lap(3, "A", 3, 94.0, [Some(29.9), Some(32.0), None], "RACE_LAP"),
            lap(4, "A", 4, 120.0, [Some(31.0), Some(33.0), Some(56.0)], "IN_LAP"),
            lap(5, "A", 5, 130.0, [None, None, None], "OUT_LAP"),
            lap(6, "B", 1, 91.0, [None, None, None], "pit"),
        ];
        let drivers = summarize(&session("race 1"), &laps);
        assert_eq!(drivers.len(), 2);
        let (b, a) = (&drivers[0], &drivers[1]);
        assert_eq!((b.driver_id.as_str(), b.final_position), ("B", Some(1)));
        assert_eq!(
            (b.pit_stops, b.theoretical_best, b.average_green_lap),
            (1, None, None)
        );
        assert_eq!(a.laps, 5);
        assert_eq!((a.best_lap, a.best_lap_number), (Some(92.0), Some(2)));
        assert_eq!(
            (a.best_sectors.s1, a.best_sectors.s2, a.best_sectors.s3),
            (Some(29.9), Some(31.0), Some(30.5))
        );
        assert_eq!(a.theoretical_best, Some(91.4));
        assert_eq!((a.average_green_lap, a.green_laps), (Some(93.0), 2));
        assert_eq!(a.pit_stops, 1);

        // Outside a race, lap 1 is a lap like any other.
        let drivers = summarize(&session("qualifying"), &laps);
        assert_eq!(
            drivers[1].average_green_lap,
            Some(millis((95.0 + 92.0 + 94.0) / 3.0))
        );
    }
}
