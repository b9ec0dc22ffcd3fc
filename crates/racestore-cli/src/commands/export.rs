//! `racestore export`: records out of the store as JSON, NDJSON or CSV, a page at a time.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, ValueEnum};
use racestore::export::{self, Export};
use racestore::{Collection, Id};

use super::progress::{self, Progress};
use super::{close_store, counts_text, open_store_for_reading, records_of, shown_url};

/// Options of `racestore export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only this session and what is recorded under it (default: every session)
    #[arg(long, value_name = "ID")]
    session: Option<Id>,

    /// Output format (case ignored)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Json, ignore_case = true)]
    format: Format,

    /// Field separator of CSV: , (the default) or ; (for spreadsheets that use decimal commas
    /// in their locale; numbers keep their decimal point)
    #[arg(long, value_name = "CHAR", value_parser = [",", ";"], hide_possible_values = true)]
    delimiter: Option<String>,

    /// Which records [default: all; laps for CSV or with --driver/--lap-type/--with-entries]
    /// (case ignored)
    #[arg(long, value_enum, value_name = "WHICH", ignore_case = true)]
    collection: Option<Which>,

    /// Laps carry their driver's entry: columns car_number, driver_name, class, group, team,
    /// manufacturer, vehicle after the lap's own (empty when the driver has no entry), so one
    /// CSV gives, say, the best lap per class. lap_time and sector_1..sector_3 are seconds
    #[arg(long)]
    with_entries: bool,

    /// Only the laps of this driver (or car) id, exactly as stored: GR86-002-7, 007-2, ...
    #[arg(long, value_name = "ID")]
    driver: Option<String>,

    /// Only laps of this type, case ignored: RACE_LAP, IN_LAP, OUT_LAP, SAFETY_CAR,
    /// FULL_COURSE_YELLOW, RED_FLAG, or the original's normal, pit, qualifying, ERROR_LAP,
    /// PIT_LAP; any other value is refused
    #[arg(long, value_name = "TYPE")]
    lap_type: Option<String>,

    /// Write to FILE instead of stdout. The export goes to a temporary file beside it, renamed
    /// over FILE once complete: a failed export leaves FILE as it was.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON document: an array of records for one collection, or an object with one array
    /// per collection (keys race_sessions, driver_metrics, lap_data, predictions, simulations)
    Json,
    /// One record per line; with several collections, each record gets a "collection" field
    Ndjson,
    /// One collection, a header line then a row per record; JSON values (metric objects,
    /// simulation results, a lap's sectors) are JSON text in their cell, absent values empty
    /// cells. Times in seconds
    Csv,
}

/// `--collection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// Laps (lap_data)
    #[value(alias = "lap_data")]
    Laps,
    /// Sessions (race_sessions)
    #[value(alias = "race_sessions")]
    Sessions,
    /// Driver metrics (driver_metrics)
    #[value(alias = "driver_metrics")]
    Metrics,
    /// Predictions
    Predictions,
    /// Simulation runs
    Simulations,
    /// Entries: who drove which car, in which class, for which team
    Entries,
    /// Every collection, sessions first
    All,
}

impl Which {
    fn collections(self) -> Vec<Collection> {
        match self {
            Which::Laps => vec![Collection::Laps],
            Which::Sessions => vec![Collection::Sessions],
            Which::Metrics => vec![Collection::DriverMetrics],
            Which::Predictions => vec![Collection::Predictions],
            Which::Simulations => vec![Collection::Simulations],
            Which::Entries => vec![Collection::Entries],
            Which::All => Collection::ALL.to_vec(),
        }
    }
}

/// Runs `racestore export` against the store `url`.
pub(crate) fn run(url: &str, args: &ExportArgs) -> anyhow::Result<()> {
    let filtered = args.driver.is_some() || args.lap_type.is_some();
    let which = match args.collection {
        Some(which) => which,
        None if args.format == Format::Csv || filtered || args.with_entries => Which::Laps,
        None => Which::All,
    };
    if filtered && which != Which::Laps {
        bail!("--driver and --lap-type select laps: use them with --collection laps (the default with them)");
    }
    if args.with_entries && which != Which::Laps {
        bail!("--with-entries adds the entries' columns to laps: use it with --collection laps (the default with it)");
    }
    if args.format == Format::Csv && which == Which::All {
        bail!("CSV holds one collection at a time: choose one with --collection (laps, sessions, metrics, predictions, simulations, entries)");
    }
    let lap_type = match &args.lap_type {
        Some(text) => Some(racestore::model::lap_type::known(text).map_err(|err| match err {
            racestore::Error::Invalid { message, .. } => anyhow::anyhow!("--lap-type: {message}"),
            other => other.into(),
        })?),
        None => None,
    };
    if args.delimiter.is_some() && args.format != Format::Csv {
        bail!("--delimiter applies to --format csv only");
    }
    let format = match args.format {
        Format::Json => export::Format::Json,
        Format::Ndjson => export::Format::Ndjson,
        Format::Csv => export::Format::Csv {
            delimiter: if args.delimiter.as_deref() == Some(";") {
                b';'
            } else {
                b','
            },
        },
    };
    let collections = which.collections();
    let spec = Export {
        collections: collections.clone(),
        format,
        session_id: args.session,
        driver_id: args.driver.clone(),
        lap_type: lap_type.map(str::to_owned),
        with_entries: args.with_entries,
    };

    let store = open_store_for_reading(url)?;
    // Progress for a whole-store export, on a terminal, unless the export itself goes there.
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let progress = if args.session.is_none() && !to_terminal && progress::on_terminal() {
        let counts = store.counts()?;
        Some(Progress::records(
            collections.iter().map(|c| counts.get(*c)).sum(),
        ))
    } else {
        None
    };
    let mut advance = |collection: Collection, records: u64| {
        if let Some(p) = &progress {
            p.set_message(collection.to_string());
            p.inc(records);
        }
    };
    let written = match &args.output {
        None => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            let written = export::write(
                store.as_ref(),
                &spec,
                &mut out,
                Path::new("/dev/stdout"),
                &mut advance,
            );
            if written.is_ok() {
                out.flush()?;
            }
            written
        }
        Some(path) => export::write_file(store.as_ref(), &spec, path, &mut advance),
    };
    drop(progress);
    let written = match written {
        Err(racestore::Error::NotFound { what: "session", id }) => bail!(
            "there is no session {id} in {}; racestore sessions lists them",
            shown_url(url)
        ),
        other => other?,
    };
    if filtered && written.laps() == 0 {
        let mut filters = Vec::new();
        if let Some(driver) = &args.driver {
            filters.push(format!("--driver {driver}"));
        }
        if let Some(lap_type) = lap_type {
            filters.push(format!("--lap-type {lap_type}"));
        }
        let place = match args.session {
            Some(id) => format!("session {id} of {}", shown_url(url)),
            None => shown_url(url),
        };
        eprintln!(
            "note: no lap in {place} matches {}: the export holds none (driver ids are matched exactly, as racestore show lists them)",
            filters.join(" ")
        );
    }
    if let Some(path) = &args.output {
        // Saying what was written would mix into the export on /dev/stdout or a pipe.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            let records = match collections.as_slice() {
                [one] => records_of(*one, written.get(*one)),
                _ => counts_text(&written),
            };
            println!("wrote {records} to {}", path.display());
        }
    }
    close_store(store.as_ref(), url)
}
