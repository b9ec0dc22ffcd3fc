//! A synthetic GR Cup race at Barber for `racestore demo`, generated from a seed, and the
//! lap-time prediction the demo stores with it. (The demo's driver metrics and Monte Carlo
//! simulation are the library's, `racestore::analysis`, computed from the stored laps.)
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

/// The demo's lap-time prediction for one driver, from their green laps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DriverAnalysis {
    /// The green laps' least-squares trend extended one lap past the end, in seconds.
    pub next_lap: f64,
    /// How well the trend fits, in `(0, 1]`: `1 / (1 + residual stdev)`.
    pub next_lap_confidence: f64,
}

/// Predicts every driver's next lap, in the order of [`Race::drivers`].
pub(crate) fn analyse(race: &Race) -> Vec<DriverAnalysis> {
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
            let (intercept, slope, residual_std) = linear_fit(&green);
            let last_lap = laps.iter().map(|l| l.lap_number).max().unwrap_or(0) as f64;
            DriverAnalysis {
                next_lap: round(intercept + slope * (last_lap + 1.0), 3),
                next_lap_confidence: round(1.0 / (1.0 + residual_std), 3),
            }
        })
        .collect()
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
            assert!(analyses.iter().all(|a| a.next_lap.is_finite()));
        }
    }

    #[test]
    fn analyses_stay_in_their_ranges() {
        let race = generate(42, 20, 30);
        for a in analyse(&race) {
            assert!((90.0..150.0).contains(&a.next_lap), "{a:?}");
            assert!((0.0..=1.0).contains(&a.next_lap_confidence), "{a:?}");
        }
    }
}
