//! The five driver metrics of the original GR Race Guardian (`grracing/driver_metrics.py`,
//! `analyze_driver_performance`), computed from stored laps with the original's numbers.
//!
//! The original computes them from a pandas DataFrame. racestore gives it, for each driver, the
//! DataFrame the original would see: `vehicle_id` = driver id, `lap` = lap number, `lap_time`
//! in seconds, `sector_1_seconds`..`sector_3_seconds` = the stored sectors (float, NaN where
//! untimed), `lap_type` as stored, one row per lap in lap-number order. Every rule of the
//! original then applies as its code does, quirks included; `docs/analysis.md` writes each
//! metric as formulas and lists the quirks.
//!
//! ```
//! use racestore::analysis::metrics;
//! use racestore::Lap;
//!
//! let lap = |n: i64, time: f64| Lap {
//!     id: n, session_id: 1, driver_id: "7".into(), lap_number: n, lap_time: time,
//!     sector_1: Some(30.0), sector_2: Some(time * 0.4), sector_3: Some(time * 0.6 - 30.0),
//!     lap_type: "RACE_LAP".into(), position: Some(1), created_at: String::new(),
//! };
//! let laps: Vec<Lap> = (1..=12).map(|n| lap(n, 90.0 + 0.05 * n as f64)).collect();
//! let m = metrics::driver_metrics(&laps)?;
//! assert!(m.consistency_index > 0.99);
//! assert!(m.pace_stability.slope > 0.049 && m.pace_stability.slope < 0.051);
//! // Sector 1 never varies: its best is its mean, the strongest sector.
//! assert_eq!(m.sector_strength.best_sector, "S1");
//! # Ok::<(), racestore::Error>(())
//! ```

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::numeric::{linregress, mean, nan_mean, nan_min, ttest_ind_p, var};
use super::{race, Keyed};
use crate::error::{Error, Result};
use crate::model::{Id, Lap, NewDriverMetrics};
use crate::store::{RaceStore, RaceStoreExt};

/// Lap types the original's `filter_race_laps` drops when a `lap_type` column exists. Anything
/// else — `RACE_LAP`, `FULL_COURSE_YELLOW`, `RED_FLAG`, `normal`, `pit`, ... — is kept.
pub const DROPPED_LAP_TYPES: [&str; 5] = ["ERROR_LAP", "PIT_LAP", "IN_LAP", "OUT_LAP", "SAFETY_CAR"];

/// The five metrics of one driver: the dict `analyze_driver_performance` returns, with its keys,
/// key order and value types.
///
/// Serialized with serde, NaN (a sector never timed) becomes `null`, as JSON has no NaN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// `1 − σ/μ` of the kept laps' times (population σ), clipped to [0, 1]; 0 below 3 kept laps.
    pub consistency_index: f64,
    /// The aggression score and what it is made of.
    pub aggression_score: Aggression,
    /// The linear trend of the kept laps' times over the lap number.
    pub pace_stability: PaceStability,
    /// First half of the kept laps against the second.
    pub fatigue_dropoff: FatigueDropoff,
    /// Best against mean time in each sector, over every lap.
    pub sector_strength: SectorStrength,
}

/// `calculate_aggression_score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggression {
    /// `0.5·min(1, v/10) + 0.5·min(1, (r − 0.95)/0.1)`, clipped to [0, 1].
    pub aggression_score: f64,
    /// `v`: the mean, over sectors timed on at least 2 laps, of the sector's population
    /// variance over every lap (pit and caution laps included); 0 when none.
    pub sector_variance: f64,
    /// `r`: the mean of the first 5 kept laps times 1.05, divided by that mean (so about 1.05
    /// whatever the driver does: the original compares the driver with itself); 1 without kept laps.
    pub pace_relative_to_avg: f64,
    /// `Very Aggressive` above 0.7, `Aggressive` above 0.5, `Balanced` above 0.3, else `Conservative`.
    pub interpretation: String,
}

/// `calculate_pace_stability_curve`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaceStability {
    /// Seconds per lap of the least-squares line through (lap number, lap time) of the kept
    /// laps; 0 below 5 kept laps.
    pub slope: f64,
    /// The line's lap time at lap 0; 0 below 5 kept laps.
    pub intercept: f64,
    /// The correlation squared; 0 below 5 kept laps.
    pub r_squared: f64,
    /// `1 / (1 + 100·|slope|)`; 1 below 5 kept laps.
    pub stability: f64,
    /// The slope again; absent below 5 kept laps (the original's short form has 4 keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degradation_rate: Option<f64>,
    /// The two-sided p-value of the slope (Student's t, n − 2 degrees of freedom); absent
    /// below 5 kept laps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// `calculate_fatigue_dropoff`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FatigueDropoff {
    /// `100·(b − a)/a`; 0 below 10 kept laps.
    pub dropoff_percent: f64,
    /// `a`: the mean lap time of the first ⌊n/2⌋ kept laps (in lap order); 0 below 10.
    pub first_half_avg: f64,
    /// `b`: the mean lap time of the other kept laps; 0 below 10.
    pub second_half_avg: f64,
    /// Whether Student's two-sample t-test (equal variances) on the two halves gives p < 0.05.
    pub significant: bool,
    /// `Significant fatigue` (dropoff above 2 % and significant), `Moderate dropoff` (above
    /// 1 %) or `Stable performance`; absent below 10 kept laps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<String>,
}

/// `calculate_sector_strength_fingerprint`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectorStrength {
    /// Per sector, `100 · best / mean` over every lap that timed it; NaN for a sector never timed.
    pub sector_strengths: PerSector,
    /// Per sector, the mean time over every lap that timed it; NaN for a sector never timed.
    pub sector_means: PerSector,
    /// The sector with the highest strength, the first on ties (`S1` when `S1` is NaN).
    pub best_sector: String,
    /// The sector with the lowest strength, the first on ties (`S1` when `S1` is NaN).
    pub worst_sector: String,
    /// Best strength over worst; 1 when the worst is not above 0 (NaN included).
    pub strength_index: f64,
}

/// A value per sector, keyed `S1`, `S2`, `S3`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerSector {
    /// Sector 1.
    #[serde(rename = "S1")]
    pub s1: f64,
    /// Sector 2.
    #[serde(rename = "S2")]
    pub s2: f64,
    /// Sector 3.
    #[serde(rename = "S3")]
    pub s3: f64,
}

impl Metrics {
    /// The record the original's `save_driver_metrics(session_id, driver_id, metrics)` writes:
    /// the consistency index, the aggression score's number only, and the other three dicts
    /// as JSON objects (NaN as `null`).
    pub fn to_record(&self, session_id: Id, driver_id: &str) -> NewDriverMetrics {
        let object = |value: serde_json::Result<serde_json::Value>| value.unwrap_or(serde_json::Value::Null);
        NewDriverMetrics {
            session_id,
            driver_id: driver_id.to_owned(),
            consistency_index: Some(self.consistency_index),
            aggression_score: Some(self.aggression_score.aggression_score),
            sector_strength: object(serde_json::to_value(&self.sector_strength)),
            pace_stability: object(serde_json::to_value(&self.pace_stability)),
            fatigue_dropoff: object(serde_json::to_value(&self.fatigue_dropoff)),
        }
    }
}

/// The metrics of every driver of a stored session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionMetrics {
    /// The session.
    pub session_id: Id,
    /// Each driver's metrics, in the session's classified order ([`race::analyse`]).
    pub drivers: Keyed<Metrics>,
}

/// The metrics of every driver of a stored session, in classified order.
///
/// [`Error::NotFound`] for an unknown session, [`Error::Invalid`] for a session without laps.
pub fn analyze_session(store: &dyn RaceStore, session_id: Id) -> Result<SessionMetrics> {
    let (session, laps) = super::session_laps(store, session_id)?;
    let mut by_driver = session_metrics(&laps)?;
    let mut drivers: Vec<(String, Metrics)> = race::analyse(&session, &laps)
        .classification
        .iter()
        .filter_map(|s| {
            let id = s.competitor.id();
            by_driver.remove(id).map(|m| (id.to_owned(), m))
        })
        .collect();
    drivers.extend(by_driver);
    Ok(SessionMetrics {
        session_id,
        drivers: Keyed(drivers),
    })
}

/// Stores each driver's metrics as a driver-metrics record of the session, in the shape the
/// original's `save_driver_metrics` writes ([`Metrics::to_record`]), in the order given;
/// returns the records' ids. All are saved together or none ([`RaceStore::save`] of one batch).
pub fn save_session_metrics(store: &dyn RaceStore, metrics: &SessionMetrics) -> Result<Vec<Id>> {
    let records: Vec<NewDriverMetrics> = metrics
        .drivers
        .0
        .iter()
        .map(|(driver, m)| m.to_record(metrics.session_id, driver))
        .collect();
    store.save_records(&records)
}

/// The metrics of every driver in `laps` (a session's laps, any order), by driver id.
///
/// Drivers are computed in parallel. Fails only where the original raises: a driver with 5 or
/// more kept laps all numbered alike, whose regression scipy refuses.
pub fn session_metrics(laps: &[Lap]) -> Result<BTreeMap<String, Metrics>> {
    let mut by_driver: BTreeMap<&str, Vec<&Lap>> = BTreeMap::new();
    for lap in laps {
        by_driver.entry(&lap.driver_id).or_default().push(lap);
    }
    by_driver
        .into_par_iter()
        .map(|(driver, laps)| Ok((driver.to_owned(), metrics_of(laps)?)))
        .collect()
}

/// The metrics of one driver's laps (any order; every lap is taken as that driver's).
///
/// Fails only where the original raises: 5 or more kept laps all with one lap number.
pub fn driver_metrics(laps: &[Lap]) -> Result<Metrics> {
    metrics_of(laps.iter().collect())
}

fn metrics_of(mut laps: Vec<&Lap>) -> Result<Metrics> {
    laps.sort_by(|a, b| lap_order(a, b));
    let frame = Frame::new(&laps);
    Ok(Metrics {
        consistency_index: frame.consistency_index(),
        aggression_score: frame.aggression(),
        pace_stability: frame.pace_stability()?,
        fatigue_dropoff: frame.fatigue_dropoff(),
        sector_strength: frame.sector_strength(),
    })
}

/// Lap-number order; laps with one number are ordered by their values, so that the order the
/// laps were stored in never matters.
fn lap_order(a: &Lap, b: &Lap) -> std::cmp::Ordering {
    let sector = |s: Option<f64>| s.unwrap_or(f64::NAN);
    a.lap_number
        .cmp(&b.lap_number)
        .then_with(|| a.lap_time.total_cmp(&b.lap_time))
        .then_with(|| sector(a.sector_1).total_cmp(&sector(b.sector_1)))
        .then_with(|| sector(a.sector_2).total_cmp(&sector(b.sector_2)))
        .then_with(|| sector(a.sector_3).total_cmp(&sector(b.sector_3)))
        .then_with(|| a.lap_type.cmp(&b.lap_type))
}

/// Python's `min(a, b)`: `a` unless `b < a` (so NaN in `b` is never taken).
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `max(a, b)`: `a` unless `b > a`.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// One driver's DataFrame as the original sees it, rows in lap order.
struct Frame<'a> {
    laps: &'a [&'a Lap],
    /// The rows `filter_race_laps` keeps.
    kept: Vec<&'a Lap>,
}

impl<'a> Frame<'a> {
    fn new(laps: &'a [&'a Lap]) -> Self {
        let kept = laps
            .iter()
            .copied()
            .filter(|l| !DROPPED_LAP_TYPES.contains(&l.lap_type.as_str()))
            .collect();
        Frame { laps, kept }
    }

    /// The kept laps' times, NaN left out (`pd.notna`).
    fn kept_times(laps: &[&Lap]) -> Vec<f64> {
        laps.iter().map(|l| l.lap_time).filter(|t| !t.is_nan()).collect()
    }

    fn sector_column(&self, sector: usize) -> Vec<f64> {
        self.laps
            .iter()
            .map(|l| [l.sector_1, l.sector_2, l.sector_3][sector].unwrap_or(f64::NAN))
            .collect()
    }

    fn consistency_index(&self) -> f64 {
        if self.kept.len() < 3 {
            return 0.0;
        }
        let times = Self::kept_times(&self.kept);
        if times.len() < 3 {
            return 0.0;
        }
        let m = mean(&times);
        let std = var(&times).sqrt();
        if m == 0.0 {
            return 0.0;
        }
        py_max(0.0, py_min(1.0, 1.0 - std / m))
    }

    fn aggression(&self) -> Aggression {
        let sector_vars: Vec<f64> = (0..3)
            .filter_map(|s| {
                let timed: Vec<f64> = self
                    .sector_column(s)
                    .into_iter()
                    .filter(|v| !v.is_nan())
                    .collect();
                (timed.len() > 1).then(|| var(&timed))
            })
            .collect();
        let avg_variance = if sector_vars.is_empty() {
            0.0
        } else {
            mean(&sector_vars)
        };
        let mut pace_relative = 1.0;
        let times = Self::kept_times(&self.kept);
        if !times.is_empty() {
            let driver_avg = mean(&times[..times.len().min(5)]);
            let session_avg = driver_avg * 1.05;
            pace_relative = if driver_avg > 0.0 {
                session_avg / driver_avg
            } else {
                1.0
            };
        }
        let normalized_variance = if avg_variance > 0.0 {
            py_min(1.0, avg_variance / 10.0)
        } else {
            0.0
        };
        let score = normalized_variance * 0.5 + py_min(1.0, (pace_relative - 0.95) / 0.1) * 0.5;
        let score = py_max(0.0, py_min(1.0, score));
        let interpretation = if score > 0.7 {
            "Very Aggressive"
        } else if score > 0.5 {
            "Aggressive"
        } else if score > 0.3 {
            "Balanced"
        } else {
            "Conservative"
        };
        Aggression {
            aggression_score: score,
            sector_variance: avg_variance,
            pace_relative_to_avg: pace_relative,
            interpretation: interpretation.to_owned(),
        }
    }

    fn pace_stability(&self) -> Result<PaceStability> {
        let short = PaceStability {
            slope: 0.0,
            intercept: 0.0,
            r_squared: 0.0,
            stability: 1.0,
            degradation_rate: None,
            p_value: None,
        };
        if self.kept.len() < 5 {
            return Ok(short);
        }
        let times = Self::kept_times(&self.kept);
        if times.len() < 5 {
            return Ok(short);
        }
        // The original pairs the first len(times) lap numbers with the times left after
        // dropping NaN, whichever laps those were.
        let laps: Vec<f64> = self.kept[..times.len()]
            .iter()
            .map(|l| l.lap_number as f64)
            .collect();
        let fit = linregress(&laps, &times).ok_or_else(|| {
            Error::invalid(
                format!("laps of driver {}", self.kept[0].driver_id),
                format!(
                    "all {} laps the pace stability curve uses have lap number {}; the original's linear regression (scipy linregress) refuses identical x values",
                    laps.len(),
                    self.kept[0].lap_number
                ),
            )
        })?;
        Ok(PaceStability {
            slope: fit.slope,
            intercept: fit.intercept,
            r_squared: fit.r * fit.r,
            stability: 1.0 / (1.0 + fit.slope.abs() * 100.0),
            degradation_rate: Some(fit.slope),
            p_value: Some(fit.p_value),
        })
    }

    fn fatigue_dropoff(&self) -> FatigueDropoff {
        let short = FatigueDropoff {
            dropoff_percent: 0.0,
            first_half_avg: 0.0,
            second_half_avg: 0.0,
            significant: false,
            interpretation: None,
        };
        if self.kept.len() < 10 {
            return short;
        }
        let (first, second) = self.kept.split_at(self.kept.len() / 2);
        let (first, second) = (Self::kept_times(first), Self::kept_times(second));
        let avg = |times: &[f64]| if times.is_empty() { 0.0 } else { mean(times) };
        let (first_avg, second_avg) = (avg(&first), avg(&second));
        if first_avg == 0.0 {
            return short;
        }
        let dropoff = ((second_avg - first_avg) / first_avg) * 100.0;
        let significant = first.len() >= 3 && second.len() >= 3 && ttest_ind_p(&first, &second) < 0.05;
        let interpretation = if dropoff > 2.0 && significant {
            "Significant fatigue"
        } else if dropoff > 1.0 {
            "Moderate dropoff"
        } else {
            "Stable performance"
        };
        FatigueDropoff {
            dropoff_percent: dropoff,
            first_half_avg: first_avg,
            second_half_avg: second_avg,
            significant,
            interpretation: Some(interpretation.to_owned()),
        }
    }

    fn sector_strength(&self) -> SectorStrength {
        let mut strengths = [0.0; 3];
        let mut means = [0.0; 3];
        for s in 0..3 {
            let column = self.sector_column(s);
            means[s] = nan_mean(&column);
            strengths[s] = (nan_min(&column) / means[s]) * 100.0;
        }
        // Python's max()/min() over (name, value) pairs: the first wins unless a later value
        // compares strictly greater (smaller); a NaN never compares so.
        let (mut best, mut worst) = (0, 0);
        for s in 1..3 {
            if strengths[s] > strengths[best] {
                best = s;
            }
            if strengths[s] < strengths[worst] {
                worst = s;
            }
        }
        let name = |s: usize| format!("S{}", s + 1);
        let per_sector = |v: [f64; 3]| PerSector {
            s1: v[0],
            s2: v[1],
            s3: v[2],
        };
        SectorStrength {
            sector_strengths: per_sector(strengths),
            sector_means: per_sector(means),
            best_sector: name(best),
            worst_sector: name(worst),
            strength_index: if strengths[worst] > 0.0 {
                strengths[best] / strengths[worst]
            } else {
                1.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lap(n: i64, time: f64, sectors: [Option<f64>; 3], kind: &str) -> Lap {
        Lap {
            id: n,
            session_id: 1,
            driver_id: "7".into(),
            lap_number: n,
            lap_time: time,
            sector_1: sectors[0],
            sector_2: sectors[1],
            sector_3: sectors[2],
            lap_type: kind.into(),
            position: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn short_inputs_give_the_originals_values_not_errors() {
        let laps = [
            lap(1, 90.0, [None; 3], "RACE_LAP"),
            lap(2, 91.0, [None; 3], "RACE_LAP"),
        ];
        let m = driver_metrics(&laps).unwrap();
        assert_eq!(m.consistency_index, 0.0);
        assert_eq!(
            (m.pace_stability.stability, m.pace_stability.p_value),
            (1.0, None)
        );
        assert!(!m.fatigue_dropoff.significant);
        assert_eq!(m.fatigue_dropoff.interpretation, None);
        // No sector ever timed: NaN strengths, S1 named best and worst, index 1.
        assert!(m.sector_strength.sector_strengths.s1.is_nan());
        assert_eq!(
            (
                m.sector_strength.best_sector.as_str(),
                m.sector_strength.worst_sector.as_str(),
                m.sector_strength.strength_index
            ),
            ("S1", "S1", 1.0)
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["pace_stability"].as_object().unwrap().len(), 4);
        assert!(json["sector_strength"]["sector_means"]["S2"].is_null());
    }

    #[test]
    fn in_out_and_safety_car_laps_are_dropped_but_caution_and_pit_typed_laps_kept() {
        let kinds = ["IN_LAP", "OUT_LAP", "SAFETY_CAR", "ERROR_LAP", "PIT_LAP"];
        let mut laps: Vec<Lap> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| lap(i as i64 + 1, 200.0, [None; 3], k))
            .collect();
        // Three kept laps: consistency is computed from them alone.
        laps.push(lap(6, 90.0, [None; 3], "FULL_COURSE_YELLOW"));
        laps.push(lap(7, 90.0, [None; 3], "pit"));
        laps.push(lap(8, 90.0, [None; 3], "RACE_LAP"));
        assert_eq!(driver_metrics(&laps).unwrap().consistency_index, 1.0);
    }

    #[test]
    fn identical_lap_numbers_fail_as_the_originals_regression_does() {
        let laps: Vec<Lap> = (0..5)
            .map(|i| lap(3, 90.0 + f64::from(i), [None; 3], "RACE_LAP"))
            .collect();
        let err = driver_metrics(&laps).unwrap_err();
        assert!(err.to_string().contains("lap number 3"), "{err}");
    }

    #[test]
    fn the_record_keeps_the_aggression_number_and_null_for_nan() {
        let laps = [lap(1, 90.0, [Some(30.0), None, Some(30.0)], "RACE_LAP")];
        let record = driver_metrics(&laps).unwrap().to_record(4, "7");
        assert_eq!(record.session_id, 4);
        assert_eq!(record.consistency_index, Some(0.0));
        assert!(record.aggression_score.is_some());
        assert!(record.sector_strength["sector_means"]["S2"].is_null());
        assert_eq!(record.sector_strength["sector_means"]["S1"], 30.0);
        record.validate(1, "2026-01-01T00:00:00.000000Z").unwrap();
    }
}
