//! Formula 1's history from the Ergast database's CSV tables (`f1db_csv`, also republished on
//! Kaggle as "Formula 1 World Championship 1950–2024"): one session per race that has lap
//! times, one lap per `lap_times.csv` row.
//!
//! ```no_run
//! use racestore::import::ergast::{self, Options};
//!
//! let store = racestore::open("json:storage")?;
//! let options = Options { seasons: vec![2023], ..Options::default() };
//! let report = ergast::import(store.as_ref(), "f1db_csv".as_ref(), &options)?;
//! for race in &report.imported {
//!     println!("{} {}: session {}, {} laps", race.race.year, race.race.name, race.session.id, race.laps);
//! }
//! println!("{} races without lap times", report.races_without_laps.len());
//! # Ok::<(), racestore::Error>(())
//! ```
//!
//! # The tables
//!
//! A folder of `,`-separated tables with a header line: header names in any case (`raceId` or
//! `raceid`), strings quoted or not, `\N` or a blank cell for null, LF or CRLF line ends, a
//! byte-order mark or none. Columns are found by name; others are ignored.
//!
//! | file | columns read | |
//! |---|---|---|
//! | `races.csv` | `raceId`, `year`, `name`, `date`; `round`, `circuitId`, `time` when present | required |
//! | `lap_times.csv` | `raceId`, `driverId`, `lap`, `milliseconds`; `position` when present | required |
//! | `drivers.csv` | `driverId`, `driverRef`; `forename`, `surname` when present | required |
//! | `circuits.csv` | `circuitId`, `name` | optional |
//! | `results.csv` | `raceId`, `driverId`; `number`, `constructorId` when present | optional |
//! | `constructors.csv` | `constructorId`, `name` (or `constructor_name`) | optional |
//! | `pit_stops.csv` | `raceId`, `driverId`, `lap` | optional |
//!
//! # What is stored
//!
//! For each race chosen by [`Options`] that has lap times (the tables go back to 1950, lap times
//! to 1996; a race without any is listed in [`Report::races_without_laps`], not stored empty),
//! one [`Batch`]: the session, its laps and its entries, saved all or nothing.
//!
//! - **Session**: circuit = the circuit's name from `circuits.csv` (`Red Bull Ring`), or the
//!   race's name (`Austrian Grand Prix`) when that table is absent; date = the race's `date`
//!   and its `time` in UTC when given (`2020-07-05T13:10:00+00:00`), else midnight
//!   (`2020-07-05T00:00:00`), the form [`super::session_date`] stores; race type `race`.
//! - **Laps**: one per `lap_times.csv` row, in the file's order: `lap_number` = `lap`;
//!   `lap_time` = `milliseconds` / 1000, the exact time (the `time` column is a rounded text);
//!   `position` = `position`, the running position at the end of the lap; no sectors.
//!   `lap_type`: `IN_LAP` for a lap a `pit_stops.csv` row names (the stop is at the end of
//!   it), `OUT_LAP` for the lap after it (unless it is an in-lap too), else `RACE_LAP`.
//! - **Driver id**: the driver's `driverRef` (`hamilton`, `max_verstappen`): readable, unique
//!   in the Ergast database and the same in every race, so one driver's laps share an id across
//!   seasons. A driver whose `driverRef` is null or shared by another `driverId` gets
//!   `driver-ID` (`driver-830`) instead, so ids stay unique.
//! - **Entries**: one per driver with laps: car number (`results.number`), driver name
//!   (`forename surname`), team (the constructor's name, by `results.constructorId`); class,
//!   group, manufacturer and vehicle are not in the tables.
//!
//! # Races stored already
//!
//! A race is known again by its session's circuit, date and race type. Importing a race the
//! store holds already is refused ([`Existing::Refuse`], the default); with [`Existing::Skip`]
//! the race is left as it is and the others imported (an import that was stopped part-way
//! resumes where it stopped, as each race is saved whole or not at all); with
//! [`Existing::Replace`] it is stored again and its old session deleted.
//!
//! # Errors
//!
//! The tables are read and checked whole before anything is stored, and any fault fails the
//! import with [`Error::Import`] naming the file, the line and the column: a required table or
//! column missing, a cell that cannot be read, a row with more or fewer fields than the header,
//! a lap time of 0 or less, a lap number repeated for a driver in a race, a race or driver the
//! other tables do not have, a race or season asked for that `races.csv` does not have. Rows of
//! races not chosen are not checked beyond their `raceId`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::table::{import_error, read_file, Table};
use super::Existing;
use crate::error::{Error, Result};
use crate::model::{lap_type, now_timestamp, Id, NewEntry, NewLap, NewRecords, NewSession, Session};
use crate::store::{Batch, RaceStore, RaceStoreExt};

/// Which races to import, and what to do with those the store has already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Seasons (`races.year`) whose races are imported. With `races`, both empty: every race.
    pub seasons: Vec<i64>,
    /// Races (`races.raceId`) imported, whatever their season.
    pub races: Vec<i64>,
    /// What [`import`] does with a race chosen that the store holds already (a session of the
    /// same circuit, date and race type: the original's records have no field naming a race,
    /// so that is how a race is known again).
    pub existing: Existing,
}

/// A race chosen that the store holds already, and its session there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlreadyStored {
    /// Which race.
    #[serde(flatten)]
    pub race: RaceRef,
    /// Its session in the store.
    pub session_id: Id,
}

impl Options {
    fn chooses(&self, race: &RaceRow) -> bool {
        (self.seasons.is_empty() && self.races.is_empty())
            || self.seasons.contains(&race.year)
            || self.races.contains(&race.id)
    }
}

/// A race of `races.csv`, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaceRef {
    /// `raceId`.
    pub race_id: i64,
    /// `year`: the season.
    pub year: i64,
    /// `round` in the season, when given.
    pub round: Option<i64>,
    /// The race's name (`Austrian Grand Prix`).
    pub name: String,
}

/// A race read and checked, ready for [`save`]: nothing has been stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRace {
    /// Which race.
    pub race: RaceRef,
    /// The session to create (checked with [`NewSession::validate`]).
    pub session: NewSession,
    /// Its laps, in `lap_times.csv` order (`session_id` 0 until saved; each checked with
    /// [`NewLap::validate`]).
    pub laps: Vec<NewLap>,
    /// One entry per driver with laps, in the order the laps first name them.
    pub entries: Vec<NewEntry>,
    /// `pit_stops.csv` rows of the race.
    pub pit_stops: usize,
    /// Of those, stops on a lap the driver has no lap time for (their lap could not be marked).
    pub pit_stops_without_lap: usize,
}

/// The tables read and checked: the races to store, and those without lap times.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The folder, as given.
    pub dir: PathBuf,
    /// The races chosen that have lap times, by date (then `raceId`).
    pub races: Vec<ParsedRace>,
    /// The races chosen without a lap time, by date (then `raceId`).
    pub races_without_laps: Vec<RaceRef>,
    /// The optional tables the folder does not have (`circuits.csv`, ...).
    pub missing_tables: Vec<&'static str>,
}

impl Parsed {
    /// Laps of every race, in all.
    pub fn laps(&self) -> usize {
        self.races.iter().map(|r| r.laps.len()).sum()
    }
}

/// What saving one race stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaceSummary {
    /// Which race.
    #[serde(flatten)]
    pub race: RaceRef,
    /// The session created, as the store gives it back.
    pub session: Session,
    /// Laps stored.
    pub laps: usize,
    /// Drivers with laps (= entries stored).
    pub drivers: usize,
    /// In-laps marked from `pit_stops.csv`.
    pub pit_stops: usize,
    /// Pit stops on a lap without a lap time, not marked.
    pub pit_stops_without_lap: usize,
}

/// What an import stored, and what it did not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The folder, as given.
    pub dir: PathBuf,
    /// The races stored, one session each, in the order saved.
    pub imported: Vec<RaceSummary>,
    /// The races chosen that the store held already: left as they were ([`Existing::Skip`]),
    /// or stored again with their old session deleted ([`Existing::Replace`]; then they are in
    /// [`imported`](Self::imported) too).
    pub already_stored: Vec<AlreadyStored>,
    /// The races chosen that have no lap time: not stored.
    pub races_without_laps: Vec<RaceRef>,
    /// The optional tables the folder does not have.
    pub missing_tables: Vec<&'static str>,
}

/// Reads and checks the tables in `dir` without touching any store, keeping the races
/// `options` chooses. Fails with [`Error::Import`] naming the file, line and column of the first
/// fault (see the [module documentation](self)).
pub fn parse(dir: &Path, options: &Options) -> Result<Parsed> {
    let mut missing_tables = Vec::new();
    let mut optional = |name: &'static str| -> Result<Option<(PathBuf, Vec<u8>)>> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some((path, bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                missing_tables.push(name);
                Ok(None)
            }
            Err(err) => Err(Error::io("reading", path, err)),
        }
    };
    let required = |name: &str| -> Result<(PathBuf, Vec<u8>)> {
        let path = dir.join(name);
        if !path.exists() {
            return Err(import_error(
                &path,
                None,
                format!(
                    "is missing: {} needs races.csv, lap_times.csv and drivers.csv (Ergast's f1db_csv tables)",
                    dir.display()
                ),
            ));
        }
        Ok((path.clone(), read_file(&path)?))
    };
    let races_file = required("races.csv")?;
    let laps_file = required("lap_times.csv")?;
    let drivers_file = required("drivers.csv")?;
    let circuits_file = optional("circuits.csv")?;
    let results_file = optional("results.csv")?;
    let constructors_file = optional("constructors.csv")?;
    let pits_file = optional("pit_stops.csv")?;

    let circuits = match &circuits_file {
        Some((path, bytes)) => Some(names_by_id(path, bytes, "circuitId", &["name"])?),
        None => None,
    };
    let races = read_races(&races_file.0, &races_file.1, circuits.as_ref(), options)?;
    let chosen: HashSet<i64> = races.iter().filter(|r| r.chosen).map(|r| r.id).collect();
    let drivers = read_drivers(&drivers_file.0, &drivers_file.1)?;
    let known_races: HashSet<i64> = races.iter().map(|r| r.id).collect();
    let mut laps = read_laps(&laps_file.0, &laps_file.1, &known_races, &chosen, &drivers)?;
    let constructors = match &constructors_file {
        Some((path, bytes)) => Some(names_by_id(
            path,
            bytes,
            "constructorId",
            &["name", "constructor_name"],
        )?),
        None => None,
    };
    let results = match &results_file {
        Some((path, bytes)) => read_results(path, bytes, &chosen)?,
        None => HashMap::new(),
    };
    let pit_stops = match &pits_file {
        Some((path, bytes)) => read_pit_stops(path, bytes, &chosen)?,
        None => HashMap::new(),
    };

    let mut parsed = Parsed {
        dir: dir.to_owned(),
        races: Vec::new(),
        races_without_laps: Vec::new(),
        missing_tables,
    };
    let mut order: Vec<&RaceRow> = races.iter().filter(|r| r.chosen).collect();
    order.sort_by(|a, b| a.date.cmp(&b.date).then(a.id.cmp(&b.id)));
    for race in order {
        let Some(rows) = laps.remove(&race.id) else {
            parsed.races_without_laps.push(race.reference());
            continue;
        };
        let stops = pit_stops.get(&race.id).map_or(&[][..], Vec::as_slice);
        parsed.races.push(build_race(
            race,
            &rows,
            stops,
            &drivers,
            &results,
            constructors.as_ref(),
        ));
    }
    Ok(parsed)
}

/// Stores one race as one unit ([`RaceStore::save`] of one [`Batch`]): its session, laps and
/// entries, all or nothing.
pub fn save(store: &dyn RaceStore, race: &ParsedRace) -> Result<RaceSummary> {
    let batch = Batch::session(race.session.clone())
        .with(NewRecords::Laps(race.laps.clone()))
        .with(NewRecords::Entries(race.entries.clone()));
    let ids = store.save(&batch)?;
    let session_id = ids
        .session
        .ok_or_else(|| Error::backend("import", "the store created no session for the race"))?;
    let session = store
        .get_session(session_id)?
        .ok_or_else(|| Error::session_not_found(session_id))?;
    Ok(RaceSummary {
        race: race.race.clone(),
        session,
        laps: race.laps.len(),
        drivers: race.entries.len(),
        pit_stops: race.pit_stops - race.pit_stops_without_lap,
        pit_stops_without_lap: race.pit_stops_without_lap,
    })
}

/// The races of `parsed` the store holds already (see [`Existing`]), in the order of
/// `parsed.races`, as indexes into it with the session each is stored as.
pub fn already_stored(store: &dyn RaceStore, parsed: &Parsed) -> Result<Vec<(usize, AlreadyStored)>> {
    let now = now_timestamp();
    let mut sessions: HashMap<(String, String, String), Id> = HashMap::new();
    for session in store.get_all_sessions()? {
        sessions
            .entry((session.circuit, session.date, session.race_type))
            .or_insert(session.id);
    }
    let mut found = Vec::new();
    for (i, race) in parsed.races.iter().enumerate() {
        // As the store would write it (its date in the stored form).
        let stored = race.session.validate(0, &now)?;
        if let Some(id) = sessions.get(&(stored.circuit, stored.date, stored.race_type)) {
            found.push((
                i,
                AlreadyStored {
                    race: race.race.clone(),
                    session_id: *id,
                },
            ));
        }
    }
    Ok(found)
}

/// The error an import refuses races stored already with ([`Existing::Refuse`]).
pub fn already_stored_error(dir: &Path, stored: &[(usize, AlreadyStored)]) -> Option<Error> {
    let (_, first) = stored.first()?;
    let more = match stored.len() {
        1 => String::new(),
        2 => ", and 1 more race".to_owned(),
        n => format!(", and {} more races", n - 1),
    };
    Some(import_error(
        dir,
        None,
        format!(
            "race {} ({} {}) is in the store already as session {}{more}; nothing was imported (leave the races stored already as they are with --skip-existing, or store them again with --replace)",
            first.race.race_id, first.race.year, first.race.name, first.session_id
        ),
    ))
}

/// Imports the races `options` chooses from the tables in `dir`: [`parse`], then [`save`] of
/// each race in turn, those the store holds already as [`Options::existing`] says. A failure
/// while saving leaves the races saved before it stored, and nothing of the race it failed on.
pub fn import(store: &dyn RaceStore, dir: &Path, options: &Options) -> Result<Report> {
    let parsed = parse(dir, options)?;
    let stored = already_stored(store, &parsed)?;
    if options.existing == Existing::Refuse {
        if let Some(err) = already_stored_error(dir, &stored) {
            return Err(err);
        }
    }
    let before: HashMap<usize, Id> = stored.iter().map(|(i, s)| (*i, s.session_id)).collect();
    let mut imported = Vec::new();
    for (i, race) in parsed.races.iter().enumerate() {
        match (before.get(&i), options.existing) {
            (Some(_), Existing::Skip | Existing::Refuse) => {}
            (Some(old), Existing::Replace) => imported.push(replace(store, race, *old)?),
            (None, _) => imported.push(save(store, race)?),
        }
    }
    Ok(Report {
        dir: parsed.dir,
        imported,
        already_stored: stored.into_iter().map(|(_, s)| s).collect(),
        races_without_laps: parsed.races_without_laps,
        missing_tables: parsed.missing_tables,
    })
}

/// Stores `race` again as a new session, then deletes `old`, the session it was stored as:
/// the new one is saved first, so a failure in between leaves both, never neither.
pub fn replace(store: &dyn RaceStore, race: &ParsedRace, old: Id) -> Result<RaceSummary> {
    let summary = save(store, race)?;
    store.delete_session(old)?;
    Ok(summary)
}

/// A row of `races.csv`.
#[derive(Debug)]
struct RaceRow {
    id: i64,
    year: i64,
    round: Option<i64>,
    name: String,
    date: String,
    session: NewSession,
    chosen: bool,
}

impl RaceRow {
    fn reference(&self) -> RaceRef {
        RaceRef {
            race_id: self.id,
            year: self.year,
            round: self.round,
            name: self.name.clone(),
        }
    }
}

/// `name` by id, from a table of `id_column` and one of `name_columns`.
fn names_by_id(
    path: &Path,
    bytes: &[u8],
    id_column: &str,
    name_columns: &[&str],
) -> Result<HashMap<i64, String>> {
    let mut table = Table::new(path, bytes, b',')?;
    let id = table.require(&[id_column])?;
    let name = table.require(name_columns)?;
    let mut names = HashMap::new();
    while let Some(row) = table.next_row()? {
        let key = row.required_int(id)?;
        if let Some(value) = row.text(name)? {
            names.insert(key, value.to_owned());
        }
    }
    Ok(names)
}

fn read_races(
    path: &Path,
    bytes: &[u8],
    circuits: Option<&HashMap<i64, String>>,
    options: &Options,
) -> Result<Vec<RaceRow>> {
    let mut table = Table::new(path, bytes, b',')?;
    let id = table.require(&["raceId"])?;
    let year = table.require(&["year"])?;
    let name = table.require(&["name"])?;
    let date = table.require(&["date"])?;
    let round = table.column(&["round"]);
    let time = table.column(&["time"]);
    let circuit = match circuits {
        Some(_) => Some(table.require(&["circuitId"])?),
        None => None,
    };
    let mut races = Vec::new();
    let mut lines: HashMap<i64, u64> = HashMap::new();
    while let Some(row) = table.next_row()? {
        let race_id = row.required_int(id)?;
        if let Some(first) = lines.insert(race_id, row.line) {
            return Err(row.error(
                id,
                format!("race {race_id} is listed twice (lines {first} and {})", row.line),
            ));
        }
        let mut race = RaceRow {
            id: race_id,
            year: row.required_int(year)?,
            round: round.map(|c| row.int(c)).transpose()?.flatten(),
            name: row.required_text(name)?.to_owned(),
            date: row.required_text(date)?.to_owned(),
            session: NewSession::new(""),
            chosen: false,
        };
        race.chosen = options.chooses(&race);
        let circuit_name = match (circuits, circuit) {
            (Some(circuits), Some(column)) => {
                let circuit_id = row.required_int(column)?;
                circuits
                    .get(&circuit_id)
                    .ok_or_else(|| row.error(column, format!("circuit {circuit_id} is not in circuits.csv")))?
                    .clone()
            }
            _ => race.name.clone(),
        };
        let date_time = match row.text_of(time)? {
            Some(time) => format!("{}T{time}Z", race.date),
            None => race.date.clone(),
        };
        race.session = NewSession::new(circuit_name)
            .date(date_time.clone())
            .race_type("race");
        if race.chosen {
            let checked = super::session_date(&date_time, None).and_then(|date| {
                race.session.date = Some(date);
                race.session.validate(0, &now_timestamp())
            });
            if let Err(err) = checked {
                let given = row.text_of(time)?.map_or_else(
                    || format!("column {}", row.column_name(date)),
                    |_| {
                        format!(
                            "columns {} and {}",
                            row.column_name(date),
                            time.map_or("", |t| row.column_name(t))
                        )
                    },
                );
                return Err(import_error(
                    path,
                    Some(row.line),
                    format!("{given}: {}", invalid_message(&err)),
                ));
            }
        }
        races.push(race);
    }
    for wanted in &options.races {
        if !lines.contains_key(wanted) {
            return Err(import_error(
                path,
                None,
                format!("has no race {wanted} (asked for with --race)"),
            ));
        }
    }
    for season in &options.seasons {
        if !races.iter().any(|r| r.year == *season) {
            return Err(import_error(
                path,
                None,
                format!("has no race of season {season} (asked for with --season)"),
            ));
        }
    }
    Ok(races)
}

/// An [`Error::Invalid`]'s message without its field (the caller names the column instead).
fn invalid_message(err: &Error) -> String {
    match err {
        Error::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// A driver of `drivers.csv`.
#[derive(Debug)]
struct Driver {
    /// The driver id laps carry.
    id: String,
    name: Option<String>,
}

fn read_drivers(path: &Path, bytes: &[u8]) -> Result<HashMap<i64, Driver>> {
    let mut table = Table::new(path, bytes, b',')?;
    let id = table.require(&["driverId"])?;
    let reference = table.require(&["driverRef"])?;
    let forename = table.column(&["forename"]);
    let surname = table.column(&["surname"]);
    let mut rows: Vec<(i64, Option<String>, Option<String>)> = Vec::new();
    let mut lines: HashMap<i64, u64> = HashMap::new();
    while let Some(row) = table.next_row()? {
        let driver = row.required_int(id)?;
        if let Some(first) = lines.insert(driver, row.line) {
            return Err(row.error(
                id,
                format!("driver {driver} is listed twice (lines {first} and {})", row.line),
            ));
        }
        let name: Vec<&str> = [row.text_of(forename)?, row.text_of(surname)?]
            .into_iter()
            .flatten()
            .collect();
        let name = (!name.is_empty()).then(|| name.join(" "));
        rows.push((driver, row.text(reference)?.map(str::to_owned), name));
    }
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (_, reference, _) in &rows {
        if let Some(reference) = reference {
            *uses.entry(reference.as_str()).or_default() += 1;
        }
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|(driver, reference, _)| match reference {
            Some(reference) if uses[reference.as_str()] == 1 => reference.clone(),
            _ => format!("driver-{driver}"),
        })
        .collect();
    Ok(rows
        .into_iter()
        .zip(ids)
        .map(|((driver, _, name), id)| (driver, Driver { id, name }))
        .collect())
}

/// A row of `lap_times.csv`.
#[derive(Debug, Clone, Copy)]
struct LapRow {
    driver: i64,
    lap: i64,
    position: Option<i64>,
    milliseconds: i64,
}

/// The rows of the chosen races, by race, in file order.
fn read_laps(
    path: &Path,
    bytes: &[u8],
    known_races: &HashSet<i64>,
    chosen: &HashSet<i64>,
    drivers: &HashMap<i64, Driver>,
) -> Result<HashMap<i64, Vec<LapRow>>> {
    let mut table = Table::new(path, bytes, b',')?;
    let race = table.require(&["raceId"])?;
    let driver = table.require(&["driverId"])?;
    let lap = table.require(&["lap"])?;
    let milliseconds = table.require(&["milliseconds"])?;
    let position = table.column(&["position"]);
    let mut laps: HashMap<i64, Vec<LapRow>> = HashMap::new();
    let mut seen: HashMap<(i64, i64, i64), u64> = HashMap::new();
    while let Some(row) = table.next_row()? {
        let race_id = row.required_int(race)?;
        if !chosen.contains(&race_id) {
            if !known_races.contains(&race_id) {
                return Err(row.error(race, format!("race {race_id} is not in races.csv")));
            }
            continue;
        }
        let driver_id = row.required_int(driver)?;
        if !drivers.contains_key(&driver_id) {
            return Err(row.error(driver, format!("driver {driver_id} is not in drivers.csv")));
        }
        let lap_number = row.required_int(lap)?;
        if lap_number < 0 {
            return Err(row.error(lap, format!("must not be negative, got {lap_number}")));
        }
        let ms = row.required_int(milliseconds)?;
        if ms <= 0 {
            return Err(row.error(
                milliseconds,
                format!("must be a positive number of milliseconds, got {ms}"),
            ));
        }
        let running = position.map(|c| row.int(c)).transpose()?.flatten();
        if let (Some(p), Some(column)) = (running, position) {
            if p < 1 {
                return Err(row.error(column, format!("must be 1 or more, got {p}")));
            }
        }
        if let Some(first) = seen.insert((race_id, driver_id, lap_number), row.line) {
            return Err(row.error(
                lap,
                format!(
                    "lap {lap_number} of driver {driver_id} in race {race_id} appears twice (lines {first} and {})",
                    row.line
                ),
            ));
        }
        laps.entry(race_id).or_default().push(LapRow {
            driver: driver_id,
            lap: lap_number,
            position: running,
            milliseconds: ms,
        });
    }
    Ok(laps)
}

/// Per race and driver of the chosen races, the first `results.csv` row: car number and
/// constructor.
type Results = HashMap<(i64, i64), (Option<String>, Option<i64>)>;

fn read_results(path: &Path, bytes: &[u8], chosen: &HashSet<i64>) -> Result<Results> {
    let mut table = Table::new(path, bytes, b',')?;
    let race = table.require(&["raceId"])?;
    let driver = table.require(&["driverId"])?;
    let number = table.column(&["number"]);
    let constructor = table.column(&["constructorId"]);
    let mut results = HashMap::new();
    while let Some(row) = table.next_row()? {
        let race_id = row.required_int(race)?;
        if !chosen.contains(&race_id) {
            continue;
        }
        let driver_id = row.required_int(driver)?;
        let number = row.text_of(number)?.map(str::to_owned);
        let constructor = constructor.map(|c| row.int(c)).transpose()?.flatten();
        results
            .entry((race_id, driver_id))
            .or_insert((number, constructor));
    }
    Ok(results)
}

/// Per chosen race, its pit stops: driver and lap.
fn read_pit_stops(path: &Path, bytes: &[u8], chosen: &HashSet<i64>) -> Result<HashMap<i64, Vec<(i64, i64)>>> {
    let mut table = Table::new(path, bytes, b',')?;
    let race = table.require(&["raceId"])?;
    let driver = table.require(&["driverId"])?;
    let lap = table.require(&["lap"])?;
    let mut stops: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    while let Some(row) = table.next_row()? {
        let race_id = row.required_int(race)?;
        if !chosen.contains(&race_id) {
            continue;
        }
        let stop = (row.required_int(driver)?, row.required_int(lap)?);
        stops.entry(race_id).or_default().push(stop);
    }
    Ok(stops)
}

fn build_race(
    race: &RaceRow,
    rows: &[LapRow],
    stops: &[(i64, i64)],
    drivers: &HashMap<i64, Driver>,
    results: &Results,
    constructors: Option<&HashMap<i64, String>>,
) -> ParsedRace {
    let in_laps: HashSet<(i64, i64)> = stops.iter().copied().collect();
    let timed: HashSet<(i64, i64)> = rows.iter().map(|r| (r.driver, r.lap)).collect();
    let pit_stops_without_lap = stops.iter().filter(|s| !timed.contains(s)).count();
    let laps = rows
        .iter()
        .map(|row| {
            let kind = if in_laps.contains(&(row.driver, row.lap)) {
                lap_type::IN_LAP
            } else if in_laps.contains(&(row.driver, row.lap - 1)) {
                lap_type::OUT_LAP
            } else {
                lap_type::RACE_LAP
            };
            NewLap {
                session_id: 0,
                driver_id: drivers[&row.driver].id.clone(),
                lap_number: row.lap,
                lap_time: row.milliseconds as f64 / 1000.0,
                sectors: crate::model::Sectors::default(),
                lap_type: kind.to_owned(),
                position: row.position,
            }
        })
        .collect();
    let mut named = HashSet::new();
    let mut entries = Vec::new();
    for row in rows {
        if !named.insert(row.driver) {
            continue;
        }
        let driver = &drivers[&row.driver];
        let mut entry = NewEntry::new(0, driver.id.clone());
        entry.driver_name.clone_from(&driver.name);
        if let Some((number, constructor)) = results.get(&(race.id, row.driver)) {
            entry.car_number.clone_from(number);
            entry.team = constructor
                .and_then(|c| constructors.and_then(|names| names.get(&c)))
                .cloned();
        }
        entries.push(entry);
    }
    ParsedRace {
        race: race.reference(),
        session: race.session.clone(),
        laps,
        entries,
        pit_stops: stops.len(),
        pit_stops_without_lap,
    }
}
