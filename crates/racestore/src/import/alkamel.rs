//! Al Kamel Systems' lap-by-lap analysis exports: `23_AnalysisEnduranceWithSections` (Toyota
//! GR Cup) and `23_Analysis` (FIA WEC), one session per file and one lap per row.
//!
//! ```no_run
//! use racestore::import::alkamel::{self, BadRows, Options};
//!
//! let store = racestore::open("json:storage")?;
//! let options = Options { bad_rows: BadRows::Skip, ..Options::default() };
//! let summary = alkamel::import(store.as_ref(), "barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV".as_ref(), &options)?;
//! println!("session {}: {} laps, {} rows skipped", summary.session.id, summary.laps_imported, summary.skipped.len());
//! # Ok::<(), racestore::Error>(())
//! ```
//!
//! # The file
//!
//! `;`-separated, unquoted text, with or without a UTF-8 byte-order mark, LF or CRLF line ends,
//! with or without a `;` ending every line. Header names are trimmed (the first fifteen carry a
//! leading space). Columns are found by name, case ignored, so their order does not matter; `NUMBER`,
//! `LAP_NUMBER`, `LAP_TIME` and `ELAPSED` are required, the others read when present. Cells are
//! trimmed (`GROUP` can be `Legends ` with a space). Times are `m:ss.fff`, `mm:ss.fff`,
//! `h:mm:ss.fff` or plain seconds, with any number of decimals.
//!
//! # What is stored
//!
//! One session per file ([`Options`] says where its circuit, race type and date come from) and
//! one lap record per trusted row:
//!
//! - **driver_id**: the car number as written, leading zeros kept (`007`). Where cars share
//!   drivers, that is where any row of the file has a `DRIVER_NUMBER` other than 1 (WEC), the
//!   driver number follows after a dash: `007-2` is car 007's second driver. Otherwise (GR Cup,
//!   where `DRIVER_NUMBER` is always 1) it is the car number alone: `13`. A dash rather than a
//!   slash keeps the id usable in file names and URL paths.
//! - **Two cars with one number** (COTA's two `#3`, in different groups) are never merged: each
//!   gets an id of its own, the same on every import of the file. Where their `GROUP` differs,
//!   the number is followed by the group (`3-Legends`) and a car whose group is blank keeps the
//!   plain number (`3`); where only `CLASS` differs, by the class. Letters and digits of a group
//!   or class are kept, anything else becomes `_` (`P/A` → `P_A`). Cars that neither tells apart
//!   are told apart by the continuity of their laps: one car's next lap has the next lap number
//!   and an `ELAPSED` that is its previous `ELAPSED` plus the lap's `LAP_TIME` (to within
//!   2.5 ms), whether the file lists the cars' rows in separate blocks or interleaved; they
//!   are numbered by when they first crossed the line: `3-car1`, `3-car2`. A driver number
//!   follows all that: `3-Legends-2`.
//! - **lap_number**, **lap_time** (`LAP_TIME`).
//! - **sectors**: `S1_SECONDS`..`S3_SECONDS` when the cell is filled, else `S1`..`S3`; a blank
//!   sector is untimed (`None`).
//! - **lap_type**, from [`crate::model::lap_type`], first match wins: `IN_LAP` when
//!   `CROSSING_FINISH_LINE_IN_PIT` is `B` (the car ends the lap in the pit lane); `OUT_LAP` when
//!   `PIT_TIME` is filled (the timing system writes the stop's duration on the lap after it);
//!   then from `FLAG_AT_FL`, the flag when the car crossed the line: `RF` → `RED_FLAG`, `SF` →
//!   `SAFETY_CAR`, `FCY` → `FULL_COURSE_YELLOW`; anything else (`GF`, `FF` the finish, blank)
//!   → `RACE_LAP`. Pit laps win over flags so that counting `IN_LAP`s counts pit stops, under
//!   caution too; a lap both in and out (a second stop straight after the first) is `IN_LAP`.
//! - **position**: the car's overall running order when it crossed the line at the end of that
//!   lap: 1 + the number of other cars that had completed that lap earlier, by `ELAPSED` (time
//!   since the start, common to all cars); a tie goes to the row earlier in the file. A car a
//!   lap down is therefore behind every car that completed the lap before it, as in the
//!   official classification, which orders by laps completed, then by time. At the flag this
//!   gives the classification, except where the results apply what the timing does not know:
//!   time penalties, and retirements (a car that stops is ranked where it was when it last
//!   crossed the line; cars that were behind it and went on are classified ahead of it).
//!   Every row whose car, lap and `ELAPSED` can be read takes part in the ranking, skipped
//!   rows too: the cars were on track.
//!
//! And one entry ([`NewEntry`]) per driver id of those laps, saved in the same batch: the car
//! number as written (`007`), and, where the file has the column, `DRIVER_NAME`, `CLASS`,
//! `GROUP`, `TEAM`, `MANUFACTURER` and `VEHICLE`, each the first filled cell of that driver's
//! rows (a blank or absent column gives `None`). WEC exports have all but `VEHICLE`; GR Cup's
//! `23_AnalysisEnduranceWithSections` has `CLASS`, `GROUP` and `MANUFACTURER` only. These cells
//! never make a row untrusted: one that is not UTF-8 is read as Latin-1.
//!
//! # A file imported twice
//!
//! A file whose laps the store already holds (a session with the same driver ids, lap numbers
//! and lap times: [`super::already_imported`]) is refused by default, naming that session;
//! [`Options::existing`] can skip it or import it again in place of that session
//! ([`super::Existing`]).
//!
//! # Rows that cannot be trusted
//!
//! Each is reported as a [`Problem`] with the file and the row's line; [`BadRows`] chooses
//! between skipping them and aborting the import. A row has at most one problem, the first of:
//!
//! - [`ProblemKind::WrongFieldCount`]: more or fewer fields than the header;
//! - [`ProblemKind::BadValue`]: a blank `NUMBER`, a `LAP_NUMBER` that is not a whole number, a
//!   time (`LAP_TIME`, `ELAPSED`, a sector, `PIT_TIME`) that cannot be read, a cell that is not
//!   UTF-8;
//! - [`ProblemKind::InvalidLap`]: a lap the model refuses ([`NewLap::validate`]: a zero lap time,
//!   a negative lap number, ...);
//! - [`ProblemKind::SharedCarNumber`]: a row of a number several cars share, told apart by the
//!   continuity of their laps, that continues none of them (or whose lap number or `ELAPSED`
//!   cannot be read): which car drove it cannot be told;
//! - [`ProblemKind::RepeatedLap`]: a lap number that appears more than once for one car: every
//!   such row, since which one is right cannot be told.
//!
//! `HOUR` is read only to date the session and is never a problem; columns the importer does not
//! use (top speeds, intermediate times under whatever names, any column a series adds) are not
//! checked, and may be blank.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::table::LineCounter;
use super::time::parse_seconds;
use super::Existing;
use crate::error::{Error, Result};
use crate::model::{lap_type, now_timestamp, NewEntry, NewLap, NewRecords, NewSession, Sectors, Session};
use crate::store::{Batch, RaceStore, RaceStoreExt};

/// What an import does with rows that cannot be trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRows {
    /// Leaves them out, imports the rest, and lists them in [`Summary::skipped`].
    Skip,
    /// Imports nothing from a file with any such row: [`Error::Import`] naming the first one.
    #[default]
    Abort,
}

/// How to import a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The session's circuit; `None` takes it from the file's name or folders
    /// ([`default_circuit`]), and fails when they name no circuit the importer knows.
    pub circuit: Option<String>,
    /// The session's type; `None` takes it from the file's name or folders
    /// ([`default_race_type`]): `race 1` for `..._Race 1_...`, else `race`.
    pub race_type: Option<String>,
    /// The session's date, ISO 8601; `None` takes a `YYYY-MM-DD` found in the file's name or
    /// folders, or else leaves the store to date the session at import time (the exports hold
    /// only times of day). Stored as [`super::session_date`] writes it: a date without a time
    /// gets the race's start time from the file (the first crossing's `HOUR` less its
    /// `ELAPSED`, local time): `2025-09-06` becomes `2025-09-06T13:40:41`; a date-time becomes
    /// `YYYY-MM-DDTHH:MM:SS`, its offset kept (`+02:00`).
    pub date: Option<String>,
    /// What to do with rows that cannot be trusted; aborting by default.
    pub bad_rows: BadRows,
    /// What to do when the store already holds the file's laps; refusing by default.
    pub existing: Existing,
}

/// Why a row cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The row has more or fewer fields than the header.
    WrongFieldCount,
    /// A cell the importer needs is blank where it must not be, or cannot be read.
    BadValue,
    /// The values read are a lap the model refuses (a zero lap time, say).
    InvalidLap,
    /// Several cars run under the row's car number, and which of them drove it cannot be told.
    SharedCarNumber,
    /// The row's lap number appears more than once for its car.
    RepeatedLap,
}

impl ProblemKind {
    /// A short description, for grouping problems in a summary.
    pub fn describe(self) -> &'static str {
        match self {
            ProblemKind::WrongFieldCount => "wrong number of fields",
            ProblemKind::BadValue => "unreadable value",
            ProblemKind::InvalidLap => "invalid lap",
            ProblemKind::SharedCarNumber => "lap of no car sharing its number",
            ProblemKind::RepeatedLap => "lap number repeated for one car",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A row that cannot be trusted, with where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, as given.
    pub file: PathBuf,
    /// The row's 1-based line in the file (the header is line 1).
    pub line: u64,
    /// The kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, naming the column and value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.file.display(), self.line, self.message)
    }
}

/// Where a session's date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    /// [`Options::date`].
    Options,
    /// A `YYYY-MM-DD` in the file's name or folders.
    Path,
    /// Nowhere: the store dated the session at import time.
    ImportTime,
}

/// A row to be stored as a lap.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLap {
    /// The row's 1-based line in the file.
    pub line: u64,
    /// The lap; its `session_id` is 0 until [`save`] sets it.
    pub lap: NewLap,
}

/// A file read and checked, ready for [`save`]: nothing has been stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The file, as given.
    pub file: PathBuf,
    /// The session to create (checked with [`NewSession::validate`]).
    pub session: NewSession,
    /// Where the session's date came from.
    pub date_source: DateSource,
    /// Data rows in the file.
    pub rows: usize,
    /// The trusted rows, in file order (each checked with [`NewLap::validate`]).
    pub laps: Vec<ParsedLap>,
    /// One entry per driver id of [`laps`](Parsed::laps), in the order the file first names
    /// them (each checked with [`NewEntry::validate`]; `session_id` 0 until [`save`] sets it).
    pub entries: Vec<NewEntry>,
    /// The rows that cannot be trusted, in file order.
    pub problems: Vec<Problem>,
    /// What [`save`] does with [`problems`](Parsed::problems).
    pub bad_rows: BadRows,
    /// What [`save`] does when the store already holds these laps ([`existing`]).
    pub existing: Existing,
}

impl Parsed {
    /// How many drivers the trusted laps have: their distinct driver ids.
    pub fn drivers(&self) -> usize {
        self.laps
            .iter()
            .map(|l| l.lap.driver_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    /// The error [`save`] aborts with, when `bad_rows` is [`BadRows::Abort`] and a row cannot be
    /// trusted: the first such row, and how many there are.
    pub fn abort_error(&self) -> Option<Error> {
        if self.bad_rows != BadRows::Abort {
            return None;
        }
        let first = self.problems.first()?;
        let n = self.problems.len();
        Some(Error::Import {
            file: self.file.clone(),
            line: Some(first.line),
            message: format!(
                "{}; {} of its {} rows cannot be trusted, so nothing was imported (skipping them would import the other {})",
                first.message,
                n,
                self.rows,
                self.laps.len()
            ),
        })
    }
}

/// What [`save`] did with a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored as a new session.
    Imported,
    /// Stored as a new session, and the session that held it before deleted ([`Existing::Replace`]).
    Replaced {
        /// The id of the session deleted.
        session: crate::model::Id,
    },
    /// Left as it was: the store already held it ([`Existing::Skip`]); nothing was stored.
    Skipped,
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The file, as given.
    pub file: PathBuf,
    /// The session created, as the store gives it back (its `id` included); with
    /// [`Outcome::Skipped`], the session that already held the file.
    pub session: Session,
    /// Whether the file was imported, imported in place of a session, or skipped.
    pub outcome: Outcome,
    /// Where the session's date came from.
    pub date_source: DateSource,
    /// Data rows in the file.
    pub rows: usize,
    /// Laps stored: one per trusted row.
    pub laps_imported: usize,
    /// Entries stored: one per driver id of the laps.
    pub entries_imported: usize,
    /// The rows skipped, and why (empty unless [`BadRows::Skip`]).
    pub skipped: Vec<Problem>,
}

/// Reads and checks the file at `path` without touching any store.
///
/// Fails when the file cannot be read, is not such an export (a required column is missing),
/// names no circuit the importer knows and [`Options::circuit`] is `None`, or the session would
/// be invalid (a date that is not ISO 8601, a blank race type). Rows that cannot be trusted are
/// not errors here: they are listed in [`Parsed::problems`].
pub fn parse(path: &Path, options: &Options) -> Result<Parsed> {
    let bytes = std::fs::read(path).map_err(|err| Error::io("reading", path, err))?;
    // The folders the file is in name the circuit and race; a relative path may not show them.
    let named = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    parse_named(path, &named, &bytes, options)
}

/// Reads and checks an export held in memory (an upload, say) as [`parse`] does; `file` names
/// it in problems and errors and gives the defaults of [`Options`].
pub fn parse_bytes(file: &Path, bytes: &[u8], options: &Options) -> Result<Parsed> {
    parse_named(file, file, bytes, options)
}

/// The session of `store` that already holds the laps of `parsed` ([`super::already_imported`]).
pub fn existing(store: &dyn RaceStore, parsed: &Parsed) -> Result<Option<Session>> {
    let laps: Vec<NewLap> = parsed.laps.iter().map(|p| p.lap.clone()).collect();
    super::already_imported(store, &laps)
}

/// Stores a parsed file as one unit ([`RaceStore::save`] of one [`Batch`]): its session,
/// every trusted lap and its entries, all or nothing, so a crash or a failure part-way leaves
/// the store as it was.
///
/// With [`BadRows::Abort`] and any problem, fails with [`Parsed::abort_error`] before touching
/// the store. A file without a lap to store is an [`Error::Import`], and stores nothing. When
/// the store already holds the file's laps ([`existing`]), [`Parsed::existing`] decides:
/// [`Existing::Refuse`] fails with an [`Error::Import`] naming the session and stores nothing;
/// [`Existing::Skip`] stores nothing ([`Outcome::Skipped`]); [`Existing::Replace`] stores the
/// file, then deletes that session ([`Outcome::Replaced`]) — a failure in between leaves both.
pub fn save(store: &dyn RaceStore, parsed: &Parsed) -> Result<Summary> {
    if let Some(err) = parsed.abort_error() {
        return Err(err);
    }
    if parsed.laps.is_empty() {
        return Err(Error::Import {
            file: parsed.file.clone(),
            line: None,
            message: format!(
                "has no lap to import ({} rows, {} of them skipped)",
                parsed.rows,
                parsed.problems.len()
            ),
        });
    }
    let held = existing(store, parsed)?;
    let summary = |session: Session, outcome: Outcome, laps: usize, entries: usize| Summary {
        file: parsed.file.clone(),
        session,
        outcome,
        date_source: parsed.date_source,
        rows: parsed.rows,
        laps_imported: laps,
        entries_imported: entries,
        skipped: parsed.problems.clone(),
    };
    match (&held, parsed.existing) {
        (Some(session), Existing::Refuse) => {
            return Err(Error::Import {
                file: parsed.file.clone(),
                line: None,
                message: format!(
                "was imported before: session {} ({}, {}, {}) holds the same laps, so nothing was imported",
                session.id, session.circuit, session.race_type, session.date
            ),
            })
        }
        (Some(session), Existing::Skip) => return Ok(summary(session.clone(), Outcome::Skipped, 0, 0)),
        _ => {}
    }
    let laps: Vec<NewLap> = parsed.laps.iter().map(|p| p.lap.clone()).collect();
    let batch = Batch::session(parsed.session.clone())
        .with(NewRecords::Laps(laps))
        .with(NewRecords::Entries(parsed.entries.clone()));
    let ids = store.save(&batch)?;
    let session_id = ids
        .session
        .ok_or_else(|| Error::backend("import", "the store created no session for the file"))?;
    let session = store
        .get_session(session_id)?
        .ok_or_else(|| Error::session_not_found(session_id))?;
    let outcome = match held {
        Some(old) => {
            store.delete_session(old.id).map_err(|err| Error::Import {
                file: parsed.file.clone(),
                line: None,
                message: format!(
                    "was imported again as session {session_id}, but session {} that held it before could not be deleted ({err}); delete it to keep one copy",
                    old.id
                ),
            })?;
            Outcome::Replaced { session: old.id }
        }
        None => Outcome::Imported,
    };
    Ok(summary(session, outcome, parsed.laps.len(), parsed.entries.len()))
}

/// Imports the file at `path`: [`parse`], then [`save`].
pub fn import(store: &dyn RaceStore, path: &Path, options: &Options) -> Result<Summary> {
    save(store, &parse(path, options)?)
}

/// Circuits named by the folder and file names timing exports come in, matched as whole words
/// (case ignored; `_`, `-`, spaces and dots separate words).
const CIRCUITS: &[(&[&str], &str)] = &[
    (&["barber"], "Barber Motorsports Park"),
    (&["cota"], "Circuit of the Americas"),
    (&["circuit", "of", "the", "americas"], "Circuit of the Americas"),
    (&["le", "mans"], "Circuit de la Sarthe"),
    (&["lemans"], "Circuit de la Sarthe"),
    (&["sonoma"], "Sonoma Raceway"),
    (&["road", "america"], "Road America"),
    (&["sebring"], "Sebring International Raceway"),
    (&["vir"], "Virginia International Raceway"),
    (&["indianapolis"], "Indianapolis Motor Speedway"),
    (&["indy"], "Indianapolis Motor Speedway"),
    (&["spa"], "Circuit de Spa-Francorchamps"),
    (&["fuji"], "Fuji Speedway"),
    (&["bahrain"], "Bahrain International Circuit"),
    (&["qatar"], "Lusail International Circuit"),
    (&["lusail"], "Lusail International Circuit"),
    (&["imola"], "Autodromo Internazionale Enzo e Dino Ferrari"),
    (&["interlagos"], "Autódromo José Carlos Pace"),
    (&["sao", "paulo"], "Autódromo José Carlos Pace"),
    (&["portimao"], "Autódromo Internacional do Algarve"),
    (&["monza"], "Autodromo Nazionale Monza"),
];

/// How many folders above the file are looked at for a circuit, race or date.
const FOLDERS_LOOKED_AT: usize = 3;

/// The file's name (without extension), then its folders nearest first, each as lower-case words.
fn name_words(path: &Path) -> Vec<Vec<String>> {
    let words = |name: &str| -> Vec<String> {
        name.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let mut names = Vec::new();
    if let Some(stem) = path.file_stem() {
        names.push(words(&stem.to_string_lossy()));
    }
    let folders = path.parent().into_iter().flat_map(|p| p.components().rev());
    for folder in folders.take(FOLDERS_LOOKED_AT) {
        if let std::path::Component::Normal(name) = folder {
            names.push(words(&name.to_string_lossy()));
        }
    }
    names
}

/// The circuit a file's name or folders name (`barber` → Barber Motorsports Park, `COTA` →
/// Circuit of the Americas, `le_mans_24h` → Circuit de la Sarthe, ...), the file's own name
/// first, then its folders from the nearest; `None` when none names a circuit known here.
pub fn default_circuit(path: &Path) -> Option<&'static str> {
    name_words(path).iter().find_map(|words| {
        CIRCUITS.iter().find_map(|(pattern, circuit)| {
            words
                .windows(pattern.len())
                .any(|w| w.iter().zip(pattern.iter()).all(|(a, b)| a == b))
                .then_some(*circuit)
        })
    })
}

/// The race type a file's name or folders give, the file's own name first: `race 2` for
/// `..._Race 2_...` or a folder `Race 2`, `qualifying` for a qualifying session, `practice 1`
/// for `FP1` or `Practice 1`; `race` when none says.
pub fn default_race_type(path: &Path) -> String {
    for words in name_words(path) {
        for (i, word) in words.iter().enumerate() {
            let next_number = words.get(i + 1).filter(|n| n.bytes().all(|b| b.is_ascii_digit()));
            match word.as_str() {
                "race" => {
                    if let Some(n) = next_number {
                        return format!("race {n}");
                    }
                }
                "qualifying" | "quali" | "qualification" => return "qualifying".to_owned(),
                "practice" => {
                    return match next_number {
                        Some(n) => format!("practice {n}"),
                        None => "practice".to_owned(),
                    }
                }
                _ => {
                    if let Some(n) = word.strip_prefix("fp").filter(|n| n.parse::<u8>().is_ok()) {
                        return format!("practice {n}");
                    }
                }
            }
        }
    }
    crate::model::DEFAULT_RACE_TYPE.to_owned()
}

/// A `YYYY-MM-DD` in the file's name or folders, nearest first.
fn date_in_path(path: &Path) -> Option<String> {
    let mut names = Vec::new();
    if let Some(name) = path.file_name() {
        names.push(name.to_string_lossy().into_owned());
    }
    let folders = path.parent().into_iter().flat_map(|p| p.components().rev());
    names.extend(folders.take(FOLDERS_LOOKED_AT).filter_map(|c| match c {
        std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    }));
    names.iter().find_map(|name| {
        let b = name.as_bytes();
        (0..b.len().saturating_sub(9)).find_map(|at| {
            let candidate = std::str::from_utf8(b.get(at..at + 10)?).ok()?;
            let shaped = candidate.bytes().enumerate().all(|(i, c)| match i {
                4 | 7 => c == b'-',
                _ => c.is_ascii_digit(),
            });
            let digit_before = at > 0 && b[at - 1].is_ascii_digit();
            let digit_after = b.get(at + 10).is_some_and(u8::is_ascii_digit);
            (shaped && !digit_before && !digit_after)
                .then(|| candidate.to_owned())
                .filter(|d| crate::model::validate_iso8601("date", d).is_ok())
        })
    })
}

/// Where the columns the importer reads are.
#[derive(Debug)]
struct Columns {
    /// Fields in the header line, a trailing empty one included.
    fields: usize,
    /// Whether the header line ends with the separator (an empty last field).
    trailing_separator: bool,
    number: usize,
    lap_number: usize,
    lap_time: usize,
    elapsed: usize,
    driver_number: Option<usize>,
    group: Option<usize>,
    /// `DRIVER_NAME`, `CLASS`, `TEAM`, `MANUFACTURER`, `VEHICLE`: what the entries hold.
    driver_name: Option<usize>,
    class: Option<usize>,
    team: Option<usize>,
    manufacturer: Option<usize>,
    vehicle: Option<usize>,
    in_pit: Option<usize>,
    pit_time: Option<usize>,
    flag: Option<usize>,
    hour: Option<usize>,
    /// Per sector: the time column (`S1`) and the seconds column (`S1_SECONDS`).
    sectors: [(Option<usize>, Option<usize>); 3],
}

const REQUIRED: [&str; 4] = ["NUMBER", "LAP_NUMBER", "LAP_TIME", "ELAPSED"];

impl Columns {
    fn find(header: &csv::ByteRecord) -> std::result::Result<Columns, String> {
        let names: Vec<String> = header
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_owned())
            .collect();
        let at = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let required = |name: &str| {
            at(name).ok_or_else(|| {
                let mut shown = names.iter().filter(|n| !n.is_empty()).take(8).cloned().collect::<Vec<_>>();
                if names.len() > shown.len() + 1 {
                    shown.push("...".to_owned());
                }
                format!(
                    "has no {name} column, so it is not an Al Kamel lap analysis export (23_AnalysisEnduranceWithSections or 23_Analysis, which have {}); its header is {}",
                    REQUIRED.join(", "),
                    shown.join(";")
                )
            })
        };
        let sector = |i: usize| (at(&format!("S{i}")), at(&format!("S{i}_SECONDS")));
        Ok(Columns {
            fields: names.len(),
            trailing_separator: names.len() > 1 && names.last().is_some_and(String::is_empty),
            number: required("NUMBER")?,
            lap_number: required("LAP_NUMBER")?,
            lap_time: required("LAP_TIME")?,
            elapsed: required("ELAPSED")?,
            driver_number: at("DRIVER_NUMBER"),
            group: at("GROUP"),
            driver_name: at("DRIVER_NAME"),
            class: at("CLASS"),
            team: at("TEAM"),
            manufacturer: at("MANUFACTURER"),
            vehicle: at("VEHICLE"),
            in_pit: at("CROSSING_FINISH_LINE_IN_PIT"),
            pit_time: at("PIT_TIME"),
            flag: at("FLAG_AT_FL"),
            hour: at("HOUR"),
            sectors: [sector(1), sector(2), sector(3)],
        })
    }

    /// Whether a row has as many fields as the header, allowing for a `;` ending one and not the other.
    fn field_count_fits(&self, record: &csv::ByteRecord) -> bool {
        let n = record.len();
        n == self.fields
            || (n == self.fields + 1 && record.get(n - 1).is_some_and(<[u8]>::is_empty))
            || (self.trailing_separator && n + 1 == self.fields)
    }
}

/// The cells of a row that describe its car and driver, each trimmed, `None` when blank or the
/// column is absent.
#[derive(Debug, Default, Clone, PartialEq)]
struct EntryCells {
    driver_name: Option<String>,
    class: Option<String>,
    team: Option<String>,
    manufacturer: Option<String>,
    vehicle: Option<String>,
}

/// One data row, as far as it could be read.
#[derive(Debug, Default)]
struct Row {
    line: u64,
    /// Car number, trimmed; `None` when blank.
    number: Option<String>,
    /// `GROUP`, trimmed (blank when absent).
    group: String,
    /// `CLASS`, trimmed (blank when absent).
    class: String,
    /// The car the row is a lap of (see [`assign_cars`]): its driver id before any driver
    /// number; `None` when the car number is blank or the row continues none of the cars
    /// sharing its number.
    car: Option<String>,
    /// `DRIVER_NUMBER`, trimmed; `None` when blank or absent.
    driver_number: Option<String>,
    /// `DRIVER_NAME`, `CLASS`, `TEAM`, `MANUFACTURER`, `VEHICLE`, trimmed; `None` when blank
    /// or absent.
    entry: EntryCells,
    lap_number: Option<i64>,
    lap_time: Option<f64>,
    elapsed: Option<f64>,
    hour: Option<f64>,
    sectors: Sectors,
    lap_type: &'static str,
    /// The first reason the row cannot be trusted.
    problem: Option<(ProblemKind, String)>,
}

impl Row {
    fn flag(&mut self, kind: ProblemKind, message: String) {
        if self.problem.is_none() {
            self.problem = Some((kind, message));
        }
    }

    fn read(columns: &Columns, record: &csv::ByteRecord, line: u64) -> Row {
        let mut row = Row {
            line,
            lap_type: lap_type::RACE_LAP,
            ..Row::default()
        };
        if !columns.field_count_fits(record) {
            row.flag(
                ProblemKind::WrongFieldCount,
                format!(
                    "has {} fields where the header has {}: the row is cut short or has extra separators",
                    record.len(),
                    columns.fields
                ),
            );
        }
        let text = |row: &mut Row, column: Option<usize>, name: &str| cell(record, row, column, name);
        let time = |row: &mut Row, column: Option<usize>, name: &str| time_cell(record, row, column, name);

        let number = text(&mut row, Some(columns.number), "NUMBER");
        if number.is_empty() {
            row.flag(
                ProblemKind::BadValue,
                "NUMBER (the car number) is blank".to_owned(),
            );
        } else {
            row.number = Some(number.to_owned());
        }
        let lap_number = text(&mut row, Some(columns.lap_number), "LAP_NUMBER");
        match lap_number.parse::<i64>() {
            Ok(n) => row.lap_number = Some(n),
            Err(_) => row.flag(
                ProblemKind::BadValue,
                format!("LAP_NUMBER {lap_number:?} is not a whole number"),
            ),
        }
        row.lap_time = time(&mut row, Some(columns.lap_time), "LAP_TIME");
        if row.lap_time.is_none() {
            row.flag(ProblemKind::BadValue, "LAP_TIME is blank".to_owned());
        }
        row.elapsed = time(&mut row, Some(columns.elapsed), "ELAPSED");
        if row.elapsed.is_none() {
            row.flag(
                ProblemKind::BadValue,
                "ELAPSED is blank, so the car's running order cannot be known".to_owned(),
            );
        }
        let names = [("S1", "S1_SECONDS"), ("S2", "S2_SECONDS"), ("S3", "S3_SECONDS")];
        for (i, ((time_column, seconds_column), (name, seconds_name))) in
            columns.sectors.iter().zip(names).enumerate()
        {
            let sector = match time(&mut row, *seconds_column, seconds_name) {
                Some(seconds) => Some(seconds),
                None => time(&mut row, *time_column, name),
            };
            match i {
                0 => row.sectors.s1 = sector,
                1 => row.sectors.s2 = sector,
                _ => row.sectors.s3 = sector,
            }
        }
        row.group = text(&mut row, columns.group, "GROUP").to_owned();
        row.class = text(&mut row, columns.class, "CLASS").to_owned();
        let driver_number = text(&mut row, columns.driver_number, "DRIVER_NUMBER");
        let described = |column: Option<usize>| described_cell(record, column);
        row.entry = EntryCells {
            driver_name: described(columns.driver_name),
            class: described(columns.class),
            team: described(columns.team),
            manufacturer: described(columns.manufacturer),
            vehicle: described(columns.vehicle),
        };
        row.driver_number = (!driver_number.is_empty()).then(|| driver_number.to_owned());
        let in_pit = text(&mut row, columns.in_pit, "CROSSING_FINISH_LINE_IN_PIT") == "B";
        let out_lap = time(&mut row, columns.pit_time, "PIT_TIME").is_some();
        let flag = text(&mut row, columns.flag, "FLAG_AT_FL");
        row.lap_type = if in_pit {
            lap_type::IN_LAP
        } else if out_lap {
            lap_type::OUT_LAP
        } else {
            match flag {
                "RF" => lap_type::RED_FLAG,
                "SF" => lap_type::SAFETY_CAR,
                "FCY" => lap_type::FULL_COURSE_YELLOW,
                _ => lap_type::RACE_LAP,
            }
        };
        // Only used to date the session: never a reason to distrust the row.
        let hour = columns.hour.and_then(|i| record.get(i)).unwrap_or_default();
        row.hour = std::str::from_utf8(hour).ok().and_then(|h| parse_seconds(h).ok());
        row
    }
}

/// The trimmed text of a row's cell in `column`, blank when the column is absent or the row is
/// cut short (such a row is flagged for its field count); a cell that is not UTF-8 flags the row.
fn cell<'r>(record: &'r csv::ByteRecord, row: &mut Row, column: Option<usize>, name: &str) -> &'r str {
    let bytes = column.and_then(|i| record.get(i)).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(bytes) {
        text.trim()
    } else {
        row.flag(
            ProblemKind::BadValue,
            format!("{name} is not UTF-8 text: {:?}", String::from_utf8_lossy(bytes)),
        );
        ""
    }
}

/// The trimmed text of a cell that describes the car or driver (`DRIVER_NAME`, `TEAM`, ...),
/// `None` when blank or absent. Never a reason to distrust the row: a cell that is not UTF-8 is
/// read as Latin-1 (ISO 8859-1), the encoding older exports name drivers in (`K\xE9vin` is
/// `Kévin`).
fn described_cell(record: &csv::ByteRecord, column: Option<usize>) -> Option<String> {
    let bytes = column.and_then(|i| record.get(i)).unwrap_or_default();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The time in a row's cell, `None` when blank; a time that cannot be read flags the row.
fn time_cell(record: &csv::ByteRecord, row: &mut Row, column: Option<usize>, name: &str) -> Option<f64> {
    let text = cell(record, row, column, name);
    if text.is_empty() {
        return None;
    }
    match parse_seconds(text) {
        Ok(seconds) => Some(seconds),
        Err(err) => {
            row.flag(ProblemKind::BadValue, format!("{name}: {err}"));
            None
        }
    }
}

fn import_error(file: &Path, line: Option<u64>, message: impl Into<String>) -> Error {
    Error::Import {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// [`parse`] of `bytes`, named `file` in messages, with defaults taken from the path `named`.
fn parse_named(file: &Path, named: &Path, bytes: &[u8], options: &Options) -> Result<Parsed> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .quoting(false)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let csv_error = |err: csv::Error| {
        let line = err.position().map(csv::Position::line);
        import_error(file, line, format!("cannot be read: {err}"))
    };
    let header = match records.next() {
        Some(header) => header.map_err(csv_error)?,
        None => {
            return Err(import_error(
                file,
                None,
                "is empty: expected an Al Kamel lap analysis export",
            ))
        }
    };
    let columns = Columns::find(&header).map_err(|message| import_error(file, Some(1), message))?;
    let mut lines = LineCounter::new(bytes);
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(csv_error)?;
        let offset = record.position().map_or(0, csv::Position::byte);
        rows.push(Row::read(&columns, &record, lines.line_at(offset)));
    }

    let session = session_for(file, named, &rows, options)?;
    let (session, date_source) = session;
    let shares_drivers = rows
        .iter()
        .any(|r| r.driver_number.as_deref().is_some_and(|d| d != "1"));
    assign_cars(&mut rows);
    let driver_id = |row: &Row| -> Option<String> {
        let car = row.car.as_deref()?;
        match (shares_drivers, &row.driver_number) {
            (false, _) => Some(car.to_owned()),
            (true, Some(driver)) => Some(format!("{car}-{driver}")),
            (true, None) => None,
        }
    };
    // The model's own checks, on the rows read without a problem.
    for row in &mut rows {
        if row.problem.is_some() {
            continue;
        }
        let Some(driver) = driver_id(row) else {
            row.flag(
                ProblemKind::BadValue,
                "DRIVER_NUMBER is blank, in a file where cars share drivers".to_owned(),
            );
            continue;
        };
        if let Err(err) = new_lap(row, driver, 1).validate(0, "") {
            row.flag(ProblemKind::InvalidLap, err.to_string());
        }
    }
    flag_repeated_laps(&mut rows);

    let positions = running_order(&rows);
    let mut laps = Vec::new();
    let mut problems = Vec::new();
    for row in &rows {
        if let Some((kind, message)) = &row.problem {
            problems.push(Problem {
                file: file.to_owned(),
                line: row.line,
                kind: *kind,
                message: message.clone(),
            });
        } else {
            let (Some(car), Some(lap), Some(driver)) = (&row.car, row.lap_number, driver_id(row)) else {
                unreachable!("a row without a problem has a car, a lap and a driver");
            };
            let position = positions[&(lap, car.as_str())];
            laps.push(ParsedLap {
                line: row.line,
                lap: new_lap(row, driver, position),
            });
        }
    }
    let entries = entries(&rows, &laps, driver_id);
    Ok(Parsed {
        file: file.to_owned(),
        session,
        date_source,
        rows: rows.len(),
        laps,
        entries,
        problems,
        bad_rows: options.bad_rows,
        existing: options.existing,
    })
}

/// One entry per driver id of `laps`, in the order the rows first name them: the car number as
/// written, and each other value from the first row of that driver id where it is filled (rows
/// that cannot be trusted included: they still say who drove).
fn entries(rows: &[Row], laps: &[ParsedLap], driver_id: impl Fn(&Row) -> Option<String>) -> Vec<NewEntry> {
    let driving: BTreeSet<&str> = laps.iter().map(|l| l.lap.driver_id.as_str()).collect();
    let mut entries: Vec<NewEntry> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let (Some(number), Some(driver)) = (&row.number, driver_id(row)) else {
            continue;
        };
        if !driving.contains(driver.as_str()) {
            continue;
        }
        let i = *at.entry(driver.clone()).or_insert_with(|| {
            entries.push(NewEntry::new(0, driver.clone()).car(number.clone()));
            entries.len() - 1
        });
        let entry = &mut entries[i];
        let cells = &row.entry;
        let group = (!row.group.is_empty()).then(|| row.group.clone());
        for (value, cell) in [
            (&mut entry.driver_name, &cells.driver_name),
            (&mut entry.class, &cells.class),
            (&mut entry.group, &group),
            (&mut entry.team, &cells.team),
            (&mut entry.manufacturer, &cells.manufacturer),
            (&mut entry.vehicle, &cells.vehicle),
        ] {
            if value.is_none() {
                value.clone_from(cell);
            }
        }
    }
    entries
}

/// The lap a row without a problem stores (session 0 until saved).
fn new_lap(row: &Row, driver_id: String, position: i64) -> NewLap {
    NewLap {
        session_id: 0,
        driver_id,
        lap_number: row.lap_number.unwrap_or_default(),
        lap_time: row.lap_time.unwrap_or_default(),
        sectors: row.sectors,
        lap_type: row.lap_type.to_owned(),
        position: Some(position),
    }
}

/// The session of a file, checked, and where its date came from.
fn session_for(
    file: &Path,
    named: &Path,
    rows: &[Row],
    options: &Options,
) -> Result<(NewSession, DateSource)> {
    let circuit = match &options.circuit {
        Some(circuit) => circuit.clone(),
        None => default_circuit(named)
            .ok_or_else(|| {
                import_error(
                    file,
                    None,
                    "names no circuit known to the importer in its name or folders; give the circuit's name (--circuit NAME)",
                )
            })?
            .to_owned(),
    };
    let race_type = options
        .race_type
        .clone()
        .unwrap_or_else(|| default_race_type(named));
    let (date, source) = match (&options.date, date_in_path(named)) {
        (Some(date), _) => (Some(date.clone()), DateSource::Options),
        (None, Some(date)) => (Some(date), DateSource::Path),
        (None, None) => (None, DateSource::ImportTime),
    };
    let date = match date {
        Some(date) => Some(super::session_date(&date, start_time(rows).as_deref())?),
        None => None,
    };
    let session = NewSession {
        circuit,
        date,
        race_type: Some(race_type),
    };
    session.validate(0, &now_timestamp())?;
    Ok((session, source))
}

/// The local time of day the race started, `HH:MM:SS`: the first crossing's `HOUR` less its `ELAPSED`.
fn start_time(rows: &[Row]) -> Option<String> {
    let first = rows
        .iter()
        .filter(|r| r.problem.is_none() && r.hour.is_some())
        .filter_map(|r| Some((r.elapsed?, r.hour?)))
        .min_by(|a, b| a.0.total_cmp(&b.0))?;
    let start = (first.1 - first.0).rem_euclid(86_400.0).floor() as u64;
    Some(format!(
        "{:02}:{:02}:{:02}",
        start / 3600,
        start / 60 % 60,
        start % 60
    ))
}

/// How far apart, in seconds, a lap's `ELAPSED` may be from the car's previous `ELAPSED` plus
/// the lap's `LAP_TIME` for the two rows to be one car's consecutive laps (each is rounded to
/// the millisecond in the exports).
const CONTINUITY: f64 = 0.0025;

/// Gives every row with a car number its car ([`Row::car`]), telling apart cars that run under
/// one number: by `GROUP` and `CLASS` where they differ, else by the continuity of each car's
/// laps. Rows of a shared number that continue none of its cars are flagged.
fn assign_cars(rows: &mut [Row]) {
    let mut by_number: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(number) = &row.number {
            by_number.entry(number.clone()).or_default().push(i);
        }
    }
    for (number, members) in by_number {
        let mut by_label: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for &i in &members {
            by_label
                .entry((rows[i].group.clone(), rows[i].class.clone()))
                .or_default()
                .push(i);
        }
        let groups_differ = by_label.keys().map(|(g, _)| g).collect::<BTreeSet<_>>().len() > 1;
        let classes_differ = by_label.keys().map(|(_, c)| c).collect::<BTreeSet<_>>().len() > 1;
        // Each car: its id before any numbering, when it first crossed the line, its rows.
        let mut cars: Vec<(String, (f64, u64), Vec<usize>)> = Vec::new();
        let mut unplaced = Vec::new();
        for ((group, class), members) in &by_label {
            let mut id = number.clone();
            for (differ, label) in [(groups_differ, group), (classes_differ, class)] {
                if differ && !label.is_empty() {
                    id.push('-');
                    id.push_str(&id_part(label));
                }
            }
            let (chains, lost) = continuity_chains(rows, members, &number);
            unplaced.extend(lost);
            for chain in chains {
                let first = chain
                    .iter()
                    .map(|&i| (rows[i].elapsed.unwrap_or(f64::INFINITY), rows[i].line))
                    .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                    .unwrap_or((f64::INFINITY, 0));
                cars.push((id.clone(), first, chain));
            }
        }
        // Cars left with one id (no label, or labels alike) are numbered by their first crossing.
        cars.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1 .0.total_cmp(&b.1 .0))
                .then(a.1 .1.cmp(&b.1 .1))
        });
        let mut count: HashMap<String, usize> = HashMap::new();
        for (id, _, _) in &cars {
            *count.entry(id.clone()).or_default() += 1;
        }
        let mut nth: HashMap<String, usize> = HashMap::new();
        for (id, _, chain) in cars {
            let car = if count[&id] > 1 {
                let n = nth.entry(id.clone()).or_default();
                *n += 1;
                format!("{id}-car{n}")
            } else {
                id
            };
            for i in chain {
                rows[i].car = Some(car.clone());
            }
        }
        for (i, message) in unplaced {
            rows[i].flag(ProblemKind::SharedCarNumber, message);
        }
    }
}

/// A group or class as part of a driver id: letters and digits kept, anything else `_`
/// (`P/A` → `P_A`), so ids stay usable in file names and URL paths.
fn id_part(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// The cars among `members` (rows of one number, group and class): one when no lap number
/// repeats; else each chain of rows whose lap numbers follow on and whose `ELAPSED` grows by
/// the lap's `LAP_TIME` (see [`CONTINUITY`]), a new car starting at the first lap number. With
/// more than one car, rows that continue none, or whose lap or `ELAPSED` cannot be read, are
/// returned apart with why; with one, every row is that car's.
fn continuity_chains(
    rows: &[Row],
    members: &[usize],
    number: &str,
) -> (Vec<Vec<usize>>, Vec<(usize, String)>) {
    let mut seen = HashSet::new();
    let repeats = members
        .iter()
        .filter_map(|&i| rows[i].lap_number)
        .any(|lap| !seen.insert(lap));
    if !repeats {
        return (vec![members.to_vec()], Vec::new());
    }
    let Some(first_lap) = members.iter().filter_map(|&i| rows[i].lap_number).min() else {
        return (vec![members.to_vec()], Vec::new());
    };
    /// One car's rows so far.
    struct Chain {
        rows: Vec<usize>,
        last_lap: i64,
        last_elapsed: f64,
        /// `ELAPSED` per lap number.
        crossings: HashMap<i64, f64>,
    }
    let mut unplaced = Vec::new();
    let mut ordered = Vec::new();
    for &i in members {
        match (rows[i].lap_number, rows[i].elapsed) {
            (Some(lap), Some(elapsed)) => ordered.push((elapsed, rows[i].line, lap, i)),
            _ => unplaced.push((
                i,
                format!(
                    "car number {number} is used by more than one car, told apart by their laps' LAP_NUMBER and ELAPSED, which cannot both be read in this row"
                ),
            )),
        }
    }
    ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut chains: Vec<Chain> = Vec::new();
    for (elapsed, _, lap, i) in ordered {
        // The same crossing twice is one car's repeated lap, not a second car.
        if let Some(chain) = chains.iter_mut().find(|c| {
            c.crossings
                .get(&lap)
                .is_some_and(|e| (e - elapsed).abs() <= CONTINUITY)
        }) {
            chain.rows.push(i);
            continue;
        }
        let continuing: Vec<(usize, f64)> = chains
            .iter()
            .enumerate()
            .filter(|(_, c)| c.last_lap + 1 == lap && c.last_elapsed < elapsed)
            .map(|(k, c)| {
                let miss = rows[i]
                    .lap_time
                    .map_or(f64::INFINITY, |t| (elapsed - c.last_elapsed - t).abs());
                (k, miss)
            })
            .collect();
        let best = continuing
            .iter()
            .filter(|(_, miss)| *miss <= CONTINUITY)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| *k);
        let chosen = match best {
            Some(k) => Some(k),
            // Its LAP_TIME cannot be read (the row is flagged for it), but one car can continue.
            None if rows[i].lap_time.is_none() && continuing.len() == 1 => Some(continuing[0].0),
            None if lap == first_lap => {
                chains.push(Chain {
                    rows: Vec::new(),
                    last_lap: lap,
                    last_elapsed: elapsed,
                    crossings: HashMap::new(),
                });
                Some(chains.len() - 1)
            }
            None => None,
        };
        match chosen {
            Some(k) => {
                let chain = &mut chains[k];
                chain.rows.push(i);
                chain.last_lap = lap;
                chain.last_elapsed = elapsed;
                chain.crossings.insert(lap, elapsed);
            }
            None => unplaced.push((
                i,
                format!(
                    "car number {number} is used by more than one car, told apart by their laps' LAP_NUMBER and ELAPSED, and lap {lap} (ELAPSED {elapsed:.3} s) continues none of them (no car's lap {} ended {:.3} s, its LAP_TIME, earlier)",
                    lap - 1,
                    rows[i].lap_time.unwrap_or(f64::NAN)
                ),
            )),
        }
    }
    if chains.len() <= 1 {
        // One car started under the number: a row that does not follow on is one of its own
        // laps (repeated, or with a time that does not add up), not another car's.
        return (vec![members.to_vec()], Vec::new());
    }
    (chains.into_iter().map(|c| c.rows).collect(), unplaced)
}

/// Flags every row whose lap number appears more than once for its car.
fn flag_repeated_laps(rows: &mut [Row]) {
    let mut lines: HashMap<(&str, i64), Vec<u64>> = HashMap::new();
    for row in rows.iter() {
        if let (Some(car), Some(lap)) = (&row.car, row.lap_number) {
            lines.entry((car, lap)).or_default().push(row.line);
        }
    }
    let messages: Vec<Option<String>> = rows
        .iter()
        .map(|row| {
            let (car, lap) = (row.car.as_deref()?, row.lap_number?);
            let same = &lines[&(car, lap)];
            (same.len() > 1).then(|| {
                let listed: Vec<String> = same.iter().map(u64::to_string).collect();
                format!(
                    "lap {lap} of car {car} appears {} times (lines {}), and which is right cannot be told",
                    same.len(),
                    listed.join(", ")
                )
            })
        })
        .collect();
    for (row, message) in rows.iter_mut().zip(messages) {
        if let Some(message) = message {
            row.flag(ProblemKind::RepeatedLap, message);
        }
    }
}

/// Each car's position when it completed each lap, by `(lap, car)`: on each lap, the cars
/// ranked by `ELAPSED`, ties to the earlier line. A car that appears twice on one lap counts
/// once, at its earlier crossing.
fn running_order(rows: &[Row]) -> HashMap<(i64, &str), i64> {
    /// When a car crossed the line: `ELAPSED` and the row's line.
    type Crossing = (f64, u64);
    let mut laps: BTreeMap<i64, HashMap<&str, Crossing>> = BTreeMap::new();
    for row in rows {
        let (Some(car), Some(lap), Some(elapsed)) = (&row.car, row.lap_number, row.elapsed) else {
            continue;
        };
        let crossing = laps
            .entry(lap)
            .or_default()
            .entry(car)
            .or_insert((elapsed, row.line));
        if (elapsed, row.line) < *crossing {
            *crossing = (elapsed, row.line);
        }
    }
    let mut positions = HashMap::new();
    for (lap, cars) in laps {
        let mut order: Vec<(&str, Crossing)> = cars.into_iter().collect();
        order.sort_by(|(_, a), (_, b)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (rank, (car, _)) in order.into_iter().enumerate() {
            positions.insert((lap, car), rank as i64 + 1);
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuits_come_from_the_file_name_or_the_nearest_folder() {
        for (path, circuit) in [
            (
                "data/grcup/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV",
                Some("Barber Motorsports Park"),
            ),
            (
                "grcup/COTA/Race 2/23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV",
                Some("Circuit of the Americas"),
            ),
            ("wec/2024/le_mans_24h.csv", Some("Circuit de la Sarthe")),
            ("wec/2025/cota_6h.csv", Some("Circuit of the Americas")),
            ("exports/Road America/23_Analysis.CSV", Some("Road America")),
            // The nearest name wins: the file says Barber, a far folder says Spa.
            ("spa/x/barber.csv", Some("Barber Motorsports Park")),
            // Whole words only: "spanish" is not Spa, "barberton" not Barber.
            ("spanish/barberton/23_Analysis.csv", None),
            ("23_Analysis.csv", None),
        ] {
            assert_eq!(default_circuit(Path::new(path)), circuit, "{path}");
        }
    }

    #[test]
    fn race_types_come_from_race_and_session_words() {
        for (path, race_type) in [
            (
                "barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV",
                "race 1",
            ),
            (
                "COTA/Race 2/23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV",
                "race 2",
            ),
            ("COTA/Race 2/23_Analysis.CSV", "race 2"),
            ("wec/2024/le_mans_24h.csv", "race"),
            ("23_Analysis_Race_Hour 24.CSV", "race"),
            ("spa/23_Analysis_Qualifying.CSV", "qualifying"),
            ("spa/23_Analysis_FP2.CSV", "practice 2"),
            ("spa/Free Practice 3/23_Analysis.CSV", "practice 3"),
        ] {
            assert_eq!(default_race_type(Path::new(path)), race_type, "{path}");
        }
    }

    #[test]
    fn dates_come_from_a_year_month_day_in_the_path() {
        assert_eq!(
            date_in_path(Path::new("I_R06_2025-09-07/barber/23_Analysis.CSV")).as_deref(),
            Some("2025-09-07")
        );
        assert_eq!(
            date_in_path(Path::new("x/23_Analysis_2024-06-15.CSV")).as_deref(),
            Some("2024-06-15")
        );
        for none in [
            "wec/2024/le_mans_24h.csv",
            "x/2025-13-01/a.csv",
            "x/12025-09-07/a.csv",
            "a.csv",
        ] {
            assert_eq!(date_in_path(Path::new(none)), None, "{none}");
        }
    }
}
