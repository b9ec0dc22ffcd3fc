//! `racestore export`: records out of the store as JSON, NDJSON or CSV, a page at a time.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use racestore::transfer::PAGE_SIZE;
use racestore::{Collection, Counts, Id, LapQuery, RaceStore, RaceStoreExt, Records};
use serde_json::{Map, Value};

use super::progress::{self, Progress};
use super::{close_store, counts_text, open_store, records_of, shown_url};

/// Options of `racestore export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this session and what is recorded under it (default: every session)
    #[arg(long, value_name = "ID")]
    session: Option<Id>,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Json)]
    format: Format,

    /// Field separator of CSV: , (the default) or ; (for spreadsheets that use decimal commas
    /// in their locale; numbers keep their decimal point)
    #[arg(long, value_name = "CHAR", value_parser = [",", ";"], hide_possible_values = true)]
    delimiter: Option<String>,

    /// Which records [default: all; laps for CSV or with --driver/--lap-type]
    #[arg(long, value_enum, value_name = "WHICH")]
    collection: Option<Which>,

    /// Only the laps of this driver (or car) id, exactly as stored: GR86-002-7, 007-2, ...
    #[arg(long, value_name = "ID")]
    driver: Option<String>,

    /// Only laps of this type, exactly as stored: RACE_LAP, IN_LAP, OUT_LAP, SAFETY_CAR,
    /// FULL_COURSE_YELLOW, RED_FLAG, or the original's normal, pit, qualifying
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
    /// simulation results) are JSON text in their cell, absent values empty cells
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
            Which::All => Collection::ALL.to_vec(),
        }
    }
}

/// Which records an export takes from each collection.
#[derive(Debug)]
struct Selection {
    session: Option<Id>,
    /// Applied to laps only (its session is `session`).
    laps: LapQuery,
}

/// Runs `racestore export` against the store `url`.
pub fn run(url: &str, args: &ExportArgs) -> anyhow::Result<()> {
    let filtered = args.driver.is_some() || args.lap_type.is_some();
    let which = match args.collection {
        Some(which) => which,
        None if args.format == Format::Csv || filtered => Which::Laps,
        None => Which::All,
    };
    if filtered && which != Which::Laps {
        bail!("--driver and --lap-type select laps: use them with --collection laps (the default with them)");
    }
    if args.format == Format::Csv && which == Which::All {
        bail!("CSV holds one collection at a time: choose one with --collection (laps, sessions, metrics, predictions, simulations)");
    }
    if args.delimiter.is_some() && args.format != Format::Csv {
        bail!("--delimiter applies to --format csv only");
    }
    let delimiter = match args.delimiter.as_deref() {
        Some(";") => b';',
        _ => b',',
    };
    let mut laps = LapQuery::all();
    laps.session_id = args.session;
    laps.driver_id = args.driver.clone();
    laps.lap_type = args.lap_type.clone();
    let selection = Selection {
        session: args.session,
        laps,
    };
    let collections = which.collections();

    let store = open_store(url)?;
    if let Some(id) = args.session {
        if store.get_session(id)?.is_none() {
            bail!(
                "there is no session {id} in {}; racestore sessions lists them",
                shown_url(url)
            );
        }
    }
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

    let export = |out: &mut dyn Write| -> anyhow::Result<Counts> {
        write_export(
            store.as_ref(),
            &collections,
            &selection,
            args.format,
            delimiter,
            out,
            progress.as_ref(),
        )
    };
    match &args.output {
        None => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            export(&mut out)?;
            out.flush()?;
            drop(progress);
        }
        Some(path) => {
            // Saying what was written would mix into the export on /dev/stdout or a pipe.
            let regular = std::fs::metadata(path).map_or(true, |m| m.is_file());
            let written = write_atomically(path, export)?;
            drop(progress);
            let records = match collections.as_slice() {
                [one] => records_of(*one, written.get(*one)),
                _ => counts_text(&written),
            };
            if regular {
                println!("wrote {records} to {}", path.display());
            }
        }
    }
    close_store(store.as_ref(), url)
}

/// Writes through `write` into a temporary file beside `path`, then renames it over `path`
/// (keeping the permissions of the file it replaces; a new file gets the usual ones, as the
/// umask allows). A path that is not a regular file (`/dev/stdout`, a pipe) is written directly.
fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        let mut out = BufWriter::new(file);
        let result = write(&mut out)?;
        out.flush()
            .with_context(|| format!("writing the export to {}", path.display()))?;
        return Ok(result);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".racestore-export-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Like a file the shell creates: 0666 less the umask (tempfile's default is 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    if let Some(existing) = &existing {
        temp.as_file()
            .set_permissions(existing.permissions())
            .with_context(|| format!("cannot give the export the permissions of {}", path.display()))?;
    }
    let result = {
        let mut out = BufWriter::new(temp.as_file_mut());
        let result = write(&mut out)?;
        out.flush()
            .with_context(|| format!("writing the export to {}", path.display()))?;
        result
    };
    temp.as_file()
        .sync_all()
        .with_context(|| format!("writing the export to {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("cannot move the export into place at {}", path.display()))?;
    Ok(result)
}

/// Writes the selected records of `collections` to `out` in `format`; returns how many of each.
fn write_export(
    store: &dyn RaceStore,
    collections: &[Collection],
    selection: &Selection,
    format: Format,
    delimiter: u8,
    out: &mut dyn Write,
    progress: Option<&Progress>,
) -> anyhow::Result<Counts> {
    let mut written = Counts::default();
    let several = collections.len() > 1;
    if format == Format::Json && several {
        out.write_all(b"{\n")?;
    }
    for (i, &collection) in collections.iter().enumerate() {
        if let Some(p) = progress {
            p.set_message(collection.to_string());
        }
        let count = match format {
            Format::Json => {
                if several {
                    write!(out, "  \"{collection}\": ")?;
                }
                let count = write_json_array(store, collection, selection, several, out, progress)?;
                let last = i + 1 == collections.len();
                out.write_all(if several && !last { b",\n" } else { b"\n" })?;
                count
            }
            Format::Ndjson => write_ndjson(store, collection, selection, several, out, progress)?,
            Format::Csv => write_csv(store, collection, selection, delimiter, out, progress)?,
        };
        written.set(collection, count);
    }
    if format == Format::Json && several {
        out.write_all(b"}\n")?;
    }
    Ok(written)
}

/// One collection as a pretty-printed JSON array (nested one level when `nested`), without
/// a final newline.
fn write_json_array(
    store: &dyn RaceStore,
    collection: Collection,
    selection: &Selection,
    nested: bool,
    out: &mut dyn Write,
    progress: Option<&Progress>,
) -> anyhow::Result<u64> {
    let (indent, close) = if nested { ("    ", "\n  ]") } else { ("  ", "\n]") };
    let mut count = 0u64;
    out.write_all(b"[")?;
    for_each_page(store, collection, selection, progress, &mut |records| {
        for record in records {
            out.write_all(if count == 0 { b"\n" } else { b",\n" })?;
            out.write_all(indent.as_bytes())?;
            out.write_all(pretty(&record, indent).as_bytes())?;
            count += 1;
        }
        Ok(())
    })?;
    out.write_all(if count == 0 { b"]" } else { close.as_bytes() })?;
    Ok(count)
}

/// One collection as a line per record, each tagged with its collection when `tagged`.
fn write_ndjson(
    store: &dyn RaceStore,
    collection: Collection,
    selection: &Selection,
    tagged: bool,
    out: &mut dyn Write,
    progress: Option<&Progress>,
) -> anyhow::Result<u64> {
    let mut count = 0u64;
    for_each_page(store, collection, selection, progress, &mut |records| {
        for record in records {
            let line = if tagged {
                let mut fields = Map::new();
                fields.insert("collection".into(), Value::String(collection.to_string()));
                if let Value::Object(record) = record {
                    fields.extend(record);
                }
                serde_json::to_string(&fields)?
            } else {
                serde_json::to_string(&record)?
            };
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            count += 1;
        }
        Ok(())
    })?;
    Ok(count)
}

/// One collection as CSV: the header, then a row per record.
fn write_csv(
    store: &dyn RaceStore,
    collection: Collection,
    selection: &Selection,
    delimiter: u8,
    out: &mut dyn Write,
    progress: Option<&Progress>,
) -> anyhow::Result<u64> {
    let header = csv_header(collection);
    let mut csv = csv::WriterBuilder::new().delimiter(delimiter).from_writer(out);
    csv.write_record(header)?;
    let mut count = 0u64;
    for_each_page(store, collection, selection, progress, &mut |records| {
        for record in records {
            csv.write_record(header.iter().map(|field| csv_cell(record.get(*field))))?;
            count += 1;
        }
        Ok(())
    })?;
    csv.flush()?;
    Ok(count)
}

/// Calls `each` with the selected records of `collection` as JSON objects, in id order, a page
/// at a time: a whole collection is never held at once.
fn for_each_page(
    store: &dyn RaceStore,
    collection: Collection,
    selection: &Selection,
    progress: Option<&Progress>,
    each: &mut dyn FnMut(Vec<Value>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if let Some(id) = selection.session {
        // One session's records: each read is bounded by the session.
        let records = match collection {
            Collection::Sessions => Records::Sessions(store.get_session(id)?.into_iter().collect()),
            Collection::DriverMetrics => Records::DriverMetrics(store.get_session_metrics(id)?),
            Collection::Laps => Records::Laps(store.get_laps(&selection.laps)?),
            Collection::Predictions => Records::Predictions(store.get_session_predictions(id)?),
            Collection::Simulations => Records::Simulations(store.get_session_simulations(id)?),
        };
        return each(records.to_json());
    }
    let mut after = 0;
    loop {
        let page = store
            .export_page(collection, after, PAGE_SIZE)
            .with_context(|| format!("reading {collection} after id {after}"))?;
        let Some(&last) = page.ids().last() else {
            return Ok(());
        };
        after = last;
        if let Some(p) = progress {
            p.inc(page.len() as u64);
        }
        let page = match page {
            Records::Laps(laps) => {
                Records::Laps(laps.into_iter().filter(|l| selection.laps.matches(l)).collect())
            }
            other => other,
        };
        each(page.to_json())?;
    }
}

/// A record as pretty JSON (two-space indents), its lines after the first indented by `indent`.
fn pretty(record: &Value, indent: &str) -> String {
    let text = serde_json::to_string_pretty(record).expect("JSON values serialize");
    text.replace('\n', &format!("\n{indent}"))
}

/// The fields of a collection's records, in the order the records have them.
fn csv_header(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Sessions => &["id", "circuit", "date", "race_type", "created_at", "updated_at"],
        Collection::DriverMetrics => &[
            "id",
            "session_id",
            "driver_id",
            "consistency_index",
            "aggression_score",
            "sector_strength",
            "pace_stability",
            "fatigue_dropoff",
            "created_at",
        ],
        Collection::Laps => &[
            "id",
            "session_id",
            "driver_id",
            "lap_number",
            "lap_time",
            "sector_1",
            "sector_2",
            "sector_3",
            "lap_type",
            "position",
            "created_at",
        ],
        Collection::Predictions => &[
            "id",
            "session_id",
            "driver_id",
            "prediction_type",
            "prediction_value",
            "model_path",
            "confidence",
            "created_at",
        ],
        Collection::Simulations => &[
            "id",
            "session_id",
            "driver_paces",
            "n_laps",
            "iterations",
            "results",
            "created_at",
        ],
    }
}

/// A CSV cell: empty for an absent value, text as it is, numbers as JSON writes them, objects
/// and arrays as JSON text.
fn csv_cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use racestore::{NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, RaceStoreExt};
    use serde_json::json;

    /// A JSON store with one record in every collection.
    fn store_with_everything() -> (tempfile::TempDir, Box<dyn RaceStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = racestore::open(&format!("json:{}", dir.path().display())).unwrap();
        let s = store.create_session(&NewSession::new("Barber")).unwrap();
        store
            .save_driver_metrics(&NewDriverMetrics::new(s, "GR86-002-7"))
            .unwrap();
        store
            .save_lap_data(&NewLap::new(s, "GR86-002-7", 1, 92.0))
            .unwrap();
        store
            .save_prediction(&NewPrediction::new(s, "GR86-002-7", "lap_time", 91.5, "m.pkl"))
            .unwrap();
        store
            .save_simulation(&NewSimulation::new(
                s,
                json!({"GR86-002-7": 91.5}),
                30,
                100,
                json!({"win_probability": {"GR86-002-7": 1.0}}),
            ))
            .unwrap();
        (dir, store)
    }

    #[test]
    fn csv_headers_are_the_fields_of_the_records_in_order() {
        let (_dir, store) = store_with_everything();
        for collection in Collection::ALL {
            let page = store.export_page(collection, 0, 1).unwrap();
            let record = page.to_json().remove(0);
            let keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, csv_header(collection), "{collection}");
        }
    }

    #[test]
    fn streamed_json_is_exactly_the_pretty_printed_document() {
        let (_dir, store) = store_with_everything();
        let selection = Selection {
            session: None,
            laps: LapQuery::all(),
        };
        let mut whole = Map::new();
        for collection in Collection::ALL {
            let records = store.export_page(collection, 0, 100).unwrap().to_json();
            let mut one = Vec::new();
            write_export(
                store.as_ref(),
                &[collection],
                &selection,
                Format::Json,
                b',',
                &mut one,
                None,
            )
            .unwrap();
            let expected = serde_json::to_string_pretty(&Value::Array(records.clone())).unwrap() + "\n";
            assert_eq!(String::from_utf8(one).unwrap(), expected);
            whole.insert(collection.to_string(), Value::Array(records));
        }
        whole.insert("lap_data".into(), Value::Array(Vec::new()));
        let mut all = Vec::new();
        let no_laps = Selection {
            session: None,
            laps: LapQuery::all().driver("nobody"),
        };
        write_export(
            store.as_ref(),
            &Collection::ALL,
            &no_laps,
            Format::Json,
            b',',
            &mut all,
            None,
        )
        .unwrap();
        let expected = serde_json::to_string_pretty(&Value::Object(whole)).unwrap() + "\n";
        assert_eq!(String::from_utf8(all).unwrap(), expected);
    }

    #[test]
    fn an_export_replaces_a_file_whole_keeping_its_permissions_and_writes_devices_directly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laps.csv");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let failed: anyhow::Result<()> = write_atomically(&path, |out| {
            out.write_all(b"half")?;
            anyhow::bail!("disk on fire")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        write_atomically(&path, |out| Ok(out.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        #[cfg(unix)]
        write_atomically(Path::new("/dev/null"), |out| Ok(out.write_all(b"gone")?)).unwrap();
    }

    #[test]
    fn csv_cells_hold_json_text_for_nested_values_and_nothing_for_null() {
        assert_eq!(csv_cell(None), "");
        assert_eq!(csv_cell(Some(&Value::Null)), "");
        assert_eq!(csv_cell(Some(&json!("GR86-002-7"))), "GR86-002-7");
        assert_eq!(csv_cell(Some(&json!(92.0))), "92.0");
        assert_eq!(csv_cell(Some(&json!({"S1": 0.98}))), r#"{"S1":0.98}"#);
    }
}
