//! A session's laps, analysed: the classification with gaps, and per competitor the best,
//! average and green laps, sector bests, theoretical best and pit stops; lap counts by type.
//!
//! Every front end shows these figures as computed here, so they mean the same everywhere:
//!
//! - **Competitor**: who is classified. Where the session's entries ([`Options::entries`]) say
//!   which car a driver id drove, the car: its laps are those of all its drivers together (WEC:
//!   `007-1`, `007-2` and `007-3` make car `007`), listed under it in [`Standing::drivers`].
//!   Otherwise the driver id alone (without entries, every driver id; in a single-driver series
//!   such as the GR Cup that is the car anyway), and also where two cars run under one number
//!   (see [`Lineup`]). [`Lineup::competitor`] is the one place that says which competitor a
//!   lap belongs to.
//! - **Class position**: the position among the competitors of the same class (the car's class
//!   in its entries), in the order of the overall classification; none without a class.
//! - **Race**: a session whose `race_type` starts with `race` or `sprint`, case ignored
//!   (`race`, `Race 1`, `sprint`): see [`is_race`].
//! - **Classification** ([`Rule`]): in a race, the most laps completed first, then the shortest
//!   total time (the sum of the lap times, plus any time penalty given in [`Options`]); ties go
//!   to the better running position at the competitor's last lap, then to the lower id. In any
//!   other session, the fastest lap first; ties go to more laps, then to the lower id.
//! - **Gaps**, to the leader and to the competitor classified just ahead: in a race the
//!   difference of total times, or the difference in laps when the competitor completed fewer;
//!   in other sessions the difference of best laps.
//! - **Green lap** ([`is_green`]): a lap at racing speed under the green flag, counted in the
//!   average green lap: lap type `RACE_LAP`, or the original GR Race Guardian's `normal` and
//!   `qualifying`; in a race, lap 1 (and a lap 0) is left out, as it starts from the grid.
//! - **Pit stop** ([`is_pit_stop`]): a lap that ends in the pit lane: `IN_LAP`, or the
//!   original's `pit`.
//! - **Theoretical best**: best sector 1 + best sector 2 + best sector 3, each from any lap,
//!   when all three were timed.
//!
//! Times computed here (totals, gaps, averages, theoretical bests) are rounded to the
//! millisecond, as timing systems give them; best laps and sectors are the stored values.
//!
//! ```
//! use racestore::analysis::race::{self, Gap};
//! use racestore::{Lap, Session};
//!
//! let session = Session {
//!     id: 1,
//!     circuit: "Barber Motorsports Park".into(),
//!     date: "2025-09-06".into(),
//!     race_type: "race".into(),
//!     created_at: String::new(),
//!     updated_at: String::new(),
//! };
//! let lap = |id, driver: &str, lap_number, lap_time| Lap {
//!     id,
//!     session_id: 1,
//!     driver_id: driver.into(),
//!     lap_number,
//!     lap_time,
//!     sector_1: None,
//!     sector_2: None,
//!     sector_3: None,
//!     lap_type: "RACE_LAP".into(),
//!     position: None,
//!     created_at: String::new(),
//! };
//! let laps = [lap(1, "7", 1, 99.0), lap(2, "13", 1, 98.5), lap(3, "7", 2, 97.0), lap(4, "13", 2, 98.0)];
//! let analysis = race::analyse(&session, &laps);
//! let [winner, second] = &analysis.classification[..] else { unreachable!() };
//! assert_eq!((winner.competitor.id(), winner.total_time), ("7", 196.0));
//! assert_eq!((second.competitor.id(), second.gap_to_leader), ("13", Some(Gap::Seconds(0.5))));
//! assert_eq!(winner.average_green_lap, Some(97.0)); // lap 1 starts from the grid
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{lap_type, Entry, Lap, Session};

/// Lap types at racing speed under the green flag: counted in the average green lap.
pub const GREEN_LAP_TYPES: [&str; 3] = [lap_type::RACE_LAP, "normal", "qualifying"];

/// Lap types that end in the pit lane: each is one pit stop.
pub const PIT_LAP_TYPES: [&str; 2] = [lap_type::IN_LAP, "pit"];

/// How a session's `race_type` starts when the session is a race (compared case-insensitively).
pub const RACE_TYPE_PREFIXES: [&str; 2] = ["race", "sprint"];

/// Whether `session` is a race: its `race_type` starts with one of [`RACE_TYPE_PREFIXES`].
pub fn is_race(session: &Session) -> bool {
    let race_type = session.race_type.trim().to_lowercase();
    RACE_TYPE_PREFIXES.iter().any(|p| race_type.starts_with(p))
}

/// Whether `lap` is a green lap of a session that is a race (`race`) or not: one of
/// [`GREEN_LAP_TYPES`], and in a race not lap 1 or 0, which start from the grid.
pub fn is_green(lap: &Lap, race: bool) -> bool {
    GREEN_LAP_TYPES.contains(&lap.lap_type.as_str()) && !(race && lap.lap_number <= 1)
}

/// Whether `lap` ends in the pit lane (one of [`PIT_LAP_TYPES`]): one pit stop.
pub fn is_pit_stop(lap: &Lap) -> bool {
    PIT_LAP_TYPES.contains(&lap.lap_type.as_str())
}

/// Who is classified: a car, or a driver id no entry places in a car.
///
/// In JSON (flattened into a [`Standing`]): `{"car": "007"}` or `{"driver_id": "13"}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Competitor {
    /// A car, by its number as written (`007`): the laps of every driver the entries place in it.
    Car {
        /// The car number.
        car: String,
    },
    /// A driver id with no entry naming its car: its laps alone.
    Driver {
        /// The driver id the laps carry.
        driver_id: String,
    },
}

impl Competitor {
    /// The competitor `lap` was driven by when no entry names a car: its driver id.
    pub fn of(lap: &Lap) -> Competitor {
        Competitor::Driver {
            driver_id: lap.driver_id.clone(),
        }
    }

    /// The competitor's id, as [`Options::time_penalties`] and the front ends name it: the car
    /// number, or the driver id.
    pub fn id(&self) -> &str {
        match self {
            Competitor::Car { car } => car,
            Competitor::Driver { driver_id } => driver_id,
        }
    }

    /// Whether the competitor is a car.
    pub fn is_car(&self) -> bool {
        matches!(self, Competitor::Car { .. })
    }
}

/// Which competitor each lap belongs to, from a session's entries: the driver ids an entry
/// places in a car (an entry with a car number) are that car; any other driver id is its own
/// competitor.
///
/// Two cars can run under one number (a combined race: COTA's two GR Cup `#3`, imported as
/// `3` and `3-Legends`). Drivers of one car never complete the same lap number, so where the
/// laps given to [`Lineup::with_laps`] show two driver ids of one car number on the same lap,
/// that number is not taken as one car: each of its driver ids is a competitor of its own, and
/// two cars' laps are never added up.
#[derive(Debug, Clone, Default)]
pub struct Lineup<'a> {
    /// By driver id, the first entry of the session naming it.
    entries: HashMap<&'a str, &'a Entry>,
    /// Car numbers more than one car runs under, from the laps.
    shared: std::collections::HashSet<String>,
}

impl<'a> Lineup<'a> {
    /// The lineup `entries` give (entries of other sessions than the laps' have no effect on
    /// them, as long as driver ids differ; pass one session's entries).
    pub fn new(entries: &'a [Entry]) -> Self {
        let mut by_driver = HashMap::new();
        for entry in entries {
            by_driver.entry(entry.driver_id.as_str()).or_insert(entry);
        }
        Lineup {
            entries: by_driver,
            shared: std::collections::HashSet::new(),
        }
    }

    /// The lineup `entries` give, with every car number that `laps` show more than one car
    /// running under (two of its driver ids on one lap number) left out: its driver ids are
    /// competitors of their own.
    pub fn with_laps(entries: &'a [Entry], laps: &[&Lap]) -> Self {
        let mut lineup = Lineup::new(entries);
        let mut driven: HashMap<(&str, i64), &str> = HashMap::new();
        for lap in laps {
            let Some(car) = lineup.entry(&lap.driver_id).and_then(|e| e.car_number.as_deref()) else {
                continue;
            };
            let first = *driven
                .entry((car, lap.lap_number))
                .or_insert(lap.driver_id.as_str());
            if first != lap.driver_id {
                lineup.shared.insert(car.to_owned());
            }
        }
        lineup
    }

    /// The entry of a driver id, if there is one.
    pub fn entry(&self, driver_id: &str) -> Option<&'a Entry> {
        self.entries.get(driver_id).copied()
    }

    /// The competitor `lap` belongs to: its car when its driver's entry names one (and one car
    /// only runs under that number), else its driver id.
    pub fn competitor(&self, lap: &Lap) -> Competitor {
        match self.entry(&lap.driver_id).and_then(|e| e.car_number.as_ref()) {
            Some(car) if !self.shared.contains(car) => Competitor::Car { car: car.clone() },
            _ => Competitor::of(lap),
        }
    }
}

impl fmt::Display for Competitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How a session is classified (see the [module documentation](self)).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A race: most laps completed, then shortest total time; gaps in time, or in laps.
    Race,
    /// Qualifying, practice, any other session: fastest lap; gaps between best laps.
    BestLap,
}

impl Rule {
    /// The rule a session is classified by: [`Rule::Race`] when [`is_race`], else [`Rule::BestLap`].
    pub fn of(session: &Session) -> Rule {
        if is_race(session) {
            Rule::Race
        } else {
            Rule::BestLap
        }
    }
}

/// How far one competitor is behind another.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gap {
    /// Seconds, rounded to the millisecond: `{"seconds": 2.74}`.
    Seconds(f64),
    /// Whole laps, when the competitor completed fewer laps: `{"laps": 1}`.
    Laps(u64),
}

/// The best time in each sector, each from any lap; `None` for a sector never timed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BestSectors {
    /// Best sector 1, in seconds.
    #[serde(rename = "S1")]
    pub s1: Option<f64>,
    /// Best sector 2, in seconds.
    #[serde(rename = "S2")]
    pub s2: Option<f64>,
    /// Best sector 3, in seconds.
    #[serde(rename = "S3")]
    pub s3: Option<f64>,
}

impl BestSectors {
    /// The best sectors of `laps`.
    pub fn of<'a>(laps: impl IntoIterator<Item = &'a Lap> + Clone) -> BestSectors {
        let best =
            |sector: fn(&Lap) -> Option<f64>| laps.clone().into_iter().filter_map(sector).reduce(f64::min);
        BestSectors {
            s1: best(|l| l.sector_1),
            s2: best(|l| l.sector_2),
            s3: best(|l| l.sector_3),
        }
    }

    /// Best S1 + S2 + S3, rounded to the millisecond, when all three were timed.
    pub fn theoretical_best(&self) -> Option<f64> {
        Some(millis(self.s1? + self.s2? + self.s3?))
    }

    /// The three, in order.
    pub fn to_array(self) -> [Option<f64>; 3] {
        [self.s1, self.s2, self.s3]
    }
}

/// One driver of a competitor: who, and what they did in its laps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverLaps {
    /// The driver id their laps carry (`007-2`).
    pub driver_id: String,
    /// The driver's name from their entry, if it gives one.
    pub driver_name: Option<String>,
    /// Laps driven.
    pub laps: usize,
    /// The number of the first lap they drove.
    pub first_lap: i64,
    /// Their fastest lap, in seconds.
    pub best_lap: f64,
}

/// One competitor's place in the classification and their figures, from their laps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// Classified position, from 1.
    pub position: usize,
    /// Who.
    #[serde(flatten)]
    pub competitor: Competitor,
    /// The class, from the entries (of a car: the first of its drivers' entries that gives one).
    pub class: Option<String>,
    /// Position among the competitors of the same [`class`](Self::class), from 1; `None`
    /// without a class.
    pub class_position: Option<usize>,
    /// The group within the class or series, from the entries.
    pub group: Option<String>,
    /// The team, from the entries.
    pub team: Option<String>,
    /// The manufacturer, from the entries.
    pub manufacturer: Option<String>,
    /// The vehicle, from the entries.
    pub vehicle: Option<String>,
    /// Who drove: each driver id of the competitor's laps, by the first lap they drove (then
    /// by id); a driver competitor: that driver alone.
    pub drivers: Vec<DriverLaps>,
    /// Laps recorded: in a race, laps completed.
    pub laps: usize,
    /// The sum of the lap times plus the time penalty, in seconds.
    pub total_time: f64,
    /// Seconds added to the total time ([`Options::time_penalties`]); 0 without one.
    pub time_penalty: f64,
    /// Behind the leader; `None` for the leader.
    pub gap_to_leader: Option<Gap>,
    /// Behind the competitor classified just ahead; `None` for the leader.
    pub gap_to_previous: Option<Gap>,
    /// Running position when the competitor last crossed the line (the last lap by number,
    /// of equal numbers the last saved), if the laps record positions.
    pub final_position: Option<i64>,
    /// The fastest lap time, in seconds.
    pub best_lap: f64,
    /// The number of the lap [`best_lap`](Self::best_lap) was set on (the first, if twice).
    pub best_lap_number: i64,
    /// The best time in each sector.
    pub best_sectors: BestSectors,
    /// Best S1 + S2 + S3, when all three were timed.
    pub theoretical_best: Option<f64>,
    /// The mean of every lap time.
    pub average_lap: f64,
    /// The mean of the green laps ([`is_green`]), when there is one.
    pub average_green_lap: Option<f64>,
    /// How many green laps there are.
    pub green_laps: usize,
    /// Laps ending in the pit lane ([`is_pit_stop`]).
    pub pit_stops: usize,
}

/// What a session's laps add up to, without any per-competitor figure.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionCounts {
    /// Competitors with at least one lap.
    pub competitors: usize,
    /// Distinct driver ids of the laps.
    pub drivers: usize,
    /// Laps recorded.
    pub laps: usize,
    /// The fastest lap of the session, in seconds.
    pub best_lap: Option<f64>,
    /// Laps per lap type, by type name.
    pub lap_types: BTreeMap<String, usize>,
}

/// Choices an analysis can be given beyond the laps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Classify by this rule instead of the one the session's type implies ([`Rule::of`]).
    pub rule: Option<Rule>,
    /// Seconds added to a competitor's total time (a stewards' time penalty; negative for time
    /// given back), by [`Competitor::id`].
    pub time_penalties: BTreeMap<String, f64>,
    /// The session's entries: they classify cars (every driver an entry places in a car
    /// together) and give classes, teams and drivers' names. Empty: every driver id on its own.
    pub entries: Vec<Entry>,
}

/// A session's laps, analysed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionAnalysis {
    /// The rule the classification follows.
    pub rule: Rule,
    /// Laps, competitors, best lap and laps by type.
    pub counts: SessionCounts,
    /// Every competitor with a lap, in classified order.
    pub classification: Vec<Standing>,
}

/// The counts of `laps` (of any sessions; normally one session's), each driver id a competitor.
pub fn counts(laps: &[Lap]) -> SessionCounts {
    counts_of(&laps.iter().collect::<Vec<_>>(), &Lineup::default())
}

fn counts_of(laps: &[&Lap], lineup: &Lineup<'_>) -> SessionCounts {
    let mut lap_types: BTreeMap<String, usize> = BTreeMap::new();
    for lap in laps {
        *lap_types.entry(lap.lap_type.clone()).or_default() += 1;
    }
    let drivers: std::collections::BTreeSet<&str> = laps.iter().map(|l| l.driver_id.as_str()).collect();
    SessionCounts {
        competitors: group(laps, lineup).len(),
        drivers: drivers.len(),
        laps: laps.len(),
        best_lap: laps.iter().map(|l| l.lap_time).reduce(f64::min),
        lap_types,
    }
}

/// Analyses `session` from its laps (laps of other sessions in `laps` are left out), each
/// driver id a competitor.
pub fn analyse(session: &Session, laps: &[Lap]) -> SessionAnalysis {
    analysis(session, laps, &Options::default())
}

/// Analyses `session` from its laps and entries: per car where the entries name cars, with
/// classes, class positions, teams and drivers' names (entries of other sessions are left out).
pub fn analyse_entries(session: &Session, laps: &[Lap], entries: &[Entry]) -> SessionAnalysis {
    let options = Options {
        entries: entries
            .iter()
            .filter(|e| e.session_id == session.id)
            .cloned()
            .collect(),
        ..Options::default()
    };
    analysis(session, laps, &options)
}

/// [`analyse`] with [`Options`]: a rule of the caller's choice, time penalties.
///
/// Fails with [`Error::Invalid`] (field `time_penalties`) for a penalty that is not a finite
/// number or names a competitor without a lap in the session.
pub fn analyse_with(session: &Session, laps: &[Lap], options: &Options) -> Result<SessionAnalysis> {
    let own: Vec<&Lap> = laps.iter().filter(|l| l.session_id == session.id).collect();
    let lineup = Lineup::with_laps(&options.entries, &own);
    for (id, seconds) in &options.time_penalties {
        if !seconds.is_finite() {
            return Err(Error::Invalid {
                field: "time_penalties".into(),
                message: format!("the penalty of {id} is {seconds}, not a number of seconds"),
            });
        }
        if !own.iter().any(|l| lineup.competitor(l).id() == id) {
            return Err(Error::Invalid {
                field: "time_penalties".into(),
                message: format!("{id} has no lap in session {} to penalise", session.id),
            });
        }
    }
    Ok(analysis(session, laps, options))
}

fn analysis(session: &Session, laps: &[Lap], options: &Options) -> SessionAnalysis {
    let own: Vec<&Lap> = laps.iter().filter(|l| l.session_id == session.id).collect();
    let lineup = Lineup::with_laps(&options.entries, &own);
    let rule = options.rule.unwrap_or_else(|| Rule::of(session));
    let race = is_race(session);
    let mut classification: Vec<Standing> = group(&own, &lineup)
        .into_iter()
        .map(|(competitor, laps)| {
            let penalty = options
                .time_penalties
                .get(competitor.id())
                .copied()
                .unwrap_or(0.0);
            standing(competitor, &laps, race, penalty, &lineup)
        })
        .collect();
    match rule {
        Rule::Race => classification.sort_by(|a, b| {
            Reverse(a.laps)
                .cmp(&Reverse(b.laps))
                .then(a.total_time.total_cmp(&b.total_time))
                .then(
                    a.final_position
                        .unwrap_or(i64::MAX)
                        .cmp(&b.final_position.unwrap_or(i64::MAX)),
                )
                .then_with(|| a.competitor.cmp(&b.competitor))
        }),
        Rule::BestLap => classification.sort_by(|a, b| {
            a.best_lap
                .total_cmp(&b.best_lap)
                .then(Reverse(a.laps).cmp(&Reverse(b.laps)))
                .then_with(|| a.competitor.cmp(&b.competitor))
        }),
    }
    let gaps: Vec<(Option<Gap>, Option<Gap>)> = classification
        .iter()
        .enumerate()
        .map(|(i, s)| match i {
            0 => (None, None),
            _ => (
                Some(gap(rule, &classification[0], s)),
                Some(gap(rule, &classification[i - 1], s)),
            ),
        })
        .collect();
    let mut in_class: HashMap<String, usize> = HashMap::new();
    for (i, (standing, (to_leader, to_previous))) in classification.iter_mut().zip(gaps).enumerate() {
        standing.position = i + 1;
        standing.gap_to_leader = to_leader;
        standing.gap_to_previous = to_previous;
        standing.class_position = standing.class.as_ref().map(|class| {
            let n = in_class.entry(class.clone()).or_default();
            *n += 1;
            *n
        });
    }
    SessionAnalysis {
        rule,
        counts: counts_of(&own, &lineup),
        classification,
    }
}

/// The laps of each competitor, in the order given, competitors by id.
fn group<'a>(laps: &[&'a Lap], lineup: &Lineup<'_>) -> BTreeMap<Competitor, Vec<&'a Lap>> {
    let mut by_competitor: BTreeMap<Competitor, Vec<&'a Lap>> = BTreeMap::new();
    for lap in laps {
        by_competitor
            .entry(lineup.competitor(lap))
            .or_default()
            .push(*lap);
    }
    by_competitor
}

/// The drivers of a competitor's laps, by the first lap they drove, then by id.
fn drivers(laps: &[&Lap], lineup: &Lineup<'_>) -> Vec<DriverLaps> {
    let mut drivers: Vec<DriverLaps> = Vec::new();
    for lap in laps {
        match drivers.iter_mut().find(|d| d.driver_id == lap.driver_id) {
            Some(d) => {
                d.laps += 1;
                d.first_lap = d.first_lap.min(lap.lap_number);
                d.best_lap = d.best_lap.min(lap.lap_time);
            }
            None => drivers.push(DriverLaps {
                driver_id: lap.driver_id.clone(),
                driver_name: lineup.entry(&lap.driver_id).and_then(|e| e.driver_name.clone()),
                laps: 1,
                first_lap: lap.lap_number,
                best_lap: lap.lap_time,
            }),
        }
    }
    drivers.sort_by(|a, b| {
        a.first_lap
            .cmp(&b.first_lap)
            .then_with(|| a.driver_id.cmp(&b.driver_id))
    });
    drivers
}

/// One competitor's figures (position and gaps are set once everyone is classified).
fn standing(
    competitor: Competitor,
    laps: &[&Lap],
    race: bool,
    penalty: f64,
    lineup: &Lineup<'_>,
) -> Standing {
    let drivers = drivers(laps, lineup);
    let entries: Vec<&Entry> = drivers
        .iter()
        .filter_map(|d| lineup.entry(&d.driver_id))
        .collect();
    let first = |value: fn(&Entry) -> &Option<String>| entries.iter().find_map(|e| value(e).clone());
    // Every competitor has at least one lap: `group` makes them from laps.
    let fastest = laps
        .iter()
        .min_by(|a, b| a.lap_time.total_cmp(&b.lap_time))
        .expect("a competitor has a lap");
    let total: f64 = laps.iter().map(|l| l.lap_time).sum();
    let green: Vec<f64> = laps
        .iter()
        .filter(|l| is_green(l, race))
        .map(|l| l.lap_time)
        .collect();
    let best_sectors = BestSectors::of(laps.iter().copied());
    Standing {
        position: 0,
        competitor,
        class: first(|e| &e.class),
        class_position: None,
        group: first(|e| &e.group),
        team: first(|e| &e.team),
        manufacturer: first(|e| &e.manufacturer),
        vehicle: first(|e| &e.vehicle),
        drivers,
        laps: laps.len(),
        total_time: millis(total + penalty),
        time_penalty: penalty,
        gap_to_leader: None,
        gap_to_previous: None,
        final_position: laps
            .iter()
            .max_by_key(|l| (l.lap_number, l.id))
            .and_then(|l| l.position),
        best_lap: fastest.lap_time,
        best_lap_number: fastest.lap_number,
        theoretical_best: best_sectors.theoretical_best(),
        best_sectors,
        average_lap: millis(total / laps.len() as f64),
        average_green_lap: mean(&green),
        green_laps: green.len(),
        pit_stops: laps.iter().filter(|l| is_pit_stop(l)).count(),
    }
}

/// How far `behind` is behind `ahead` under `rule`.
fn gap(rule: Rule, ahead: &Standing, behind: &Standing) -> Gap {
    match rule {
        Rule::Race if behind.laps < ahead.laps => Gap::Laps((ahead.laps - behind.laps) as u64),
        Rule::Race => Gap::Seconds(millis(behind.total_time - ahead.total_time)),
        Rule::BestLap => Gap::Seconds(millis(behind.best_lap - ahead.best_lap)),
    }
}

/// The mean, rounded to the millisecond; `None` for no values.
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| millis(values.iter().sum::<f64>() / values.len() as f64))
}

/// Rounded to the millisecond, as timing shows times.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lap(id: i64, driver: &str, number: i64, time: f64, sectors: [Option<f64>; 3], kind: &str) -> Lap {
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
            position: None,
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

    const NONE: [Option<f64>; 3] = [None, None, None];

    #[test]
    fn best_sectors_come_from_any_lap_and_green_laps_leave_out_the_start_of_a_race() {
        let laps = [
            lap(1, "A", 1, 95.0, [Some(30.0), Some(33.0), Some(32.0)], "RACE_LAP"),
            lap(2, "A", 2, 92.0, [Some(30.5), Some(31.0), Some(30.5)], "RACE_LAP"),
            lap(3, "A", 3, 94.0, [Some(29.9), Some(32.0), None], "RACE_LAP"),
            lap(4, "A", 4, 120.0, [Some(31.0), Some(33.0), Some(56.0)], "IN_LAP"),
            lap(5, "A", 5, 130.0, NONE, "OUT_LAP"),
            lap(6, "B", 1, 91.0, NONE, "pit"),
        ];
        let analysis = analyse(&session("Race 1"), &laps);
        assert_eq!(analysis.rule, Rule::Race);
        let [a, b] = &analysis.classification[..] else {
            panic!("{analysis:?}")
        };
        assert_eq!((a.competitor.id(), a.position, a.laps), ("A", 1, 5));
        assert_eq!((a.best_lap, a.best_lap_number), (92.0, 2));
        assert_eq!(a.best_sectors.to_array(), [Some(29.9), Some(31.0), Some(30.5)]);
        assert_eq!(a.theoretical_best, Some(91.4));
        assert_eq!((a.average_green_lap, a.green_laps), (Some(93.0), 2));
        assert_eq!((a.pit_stops, a.average_lap, a.total_time), (1, 106.2, 531.0));
        assert_eq!(
            (b.pit_stops, b.theoretical_best, b.average_green_lap),
            (1, None, None)
        );
        assert_eq!(b.gap_to_leader, Some(Gap::Laps(4)));

        // Outside a race, lap 1 is a lap like any other, and the fastest lap leads.
        let analysis = analyse(&session("qualifying"), &laps);
        assert_eq!(analysis.rule, Rule::BestLap);
        let [b, a] = &analysis.classification[..] else {
            panic!("{analysis:?}")
        };
        assert_eq!((b.competitor.id(), a.competitor.id()), ("B", "A"));
        assert_eq!(a.average_green_lap, Some(millis((95.0 + 92.0 + 94.0) / 3.0)));
        assert_eq!(a.gap_to_leader, Some(Gap::Seconds(1.0)));
    }

    #[test]
    fn a_race_is_classified_by_laps_then_time_whatever_the_running_order_said() {
        // C retired from the lead after 2 laps: the running order still has it first.
        let mut laps = vec![
            lap(1, "C", 1, 90.0, NONE, "RACE_LAP"),
            lap(2, "C", 2, 90.0, NONE, "RACE_LAP"),
            lap(3, "A", 1, 91.0, NONE, "RACE_LAP"),
            lap(4, "A", 2, 91.0, NONE, "RACE_LAP"),
            lap(5, "A", 3, 91.0, NONE, "RACE_LAP"),
            lap(6, "B", 1, 91.5, NONE, "RACE_LAP"),
            lap(7, "B", 2, 91.5, NONE, "RACE_LAP"),
            lap(8, "B", 3, 91.2, NONE, "RACE_LAP"),
        ];
        laps[1].position = Some(1);
        let analysis = analyse(&session("race"), &laps);
        let order: Vec<(&str, usize, f64)> = analysis
            .classification
            .iter()
            .map(|s| (s.competitor.id(), s.position, s.total_time))
            .collect();
        assert_eq!(order, [("A", 1, 273.0), ("B", 2, 274.2), ("C", 3, 180.0)]);
        let gaps: Vec<_> = analysis
            .classification
            .iter()
            .map(|s| (s.gap_to_leader, s.gap_to_previous))
            .collect();
        assert_eq!(
            gaps,
            [
                (None, None),
                (Some(Gap::Seconds(1.2)), Some(Gap::Seconds(1.2))),
                (Some(Gap::Laps(1)), Some(Gap::Laps(1))),
            ]
        );
        assert_eq!(analysis.classification[2].final_position, Some(1));

        // A 1.5 s penalty puts A behind B; the gaps follow the penalised totals.
        let options = Options {
            time_penalties: BTreeMap::from([("A".to_owned(), 1.5)]),
            ..Options::default()
        };
        let analysis = analyse_with(&session("race"), &laps, &options).unwrap();
        let (b, a) = (&analysis.classification[0], &analysis.classification[1]);
        assert_eq!((b.competitor.id(), a.competitor.id()), ("B", "A"));
        assert_eq!((a.total_time, a.time_penalty), (274.5, 1.5));
        assert_eq!(a.gap_to_leader, Some(Gap::Seconds(0.3)));
    }

    #[test]
    fn equal_totals_go_to_the_better_running_position_then_the_lower_id() {
        let mut laps = vec![
            lap(1, "B", 1, 90.0, NONE, "RACE_LAP"),
            lap(2, "A", 1, 90.0, NONE, "RACE_LAP"),
            lap(3, "C", 1, 90.0, NONE, "RACE_LAP"),
        ];
        laps[2].position = Some(1);
        let order: Vec<String> = analyse(&session("race"), &laps)
            .classification
            .iter()
            .map(|s| s.competitor.to_string())
            .collect();
        assert_eq!(order, ["C", "A", "B"]);
    }

    #[test]
    fn penalties_must_be_numbers_for_competitors_of_the_session() {
        let laps = [lap(1, "A", 1, 90.0, NONE, "RACE_LAP")];
        for (id, seconds, says) in [
            ("Z", 5.0, "Z has no lap in session 1"),
            ("A", f64::NAN, "not a number"),
        ] {
            let options = Options {
                time_penalties: BTreeMap::from([(id.to_owned(), seconds)]),
                ..Options::default()
            };
            let err = analyse_with(&session("race"), &laps, &options).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, message } if field == "time_penalties" && message.contains(says)),
                "{err}"
            );
        }
    }

    #[test]
    fn counts_are_per_lap_type_and_laps_of_other_sessions_are_left_out() {
        let mut laps = vec![
            lap(1, "A", 1, 90.0, NONE, "RACE_LAP"),
            lap(2, "B", 1, 89.0, NONE, "IN_LAP"),
            lap(3, "A", 2, 91.0, NONE, "RACE_LAP"),
            lap(4, "D", 1, 80.0, NONE, "RACE_LAP"),
        ];
        laps[3].session_id = 2;
        let analysis = analyse(&session("race"), &laps);
        assert_eq!(
            analysis.counts,
            SessionCounts {
                competitors: 2,
                drivers: 2,
                laps: 3,
                best_lap: Some(89.0),
                lap_types: BTreeMap::from([("IN_LAP".into(), 1), ("RACE_LAP".into(), 2)]),
            }
        );
        assert_eq!(counts(&laps).competitors, 3);
        assert!(analyse(&session("race"), &[]).classification.is_empty());
    }

    fn entry(id: i64, car: Option<&str>, driver: &str, name: &str, class: Option<&str>) -> Entry {
        Entry {
            id,
            session_id: 1,
            car_number: car.map(str::to_owned),
            driver_id: driver.into(),
            driver_name: Some(name.into()),
            class: class.map(str::to_owned),
            group: None,
            team: Some(format!("Team {}", car.unwrap_or(driver))),
            manufacturer: None,
            vehicle: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn two_cars_under_one_number_are_never_added_up() {
        // COTA: two GR Cup cars numbered 3 (imported as 3 and 3-Legends), both on laps 1 and 2;
        // WEC: car 007's two drivers share its laps (1 and 2) without ever driving the same one.
        let laps = vec![
            lap(1, "3", 1, 100.0, NONE, "RACE_LAP"),
            lap(2, "3-Legends", 1, 101.0, NONE, "RACE_LAP"),
            lap(3, "007-1", 1, 99.0, NONE, "RACE_LAP"),
            lap(4, "3", 2, 100.0, NONE, "RACE_LAP"),
            lap(5, "3-Legends", 2, 101.0, NONE, "RACE_LAP"),
            lap(6, "007-2", 2, 99.0, NONE, "RACE_LAP"),
        ];
        let options = Options {
            entries: vec![
                entry(1, Some("3"), "3", "A", Some("Am")),
                entry(2, Some("3"), "3-Legends", "B", Some("Am")),
                entry(3, Some("007"), "007-1", "C", Some("HYPERCAR")),
                entry(4, Some("007"), "007-2", "D", Some("HYPERCAR")),
            ],
            ..Options::default()
        };
        let analysis = analyse_with(&session("race"), &laps, &options).unwrap();
        let classified: Vec<(&str, bool, usize, f64)> = analysis
            .classification
            .iter()
            .map(|s| (s.competitor.id(), s.competitor.is_car(), s.laps, s.total_time))
            .collect();
        assert_eq!(
            classified,
            [
                ("007", true, 2, 198.0),
                ("3", false, 2, 200.0),
                ("3-Legends", false, 2, 202.0)
            ]
        );
    }

    #[test]
    fn entries_classify_cars_with_their_drivers_and_positions_in_class() {
        // Car 007 shared by two drivers, car 8 by one, and a driver id no entry places in a car.
        let laps = [
            lap(1, "007-1", 1, 100.0, NONE, "RACE_LAP"),
            lap(2, "8-1", 1, 99.0, NONE, "RACE_LAP"),
            lap(3, "X", 1, 101.0, NONE, "RACE_LAP"),
            lap(4, "007-2", 2, 95.0, NONE, "IN_LAP"),
            lap(5, "8-1", 2, 99.0, NONE, "RACE_LAP"),
            lap(6, "X", 2, 101.0, NONE, "RACE_LAP"),
            lap(7, "007-1", 3, 96.0, NONE, "RACE_LAP"),
            lap(8, "8-1", 3, 99.0, NONE, "IN_LAP"),
        ];
        let entries = [
            entry(1, Some("007"), "007-1", "Ann A", Some("HYPERCAR")),
            entry(2, Some("007"), "007-2", "Bo B", Some("HYPERCAR")),
            entry(3, Some("8"), "8-1", "Cy C", Some("LMGT3")),
            entry(4, None, "X", "Di D", Some("LMGT3")),
        ];
        let analysis = analyse_entries(&session("race"), &laps, &entries);
        assert_eq!((analysis.counts.competitors, analysis.counts.drivers), (3, 4));
        /// Id, is a car, position, class position, laps, total time, pit stops.
        type Row<'a> = (&'a str, bool, usize, Option<usize>, usize, f64, usize);
        let rows: Vec<Row> = analysis
            .classification
            .iter()
            .map(|s| {
                (
                    s.competitor.id(),
                    s.competitor.is_car(),
                    s.position,
                    s.class_position,
                    s.laps,
                    s.total_time,
                    s.pit_stops,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("007", true, 1, Some(1), 3, 291.0, 1),
                ("8", true, 2, Some(1), 3, 297.0, 1),
                ("X", false, 3, Some(2), 2, 202.0, 0),
            ]
        );
        let car = &analysis.classification[0];
        assert_eq!((car.best_lap, car.best_lap_number), (95.0, 2));
        assert_eq!(car.team.as_deref(), Some("Team 007"));
        let drivers: Vec<(&str, Option<&str>, usize, f64)> = car
            .drivers
            .iter()
            .map(|d| (d.driver_id.as_str(), d.driver_name.as_deref(), d.laps, d.best_lap))
            .collect();
        assert_eq!(
            drivers,
            [
                ("007-1", Some("Ann A"), 2, 96.0),
                ("007-2", Some("Bo B"), 1, 95.0)
            ]
        );
        let value = serde_json::to_value(&analysis).unwrap();
        assert_eq!(value["classification"][0]["car"], "007");
        assert_eq!(value["classification"][2]["driver_id"], "X");
        let back: SessionAnalysis = serde_json::from_value(value).unwrap();
        assert_eq!(back, analysis);

        // Penalties name the car; without entries every driver id is classified alone.
        let options = Options {
            time_penalties: BTreeMap::from([("007".to_owned(), 10.0)]),
            entries: entries.to_vec(),
            ..Options::default()
        };
        let penalised = analyse_with(&session("race"), &laps, &options).unwrap();
        assert_eq!(penalised.classification[0].competitor.id(), "8");
        assert_eq!(analyse(&session("race"), &laps).classification.len(), 4);
    }

    #[test]
    fn sessions_are_races_by_their_type() {
        for (race_type, race) in [
            ("race", true),
            ("Race 2", true),
            ("sprint", true),
            ("qualifying", false),
            ("practice 1", false),
            ("", false),
        ] {
            assert_eq!(is_race(&session(race_type)), race, "{race_type}");
        }
    }

    #[test]
    fn results_serialize_with_the_driver_id_and_gaps_as_objects() {
        let laps = [
            lap(1, "A", 1, 90.0, NONE, "RACE_LAP"),
            lap(2, "B", 1, 90.25, NONE, "RACE_LAP"),
        ];
        let analysis = analyse(&session("race"), &laps);
        let value = serde_json::to_value(&analysis).unwrap();
        assert_eq!(value["rule"], "race");
        assert_eq!(value["classification"][1]["driver_id"], "B");
        assert_eq!(
            value["classification"][1]["gap_to_leader"],
            serde_json::json!({"seconds": 0.25})
        );
        let back: SessionAnalysis = serde_json::from_value(value).unwrap();
        assert_eq!(back, analysis);
    }
}
