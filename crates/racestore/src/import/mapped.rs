//! Any table of laps (a spreadsheet's export, another tool's file) through a column mapping:
//! one session per file, given by the caller, and one lap per row.
//!
//! ```no_run
//! use racestore::import::mapped::{self, Mapping, Options};
//! use racestore::NewSession;
//!
//! let store = racestore::open("json:storage")?;
//! let mapping = Mapping::parse("driver_id=Driver,lap_number=Lap,lap_time=Time,position=Pos")?;
//! let options = Options::new(mapping, NewSession::new("Barber Motorsports Park").date("2025-09-06"));
//! let summary = mapped::import(store.as_ref(), "laps.csv".as_ref(), &options)?;
//! println!("session {}: {} laps", summary.session.id, summary.laps);
//! # Ok::<(), racestore::Error>(())
//! ```
//!
//! # The mapping
//!
//! `FIELD=COLUMN` pairs: which column of the file holds each field of a lap ([`Field`]).
//! `driver_id`, `lap_number` and `lap_time` are required; `sector_1`, `sector_2`, `sector_3`,
//! `lap_type` and `position` are optional, as are the entry fields `car_number`,
//! `driver_name`, `class`, `group`, `team`, `manufacturer` and `vehicle`. A column is named as
//! the header writes it (surrounding spaces and case ignored). [`Mapping::parse`] reads
//! `driver_id=Driver,lap_number=Lap` (the command line's `--map`); [`Mapping::from_text`] one
//! pair per line, `#` starting a comment (a mapping file, where a column name may hold a comma).
//! [`Mapping::same_names`] maps every field to the column of the same name, which reads
//! racestore's own lap export (`racestore export --format csv`).
//!
//! # The file
//!
//! Delimited text with a header line: `,`, `;` or tab-separated ([`Options::delimiter`], or
//! else the one the header line uses most), fields quoted or not, LF or CRLF, with or without a
//! byte-order mark. Columns not in the mapping are ignored.
//!
//! # What is stored
//!
//! One session ([`Options::session`], its date stored as [`super::session_date`] writes it),
//! one lap per row, and one entry per driver id when an
//! entry field is mapped (the first filled cell of the driver's rows for each field).
//!
//! - `lap_time` and the sectors: seconds (`91.482`) or `m:ss.fff` (`1:31.482`), `h:mm:ss.fff`,
//!   any number of decimals, a decimal point; a blank sector is untimed.
//! - `lap_number` and `position`: whole numbers (a blank position is unknown).
//! - `lap_type`: as written; blank or unmapped, `normal` (as [`NewLap::new`] gives).
//!
//! # Rows that cannot be read
//!
//! A file with any is not imported: [`Parsed::problems`] lists each (line, column and why:
//! a blank required cell, a value that cannot be read, a lap the model refuses, a lap number
//! repeated for a driver, more or fewer fields than the header), and [`save`] fails with
//! [`Error::Import`] naming the first.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::table::{import_error, read_file, Row, Table};
use super::time::parse_seconds;
use crate::error::{Error, Result};
use crate::model::{now_timestamp, NewEntry, NewLap, NewRecords, NewSession, Sectors, Session};
use crate::store::{Batch, RaceStore, RaceStoreExt};

/// What a column can hold: a field of a lap, or of the driver's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The driver (or car) id the lap is stored under. Required.
    DriverId,
    /// The lap's number. Required.
    LapNumber,
    /// The lap time. Required.
    LapTime,
    /// Sector 1's time.
    Sector1,
    /// Sector 2's time.
    Sector2,
    /// Sector 3's time.
    Sector3,
    /// The kind of lap (`RACE_LAP`, `IN_LAP`, `normal`, ...).
    LapType,
    /// The running position at the end of the lap.
    Position,
    /// The entry's car number, as written.
    CarNumber,
    /// The entry's driver name.
    DriverName,
    /// The entry's class.
    Class,
    /// The entry's group.
    Group,
    /// The entry's team.
    Team,
    /// The entry's manufacturer.
    Manufacturer,
    /// The entry's vehicle.
    Vehicle,
}

impl Field {
    /// Every field, in the order of a lap's and then an entry's fields.
    pub const ALL: [Field; 15] = [
        Field::DriverId,
        Field::LapNumber,
        Field::LapTime,
        Field::Sector1,
        Field::Sector2,
        Field::Sector3,
        Field::LapType,
        Field::Position,
        Field::CarNumber,
        Field::DriverName,
        Field::Class,
        Field::Group,
        Field::Team,
        Field::Manufacturer,
        Field::Vehicle,
    ];

    /// The fields a mapping must have.
    pub const REQUIRED: [Field; 3] = [Field::DriverId, Field::LapNumber, Field::LapTime];

    /// The field's name, as mappings write it (`lap_time`); the same as the stored record's.
    pub fn name(self) -> &'static str {
        match self {
            Field::DriverId => "driver_id",
            Field::LapNumber => "lap_number",
            Field::LapTime => "lap_time",
            Field::Sector1 => "sector_1",
            Field::Sector2 => "sector_2",
            Field::Sector3 => "sector_3",
            Field::LapType => "lap_type",
            Field::Position => "position",
            Field::CarNumber => "car_number",
            Field::DriverName => "driver_name",
            Field::Class => "class",
            Field::Group => "group",
            Field::Team => "team",
            Field::Manufacturer => "manufacturer",
            Field::Vehicle => "vehicle",
        }
    }

    /// The field a name gives (case ignored), or [`Error::Invalid`] listing the fields.
    pub fn from_name(name: &str) -> Result<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                Error::invalid(
                    "map",
                    format!(
                        "unknown field {:?}; the fields are {}",
                        name.trim(),
                        names.join(", ")
                    ),
                )
            })
    }

    fn is_entry(self) -> bool {
        matches!(
            self,
            Field::CarNumber
                | Field::DriverName
                | Field::Class
                | Field::Group
                | Field::Team
                | Field::Manufacturer
                | Field::Vehicle
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which column holds each field (see the [module documentation](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// `(field, column name)`, each field at most once.
    pairs: Vec<(Field, String)>,
    /// Whether a field without a column of its name is left out instead of refused.
    same_names: bool,
}

impl Mapping {
    /// Reads `field=Column` pairs separated by commas: `driver_id=Driver,lap_number=Lap`.
    pub fn parse(spec: &str) -> Result<Mapping> {
        Mapping::from_pairs(spec.split(','))
    }

    /// Reads a mapping file's text: one `field=Column` pair per line; blank lines and lines
    /// starting with `#` are ignored.
    pub fn from_text(text: &str) -> Result<Mapping> {
        Mapping::from_pairs(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    /// Every field from the column of its own name, where the file has one: what
    /// `racestore export --format csv` writes for laps.
    pub fn same_names() -> Mapping {
        Mapping {
            pairs: Field::ALL.iter().map(|f| (*f, f.name().to_owned())).collect(),
            same_names: true,
        }
    }

    fn from_pairs<'a>(pairs: impl Iterator<Item = &'a str>) -> Result<Mapping> {
        let mut mapping = Mapping::default();
        for pair in pairs {
            let Some((field, column)) = pair.split_once('=') else {
                return Err(Error::invalid(
                    "map",
                    format!("expected FIELD=COLUMN, got {:?}", pair.trim()),
                ));
            };
            let field = Field::from_name(field)?;
            let column = column.trim();
            if column.is_empty() {
                return Err(Error::invalid("map", format!("{field} is mapped to no column")));
            }
            if mapping.pairs.iter().any(|(f, _)| *f == field) {
                return Err(Error::invalid("map", format!("{field} is mapped twice")));
            }
            mapping.pairs.push((field, column.to_owned()));
        }
        for field in Field::REQUIRED {
            if !mapping.pairs.iter().any(|(f, _)| *f == field) {
                return Err(Error::invalid(
                    "map",
                    format!(
                        "{field} is not mapped; driver_id, lap_number and lap_time are required (e.g. driver_id=Driver,lap_number=Lap,lap_time=LapTime)"
                    ),
                ));
            }
        }
        Ok(mapping)
    }

    /// The pairs, in the order given.
    pub fn pairs(&self) -> impl Iterator<Item = (Field, &str)> {
        self.pairs.iter().map(|(f, c)| (*f, c.as_str()))
    }
}

/// How to import a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Which column holds each field.
    pub mapping: Mapping,
    /// The session the file's laps go into (created by the import).
    pub session: NewSession,
    /// The field separator; `None` takes the one of `,`, `;` and tab the header line has most of.
    pub delimiter: Option<u8>,
}

impl Options {
    /// The file's laps mapped by `mapping` into the new session `session`.
    pub fn new(mapping: Mapping, session: NewSession) -> Self {
        Options {
            mapping,
            session,
            delimiter: None,
        }
    }
}

/// A row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The row's 1-based line (the header is line 1).
    pub line: u64,
    /// The column at fault, as the header names it; `None` for the row as a whole.
    pub column: Option<String>,
    /// Why.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}: column {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A file read and checked, ready for [`save`]: nothing has been stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The file, as given.
    pub file: PathBuf,
    /// The session to create (checked).
    pub session: NewSession,
    /// Data rows in the file.
    pub rows: usize,
    /// The laps of the rows read, in file order (`session_id` 0 until saved).
    pub laps: Vec<NewLap>,
    /// One entry per driver id when an entry field is mapped, in the order drivers first appear.
    pub entries: Vec<NewEntry>,
    /// The rows that cannot be read, in file order: any of them and nothing is saved.
    pub problems: Vec<Problem>,
    /// The fields mapped, with the column each was found in.
    pub columns: Vec<(Field, String)>,
}

impl Parsed {
    /// The error [`save`] fails with when a row cannot be read: the first, and how many there are.
    pub fn error(&self) -> Option<Error> {
        let first = self.problems.first()?;
        let more = match self.problems.len() {
            1 => String::new(),
            n => format!(" ({n} rows cannot be read; the first is shown)"),
        };
        let message = match &first.column {
            Some(column) => format!("column {column}: {}{more}; nothing was imported", first.message),
            None => format!("{}{more}; nothing was imported", first.message),
        };
        Some(import_error(&self.file, Some(first.line), message))
    }

    /// Distinct driver ids of the laps.
    pub fn drivers(&self) -> usize {
        self.laps
            .iter()
            .map(|l| l.driver_id.as_str())
            .collect::<HashSet<_>>()
            .len()
    }
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The file, as given.
    pub file: PathBuf,
    /// The session created, as the store gives it back.
    pub session: Session,
    /// Laps stored: one per row.
    pub laps: usize,
    /// Drivers of those laps.
    pub drivers: usize,
    /// Entries stored.
    pub entries: usize,
}

/// Reads and checks the file at `path` without touching any store.
///
/// Fails when the file cannot be read, its header lacks a mapped column, or the session is
/// invalid; rows that cannot be read are listed in [`Parsed::problems`].
pub fn parse(path: &Path, options: &Options) -> Result<Parsed> {
    let bytes = read_file(path)?;
    parse_bytes(path, &bytes, options)
}

/// [`parse`] of a file held in memory, named `file` in problems and errors.
pub fn parse_bytes(file: &Path, bytes: &[u8], options: &Options) -> Result<Parsed> {
    let mut session = options.session.clone();
    if let Some(date) = &session.date {
        session.date = Some(super::session_date(date, None)?);
    }
    session.validate(0, &now_timestamp())?;
    let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(bytes));
    let mut table = Table::new(file, bytes, delimiter)?;
    let mut columns: Vec<(Field, usize)> = Vec::new();
    for (field, column) in options.mapping.pairs() {
        match table.column(&[column]) {
            Some(at) => columns.push((field, at)),
            None if options.mapping.same_names && !Field::REQUIRED.contains(&field) => {}
            None => {
                return Err(import_error(
                    file,
                    Some(1),
                    format!(
                        "has no column {column:?} (mapped to {field}); its columns are {}",
                        table.column_names().join(", ")
                    ),
                ))
            }
        }
    }
    let at = |field: Field| columns.iter().find(|(f, _)| *f == field).map(|(_, c)| *c);
    let entry_columns: Vec<(Field, usize)> = columns.iter().copied().filter(|(f, _)| f.is_entry()).collect();

    let mut parsed = Parsed {
        file: file.to_owned(),
        session,
        rows: 0,
        laps: Vec::new(),
        entries: Vec::new(),
        problems: Vec::new(),
        columns: columns
            .iter()
            .map(|(f, c)| (*f, table.column_names()[*c].clone()))
            .collect(),
    };
    let mut seen: HashMap<(String, i64), u64> = HashMap::new();
    let mut entries: HashMap<String, usize> = HashMap::new();
    while let Some(row) = table.next_any_row()? {
        parsed.rows += 1;
        if let Some(message) = row.width_problem() {
            parsed.problems.push(Problem {
                line: row.line,
                column: None,
                message,
            });
            continue;
        }
        match read_lap(&row, &at) {
            Ok(lap) => {
                if let Some(first) = seen.insert((lap.driver_id.clone(), lap.lap_number), row.line) {
                    let column = at(Field::LapNumber).map(|c| row.column_name(c).to_owned());
                    parsed.problems.push(Problem {
                        line: row.line,
                        column,
                        message: format!(
                            "lap {} of driver {} appears twice (lines {first} and {})",
                            lap.lap_number, lap.driver_id, row.line
                        ),
                    });
                    continue;
                }
                if !entry_columns.is_empty() {
                    let index = *entries.entry(lap.driver_id.clone()).or_insert_with(|| {
                        parsed.entries.push(NewEntry::new(0, lap.driver_id.clone()));
                        parsed.entries.len() - 1
                    });
                    if let Err(problem) = fill_entry(&mut parsed.entries[index], &row, &entry_columns) {
                        parsed.problems.push(problem);
                        continue;
                    }
                }
                parsed.laps.push(lap);
            }
            Err(problem) => parsed.problems.push(problem),
        }
    }
    Ok(parsed)
}

/// Stores a parsed file as one unit ([`RaceStore::save`] of one [`Batch`]): its session, laps
/// and entries, all or nothing. A file with a row that cannot be read, or without a row, is an
/// [`Error::Import`] and stores nothing.
pub fn save(store: &dyn RaceStore, parsed: &Parsed) -> Result<Summary> {
    if let Some(err) = parsed.error() {
        return Err(err);
    }
    if parsed.laps.is_empty() {
        return Err(import_error(
            &parsed.file,
            None,
            "has no lap to import; nothing was imported",
        ));
    }
    let mut batch = Batch::session(parsed.session.clone()).with(NewRecords::Laps(parsed.laps.clone()));
    if !parsed.entries.is_empty() {
        batch = batch.with(NewRecords::Entries(parsed.entries.clone()));
    }
    let ids = store.save(&batch)?;
    let session_id = ids
        .session
        .ok_or_else(|| Error::backend("import", "the store created no session for the file"))?;
    let session = store
        .get_session(session_id)?
        .ok_or_else(|| Error::session_not_found(session_id))?;
    Ok(Summary {
        file: parsed.file.clone(),
        session,
        laps: parsed.laps.len(),
        drivers: parsed.drivers(),
        entries: parsed.entries.len(),
    })
}

/// Imports the file at `path`: [`parse`], then [`save`].
pub fn import(store: &dyn RaceStore, path: &Path, options: &Options) -> Result<Summary> {
    save(store, &parse(path, options)?)
}

/// The separator of `,`, `;` and tab that the first line holds most of (`,` when none).
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| first.iter().filter(|b| **b == d).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (count(*d), *d == b','))
        .unwrap_or(b',')
}

/// The lap of a row, or the first problem with it.
fn read_lap(row: &Row<'_>, at: &dyn Fn(Field) -> Option<usize>) -> std::result::Result<NewLap, Problem> {
    let problem = |column: usize, message: String| Problem {
        line: row.line,
        column: Some(row.column_name(column).to_owned()),
        message,
    };
    let text = |field: Field| -> std::result::Result<Option<&str>, Problem> {
        match at(field) {
            None => Ok(None),
            Some(c) => row
                .text(c)
                .map_err(|_| problem(c, "is not UTF-8 text".to_owned())),
        }
    };
    let required = |field: Field| -> std::result::Result<(&str, usize), Problem> {
        let c = at(field).expect("required fields are mapped");
        match text(field)? {
            Some(value) => Ok((value, c)),
            None => Err(problem(c, format!("is blank where the {field} is needed"))),
        }
    };
    let whole = |value: &str, c: usize| -> std::result::Result<i64, Problem> {
        value
            .parse::<i64>()
            .map_err(|_| problem(c, format!("expected a whole number, got {value:?}")))
    };
    let seconds = |value: &str, c: usize| -> std::result::Result<f64, Problem> {
        parse_seconds(value).map_err(|err| problem(c, err))
    };
    let (driver, _) = required(Field::DriverId)?;
    let (lap_number, lap_column) = required(Field::LapNumber)?;
    let lap_number = whole(lap_number, lap_column)?;
    let (lap_time, time_column) = required(Field::LapTime)?;
    let lap_time = seconds(lap_time, time_column)?;
    let mut sectors = [None; 3];
    for (slot, field) in sectors
        .iter_mut()
        .zip([Field::Sector1, Field::Sector2, Field::Sector3])
    {
        if let (Some(value), Some(c)) = (text(field)?, at(field)) {
            *slot = Some(seconds(value, c)?);
        }
    }
    let position = match (text(Field::Position)?, at(Field::Position)) {
        (Some(value), Some(c)) => Some(whole(value, c)?),
        _ => None,
    };
    let lap = NewLap {
        session_id: 0,
        driver_id: driver.to_owned(),
        lap_number,
        lap_time,
        sectors: Sectors {
            s1: sectors[0],
            s2: sectors[1],
            s3: sectors[2],
        },
        lap_type: text(Field::LapType)?.unwrap_or("normal").to_owned(),
        position,
    };
    if let Err(Error::Invalid { field, message }) = lap.validate(0, "") {
        let column = Field::ALL.into_iter().find(|f| f.name() == field).and_then(at);
        return Err(Problem {
            line: row.line,
            column: column.map(|c| row.column_name(c).to_owned()),
            message,
        });
    }
    Ok(lap)
}

/// Fills the entry's fields still unknown from the row's cells.
fn fill_entry(
    entry: &mut NewEntry,
    row: &Row<'_>,
    columns: &[(Field, usize)],
) -> std::result::Result<(), Problem> {
    for (field, column) in columns {
        let value = row.text(*column).map_err(|_| Problem {
            line: row.line,
            column: Some(row.column_name(*column).to_owned()),
            message: "is not UTF-8 text".to_owned(),
        })?;
        let slot = match field {
            Field::CarNumber => &mut entry.car_number,
            Field::DriverName => &mut entry.driver_name,
            Field::Class => &mut entry.class,
            Field::Group => &mut entry.group,
            Field::Team => &mut entry.team,
            Field::Manufacturer => &mut entry.manufacturer,
            _ => &mut entry.vehicle,
        };
        if slot.is_none() {
            *slot = value.map(str::to_owned);
        }
    }
    Ok(())
}
