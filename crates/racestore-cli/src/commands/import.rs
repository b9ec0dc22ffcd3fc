//! `racestore import`: timing-system exports into the store, through `racestore::import`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use racestore::import::alkamel::{
    self, BadRows, DateSource, Options, Outcome, Parsed, Problem, ProblemKind, Summary,
};
use racestore::import::{ergast, mapped, Existing};
use racestore::NewSession;
use serde_json::{json, Value};

use super::{close_store, interrupt, open_store, shell_quote, shown_url};

/// Inputs of at least this many bytes in all get a progress bar (on a terminal only).
const PROGRESS_FROM_BYTES: u64 = 512 * 1024;

/// Imports of at least this many laps get a progress bar (on a terminal only).
const PROGRESS_FROM_LAPS: usize = 20_000;

/// Lines listed per kind of problem in the text report.
const LINES_SHOWN: usize = 5;

/// Options of `racestore import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    format: Format,
}

/// The export formats `racestore import` reads.
#[derive(Debug, Subcommand)]
enum Format {
    /// Import Al Kamel lap analysis exports (23_AnalysisEnduranceWithSections, 23_Analysis)
    ///
    /// Reads the lap-by-lap exports of Al Kamel Systems' timing (Toyota GR Cup, FIA WEC): one
    /// session per file, one lap per row. Every file is read and checked before anything is
    /// stored, and each file's laps are saved in one batch: an import that stops leaves the
    /// store as it was, except for the files it reports as imported.
    ///
    /// Files (any name; Al Kamel writes .CSV or .csv) are recognised by their header: NUMBER,
    /// LAP_NUMBER, LAP_TIME and ELAPSED are required.
    ///
    /// Circuit: from the file's name or folders (barber, COTA, le_mans, spa, sebring, ...)
    /// unless --circuit. Race type: "race 1" for a file or folder named "Race 1", else "race",
    /// unless --race-type. Date: --date (one for all files, or one per file), else a YYYY-MM-DD
    /// in the path, else the time of the import (the exports hold only times of day). Stored as
    /// YYYY-MM-DDTHH:MM:SS, followed by the offset when one was given (+02:00; Z is +00:00): a
    /// date without a time gets the race's start time from the file.
    ///
    /// Entries: one per driver, with the car number as written (007), and DRIVER_NAME, CLASS,
    /// GROUP, TEAM, MANUFACTURER, VEHICLE where the file has them (WEC files have names and
    /// teams; GR Cup files class, group and manufacturer), saved with the laps.
    ///
    /// A file whose laps the store already holds (same drivers, lap numbers and lap times) is
    /// refused, naming the session it went to, unless --replace (import it again, then delete
    /// the old session) or --skip-existing (leave it as it is).
    ///
    /// Ctrl-C stops the import between two files: those saved stay, and are listed.
    ///
    /// Each lap: driver id = the car number as written (007); where cars share drivers (WEC)
    /// followed by the driver number: 007-2. Two cars under one number are kept apart: by group
    /// (3 and 3-Legends) or class where those differ, else by the continuity of each car's laps
    /// (3-car1, 3-car2, in the order they first crossed the line). Lap type: IN_LAP (pit flag B), OUT_LAP (PIT_TIME
    /// filled), else from the flag at the line: RED_FLAG, SAFETY_CAR, FULL_COURSE_YELLOW,
    /// RACE_LAP. Position: the car's overall running order when it crossed the line, from
    /// ELAPSED.
    ///
    /// Rows that cannot be trusted (a lap number repeated for one car, a lap of a shared number
    /// that follows on from none of its cars, a time that cannot be read, ...) are listed with file and line. By default they
    /// abort the whole import; --on-bad-row skip imports the other rows.
    Alkamel(AlkamelArgs),

    /// Import Formula 1 races from the Ergast database's CSV tables (f1db_csv, Kaggle)
    ///
    /// Reads races.csv, lap_times.csv and drivers.csv from DIR, and circuits.csv, results.csv,
    /// constructors.csv and pit_stops.csv when present (header names in any case, \N as null,
    /// quoted or not, LF or CRLF). Every race chosen that has lap times becomes one session,
    /// saved with its laps and entries in one batch; races without lap times (lap times start
    /// in 1996) are counted, not stored. Every table is read and checked before anything is
    /// stored: a bad cell stops the import naming file, line and column.
    ///
    /// Session: circuit = the circuit's name (circuits.csv), or the race's name without that
    /// table; date = the race's date, with its start time (UTC) when given; race type "race".
    ///
    /// Each lap: driver id = the driver's driverRef (hamilton, max_verstappen; driver-ID when
    /// missing or not unique); lap time = milliseconds / 1000 (exact); position = the running
    /// position; lap type IN_LAP on a pit stop's lap, OUT_LAP on the lap after, else RACE_LAP.
    /// Entries: car number, driver name, constructor as team.
    ///
    /// A race is known again by its circuit, date and race type: one the store holds already
    /// is refused, stored again with --replace, or left as it is with --skip-existing (which
    /// resumes a stopped import: each race is saved whole or not at all).
    Ergast(ErgastArgs),

    /// Import any table of laps (a spreadsheet, another tool's export) through a column mapping
    ///
    /// One session per file, given by --circuit, --date and --race-type; one lap per row. The
    /// mapping names the column of each field: --map driver_id=Driver,lap_number=Lap,lap_time=Time
    /// or --map-file FILE (one FIELD=COLUMN per line, # for comments). driver_id, lap_number and
    /// lap_time are required; sector_1, sector_2, sector_3, lap_type and position are optional,
    /// as are the entry fields car_number, driver_name, class, group, team, manufacturer and
    /// vehicle (one entry per driver). Column names: as in the header, case ignored. Without a
    /// mapping, every field is read from the column of its own name, as `racestore export
    /// --format csv` writes laps.
    ///
    /// Times: seconds (91.482) or m:ss.fff (1:31.482), h:mm:ss.fff; lap and position: whole
    /// numbers; lap type: as written, "normal" when blank. Separator: --delimiter, else the one
    /// of , ; and tab the header has most of. A row that cannot be read stops the import,
    /// naming the file, the line and the column; nothing is stored.
    Csv(CsvArgs),
}

/// Options of `racestore import csv`.
#[derive(Debug, Args)]
pub(crate) struct CsvArgs {
    /// The table of laps
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Which column holds each field: FIELD=COLUMN,FIELD=COLUMN,...
    #[arg(long, value_name = "MAPPING")]
    map: Option<String>,

    /// The mapping in a file, one FIELD=COLUMN per line
    #[arg(long, value_name = "FILE", conflicts_with = "map")]
    map_file: Option<PathBuf>,

    /// Circuit of the session
    #[arg(long, value_name = "NAME")]
    circuit: String,

    /// Date of the session, ISO 8601: 2025-09-06 or 2025-09-06T14:00:00 (default: now)
    #[arg(long, value_name = "DATE")]
    date: Option<String>,

    /// Race type of the session: race, qualifying, race 2, ... (default: race)
    #[arg(long, value_name = "TYPE")]
    race_type: Option<String>,

    /// The field separator: , ; or a tab (default: the one the header line uses)
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<char>,

    /// Print the result as JSON (one object) instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `racestore import ergast`.
#[derive(Debug, Args)]
pub(crate) struct ErgastArgs {
    /// The folder holding the tables
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// Import the races of this season (repeat for several; default: every race)
    #[arg(long = "season", value_name = "YEAR")]
    seasons: Vec<i64>,

    /// Import the race with this raceId (repeat for several; with --season, either chooses)
    #[arg(long = "race", value_name = "ID")]
    races: Vec<i64>,

    /// Import a race the store holds already (a session of the same circuit, date and race
    /// type) again, as a new session, then delete the session it was before
    #[arg(long, conflicts_with = "skip_existing")]
    replace: bool,

    /// Leave the races the store holds already as they are and import the others, as when
    /// resuming a stopped import; without it or --replace, such a race stops the import before
    /// anything is stored
    #[arg(long)]
    skip_existing: bool,

    /// Print the result as JSON (one object) instead of text
    #[arg(long)]
    json: bool,
}

/// Options of `racestore import alkamel`.
#[derive(Debug, Args)]
pub(crate) struct AlkamelArgs {
    /// The exports to import, one session each
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Circuit of every session (default: from the files' names or folders)
    #[arg(long, value_name = "NAME")]
    circuit: Option<String>,

    /// Race type of every session: race, qualifying, race 2, ... (default: from the names)
    #[arg(long, value_name = "TYPE")]
    race_type: Option<String>,

    /// Date of the sessions, ISO 8601: 2025-09-06 (start time taken from the file),
    /// 2025-09-06T14:00:00, or with an offset 2025-09-06T14:00:00+02:00. Once for every file,
    /// or once per file in the order of the files: --date 2025-09-06 --date 2025-09-07
    #[arg(long, value_name = "DATE", action = clap::ArgAction::Append)]
    date: Vec<String>,

    /// Import a file the store already holds again, as a new session, then delete the session
    /// it went to before
    #[arg(long, conflicts_with = "skip_existing")]
    replace: bool,

    /// Leave a file the store already holds as it is, and import the others
    #[arg(long)]
    skip_existing: bool,

    /// What to do with rows that cannot be trusted: abort the import, or skip them (case ignored)
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = OnBadRow::Abort, ignore_case = true)]
    on_bad_row: OnBadRow,

    /// Print the result as JSON (one object) instead of text
    #[arg(long)]
    json: bool,
}

/// `--on-bad-row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnBadRow {
    /// Import nothing when any row of any file cannot be trusted
    Abort,
    /// Leave such rows out and import the rest
    Skip,
}

/// Runs `racestore import` against the store `url`.
pub(crate) fn run(url: &str, args: &ImportArgs) -> anyhow::Result<()> {
    match &args.format {
        Format::Alkamel(args) => run_alkamel(url, args),
        Format::Ergast(args) => run_ergast(url, args),
        Format::Csv(args) => run_csv(url, args),
    }
}

fn run_alkamel(url: &str, args: &AlkamelArgs) -> anyhow::Result<()> {
    let shown = shown_url(url);
    let options = Options {
        circuit: args.circuit.clone(),
        race_type: args.race_type.clone(),
        date: None,
        bad_rows: match args.on_bad_row {
            OnBadRow::Abort => BadRows::Abort,
            OnBadRow::Skip => BadRows::Skip,
        },
        existing: if args.replace {
            Existing::Replace
        } else if args.skip_existing {
            Existing::Skip
        } else {
            Existing::Refuse
        },
    };
    let dates: Vec<Option<String>> = match args.date.len() {
        0 => vec![None; args.files.len()],
        1 => vec![args.date.first().cloned(); args.files.len()],
        n if n == args.files.len() => args.date.iter().cloned().map(Some).collect(),
        n => bail!(
            "{} and {n} --date values: give one date for every file, or one per file in the order of the files; nothing was imported",
            count(args.files.len(), "file")
        ),
    };
    let interrupted = interrupt::Flag::install()?;
    let sizes: Vec<u64> = args
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .collect();
    let progress = Progress::new(sizes.iter().sum());

    // Read and check every file before the store is even opened.
    let mut parsed = Vec::with_capacity(args.files.len());
    for ((file, size), date) in args.files.iter().zip(&sizes).zip(dates) {
        if interrupted.is_set() {
            progress.clear();
            bail!(
                "interrupted while reading the files (before {}): nothing was imported",
                file.display()
            );
        }
        progress.phase(format!("reading {}", short_name(file)));
        let options = Options {
            date,
            ..options.clone()
        };
        match alkamel::parse(file, &options) {
            Ok(p) => parsed.push(p),
            Err(err) => {
                progress.clear();
                return Err(nothing_imported(err, file));
            }
        }
        progress.advance(*size);
    }
    progress.clear();
    let untrusted: usize = parsed.iter().map(|p| p.problems.len()).sum();
    if options.bad_rows == BadRows::Abort && untrusted > 0 {
        let files = parsed.iter().filter(|p| !p.problems.is_empty()).count();
        if args.json {
            print_import_json(&shown, &parsed, &[], false)?;
        } else {
            let mut err = std::io::stderr().lock();
            for p in parsed.iter().filter(|p| !p.problems.is_empty()) {
                writeln!(
                    err,
                    "{}: {} of {} rows cannot be trusted:",
                    p.file.display(),
                    p.problems.len(),
                    p.rows
                )?;
                write_problems(&mut err, &p.problems)?;
            }
        }
        bail!(
            "{} in {} cannot be trusted, so nothing was imported; import the other rows with --on-bad-row skip",
            count(untrusted, "row"),
            if args.files.len() == 1 { "the file".to_owned() } else { format!("{files} of the {} files", args.files.len()) }
        );
    }
    if let Some(empty) = parsed.iter().find(|p| p.laps.is_empty()) {
        bail!(
            "{}: has no lap to import ({}, {} skipped); nothing was imported",
            empty.file.display(),
            count(empty.rows, "row"),
            empty.problems.len()
        );
    }

    let store = open_store(url)?;
    if options.existing == Existing::Refuse {
        let mut held = Vec::new();
        for p in &parsed {
            if let Some(session) = alkamel::existing(store.as_ref(), p)? {
                held.push(format!(
                    "{}: already imported as session {} ({}, {}, {})",
                    p.file.display(),
                    session.id,
                    session.circuit,
                    session.race_type,
                    session.date
                ));
            }
        }
        if !held.is_empty() {
            let _ = close_store(store.as_ref(), url);
            for line in &held {
                eprintln!("{line}");
            }
            let which = match (parsed.len(), held.len()) {
                (1, _) => "the file is".to_owned(),
                (n, 1) => format!("1 of the {n} files is"),
                (n, h) => format!("{h} of the {n} files are"),
            };
            bail!(
                "{which} already in {}, so nothing was imported; import again in place of the old session with --replace, or import only the others with --skip-existing",
                shown_url(url)
            );
        }
    }
    let progress = Progress::new(sizes.iter().sum());
    let mut summaries: Vec<Summary> = Vec::with_capacity(parsed.len());
    for (p, size) in parsed.iter().zip(&sizes) {
        if interrupted.is_set() {
            progress.clear();
            let _ = close_store(store.as_ref(), url);
            return Err(interrupted_report(&parsed, &summaries));
        }
        progress.phase(format!(
            "saving {} of {}",
            count(p.laps.len(), "lap"),
            short_name(&p.file)
        ));
        match alkamel::save(store.as_ref(), p) {
            Ok(summary) => summaries.push(summary),
            Err(err) => {
                progress.clear();
                let before = if summaries.is_empty() {
                    "nothing was imported".to_owned()
                } else {
                    let ids: Vec<String> = summaries.iter().map(|s| s.session.id.to_string()).collect();
                    format!(
                        "the {} before it stay imported (sessions {})",
                        count(summaries.len(), "file"),
                        ids.join(", ")
                    )
                };
                let _ = close_store(store.as_ref(), url);
                return Err(anyhow!(err).context(format!(
                    "saving {} into {shown} failed and stored nothing of it; {before}",
                    p.file.display()
                )));
            }
        }
        progress.advance(*size);
        interrupt::after_file(summaries.len());
    }
    progress.clear();
    close_store(store.as_ref(), url)?;
    if interrupted.is_set() && summaries.len() < parsed.len() {
        return Err(interrupted_report(&parsed, &summaries));
    }

    if args.json {
        print_import_json(&shown, &parsed, &summaries, true)
    } else {
        print_text(&shown, &parsed, &summaries)
    }
}

fn run_ergast(url: &str, args: &ErgastArgs) -> anyhow::Result<()> {
    let options = ergast::Options {
        seasons: args.seasons.clone(),
        races: args.races.clone(),
        existing: if args.replace {
            Existing::Replace
        } else if args.skip_existing {
            Existing::Skip
        } else {
            Existing::Refuse
        },
    };
    let shown = shown_url(url);
    let parsed = ergast::parse(&args.dir, &options).map_err(|err| nothing_imported(err, &args.dir))?;
    let store = open_store(url)?;
    let stored = match ergast::already_stored(store.as_ref(), &parsed) {
        Ok(stored) => stored,
        Err(err) => {
            let _ = close_store(store.as_ref(), url);
            return Err(anyhow!(err).context("reading the sessions the store holds; nothing was imported"));
        }
    };
    if options.existing == Existing::Refuse {
        if let Some(err) = ergast::already_stored_error(&args.dir, &stored) {
            close_store(store.as_ref(), url)?;
            return Err(err.into());
        }
    }
    let before: std::collections::HashMap<usize, racestore::Id> =
        stored.iter().map(|(i, s)| (*i, s.session_id)).collect();
    // Each race to store, with the session it replaces.
    let to_save: Vec<(&ergast::ParsedRace, Option<racestore::Id>)> = parsed
        .races
        .iter()
        .enumerate()
        .filter_map(|(i, race)| match (before.get(&i), options.existing) {
            (None, _) => Some((race, None)),
            (Some(old), Existing::Replace) => Some((race, Some(*old))),
            (Some(_), _) => None,
        })
        .collect();
    let laps: usize = to_save.iter().map(|(r, _)| r.laps.len()).sum();
    let progress = Progress::counting(laps as u64, laps >= PROGRESS_FROM_LAPS);
    let mut imported: Vec<ergast::RaceSummary> = Vec::with_capacity(to_save.len());
    for (race, old) in to_save {
        progress.phase(format!("{} {}", race.race.year, race.race.name));
        let saved = match old {
            Some(old) => ergast::replace(store.as_ref(), race, old),
            None => ergast::save(store.as_ref(), race),
        };
        match saved {
            Ok(summary) => imported.push(summary),
            Err(err) => {
                progress.clear();
                let before = match imported.last() {
                    None => "nothing was imported".to_owned(),
                    Some(last) => format!(
                        "the {} before it stay imported (sessions {} to {}); import the rest with --race or --season",
                        count(imported.len(), "race"),
                        imported[0].session.id,
                        last.session.id
                    ),
                };
                let _ = close_store(store.as_ref(), url);
                return Err(anyhow!(err).context(format!(
                    "saving race {} ({} {}) into {shown} failed and stored nothing of it; {before}",
                    race.race.race_id, race.race.year, race.race.name
                )));
            }
        }
        progress.advance(race.laps.len() as u64);
    }
    progress.clear();
    close_store(store.as_ref(), url)?;
    let report = ergast::Report {
        dir: parsed.dir,
        imported,
        already_stored: stored.into_iter().map(|(_, s)| s).collect(),
        races_without_laps: parsed.races_without_laps,
        missing_tables: parsed.missing_tables,
    };
    if args.json {
        let value = json!({"store": shown, "report": report});
        super::print_json(&value)?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for race in &report.imported {
        let s = &race.session;
        writeln!(
            out,
            "race {} ({} round {}, {}): session {}, {}, {}: {}, {}, {} marked",
            race.race.race_id,
            race.race.year,
            race.race.round.map_or_else(|| "?".to_owned(), |r| r.to_string()),
            race.race.name,
            s.id,
            s.circuit,
            s.date,
            count(race.laps, "lap"),
            count(race.drivers, "driver"),
            count(race.pit_stops, "pit stop"),
        )?;
        if race.pit_stops_without_lap > 0 {
            writeln!(
                out,
                "  {} on a lap without a lap time, not marked",
                count(race.pit_stops_without_lap, "pit stop")
            )?;
        }
    }
    if let Some(first) = report.already_stored.first() {
        let what = match (args.replace, report.already_stored.len()) {
            (true, _) => "stored again, the old sessions deleted",
            (false, 1) => "left as it was",
            (false, _) => "left as they were",
        };
        let more = if report.already_stored.len() > 1 {
            ", ..."
        } else {
            ""
        };
        writeln!(
            out,
            "{} in the store already, {what}: race {} was session {}{more}",
            count(report.already_stored.len(), "race"),
            first.race.race_id,
            first.session_id,
        )?;
    }
    if !report.missing_tables.is_empty() {
        writeln!(
            out,
            "not in {}: {}",
            report.dir.display(),
            report.missing_tables.join(", ")
        )?;
    }
    let total: usize = report.imported.iter().map(|r| r.laps).sum();
    writeln!(
        out,
        "total: {} imported from {}, {} without lap times not stored, into {shown}",
        count(total, "lap"),
        count(report.imported.len(), "race"),
        count(report.races_without_laps.len(), "race"),
    )?;
    writeln!(
        out,
        "list the sessions: racestore sessions --store {}",
        shell_quote(&shown)
    )?;
    Ok(())
}

/// What an import stopped by Ctrl-C leaves: the files saved before it, with their sessions, and
/// those not imported.
fn interrupted_report(parsed: &[Parsed], summaries: &[Summary]) -> anyhow::Error {
    let mut err = std::io::stderr().lock();
    for s in summaries {
        let _ = writeln!(err, "imported: {} as session {}", s.file.display(), s.session.id);
    }
    for p in &parsed[summaries.len()..] {
        let _ = writeln!(err, "not imported: {}", p.file.display());
    }
    anyhow!(
        "interrupted: {} of the {} imported before it stopped (listed above); import the others with --skip-existing",
        count(summaries.len(), "file"),
        count(parsed.len(), "file")
    )
}

fn run_csv(url: &str, args: &CsvArgs) -> anyhow::Result<()> {
    let shown = shown_url(url);
    let mapping = match (&args.map, &args.map_file) {
        (Some(spec), None) => mapped::Mapping::parse(spec)?,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|err| anyhow!("cannot read the mapping file {}: {err}", file.display()))?;
            mapped::Mapping::from_text(&text).map_err(|err| anyhow!("{}: {err}", file.display()))?
        }
        (None, None) => mapped::Mapping::same_names(),
        (Some(_), Some(_)) => bail!("give the mapping once: --map or --map-file"),
    };
    let mut session = NewSession::new(args.circuit.clone());
    session.date.clone_from(&args.date);
    session.race_type.clone_from(&args.race_type);
    let options = mapped::Options {
        mapping,
        session,
        delimiter: match args.delimiter {
            None => None,
            Some(c) => Some(u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
                anyhow!("--delimiter {c:?}: the separator must be one ASCII character, such as , ; or a tab")
            })?),
        },
    };
    let parsed = mapped::parse(&args.file, &options).map_err(|err| nothing_imported(err, &args.file))?;
    if let Some(err) = parsed.error() {
        if args.json {
            let value = json!({"store": shown, "imported": false, "file": parsed.file, "rows": parsed.rows, "problems": parsed.problems});
            super::print_json(&value)?;
        } else {
            let mut out = std::io::stderr().lock();
            writeln!(
                out,
                "{}: {} of its {} rows cannot be read:",
                parsed.file.display(),
                parsed.problems.len(),
                parsed.rows
            )?;
            for problem in parsed.problems.iter().take(LINES_SHOWN * 2) {
                writeln!(out, "    {problem}")?;
            }
            if parsed.problems.len() > LINES_SHOWN * 2 {
                writeln!(out, "    and {} more", parsed.problems.len() - LINES_SHOWN * 2)?;
            }
        }
        return Err(err.into());
    }
    let store = open_store(url)?;
    let summary = match mapped::save(store.as_ref(), &parsed) {
        Ok(summary) => summary,
        Err(err) => {
            let _ = close_store(store.as_ref(), url);
            return Err(anyhow!(err).context(format!(
                "saving {} into {shown} failed and stored nothing of it",
                parsed.file.display()
            )));
        }
    };
    close_store(store.as_ref(), url)?;
    if args.json {
        let value = json!({"store": shown, "imported": true, "summary": summary});
        super::print_json(&value)?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let s = &summary.session;
    let columns: Vec<String> = parsed.columns.iter().map(|(f, c)| format!("{f}={c}")).collect();
    writeln!(out, "{}", summary.file.display())?;
    writeln!(out, "  columns: {}", columns.join(", "))?;
    writeln!(
        out,
        "  session {}: {}, {}, {}",
        s.id, s.circuit, s.race_type, s.date
    )?;
    writeln!(
        out,
        "  {} imported ({}), {}",
        count(summary.laps, "lap"),
        count(summary.drivers, "driver"),
        match summary.entries {
            1 => "1 entry".to_owned(),
            n => format!("{n} entries"),
        }
    )?;
    writeln!(
        out,
        "list the sessions: racestore sessions --store {}",
        shell_quote(&shown)
    )?;
    Ok(())
}

/// A parse error, saying nothing was imported, and naming the file when the error does not.
fn nothing_imported(err: racestore::Error, file: &Path) -> anyhow::Error {
    match err {
        racestore::Error::Import { .. } | racestore::Error::Io { .. } => {
            anyhow!("{err}; nothing was imported")
        }
        other => anyhow!("{}: {other}; nothing was imported", file.display()),
    }
}

/// The file's name without its folders, for progress messages.
fn short_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `1 lap`, `2 laps`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Problems grouped by kind, in the order of [`ProblemKind`].
fn by_kind(problems: &[Problem]) -> BTreeMap<ProblemKind, Vec<&Problem>> {
    let mut groups: BTreeMap<ProblemKind, Vec<&Problem>> = BTreeMap::new();
    for p in problems {
        groups.entry(p.kind).or_default().push(p);
    }
    groups
}

/// Per kind: how many, the first lines, and the first one's message.
fn write_problems(out: &mut impl Write, problems: &[Problem]) -> std::io::Result<()> {
    for (kind, group) in by_kind(problems) {
        let lines: Vec<String> = group
            .iter()
            .take(LINES_SHOWN)
            .map(|p| p.line.to_string())
            .collect();
        let more = match group.len().saturating_sub(LINES_SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let noun = if group.len() == 1 { "line" } else { "lines" };
        writeln!(
            out,
            "    {} {kind}: {noun} {}{more}",
            group.len(),
            lines.join(", ")
        )?;
        writeln!(out, "      line {}: {}", group[0].line, group[0].message)?;
    }
    Ok(())
}

fn print_text(url: &str, parsed: &[Parsed], summaries: &[Summary]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for (p, s) in parsed.iter().zip(summaries) {
        let session = &s.session;
        let date_note = match s.date_source {
            DateSource::Options => "",
            DateSource::Path => " (date from the file's path)",
            DateSource::ImportTime => " (dated now: the file holds no date; give one with --date)",
        };
        writeln!(out, "{}", s.file.display())?;
        match &s.outcome {
            Outcome::Skipped => {
                writeln!(
                    out,
                    "  already imported as session {}: {}, {}, {}; left as it is (--skip-existing)",
                    session.id, session.circuit, session.race_type, session.date
                )?;
                continue;
            }
            Outcome::Replaced { session: old } => {
                writeln!(out, "  replaces session {old}, deleted (--replace)")?;
            }
            Outcome::Imported => {}
        }
        writeln!(
            out,
            "  session {}: {}, {}, {}{date_note}",
            session.id, session.circuit, session.race_type, session.date
        )?;
        let skipped = count(s.skipped.len(), "row");
        writeln!(
            out,
            "  {} imported ({}), {skipped} skipped{}",
            count(s.laps_imported, "lap"),
            count(p.drivers(), "driver"),
            if s.skipped.is_empty() { "" } else { ":" }
        )?;
        write_problems(&mut out, &s.skipped)?;
        writeln!(
            out,
            "  {}: car, driver, class, team as the file gives them",
            if s.entries_imported == 1 {
                "1 entry".to_owned()
            } else {
                format!("{} entries", s.entries_imported)
            }
        )?;
    }
    let laps: usize = summaries.iter().map(|s| s.laps_imported).sum();
    let skipped: usize = summaries.iter().map(|s| s.skipped.len()).sum();
    writeln!(
        out,
        "total: {} imported from {}, {} skipped, into {url}",
        count(laps, "lap"),
        count(summaries.len(), "file"),
        count(skipped, "row")
    )?;
    writeln!(
        out,
        "list the sessions: racestore sessions --store {}",
        shell_quote(url)
    )?;
    Ok(())
}

/// The whole result as one JSON object on stdout; `imported` false when the import aborted.
fn print_import_json(
    url: &str,
    parsed: &[Parsed],
    summaries: &[Summary],
    imported: bool,
) -> anyhow::Result<()> {
    let files: Vec<Value> = parsed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let summary = summaries.get(i);
            let reasons: BTreeMap<String, usize> = by_kind(&p.problems)
                .into_iter()
                .map(|(kind, group)| (reason(kind), group.len()))
                .collect();
            let problems: Vec<Value> = p
                .problems
                .iter()
                .map(|problem| json!({"line": problem.line, "reason": reason(problem.kind), "message": problem.message}))
                .collect();
            json!({
                "file": p.file,
                "session": summary.map(|s| &s.session),
                "date_source": summary.map(|s| s.date_source),
                "rows": p.rows,
                "laps_imported": summary.map_or(0, |s| s.laps_imported),
                "entries_imported": summary.map_or(0, |s| s.entries_imported),
                "outcome": summary.map(|s| &s.outcome),
                "drivers": p.drivers(),
                "skipped": if imported { p.problems.len() } else { 0 },
                "problems_by_reason": reasons,
                "problems": problems,
            })
        })
        .collect();
    let value = json!({
        "store": url,
        "imported": imported,
        "files": files,
        "total": {
            "files": summaries.len(),
            "laps_imported": summaries.iter().map(|s| s.laps_imported).sum::<usize>(),
            "skipped": summaries.iter().map(|s| s.skipped.len()).sum::<usize>(),
            "problems": parsed.iter().map(|p| p.problems.len()).sum::<usize>(),
        },
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    Ok(())
}

/// A problem kind as its snake_case JSON name (`shared_car_number`).
fn reason(kind: ProblemKind) -> String {
    match serde_json::to_value(kind) {
        Ok(Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// A progress bar over the bytes of the input (one while reading, one while saving), drawn on
/// stderr only when it is a terminal and the input is large enough to take a while.
#[derive(Debug)]
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(total_bytes: u64) -> Self {
        Progress::counting(total_bytes, total_bytes >= PROGRESS_FROM_BYTES)
    }

    /// A bar over `total` units of any kind, drawn when `shown` (and stderr is a terminal).
    fn counting(total: u64, shown: bool) -> Self {
        let target = if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template("{wide_msg} [{bar:24}] {percent:>3}% {elapsed:>4}") {
            bar.set_style(style.progress_chars("=> "));
        }
        if !bar.is_hidden() {
            // The save of a large file is one call: keep the elapsed time moving meanwhile.
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    fn phase(&self, message: String) {
        self.bar.set_message(message);
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Removes the bar from the terminal (before a report or an error).
    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
