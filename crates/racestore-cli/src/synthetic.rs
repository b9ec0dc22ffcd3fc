//! A synthetic GR Cup race at Barber for `racestore demo`, generated from a seed, and the
//! analyses the demo stores with it: driver metrics, a lap-time prediction and a Monte Carlo
//! simulation of the race.
//!
//! Times are whole milliseconds, as timing systems give them, so a lap is exactly the sum of its
//! three sectors. The same seed gives the same race (on one platform: `ln` and `cos` may round
//! differently in the last bit elsewhere).

use racestore_bench::Rng;

/// The circuit every demo race runs at.
pub(crate) const CIRCUIT: &str = "Barber Motorsports Park";
/// The date every demo race carries, so that a seed fixes the whole session.
pub(crate) const DATE: &str = "2025-09-06T14:00:00";
/// The session type of a demo race.
pub(crate) const RACE_TYPE: &str = "race";
/// The most drivers a race can have: chassis numbers are two digits, car numbers 2 to 99.
pub(crate) const MAX_DRIVERS: usize = 98;
/// The model the demo's lap-time prediction names.
pub(crate) const PREDICTION_MODEL: &str = "models/lap_time_predictor.pkl";

/// How a Barber lap splits between the three sectors, for an average driver.
const SECTOR_SHARE: [f64; 3] = [0.295, 0.385, 0.320];
/// Lap-to-lap noise of one sector for an average driver, in seconds.
const SECTOR_NOISE: f64 = 0.18;
/// Lap-to-lap noise of the Monte Carlo simulation, in seconds.
const SIM_LAP_NOISE: f64 = 0.45;
/// Race-long form of a driver in the simulation (a pace offset drawn once per race), in seconds.
const SIM_FORM_NOISE: f64 = 0.15;

/// What a lap was, in the GR Cup timing's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LapKind {
    /// A lap on track, start to finish.
    Race,
    /// The lap ending in the pit lane.
    In,
    /// The lap starting from the pit lane.
    Out,
}

impl LapKind {
    /// The `lap_type` stored for this kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LapKind::Race => "RACE_LAP",
            LapKind::In => "IN_LAP",
            LapKind::Out => "OUT_LAP",
        }
    }
}

/// One lap of one driver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RaceLap {
    /// Index into [`Race::drivers`].
    pub driver: usize,
    /// 1 for the first lap.
    pub lap_number: i64,
    /// Sector times in milliseconds.
    pub sectors_ms: [i64; 3],
    /// Race lap, in-lap or out-lap.
    pub kind: LapKind,
    /// Running order when the driver crossed the line at the end of this lap (1 = leading).
    pub position: i64,
}

impl RaceLap {
    /// The lap time in milliseconds: the sum of the sectors.
    pub(crate) fn lap_ms(&self) -> i64 {
        self.sectors_ms.iter().sum()
    }

    /// Whether the lap counts as a green-flag lap: a race lap after the first.
    pub(crate) fn is_green(&self) -> bool {
        self.kind == LapKind::Race && self.lap_number > 1
    }
}

/// A generated race.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Race {
    /// Driver ids (`GR86-0NN-CC`: chassis, car number), in grid order.
    pub drivers: Vec<String>,
    /// Every lap, lap by lap, each lap's cars in the order they crossed the line.
    pub laps: Vec<RaceLap>,
}

/// Milliseconds to seconds.
pub(crate) fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// How one driver drives, drawn from the seed.
#[derive(Debug)]
struct Profile {
    id: String,
    aggression: f64,
    pace: f64,
    sector_offset: [f64; 3],
    noise: f64,
    degradation: f64,
    fatigue: f64,
    pit_lap: Option<i64>,
}

/// Generates a race of `n_drivers` (1 to [`MAX_DRIVERS`]) over `n_laps` laps, fixed by `seed`.
///
/// Each driver has a base pace of 97 to 100 s with sector strengths of their own, lap noise,
/// tyre degradation (reset by a pit stop) and fatigue. Lap 1 is slower, more so from the back of
/// the grid; an aggressive driver is a little faster and makes more mistakes. A few drivers
/// (about one in ten) stop once in races of 6 laps or more: an in-lap about 25 s slower, then an
/// out-lap. Positions come from cumulative time at the end of each lap.
pub(crate) fn generate(seed: u64, n_drivers: usize, n_laps: usize) -> Race {
    assert!(
        (1..=MAX_DRIVERS).contains(&n_drivers),
        "1 to {MAX_DRIVERS} drivers"
    );
    let mut rng = Rng::new(seed);
    let mut chassis: Vec<u32> = (1..=99).collect();
    rng.shuffle(&mut chassis);
    let mut numbers: Vec<u32> = (2..=99).collect();
    rng.shuffle(&mut numbers);

    let mut profiles = Vec::with_capacity(n_drivers);
    for (chassis, number) in chassis.iter().zip(&numbers).take(n_drivers) {
        let aggression = rng.uniform();
        profiles.push(Profile {
            id: format!("GR86-{chassis:03}-{number}"),
            aggression,
            pace: rng.range(97.0, 100.0) - 0.3 * aggression,
            sector_offset: std::array::from_fn(|_| rng.normal(0.0, 0.12)),
            noise: rng.range(0.7, 1.4),
            degradation: rng.range(0.015, 0.05),
            fatigue: rng.range(0.0, 0.02),
            pit_lap: None,
        });
    }
    // Qualifying sets the grid: pace plus a little luck.
    let mut qualifying: Vec<(f64, Profile)> = profiles
        .into_iter()
        .map(|p| (p.pace + rng.normal(0.0, 0.25), p))
        .collect();
    qualifying.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut profiles: Vec<Profile> = qualifying.into_iter().map(|(_, p)| p).collect();

    if n_laps >= 6 {
        // A few stops: 2 to 4 in a field of 20, none or one in a field of 5.
        let tenth = n_drivers / 10;
        let stops = if tenth == 0 {
            rng.below(2)
        } else {
            tenth + rng.below(tenth + 1)
        };
        let mut who: Vec<usize> = (0..n_drivers).collect();
        rng.shuffle(&mut who);
        let (first, last) = ((n_laps / 3).max(2), n_laps - 2);
        for &driver in &who[..stops] {
            profiles[driver].pit_lap = Some((first + rng.below(last - first + 1)) as i64);
        }
    }

    // Sector times, driver by driver.
    let mut times: Vec<Vec<([i64; 3], LapKind)>> = Vec::with_capacity(n_drivers);
    for (grid_slot, p) in profiles.iter().enumerate() {
        let mut tyre_age = 0;
        let mut laps = Vec::with_capacity(n_laps);
        for lap in 1..=n_laps as i64 {
            tyre_age += 1;
            let kind = match p.pit_lap {
                Some(pit) if pit == lap => LapKind::In,
                Some(pit) if pit + 1 == lap => LapKind::Out,
                _ => LapKind::Race,
            };
            let wear = p.degradation * f64::from(tyre_age) + p.fatigue * lap as f64;
            let mut s: [f64; 3] = std::array::from_fn(|k| {
                (p.pace + wear) * SECTOR_SHARE[k]
                    + p.sector_offset[k]
                    + rng.normal(0.0, SECTOR_NOISE * p.noise)
            });
            if lap == 1 {
                s[0] += 3.0 + 0.3 * grid_slot as f64 + rng.normal(0.0, 0.4).abs();
            }
            match kind {
                LapKind::In => {
                    s[2] += rng.range(24.0, 26.0);
                    tyre_age = 0;
                }
                LapKind::Out => s[0] += rng.range(1.5, 3.0),
                LapKind::Race => {
                    if lap > 1 && rng.uniform() < 0.02 + 0.05 * p.aggression {
                        let sector = rng.below(3);
                        s[sector] += rng.range(0.8, 3.0);
                    }
                }
            }
            laps.push((s.map(|x| ((x * 1000.0).round() as i64).max(1)), kind));
        }
        times.push(laps);
    }

    // Positions: the running order at the line, lap by lap, from cumulative time.
    let mut elapsed = vec![0i64; n_drivers];
    let mut laps = Vec::with_capacity(n_drivers * n_laps);
    for lap in 0..n_laps {
        let mut order: Vec<usize> = (0..n_drivers).filter(|&d| lap < times[d].len()).collect();
        for &d in &order {
            elapsed[d] += times[d][lap].0.iter().sum::<i64>();
        }
        order.sort_by_key(|&d| (elapsed[d], d));
        for (rank, &d) in order.iter().enumerate() {
            let (sectors_ms, kind) = times[d][lap];
            laps.push(RaceLap {
                driver: d,
                lap_number: lap as i64 + 1,
                sectors_ms,
                kind,
                position: rank as i64 + 1,
            });
        }
    }
    Race {
        drivers: profiles.into_iter().map(|p| p.id).collect(),
        laps,
    }
}

/// What the demo computes for one driver from the laps, stored as driver metrics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DriverAnalysis {
    /// `1 - stdev / mean` of the green laps: 1 is perfectly consistent.
    pub consistency_index: f64,
    /// In `[0, 1]`: half how often the driver laps within 0.4 s of their best green lap, half
    /// how often they lose 0.8 s or more to their own trend (ten percent of laps counts as 1).
    pub aggression_score: f64,
    /// Per sector, the field's best sector time over the driver's best: 1 is the fastest.
    pub sector_strength: [f64; 3],
    /// Standard deviation of the green laps, in seconds.
    pub pace_std: f64,
    /// Least-squares slope of the green laps, in seconds per lap.
    pub pace_trend: f64,
    /// How much slower the last third of the green laps is than the first, per lap, in seconds.
    pub dropoff_per_lap: f64,
    /// Mean of the first third of the green laps, in seconds.
    pub early_average: f64,
    /// Mean of the last third of the green laps, in seconds.
    pub late_average: f64,
    /// Median green lap, in seconds: the pace the simulation starts from.
    pub median_lap: f64,
    /// The green laps' trend extended one lap past the end: the next-lap prediction.
    pub next_lap: f64,
    /// How well the trend fits, in `(0, 1]`: `1 / (1 + residual stdev)`.
    pub next_lap_confidence: f64,
}

/// Analyses every driver of `race`, in the order of [`Race::drivers`].
pub(crate) fn analyse(race: &Race) -> Vec<DriverAnalysis> {
    let field_best: [i64; 3] =
        std::array::from_fn(|k| race.laps.iter().map(|l| l.sectors_ms[k]).min().unwrap_or(1));
    (0..race.drivers.len())
        .map(|driver| {
            let laps: Vec<&RaceLap> = race.laps.iter().filter(|l| l.driver == driver).collect();
            let mut green: Vec<(f64, f64)> = laps
                .iter()
                .filter(|l| l.is_green())
                .map(|l| (l.lap_number as f64, seconds(l.lap_ms())))
                .collect();
            if green.is_empty() {
                // A race too short for green laps: use what there is.
                green = laps
                    .iter()
                    .map(|l| (l.lap_number as f64, seconds(l.lap_ms())))
                    .collect();
            }
            analyse_driver(&laps, &green, field_best)
        })
        .collect()
}

fn analyse_driver(laps: &[&RaceLap], green: &[(f64, f64)], field_best: [i64; 3]) -> DriverAnalysis {
    let times: Vec<f64> = green.iter().map(|&(_, t)| t).collect();
    let mean = mean(&times);
    let std = std_dev(&times);
    let (intercept, slope, residual_std) = linear_fit(green);
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let push = times.iter().filter(|&&t| t <= best + 0.4).count() as f64 / times.len() as f64;
    let off = green
        .iter()
        .filter(|&&(x, t)| t >= intercept + slope * x + 0.8)
        .count() as f64
        / times.len() as f64;
    let third = (green.len() / 3).max(1);
    let (early, late) = (&green[..third], &green[green.len() - third..]);
    let early_x = mean_of(early, |p| p.0);
    let late_x = mean_of(late, |p| p.0);
    let early_average = mean_of(early, |p| p.1);
    let late_average = mean_of(late, |p| p.1);
    let dropoff_per_lap = if late_x > early_x {
        (late_average - early_average) / (late_x - early_x)
    } else {
        0.0
    };
    let last_lap = laps.iter().map(|l| l.lap_number).max().unwrap_or(0) as f64;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median_lap = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        f64::midpoint(sorted[sorted.len() / 2 - 1], sorted[sorted.len() / 2])
    };
    DriverAnalysis {
        consistency_index: round(
            if mean > 0.0 {
                (1.0 - std / mean).clamp(0.0, 1.0)
            } else {
                1.0
            },
            5,
        ),
        aggression_score: round(0.5 * push + 0.5 * (off * 10.0).min(1.0), 3),
        sector_strength: std::array::from_fn(|k| {
            let own = laps
                .iter()
                .map(|l| l.sectors_ms[k])
                .min()
                .unwrap_or(field_best[k]);
            round(field_best[k] as f64 / own as f64, 4)
        }),
        pace_std: round(std, 4),
        pace_trend: round(slope, 4),
        dropoff_per_lap: round(dropoff_per_lap, 4),
        early_average: round(early_average, 3),
        late_average: round(late_average, 3),
        median_lap: round(median_lap, 3),
        next_lap: round(intercept + slope * (last_lap + 1.0), 3),
        next_lap_confidence: round(1.0 / (1.0 + residual_std), 3),
    }
}

/// What a Monte Carlo simulation of the race gave, per driver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Simulated {
    /// Share of the iterations the driver won.
    pub win_probability: Vec<f64>,
    /// Mean finishing position over the iterations.
    pub expected_position: Vec<f64>,
}

/// Simulates `iterations` races of `n_laps` laps from each driver's pace (seconds per lap).
///
/// Each iteration draws a race-long form offset per driver, then noise per lap, and ranks the
/// drivers by total time (ties to the earlier driver). Fixed by `seed`.
pub(crate) fn monte_carlo(paces: &[f64], n_laps: usize, iterations: usize, seed: u64) -> Simulated {
    let n = paces.len();
    let mut rng = Rng::new(seed ^ 0x6D6F_6E74_6563_6172);
    let mut wins = vec![0u64; n];
    let mut position_sum = vec![0u64; n];
    let mut totals = vec![0.0; n];
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..iterations {
        for (total, &pace) in totals.iter_mut().zip(paces) {
            let form = rng.normal(0.0, SIM_FORM_NOISE);
            *total = (0..n_laps)
                .map(|_| pace + form + rng.normal(0.0, SIM_LAP_NOISE))
                .sum();
        }
        order.sort_by(|&a, &b| totals[a].total_cmp(&totals[b]).then(a.cmp(&b)));
        if let Some(&winner) = order.first() {
            wins[winner] += 1;
        }
        for (rank, &d) in order.iter().enumerate() {
            position_sum[d] += rank as u64 + 1;
        }
    }
    let runs = iterations.max(1) as f64;
    Simulated {
        win_probability: wins.iter().map(|&w| round(w as f64 / runs, 4)).collect(),
        expected_position: position_sum.iter().map(|&p| round(p as f64 / runs, 3)).collect(),
    }
}

/// Rounds to `decimals` places, so stored JSON reads cleanly.
fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn mean_of(points: &[(f64, f64)], f: impl Fn(&(f64, f64)) -> f64) -> f64 {
    mean(&points.iter().map(f).collect::<Vec<_>>())
}

/// Population standard deviation.
fn std_dev(values: &[f64]) -> f64 {
    let m = mean(values);
    mean(&values.iter().map(|v| (v - m).powi(2)).collect::<Vec<_>>()).sqrt()
}

/// Least-squares line through `(x, y)` points: intercept, slope, and the residuals' standard deviation.
fn linear_fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let (mx, my) = (mean(&xs), mean(&ys));
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    let residuals: Vec<f64> = points.iter().map(|(x, y)| y - (intercept + slope * x)).collect();
    (intercept, slope, std_dev(&residuals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_race_has_every_lap_of_every_driver_with_sectors_summing_to_the_lap() {
        let race = generate(42, 20, 30);
        assert_eq!(race.drivers.len(), 20);
        assert_eq!(race.laps.len(), 600);
        for id in &race.drivers {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!((parts.len(), parts[0], parts[1].len()), (3, "GR86", 3), "{id}");
            assert!(parts[1].starts_with('0'), "{id}");
        }
        for lap in &race.laps {
            let time = seconds(lap.lap_ms());
            assert!((90.0..150.0).contains(&time), "{lap:?}");
        }
        for lap_number in 1..=30 {
            let mut positions: Vec<i64> = race
                .laps
                .iter()
                .filter(|l| l.lap_number == lap_number)
                .map(|l| l.position)
                .collect();
            positions.sort_unstable();
            assert_eq!(positions, (1..=20).collect::<Vec<_>>());
        }
        let in_laps = race.laps.iter().filter(|l| l.kind == LapKind::In).count();
        let out_laps = race.laps.iter().filter(|l| l.kind == LapKind::Out).count();
        assert!((2..=4).contains(&in_laps), "{in_laps} pit stops");
        assert_eq!(in_laps, out_laps);
    }

    #[test]
    fn positions_follow_cumulative_time() {
        let race = generate(7, 12, 15);
        let mut elapsed = [0i64; 12];
        for lap_number in 1..=15 {
            let laps: Vec<&RaceLap> = race.laps.iter().filter(|l| l.lap_number == lap_number).collect();
            for lap in &laps {
                elapsed[lap.driver] += lap.lap_ms();
            }
            for pair in laps.windows(2) {
                assert_eq!(pair[0].position + 1, pair[1].position);
                assert!(elapsed[pair[0].driver] <= elapsed[pair[1].driver]);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_race_and_another_seed_another() {
        assert_eq!(generate(3, 20, 30), generate(3, 20, 30));
        assert_ne!(generate(3, 20, 30), generate(4, 20, 30));
    }

    #[test]
    fn tiny_races_still_generate_and_analyse() {
        for (drivers, laps) in [(1, 1), (2, 1), (1, 5), (98, 6)] {
            let race = generate(1, drivers, laps);
            assert_eq!(race.laps.len(), drivers * laps);
            let analyses = analyse(&race);
            assert!(analyses
                .iter()
                .all(|a| a.median_lap.is_finite() && a.next_lap.is_finite()));
        }
    }

    #[test]
    fn analyses_stay_in_their_ranges() {
        let race = generate(42, 20, 30);
        for a in analyse(&race) {
            assert!((0.9..=1.0).contains(&a.consistency_index), "{a:?}");
            assert!((0.0..=1.0).contains(&a.aggression_score), "{a:?}");
            assert!(a.sector_strength.iter().all(|s| (0.9..=1.0).contains(s)), "{a:?}");
            assert!((0.0..=1.0).contains(&a.next_lap_confidence), "{a:?}");
        }
    }

    #[test]
    fn the_simulation_favours_the_faster_driver_and_sums_to_one() {
        let sim = monte_carlo(&[97.0, 97.2, 99.0], 30, 1000, 5);
        let total: f64 = sim.win_probability.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(sim.win_probability[0] > sim.win_probability[1]);
        assert_eq!(sim.win_probability[2], 0.0);
        assert!(sim.expected_position[0] < sim.expected_position[1]);
        assert_eq!(sim.expected_position[2], 3.0);
    }
}
