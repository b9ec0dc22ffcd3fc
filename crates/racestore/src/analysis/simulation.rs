//! The original GR Race Guardian's Monte Carlo race simulation (`grracing/monte_carlo.py`,
//! `simulate_race_strategy`), as its code behaves: seeded, reproducible on every machine and at
//! any thread count, and parallel over iterations.
//!
//! Given driver paces (a base lap time per driver), a number of laps and of iterations, each
//! iteration simulates one race lap by lap; the results are each driver's win probability, the
//! distribution of finishing positions and the finishing-time statistics, in the original's
//! result shape. Two lap-time models ([`Model`]): the original's (about 8 % of a lap added per
//! lap of a stint) and one fitted from a session's own green laps ([`fit_model`]).
//! `docs/analysis.md` writes both as formulas.
//!
//! ```
//! use racestore::analysis::simulation::{simulate, LapModel, Setup};
//!
//! let setup = Setup::new(vec![("7".into(), 97.0), ("13".into(), 97.5)], 20, 2_000, 42);
//! let results = simulate(&setup)?;
//! let (p7, p13) = (results.win_probability("7").unwrap(), results.win_probability("13").unwrap());
//! assert!(p7 > p13 && (p7 + p13 - 1.0).abs() < 1e-12);
//! assert_eq!(results.model, "original");
//! // The same seed gives the same results, whatever the thread count.
//! assert_eq!(simulate(&setup)?, results);
//! # Ok::<(), racestore::Error>(())
//! ```

use std::collections::BTreeMap;

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::race;
pub use super::Keyed;
use crate::error::{Error, Result};
use crate::model::{Id, Lap, NewSimulation, Session};
use crate::store::{RaceStore, RaceStoreExt};

/// Seconds a pit stop costs (`MonteCarloRaceSimulator(pit_loss=25.0)`).
pub const PIT_LOSS: f64 = 25.0;
/// Lap-time noise: each simulated lap is multiplied by a uniform factor in [1 − x, 1 + x].
pub const LAP_TIME_NOISE: f64 = 0.02;
/// Fuel burnt per lap, kg (`FuelEffectModel`).
pub const FUEL_PER_LAP: f64 = 2.0;
/// Seconds gained per 10 kg of fuel burnt (`FuelEffectModel`).
pub const FUEL_EFFECT_PER_10KG: f64 = 0.03;
/// The fuel load a stint starts with, kg.
pub const START_FUEL: f64 = 100.0;
/// How many of the first iterations the results keep lap by lap (`simulations` in the
/// original's results, which keeps its first 10), unless told otherwise.
pub const SAMPLE_RACES: usize = 10;
/// A green lap slower than this times the driver's median green lap is left out of the fitted
/// model (a spin, an off, a lap behind a slow car): the 107 % rule of motorsport.
pub const FIT_OUTLIER_RATIO: f64 = 1.07;

/// The original's tyre degradation per lap, as a fraction of the base lap time, by compound
/// (`TireDegradationModel.compound_coefficients`); any other compound gets 0.05.
// MEDIUM is listed although it equals the default, as the original's table lists it.
#[allow(clippy::match_same_arms)]
pub fn compound_coefficient(compound: &str) -> f64 {
    match compound {
        "SOFT" => 0.08,
        "MEDIUM" => 0.05,
        "HARD" => 0.03,
        "SUPER_SOFT" => 0.10,
        "INTERMEDIATE" => 0.12,
        "WET" => 0.15,
        _ => 0.05,
    }
}

/// Which lap-time model a simulation uses, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// The original's: degradation of its compound coefficient × pace per lap of a stint, fuel
    /// effect −0.006 s per lap, comparable with the original's saved simulations.
    #[default]
    Original,
    /// Each driver's degradation and the fuel effect fitted from the session's green laps.
    Fitted,
}

impl Model {
    /// `original` or `fitted`.
    pub fn name(self) -> &'static str {
        match self {
            Model::Original => "original",
            Model::Fitted => "fitted",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "original" => Ok(Model::Original),
            "fitted" => Ok(Model::Fitted),
            _ => Err(Error::invalid(
                "model",
                format!("expected original or fitted, got {s:?}"),
            )),
        }
    }
}

/// The lap-time model of a simulation, with its parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LapModel {
    /// [`Model::Original`].
    #[default]
    Original,
    /// [`Model::Fitted`], with the fitted parameters.
    Fitted(FittedModel),
}

/// The parameters [`fit_model`] finds in a session's green laps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModel {
    /// φ: seconds per lap of a stint every car shares (fuel burn; also the field's average
    /// tyre wear and the track's evolution, which lap times alone cannot tell apart).
    pub fuel_effect_per_lap: f64,
    /// dᵢ: seconds per lap of a stint each driver adds beyond φ (their own tyre wear); 0 for a
    /// driver with too few green laps to tell.
    pub degradation_per_lap: BTreeMap<String, f64>,
    /// How many green laps each driver's fit used.
    pub laps_used: BTreeMap<String, usize>,
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Base lap time per driver, seconds, in the order the results list them (ties in a race
    /// go to the driver listed first, as in the original's dict order).
    pub driver_paces: Vec<(String, f64)>,
    /// Laps per race; 1 or more.
    pub n_laps: i64,
    /// Races simulated; 1 or more.
    pub iterations: u64,
    /// The seed: the same seed gives the same results on every machine and thread count.
    pub seed: u64,
    /// The lap-time model.
    pub model: LapModel,
    /// Laps (0-based) at whose start each driver stops, as the original's `pit_strategy`;
    /// `None` is no stops (what the original's `simulate_race_strategy` always passes).
    pub pit_strategy: Option<BTreeMap<String, Vec<i64>>>,
    /// Tyre compound of each stint per driver, as the original's `compounds`; `None` is `SOFT`
    /// throughout. When given it must name every driver. The fitted model ignores compounds.
    pub compounds: Option<BTreeMap<String, Vec<String>>>,
    /// How many of the first races the results keep lap by lap ([`SAMPLE_RACES`], as the
    /// original, by default); they are most of a stored simulation's size.
    pub sample_races: usize,
}

impl Setup {
    /// A race of `n_laps` laps simulated `iterations` times with the original's model, no pit
    /// stops, `SOFT` tyres.
    pub fn new(driver_paces: Vec<(String, f64)>, n_laps: i64, iterations: u64, seed: u64) -> Self {
        Setup {
            driver_paces,
            n_laps,
            iterations,
            seed,
            model: LapModel::Original,
            pit_strategy: None,
            compounds: None,
            sample_races: SAMPLE_RACES,
        }
    }
}

/// A driver's finishing times over all iterations (`average_times` in the original).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeStats {
    /// The expected finishing time, seconds.
    pub mean: f64,
    /// The median finishing time.
    pub median: f64,
    /// The sample standard deviation (0 for one iteration).
    pub std: f64,
    /// The fastest.
    pub min: f64,
    /// The slowest.
    pub max: f64,
}

/// A driver's most likely finishing position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MostLikely {
    /// The position, from 1 (the first of equally likely ones).
    pub position: u32,
    /// Its probability.
    pub probability: f64,
}

/// One simulated race, lap by lap (an element of `simulations` in the original's results).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRace {
    /// Each driver's total time, in driver order.
    pub driver_times: Keyed<f64>,
    /// Each driver's lap times.
    pub driver_lap_times: Keyed<Vec<f64>>,
    /// The laps (0-based) each driver stopped at.
    pub pit_stops: Keyed<Vec<i64>>,
    /// After each lap, each driver's running position, in running order.
    pub positions: Vec<Keyed<u32>>,
    /// Finishing positions, in finishing order.
    pub final_positions: Keyed<u32>,
    /// Total times, in finishing order.
    pub final_times: Keyed<f64>,
}

/// A simulation's results: the original's `monte_carlo_simulation` dict (`iterations`,
/// `average_times`, `position_probabilities`, `most_likely_positions`, `simulations`), then
/// what racestore adds: the model and seed, laps, and per driver the win probability and the
/// expected finishing time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    /// Races simulated.
    pub iterations: u64,
    /// Finishing-time statistics per driver.
    pub average_times: Keyed<TimeStats>,
    /// Per driver, the probability of each position `"1"`..`"n"` (sums to 1).
    pub position_probabilities: Keyed<Keyed<f64>>,
    /// Per driver, the most likely position.
    pub most_likely_positions: Keyed<MostLikely>,
    /// The first [`Setup::sample_races`] races (10 as in the original), lap by lap.
    pub simulations: Vec<SampleRace>,
    /// `original` or `fitted`.
    pub model: String,
    /// The seed.
    pub seed: u64,
    /// Laps per race.
    pub n_laps: i64,
    /// Per driver, the probability of finishing first.
    pub win_probability: Keyed<f64>,
    /// Per driver, the mean finishing time, seconds.
    pub expected_finishing_time: Keyed<f64>,
    /// The fitted model's parameters, with [`Model::Fitted`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted: Option<FittedModel>,
}

impl Results {
    /// The probability that `driver` wins.
    pub fn win_probability(&self, driver: &str) -> Option<f64> {
        self.win_probability.get(driver).copied()
    }

    /// `driver`'s mean finishing time.
    pub fn expected_finishing_time(&self, driver: &str) -> Option<f64> {
        self.expected_finishing_time.get(driver).copied()
    }

    /// `driver`'s probability of each position, from 1.
    pub fn position_distribution(&self, driver: &str) -> Option<Vec<f64>> {
        self.position_probabilities
            .get(driver)
            .map(|p| p.0.iter().map(|(_, v)| *v).collect())
    }
}

/// One driver's race plan: the deterministic part of each lap's time, and where it stops.
struct Plan {
    /// `(base + degradation·k) + fuel(k)` for the lap's stint lap k; times the noise factor
    /// it is the lap's time.
    lap_base: Vec<f64>,
    /// Whether the driver stops (losing [`PIT_LOSS`]) at the start of each lap.
    stops: Vec<bool>,
}

/// Checks a setup and lays out each driver's plan.
fn plans(setup: &Setup) -> Result<Vec<Plan>> {
    if setup.driver_paces.is_empty() {
        return Err(Error::invalid("driver_paces", "no driver to simulate"));
    }
    if setup.iterations == 0 {
        return Err(Error::invalid("iterations", "must be 1 or more, got 0"));
    }
    if setup.n_laps < 1 {
        return Err(Error::invalid(
            "n_laps",
            format!("must be 1 or more laps, got {}", setup.n_laps),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (driver, pace) in &setup.driver_paces {
        if !seen.insert(driver.as_str()) {
            return Err(Error::invalid(
                format!("driver_paces.{driver}"),
                "the driver is listed twice",
            ));
        }
        if !pace.is_finite() || *pace <= 0.0 {
            return Err(Error::invalid(
                format!("driver_paces.{driver}"),
                format!("a pace must be a finite, positive lap time in seconds, got {pace}"),
            ));
        }
    }
    for (field, keys) in [
        (
            "pit_strategy",
            setup.pit_strategy.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
        ),
        (
            "compounds",
            setup.compounds.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
        ),
    ] {
        for key in keys.unwrap_or_default() {
            if !seen.contains(key.as_str()) {
                return Err(Error::invalid(
                    format!("{field}.{key}"),
                    "names a driver without a pace",
                ));
            }
        }
    }
    let n_laps = setup.n_laps as usize;
    setup
        .driver_paces
        .iter()
        .map(|(driver, pace)| {
            let stop_laps = setup
                .pit_strategy
                .as_ref()
                .and_then(|s| s.get(driver))
                .cloned()
                .unwrap_or_default();
            let compounds: Vec<String> = match &setup.compounds {
                None => vec!["SOFT".to_owned()],
                Some(all) => all.get(driver).cloned().ok_or_else(|| {
                    Error::invalid(
                        format!("compounds.{driver}"),
                        "compounds, when given, must name every driver (the original fails with KeyError)",
                    )
                })?,
            };
            let fitted = match &setup.model {
                LapModel::Original => None,
                LapModel::Fitted(fit) => Some((
                    fit.degradation_per_lap.get(driver).copied().ok_or_else(|| {
                        Error::invalid(
                            format!("model.degradation_per_lap.{driver}"),
                            "the fitted model has no degradation for this driver",
                        )
                    })?,
                    fit.fuel_effect_per_lap,
                )),
            };
            let mut compound = compounds.first().cloned().unwrap_or_else(|| "SOFT".to_owned());
            let (mut stint, mut k) = (0usize, 0usize);
            let mut plan = Plan {
                lap_base: Vec::with_capacity(n_laps),
                stops: Vec::with_capacity(n_laps),
            };
            for lap in 0..n_laps {
                let stops = stop_laps.contains(&(lap as i64));
                if stops {
                    stint += 1;
                    k = 0;
                    if let Some(next) = compounds.get(stint) {
                        compound.clone_from(next);
                    }
                }
                let kf = k as f64;
                let base = match fitted {
                    // The original: linear_degradation, then calculate_fuel_effect(k, fuel load),
                    // with the fuel load 100 − 2k of the stint's k-th lap.
                    None => {
                        let degraded = pace + (compound_coefficient(&compound) * pace) * kf;
                        let fuel_load = START_FUEL - kf * FUEL_PER_LAP;
                        let remaining = fuel_load - kf * FUEL_PER_LAP;
                        degraded + -((fuel_load - remaining) / 10.0) * FUEL_EFFECT_PER_10KG
                    }
                    Some((degradation, fuel)) => (pace + degradation * kf) + fuel * kf,
                };
                if !base.is_finite() || base <= 0.0 {
                    return Err(Error::invalid(
                        format!("driver_paces.{driver}"),
                        format!(
                            "the {} model gives a lap time of {base:.3} s on lap {} of a stint, which no race can run; simulate fewer laps{}",
                            model_name(&setup.model),
                            k + 1,
                            if fitted.is_some() { " or use the original model" } else { "" }
                        ),
                    ));
                }
                plan.lap_base.push(base);
                plan.stops.push(stops);
                k += 1;
            }
            Ok(plan)
        })
        .collect()
}

fn model_name(model: &LapModel) -> &'static str {
    match model {
        LapModel::Original => Model::Original.name(),
        LapModel::Fitted(_) => Model::Fitted.name(),
    }
}

/// The noise factors of one race, lap-major (lap 0's drivers in order, then lap 1's, ...): the
/// iteration's random stream is ChaCha8 with the 256-bit key made of the seed's 8 bytes
/// (little-endian) and 24 zero bytes, and the iteration's index as the 64-bit stream number;
/// each 64-bit word w of it (two keystream words, the first the low half) gives
/// u = (w >> 11)·2⁻⁵³ (uniform on [0, 1) in steps of 2⁻⁵³, as Python's `random()`), and the
/// factor is Python's `random.uniform(1 − x, 1 + x)` = `a + (b − a)·u`.
fn race_noise(seed: u64, iteration: u64, noise: &mut [f64]) {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(iteration);
    let (a, b) = (1.0 - LAP_TIME_NOISE, 1.0 + LAP_TIME_NOISE);
    const STEP: f64 = 1.0 / (1u64 << 53) as f64;
    for factor in noise.iter_mut() {
        *factor = a + (b - a) * ((rng.next_u64() >> 11) as f64 * STEP);
    }
}

/// One race's total times into `totals` (driver order): per driver, lap by lap, a stop's
/// [`PIT_LOSS`] then the lap's base time × its noise factor, added in that order as the
/// original adds them.
fn race_totals(plans: &[Plan], noise: &[f64], totals: &mut [f64]) {
    let drivers = plans.len();
    for (d, (plan, total)) in plans.iter().zip(totals.iter_mut()).enumerate() {
        let mut sum = 0.0;
        for (lap, (base, stops)) in plan.lap_base.iter().zip(&plan.stops).enumerate() {
            if *stops {
                sum += PIT_LOSS;
            }
            sum += base * noise[lap * drivers + d];
        }
        *total = sum;
    }
}

/// What one thread reuses from race to race.
struct Scratch {
    /// Finishing-position counts so far, driver-major.
    counts: Vec<u64>,
    ranked: Vec<usize>,
    noise: Vec<f64>,
}

/// Driver indices in finishing order: by total time, ties to the driver listed first.
fn order(totals: &[f64], out: &mut Vec<usize>) {
    out.clear();
    out.extend(0..totals.len());
    out.sort_by(|&a, &b| totals[a].total_cmp(&totals[b]).then(a.cmp(&b)));
}

/// One race recorded lap by lap, as the original's `simulate_one_race` returns it.
fn sample_race(setup: &Setup, plans: &[Plan], iteration: u64) -> SampleRace {
    let names: Vec<String> = setup.driver_paces.iter().map(|(d, _)| d.clone()).collect();
    let drivers = plans.len();
    let mut noise = vec![0.0; drivers * plans[0].lap_base.len()];
    race_noise(setup.seed, iteration, &mut noise);
    let mut totals = vec![0.0; plans.len()];
    let mut lap_times = vec![Vec::new(); plans.len()];
    let mut stops = vec![Vec::new(); plans.len()];
    let mut positions = Vec::new();
    let mut ranked = Vec::new();
    for lap in 0..plans[0].lap_base.len() {
        for (i, plan) in plans.iter().enumerate() {
            if plan.stops[lap] {
                totals[i] += PIT_LOSS;
                stops[i].push(lap as i64);
            }
            let time = plan.lap_base[lap] * noise[lap * drivers + i];
            totals[i] += time;
            lap_times[i].push(time);
        }
        order(&totals, &mut ranked);
        positions.push(Keyed(
            ranked
                .iter()
                .enumerate()
                .map(|(p, &i)| (names[i].clone(), p as u32 + 1))
                .collect(),
        ));
    }
    SampleRace {
        driver_times: keyed(&names, totals.clone()),
        driver_lap_times: keyed(&names, lap_times),
        pit_stops: keyed(&names, stops),
        positions,
        final_positions: Keyed(
            ranked
                .iter()
                .enumerate()
                .map(|(p, &i)| (names[i].clone(), p as u32 + 1))
                .collect(),
        ),
        final_times: Keyed(ranked.iter().map(|&i| (names[i].clone(), totals[i])).collect()),
    }
}

/// `values` keyed by the driver names, in order.
fn keyed<V>(names: &[String], values: Vec<V>) -> Keyed<V> {
    Keyed(names.iter().cloned().zip(values).collect())
}

/// Neumaier's compensated sum, in the order given.
fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut carry) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            carry += (sum - t) + v;
        } else {
            carry += (v - t) + sum;
        }
        sum = t;
    }
    sum + carry
}

/// Runs the simulation: `setup.iterations` races, in parallel, each from its own random stream
/// ([`Setup::seed`], iteration index), so the results depend on nothing but the setup.
///
/// Fails with [`Error::Invalid`] for no driver, a pace that is not a finite positive number,
/// zero iterations, fewer than 1 lap, a pit strategy or compounds naming an unknown driver,
/// compounds missing a driver, or a model giving a lap time of 0 or less.
///
/// Memory: the finishing times of every race are kept for the medians, 8 bytes per driver
/// per iteration (16 MB for 20 drivers × 100,000 races).
pub fn simulate(setup: &Setup) -> Result<Results> {
    let plans = plans(setup)?;
    let drivers = plans.len();
    let iterations = setup.iterations;
    let mut times = vec![0.0f64; drivers * iterations as usize];
    // Finishing-position counts, driver-major: integers, so their sum is the same in any
    // order the threads add them.
    let counts = times
        .par_chunks_mut(drivers)
        .enumerate()
        .fold(
            || Scratch {
                counts: vec![0u64; drivers * drivers],
                ranked: Vec::with_capacity(drivers),
                noise: vec![0.0; drivers * setup.n_laps as usize],
            },
            |mut scratch, (iteration, totals)| {
                race_noise(setup.seed, iteration as u64, &mut scratch.noise);
                race_totals(&plans, &scratch.noise, totals);
                order(totals, &mut scratch.ranked);
                for (position, &driver) in scratch.ranked.iter().enumerate() {
                    scratch.counts[driver * drivers + position] += 1;
                }
                scratch
            },
        )
        .map(|scratch| scratch.counts)
        .reduce(
            || vec![0u64; drivers * drivers],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );

    let names: Vec<String> = setup.driver_paces.iter().map(|(d, _)| d.clone()).collect();
    let n = iterations as f64;
    let stats: Vec<TimeStats> = (0..drivers)
        .into_par_iter()
        .map(|d| {
            let mut column: Vec<f64> = times.iter().skip(d).step_by(drivers).copied().collect();
            let mean = compensated_sum(column.iter().copied()) / n;
            let std = if iterations > 1 {
                (compensated_sum(column.iter().map(|t| (t - mean) * (t - mean))) / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            let min = column.iter().copied().fold(f64::INFINITY, f64::min);
            let max = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mid = column.len() / 2;
            let (_, upper, _) = column.select_nth_unstable_by(mid, f64::total_cmp);
            let upper = *upper;
            let median = if column.len() % 2 == 1 {
                upper
            } else {
                let lower = column[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
                f64::midpoint(lower, upper)
            };
            TimeStats {
                mean,
                median,
                std,
                min,
                max,
            }
        })
        .collect();

    let probabilities: Vec<Vec<f64>> = (0..drivers)
        .map(|d| (0..drivers).map(|p| counts[d * drivers + p] as f64 / n).collect())
        .collect();
    let most_likely = probabilities
        .iter()
        .map(|p| {
            let mut best = 0;
            for (i, value) in p.iter().enumerate() {
                if *value > p[best] {
                    best = i;
                }
            }
            MostLikely {
                position: best as u32 + 1,
                probability: p[best],
            }
        })
        .collect();
    let samples = (0..iterations.min(setup.sample_races as u64))
        .map(|i| sample_race(setup, &plans, i))
        .collect();
    Ok(Results {
        iterations,
        win_probability: keyed(&names, probabilities.iter().map(|p| p[0]).collect()),
        expected_finishing_time: keyed(&names, stats.iter().map(|s| s.mean).collect()),
        average_times: keyed(&names, stats),
        position_probabilities: keyed(
            &names,
            probabilities
                .into_iter()
                .map(|p| {
                    Keyed(
                        p.into_iter()
                            .enumerate()
                            .map(|(i, v)| ((i + 1).to_string(), v))
                            .collect(),
                    )
                })
                .collect(),
        ),
        most_likely_positions: keyed(&names, most_likely),
        simulations: samples,
        model: model_name(&setup.model).to_owned(),
        seed: setup.seed,
        n_laps: setup.n_laps,
        fitted: match &setup.model {
            LapModel::Original => None,
            LapModel::Fitted(fit) => Some(fit.clone()),
        },
    })
}

/// The drivers' paces in a session: each driver's median green lap ([`race::is_green`]: race
/// laps, lap 1 of a race left out), in the session's classified order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paces {
    /// Driver and pace, seconds.
    pub driver_paces: Vec<(String, f64)>,
    /// Drivers with laps but no green lap, left out of the simulation.
    pub left_out: Vec<String>,
}

/// Each driver's pace: the median of their green laps (the mean of the middle two for an even
/// count). Laps of other sessions are ignored.
pub fn driver_paces(session: &Session, laps: &[Lap]) -> Paces {
    let is_race = race::is_race(session);
    let analysis = race::analyse(session, laps);
    let mut out = Paces {
        driver_paces: Vec::new(),
        left_out: Vec::new(),
    };
    for standing in &analysis.classification {
        let driver = standing.competitor.id();
        let mut green: Vec<f64> = laps
            .iter()
            .filter(|l| l.session_id == session.id && l.driver_id == driver && race::is_green(l, is_race))
            .map(|l| l.lap_time)
            .collect();
        if green.is_empty() {
            out.left_out.push(driver.to_owned());
            continue;
        }
        green.sort_by(f64::total_cmp);
        let mid = green.len() / 2;
        let median = if green.len() % 2 == 1 {
            green[mid]
        } else {
            f64::midpoint(green[mid - 1], green[mid])
        };
        out.driver_paces.push((driver.to_owned(), median));
    }
    out
}

/// Fits the [`Model::Fitted`] parameters to a session's green laps.
///
/// Per driver, the green laps ([`race::is_green`]) no slower than [`FIT_OUTLIER_RATIO`] × the
/// driver's median green lap, grouped by stint (a stint ends with a pit stop,
/// [`race::is_pit_stop`]). Within each stint g, with lap numbers x and times t,
/// `Sxx_g = Σ(x − x̄_g)²` and `Sxt_g = Σ(x − x̄_g)(t − t̄_g)`. The fuel effect is the pooled
/// slope of the whole field, `φ = ΣΣ Sxt / ΣΣ Sxx` (0 when no stint has two laps); a driver's
/// own slope is `bᵢ = Σ_g Sxt_g / Σ_g Sxx_g`, and their degradation `dᵢ = bᵢ − φ` (0 when
/// their Σ Sxx is 0). A simulated lap k of a stint then takes `(pace + (dᵢ + φ)·k) × noise`.
pub fn fit_model(session: &Session, laps: &[Lap]) -> FittedModel {
    let is_race = race::is_race(session);
    let mut by_driver: BTreeMap<&str, Vec<&Lap>> = BTreeMap::new();
    for lap in laps.iter().filter(|l| l.session_id == session.id) {
        by_driver.entry(&lap.driver_id).or_default().push(lap);
    }
    let mut per_driver = Vec::new();
    let (mut field_sxt, mut field_sxx) = (0.0, 0.0);
    for (driver, mut own) in by_driver {
        own.sort_by_key(|l| (l.lap_number, l.id));
        let mut green: Vec<f64> = own
            .iter()
            .filter(|l| race::is_green(l, is_race))
            .map(|l| l.lap_time)
            .collect();
        green.sort_by(f64::total_cmp);
        let limit = if green.is_empty() {
            0.0
        } else {
            let mid = green.len() / 2;
            let median = if green.len() % 2 == 1 {
                green[mid]
            } else {
                f64::midpoint(green[mid - 1], green[mid])
            };
            median * FIT_OUTLIER_RATIO
        };
        let mut stints: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for lap in &own {
            if race::is_green(lap, is_race) && lap.lap_time <= limit {
                stints
                    .last_mut()
                    .unwrap()
                    .push((lap.lap_number as f64, lap.lap_time));
            }
            if race::is_pit_stop(lap) {
                stints.push(Vec::new());
            }
        }
        let (mut sxt, mut sxx, mut used) = (0.0, 0.0, 0);
        for stint in stints.iter().filter(|s| s.len() >= 2) {
            let m = stint.len() as f64;
            let xm = stint.iter().map(|p| p.0).sum::<f64>() / m;
            let tm = stint.iter().map(|p| p.1).sum::<f64>() / m;
            sxt += stint.iter().map(|(x, t)| (x - xm) * (t - tm)).sum::<f64>();
            sxx += stint.iter().map(|(x, _)| (x - xm) * (x - xm)).sum::<f64>();
            used += stint.len();
        }
        field_sxt += sxt;
        field_sxx += sxx;
        per_driver.push((driver.to_owned(), sxt, sxx, used));
    }
    let fuel = if field_sxx > 0.0 {
        field_sxt / field_sxx
    } else {
        0.0
    };
    FittedModel {
        fuel_effect_per_lap: fuel,
        degradation_per_lap: per_driver
            .iter()
            .map(|(d, sxt, sxx, _)| (d.clone(), if *sxx > 0.0 { sxt / sxx - fuel } else { 0.0 }))
            .collect(),
        laps_used: per_driver.into_iter().map(|(d, _, _, used)| (d, used)).collect(),
    }
}

/// How to simulate a stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Laps per race; `None` is the session's distance, the highest lap number of any driver.
    pub n_laps: Option<i64>,
    /// Races simulated.
    pub iterations: u64,
    /// The seed.
    pub seed: u64,
    /// The lap-time model.
    pub model: Model,
    /// How many of the first races the results keep lap by lap ([`SAMPLE_RACES`] as the
    /// original).
    pub sample_races: usize,
}

/// A stored session's simulation: its paces, and the results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSimulation {
    /// The session.
    pub session_id: Id,
    /// The paces simulated, and the drivers left out.
    pub paces: Paces,
    /// The results.
    pub results: Results,
}

impl SessionSimulation {
    /// The record the original's `save_simulation(session_id, driver_paces, n_laps,
    /// iterations, results)` writes.
    pub fn to_record(&self) -> NewSimulation {
        let paces: serde_json::Map<String, serde_json::Value> = self
            .paces
            .driver_paces
            .iter()
            .map(|(d, p)| (d.clone(), serde_json::json!(p)))
            .collect();
        NewSimulation::new(
            self.session_id,
            serde_json::Value::Object(paces),
            self.results.n_laps,
            self.results.iterations as i64,
            serde_json::to_value(&self.results).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Simulates a stored session: paces from [`driver_paces`], the model ([`fit_model`] for
/// [`Model::Fitted`]), then [`simulate`].
///
/// [`Error::NotFound`] for an unknown session; [`Error::Invalid`] for a session without laps,
/// one where no driver has a green lap, or what [`simulate`] refuses.
pub fn simulate_session(
    store: &dyn RaceStore,
    session_id: Id,
    options: &SessionOptions,
) -> Result<SessionSimulation> {
    let (session, laps) = super::session_laps(store, session_id)?;
    let paces = driver_paces(&session, &laps);
    if paces.driver_paces.is_empty() {
        return Err(Error::invalid(
            "session",
            format!(
                "no driver of session {session_id} has a green lap (RACE_LAP, normal or qualifying, lap 1 of a race left out) to take a pace from"
            ),
        ));
    }
    let model = match options.model {
        Model::Original => LapModel::Original,
        Model::Fitted => LapModel::Fitted(fit_model(&session, &laps)),
    };
    let n_laps = options
        .n_laps
        .unwrap_or_else(|| laps.iter().map(|l| l.lap_number).max().unwrap_or(0));
    let setup = Setup {
        driver_paces: paces.driver_paces.clone(),
        n_laps,
        iterations: options.iterations,
        seed: options.seed,
        model,
        pit_strategy: None,
        compounds: None,
        sample_races: options.sample_races,
    };
    Ok(SessionSimulation {
        session_id,
        paces,
        results: simulate(&setup)?,
    })
}

/// Stores a session's simulation as the original's `save_simulation` does; returns its id.
pub fn save_simulation(store: &dyn RaceStore, simulation: &SessionSimulation) -> Result<Id> {
    store.save_simulation(&simulation.to_record())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(paces: &[(&str, f64)], laps: i64, iterations: u64) -> Setup {
        Setup::new(
            paces.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
            laps,
            iterations,
            7,
        )
    }

    #[test]
    fn the_original_model_adds_8_percent_of_the_pace_per_lap_and_fuel_takes_6_ms() {
        let plans = plans(&setup(&[("a", 100.0)], 3, 1)).unwrap();
        let base = &plans[0].lap_base;
        assert_eq!(base[0], 100.0);
        assert!((base[1] - (108.0 - 0.006)).abs() < 1e-12, "{}", base[1]);
        assert!((base[2] - (116.0 - 0.012)).abs() < 1e-12, "{}", base[2]);
    }

    #[test]
    fn a_pit_stop_costs_25_s_and_starts_a_fresh_stint_on_the_next_compound() {
        let mut s = setup(&[("a", 100.0)], 4, 1);
        s.pit_strategy = Some(BTreeMap::from([("a".to_owned(), vec![2])]));
        s.compounds = Some(BTreeMap::from([(
            "a".to_owned(),
            vec!["SOFT".to_owned(), "HARD".to_owned()],
        )]));
        let plan = &plans(&s).unwrap()[0];
        assert_eq!(plan.stops, [false, false, true, false]);
        assert_eq!(plan.lap_base[2], 100.0);
        assert!((plan.lap_base[3] - (103.0 - 0.006)).abs() < 1e-12);
        let race = simulate(&s).unwrap().simulations.remove(0);
        assert_eq!(race.pit_stops.get("a"), Some(&vec![2]));
        let laps: f64 = race.driver_lap_times.get("a").unwrap().iter().sum();
        assert!((race.driver_times.get("a").unwrap() - (laps + PIT_LOSS)).abs() < 1e-9);
    }

    #[test]
    fn what_cannot_be_simulated_is_refused_naming_the_field() {
        let cases: Vec<(Setup, &str)> = vec![
            (setup(&[], 10, 10), "driver_paces"),
            (setup(&[("a", 90.0)], 10, 0), "iterations"),
            (setup(&[("a", 90.0)], 0, 10), "n_laps"),
            (setup(&[("a", 90.0)], -3, 10), "n_laps"),
            (setup(&[("a", f64::NAN)], 10, 10), "driver_paces.a"),
            (setup(&[("a", f64::INFINITY)], 10, 10), "driver_paces.a"),
            (setup(&[("a", -1.0)], 10, 10), "driver_paces.a"),
            (setup(&[("a", 90.0), ("a", 91.0)], 10, 10), "driver_paces.a"),
        ];
        for (s, field) in cases {
            match simulate(&s) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut fast_fade = setup(&[("a", 90.0)], 500, 1);
        fast_fade.model = LapModel::Fitted(FittedModel {
            fuel_effect_per_lap: -0.5,
            degradation_per_lap: BTreeMap::from([("a".to_owned(), 0.0)]),
            laps_used: BTreeMap::new(),
        });
        let err = simulate(&fast_fade).unwrap_err();
        assert!(err.to_string().contains("fitted model gives a lap time"), "{err}");
    }

    #[test]
    fn sample_races_are_the_iterations_the_statistics_count() {
        let s = setup(&[("a", 90.0), ("b", 90.2), ("c", 90.4)], 12, 3);
        let results = simulate(&s).unwrap();
        let plans = plans(&s).unwrap();
        for (i, sample) in results.simulations.iter().enumerate() {
            let mut totals = vec![0.0; 3];
            let mut noise = vec![0.0; 3 * 12];
            race_noise(7, i as u64, &mut noise);
            race_totals(&plans, &noise, &mut totals);
            let recorded: Vec<f64> = sample.driver_times.0.iter().map(|(_, t)| *t).collect();
            assert_eq!(recorded, totals);
            assert_eq!(sample.positions.len(), 12);
        }
        let mins: Vec<f64> = results.average_times.0.iter().map(|(_, s)| s.min).collect();
        assert!(mins.iter().all(|m| m.is_finite()));
    }
}
