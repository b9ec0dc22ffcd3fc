//! Records written out as JSON, NDJSON or CSV, a page at a time: what `racestore export` writes,
//! for every front end (a file from Python, a download from the server).
//!
//! - **JSON**: one collection as a pretty-printed array of its records (two-space indents, the
//!   original's key order); several as one object with an array per collection, keyed by the
//!   original's names (`race_sessions`, `lap_data`, ...).
//! - **NDJSON**: one record per line; with several collections each record gets a `collection`
//!   field first.
//! - **CSV**: one collection, a header of its columns then a row per record; JSON values (metric
//!   objects, simulation results) are JSON text in their cell, absent values empty cells.
//!
//! Laps can carry their driver's entry ([`Export::with_entries`]): after the lap's own fields,
//! the [`ENTRY_COLUMNS`] of the session's entry with the lap's driver id (null, an empty cell,
//! when there is none), so one CSV answers "best lap per class" or "which driver is 007-2".
//! Times are seconds throughout: `lap_time` and the sectors (`sector_1`..`sector_3`).
//!
//! Records are read [`PAGE_SIZE`] at a time, so a store of any size exports in little memory.
//! [`write_file`] replaces a file only once the export is complete.
//!
//! ```
//! use racestore::export::{self, Export, Format};
//! use racestore::{Collection, NewLap, NewSession, RaceStoreExt};
//!
//! let dir = tempfile::tempdir()?;
//! let store = racestore::open(&format!("json:{}", dir.path().display()))?;
//! let session = store.create_session(&NewSession::new("Barber"))?;
//! store.save_laps(&[NewLap::new(session, "13", 1, 97.4), NewLap::new(session, "22", 1, 97.7)])?;
//!
//! let laps = Export::new(vec![Collection::Laps], Format::Csv { delimiter: b',' }).driver("13");
//! let mut csv = Vec::new();
//! let written = export::write(store.as_ref(), &laps, &mut csv, "stdout".as_ref(), &mut |_, _| {})?;
//! assert_eq!(written.laps(), 1);
//! assert!(String::from_utf8(csv)?.starts_with("id,session_id,driver_id,lap_number,lap_time,"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::{Collection, Counts, Entry, Id, Query, Records};
use crate::store::{RaceStore, RaceStoreExt};
use crate::transfer::PAGE_SIZE;

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document.
    Json,
    /// One JSON record per line.
    Ndjson,
    /// One collection, comma- or semicolon-separated (`delimiter`); numbers keep their decimal
    /// point.
    Csv {
        /// The field separator: `b','` or `b';'`.
        delimiter: u8,
    },
}

/// What an export writes: which collections, which of their records, in which format.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The collections, in the order written (sessions first for a whole store:
    /// [`Collection::ALL`]).
    pub collections: Vec<Collection>,
    /// How they are written.
    pub format: Format,
    /// Only this session and what is recorded under it; `None` for every session.
    pub session_id: Option<Id>,
    /// Only records of this driver (or car) id, exactly as stored.
    pub driver_id: Option<String>,
    /// Only laps of this type, exactly as stored.
    pub lap_type: Option<String>,
    /// Laps carry their driver's entry: the [`ENTRY_COLUMNS`] after their own.
    pub with_entries: bool,
}

/// The entry's columns a lap carries with [`Export::with_entries`], in order.
pub const ENTRY_COLUMNS: [&str; 7] = [
    "car_number",
    "driver_name",
    "class",
    "group",
    "team",
    "manufacturer",
    "vehicle",
];

impl Export {
    /// Every record of `collections`, in `format`.
    pub fn new(collections: Vec<Collection>, format: Format) -> Self {
        Export {
            collections,
            format,
            session_id: None,
            driver_id: None,
            lap_type: None,
            with_entries: false,
        }
    }

    /// Laps carry their driver's entry: car number, driver name, class, group, team,
    /// manufacturer and vehicle after their own fields.
    pub fn with_entries(mut self) -> Self {
        self.with_entries = true;
        self
    }

    /// Only session `session_id` and what is recorded under it.
    pub fn session(mut self, session_id: Id) -> Self {
        self.session_id = Some(session_id);
        self
    }

    /// Only the records of one driver id.
    pub fn driver(mut self, driver_id: impl Into<String>) -> Self {
        self.driver_id = Some(driver_id.into());
        self
    }

    /// Only the laps of one lap type.
    pub fn lap_type(mut self, lap_type: impl Into<String>) -> Self {
        self.lap_type = Some(lap_type.into());
        self
    }

    /// The filters on columns, as `(column, value)`.
    fn filters(&self) -> Vec<(&'static str, &str)> {
        let mut filters = Vec::new();
        if let Some(driver) = &self.driver_id {
            filters.push(("driver_id", driver.as_str()));
        }
        if let Some(lap_type) = &self.lap_type {
            filters.push(("lap_type", lap_type.as_str()));
        }
        filters
    }

    /// Refuses an export that cannot be written: no collection, a collection twice, CSV of
    /// several collections, a filter on a column a collection lacks.
    pub fn validate(&self) -> Result<()> {
        if self.collections.is_empty() {
            return Err(Error::invalid(
                "collections",
                "an export needs at least one collection",
            ));
        }
        for (i, c) in self.collections.iter().enumerate() {
            if self.collections[..i].contains(c) {
                return Err(Error::invalid("collections", format!("{c} is named twice")));
            }
        }
        if matches!(self.format, Format::Csv { .. }) && self.collections.len() > 1 {
            return Err(Error::invalid(
                "format",
                "CSV holds one collection at a time: export the collections one by one",
            ));
        }
        if self.with_entries && !self.collections.contains(&Collection::Laps) {
            return Err(Error::invalid(
                "with_entries",
                "entries' columns are added to laps: export the laps",
            ));
        }
        for (column, _) in self.filters() {
            if let Some(c) = self.collections.iter().find(|c| !c.has_column(column)) {
                return Err(Error::invalid(
                    column,
                    format!("{c} records have no {column}: filter by {column} only what has one"),
                ));
            }
        }
        Ok(())
    }
}

/// Writes the records `export` selects to `out`; returns how many of each collection.
///
/// `to` names the destination in errors (`/dev/stdout`, the file). `progress` is called after
/// each page read with its collection and how many records the page held (before the filters,
/// on a whole-store export: the counts of [`RaceStore::counts`] are its total).
///
/// Fails with [`Error::Invalid`] for an export [`Export::validate`] refuses and
/// [`Error::NotFound`] for a session that does not exist, before writing anything; with
/// [`Error::Io`] when `out` cannot be written.
pub fn write(
    store: &dyn RaceStore,
    export: &Export,
    out: &mut dyn Write,
    to: &Path,
    progress: &mut dyn FnMut(Collection, u64),
) -> Result<Counts> {
    export.validate()?;
    if let Some(id) = export.session_id {
        if store.get_session(id)?.is_none() {
            return Err(Error::session_not_found(id));
        }
    }
    let io = |err: std::io::Error| Error::io("writing the export to", to, err);
    let mut written = Counts::default();
    let several = export.collections.len() > 1;
    let json_object = export.format == Format::Json && several;
    if json_object {
        out.write_all(b"{\n").map_err(io)?;
    }
    for (i, &collection) in export.collections.iter().enumerate() {
        let mut records = Pages {
            store,
            export,
            collection,
            after: 0,
            progress: &mut *progress,
            entries: HashMap::new(),
        };
        let count = match export.format {
            Format::Json => {
                if several {
                    write!(out, "  \"{collection}\": ").map_err(io)?;
                }
                let count = write_json_array(&mut records, several, out, to)?;
                let last = i + 1 == export.collections.len();
                out.write_all(if several && !last { b",\n" } else { b"\n" })
                    .map_err(io)?;
                count
            }
            Format::Ndjson => write_ndjson(&mut records, several, out, to)?,
            Format::Csv { delimiter } => write_csv(&mut records, delimiter, out, to)?,
        };
        written.set(collection, count);
    }
    if json_object {
        out.write_all(b"}\n").map_err(io)?;
    }
    Ok(written)
}

/// Writes the export into the file at `path`: a regular file (new or not) is replaced only once
/// the export is complete and on disk — it goes to a temporary file beside it, renamed over
/// `path` — keeping the permissions of the file it replaces (a new file gets 0666 less the
/// umask, as a shell gives); anything else (`/dev/stdout`, a pipe) is written directly.
///
/// A failed export leaves `path` as it was; the temporary file of an export killed part-way
/// (which could not remove it) is removed by the next export into the same folder.
/// Errors as [`write()`].
pub fn write_file(
    store: &dyn RaceStore,
    export: &Export,
    path: &Path,
    progress: &mut dyn FnMut(Collection, u64),
) -> Result<Counts> {
    export.validate()?;
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))?;
        let mut out = BufWriter::new(file);
        let written = write(store, export, &mut out, path, progress)?;
        out.flush()
            .map_err(|e| Error::io("writing the export to", path, e))?;
        return Ok(written);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    remove_leftovers_of_killed_exports(dir);
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Like a file the shell creates: 0666 less the umask (tempfile's default is 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
    if let Some(existing) = &existing {
        temp.as_file()
            .set_permissions(existing.permissions())
            .map_err(|e| Error::io("giving the export the permissions of", path, e))?;
    }
    let written = {
        let mut out = BufWriter::new(temp.as_file_mut());
        let written = write(store, export, &mut out, path, progress)?;
        out.flush()
            .map_err(|e| Error::io("writing the export to", path, e))?;
        written
    };
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io("writing the export to", path, e))?;
    temp.persist(path)
        .map_err(|e| Error::io("moving the export into place at", path, e.error))?;
    Ok(written)
}

/// How an export's temporary file is named: this, the writing process's id, `-`, random letters.
const TEMP_PREFIX: &str = ".racestore-export-";

/// Removes the temporary files in `dir` that exports killed before they finished left behind
/// (a killed process cannot clean up after itself): those whose process no longer runs. Files
/// of running exports, and anything not named by [`TEMP_PREFIX`] and a process id, are kept.
/// Best effort: a file that cannot be removed stays, and the export goes on.
fn remove_leftovers_of_killed_exports(dir: &Path) {
    let writer = |name: &str| {
        let (pid, _) = name.strip_prefix(TEMP_PREFIX)?.split_once('-')?;
        pid.parse().ok()
    };
    for file in crate::leftovers::remove_files_of_gone_processes(dir, writer) {
        tracing::info!(file = %file.display(), "removed a killed export's temporary file");
    }
}

/// The selected records of one collection, a page at a time, as JSON objects in id order.
struct Pages<'a> {
    store: &'a dyn RaceStore,
    export: &'a Export,
    collection: Collection,
    /// The last id read.
    after: Id,
    progress: &'a mut dyn FnMut(Collection, u64),
    /// With [`Export::with_entries`], the entries of each session met so far, by driver id.
    entries: HashMap<Id, HashMap<String, Entry>>,
}

impl Pages<'_> {
    /// Whether the records get their entry's columns.
    fn joined(&self) -> bool {
        self.export.with_entries && self.collection == Collection::Laps
    }

    /// The columns of the records, as CSV heads them.
    fn columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&'static str> = self.collection.columns().iter().map(|c| c.name).collect();
        if self.joined() {
            columns.extend(ENTRY_COLUMNS);
        }
        columns
    }

    /// Adds the entry's columns to each lap of `records` (JSON objects).
    fn join(&mut self, records: &mut [Value]) -> Result<()> {
        for record in records {
            let session = record
                .get("session_id")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            let driver = record
                .get("driver_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if !self.entries.contains_key(&session) {
                let mut by_driver = HashMap::new();
                for entry in self.store.get_session_entries(session)? {
                    by_driver.entry(entry.driver_id.clone()).or_insert(entry);
                }
                self.entries.insert(session, by_driver);
            }
            let entry = self.entries[&session].get(&driver);
            let text = |value: Option<&Option<String>>| match value {
                Some(Some(text)) => Value::String(text.clone()),
                _ => Value::Null,
            };
            let cells = [
                text(entry.map(|e| &e.car_number)),
                text(entry.map(|e| &e.driver_name)),
                text(entry.map(|e| &e.class)),
                text(entry.map(|e| &e.group)),
                text(entry.map(|e| &e.team)),
                text(entry.map(|e| &e.manufacturer)),
                text(entry.map(|e| &e.vehicle)),
            ];
            if let Value::Object(fields) = record {
                for (column, cell) in ENTRY_COLUMNS.iter().zip(cells) {
                    fields.insert((*column).to_owned(), cell);
                }
            }
        }
        Ok(())
    }

    /// The next page's selected records; `None` after the last page.
    fn next_page(&mut self) -> Result<Option<Vec<Value>>> {
        let filters = self.export.filters();
        let page = match self.export.session_id {
            // One session's records: each read is bounded by the session, filtered by the store.
            Some(id) => {
                let mut query = Query {
                    after_id: self.after,
                    limit: Some(PAGE_SIZE),
                    ..Query::session(self.collection, id)
                };
                for (column, value) in &filters {
                    query = query.text_equals(column, *value);
                }
                self.store.read(&query)?
            }
            // The whole store: every page read, then filtered here, so that progress counts
            // every record of the collection.
            None => self
                .store
                .read(&Query::page(self.collection, self.after, PAGE_SIZE))?,
        };
        let Some(&last) = page.ids().last() else {
            return Ok(None);
        };
        self.after = last;
        (self.progress)(self.collection, page.len() as u64);
        let mut records = selected(&page, &filters);
        if self.joined() {
            self.join(&mut records)?;
        }
        Ok(Some(records))
    }
}

/// The records of `page` whose `column` holds each filter's value, as JSON objects.
fn selected(page: &Records, filters: &[(&str, &str)]) -> Vec<Value> {
    page.to_json()
        .into_iter()
        .filter(|record| {
            filters
                .iter()
                .all(|(column, value)| record.get(*column).and_then(Value::as_str) == Some(*value))
        })
        .collect()
}

/// One collection as a pretty-printed JSON array (nested one level when `nested`), without
/// a final newline.
fn write_json_array(records: &mut Pages<'_>, nested: bool, out: &mut dyn Write, to: &Path) -> Result<u64> {
    let io = |err: std::io::Error| Error::io("writing the export to", to, err);
    let (indent, close) = if nested { ("    ", "\n  ]") } else { ("  ", "\n]") };
    let mut count = 0u64;
    out.write_all(b"[").map_err(io)?;
    while let Some(page) = records.next_page()? {
        for record in page {
            out.write_all(if count == 0 { b"\n" } else { b",\n" })
                .map_err(io)?;
            out.write_all(indent.as_bytes()).map_err(io)?;
            out.write_all(pretty(&record, indent).as_bytes()).map_err(io)?;
            count += 1;
        }
    }
    out.write_all(if count == 0 { b"]" } else { close.as_bytes() })
        .map_err(io)?;
    Ok(count)
}

/// One collection as a line per record, each tagged with its collection when `tagged`.
fn write_ndjson(records: &mut Pages<'_>, tagged: bool, out: &mut dyn Write, to: &Path) -> Result<u64> {
    let io = |err: std::io::Error| Error::io("writing the export to", to, err);
    let collection = records.collection;
    let mut count = 0u64;
    while let Some(page) = records.next_page()? {
        for record in page {
            let record = match (tagged, record) {
                (true, Value::Object(fields)) => {
                    let mut tagged = Map::new();
                    tagged.insert("collection".into(), Value::String(collection.to_string()));
                    tagged.extend(fields);
                    Value::Object(tagged)
                }
                (_, record) => record,
            };
            out.write_all(record.to_string().as_bytes()).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            count += 1;
        }
    }
    Ok(count)
}

/// One collection as CSV: the header, then a row per record.
fn write_csv(records: &mut Pages<'_>, delimiter: u8, out: &mut dyn Write, to: &Path) -> Result<u64> {
    let csv_error = |err: csv::Error| match err.into_kind() {
        csv::ErrorKind::Io(err) => Error::io("writing the export to", to, err),
        other => Error::io(
            "writing the export to",
            to,
            std::io::Error::other(format!("{other:?}")),
        ),
    };
    let header = records.columns();
    let mut csv = csv::WriterBuilder::new().delimiter(delimiter).from_writer(out);
    csv.write_record(&header).map_err(csv_error)?;
    let mut count = 0u64;
    while let Some(page) = records.next_page()? {
        for record in page {
            csv.write_record(header.iter().map(|field| csv_cell(record.get(*field))))
                .map_err(csv_error)?;
            count += 1;
        }
    }
    csv.flush()
        .map_err(|e| Error::io("writing the export to", to, e))?;
    Ok(count)
}

/// A record as pretty JSON (two-space indents), its lines after the first indented by `indent`.
fn pretty(record: &Value, indent: &str) -> String {
    let text = serde_json::to_string_pretty(record).expect("JSON values serialize");
    text.replace('\n', &format!("\n{indent}"))
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
    use crate::model::{NewDriverMetrics, NewEntry, NewLap, NewPrediction, NewSession, NewSimulation};
    use serde_json::json;

    /// A JSON store with one record in every collection (and a second lap of another driver).
    fn store_with_everything() -> (tempfile::TempDir, Box<dyn RaceStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::open(&format!("json:{}", dir.path().display())).unwrap();
        let s = store.create_session(&NewSession::new("Barber")).unwrap();
        store
            .save_driver_metrics(&NewDriverMetrics::new(s, "GR86-002-7"))
            .unwrap();
        store
            .save_laps(&[
                NewLap::new(s, "GR86-002-7", 1, 92.0).lap_type("IN_LAP"),
                NewLap::new(s, "GR86-013-22", 1, 91.0),
            ])
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
        store
            .save_entries(&[NewEntry::new(s, "GR86-002-7").car("7").class("Am")])
            .unwrap();
        (dir, store)
    }

    fn written(store: &dyn RaceStore, export: &Export) -> String {
        let mut out = Vec::new();
        write(store, export, &mut out, Path::new("test"), &mut |_, _| {}).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_headers_are_the_fields_of_the_records_in_order() {
        let (_dir, store) = store_with_everything();
        for collection in Collection::ALL {
            let record = store.export_page(collection, 0, 1).unwrap().to_json().remove(0);
            let keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
            let csv = written(
                store.as_ref(),
                &Export::new(vec![collection], Format::Csv { delimiter: b';' }),
            );
            assert_eq!(csv.lines().next().unwrap(), keys.join(";"), "{collection}");
        }
    }

    #[test]
    fn streamed_json_is_exactly_the_pretty_printed_document() {
        let (_dir, store) = store_with_everything();
        let mut whole = Map::new();
        for collection in Collection::ALL {
            let records = store.export_page(collection, 0, 100).unwrap().to_json();
            let one = written(store.as_ref(), &Export::new(vec![collection], Format::Json));
            let expected = serde_json::to_string_pretty(&Value::Array(records.clone())).unwrap() + "\n";
            assert_eq!(one, expected);
            whole.insert(collection.to_string(), Value::Array(records));
        }
        let all = written(
            store.as_ref(),
            &Export::new(Collection::ALL.to_vec(), Format::Json),
        );
        let expected = serde_json::to_string_pretty(&Value::Object(whole)).unwrap() + "\n";
        assert_eq!(all, expected);
    }

    #[test]
    fn filters_select_laps_in_a_session_or_in_the_whole_store() {
        let (_dir, store) = store_with_everything();
        for export in [
            Export::new(vec![Collection::Laps], Format::Ndjson).driver("GR86-013-22"),
            Export::new(vec![Collection::Laps], Format::Ndjson)
                .session(1)
                .driver("GR86-013-22"),
        ] {
            let lines: Vec<Value> = written(store.as_ref(), &export)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 1, "{export:?}");
            assert_eq!(lines[0]["driver_id"], "GR86-013-22");
        }
        let in_laps = written(
            store.as_ref(),
            &Export::new(vec![Collection::Laps], Format::Ndjson).lap_type("IN_LAP"),
        );
        assert_eq!(in_laps.lines().count(), 1);
        // Several collections: each line tagged with its own.
        let tagged = written(
            store.as_ref(),
            &Export::new(vec![Collection::Sessions, Collection::Laps], Format::Ndjson),
        );
        let first: Value = serde_json::from_str(tagged.lines().next().unwrap()).unwrap();
        assert_eq!(
            first.as_object().unwrap().keys().next().map(String::as_str),
            Some("collection")
        );
        assert_eq!(first["collection"], "race_sessions");
    }

    #[test]
    fn exports_that_cannot_be_written_are_refused_before_anything_is() {
        let (_dir, store) = store_with_everything();
        for (export, field) in [
            (Export::new(Vec::new(), Format::Json), "collections"),
            (
                Export::new(vec![Collection::Laps, Collection::Laps], Format::Json),
                "collections",
            ),
            (
                Export::new(Collection::ALL.to_vec(), Format::Csv { delimiter: b',' }),
                "format",
            ),
            (
                Export::new(vec![Collection::Sessions], Format::Json).driver("x"),
                "driver_id",
            ),
            (
                Export::new(vec![Collection::Predictions], Format::Json).lap_type("IN_LAP"),
                "lap_type",
            ),
        ] {
            let mut out = Vec::new();
            let err = write(store.as_ref(), &export, &mut out, Path::new("t"), &mut |_, _| {}).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: f, .. } if f == field),
                "{export:?}: {err}"
            );
            assert!(out.is_empty());
        }
        let mut out = Vec::new();
        let err = write(
            store.as_ref(),
            &Export::new(vec![Collection::Laps], Format::Json).session(42),
            &mut out,
            Path::new("t"),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotFound {
                    what: "session",
                    id: 42
                }
            ),
            "{err}"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn laps_can_carry_their_drivers_entry_and_only_laps_can() {
        let (_dir, store) = store_with_everything();
        let laps = Export::new(vec![Collection::Laps], Format::Csv { delimiter: b',' }).with_entries();
        let csv = written(store.as_ref(), &laps);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(&header[header.len() - 7..], ENTRY_COLUMNS);
        assert_eq!(header[0], "id");
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        // GR86-002-7 has an entry (car 7, class Am); GR86-013-22 has none: empty cells.
        assert_eq!(
            (
                rows[0][at("driver_id")].as_str(),
                rows[0][at("car_number")].as_str(),
                rows[0][at("class")].as_str()
            ),
            ("GR86-002-7", "7", "Am")
        );
        assert_eq!(
            (
                rows[1][at("driver_id")].as_str(),
                rows[1][at("car_number")].as_str(),
                rows[1][at("team")].as_str()
            ),
            ("GR86-013-22", "", "")
        );
        let json: Value = serde_json::from_str(&written(
            store.as_ref(),
            &Export::new(vec![Collection::Laps], Format::Json)
                .with_entries()
                .session(1),
        ))
        .unwrap();
        assert_eq!(json[0]["class"], "Am");
        assert_eq!(json[1]["class"], Value::Null);
        let mut out = Vec::new();
        let err = write(
            store.as_ref(),
            &Export::new(vec![Collection::Sessions], Format::Json).with_entries(),
            &mut out,
            Path::new("t"),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "with_entries"),
            "{err}"
        );
    }

    #[test]
    fn progress_counts_every_record_read() {
        let (_dir, store) = store_with_everything();
        let mut seen = Vec::new();
        let export = Export::new(Collection::ALL.to_vec(), Format::Ndjson);
        write(
            store.as_ref(),
            &export,
            &mut Vec::new(),
            Path::new("t"),
            &mut |c, n| seen.push((c, n)),
        )
        .unwrap();
        let counts = store.counts().unwrap();
        assert_eq!(
            seen,
            Collection::ALL.map(|c| (c, counts.get(c))).to_vec(),
            "one page per collection here"
        );
    }

    #[test]
    fn a_file_is_replaced_whole_keeping_its_permissions_and_devices_are_written_directly() {
        let (dir, store) = store_with_everything();
        let path = dir.path().join("laps.csv");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let laps = Export::new(vec![Collection::Laps], Format::Csv { delimiter: b',' });
        // A failed export (an unknown session) leaves the file as it was, and no temporary file.
        assert!(write_file(store.as_ref(), &laps.clone().session(9), &path, &mut |_, _| {}).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        let files = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".racestore-export")
                })
                .count()
        };
        assert_eq!(files(), 0, "no temporary file left");

        let counts = write_file(store.as_ref(), &laps, &path, &mut |_, _| {}).unwrap();
        assert_eq!(counts.laps(), 2);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("id,session_id,"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        assert_eq!(files(), 0, "no temporary file left");
        #[cfg(unix)]
        write_file(store.as_ref(), &laps, Path::new("/dev/null"), &mut |_, _| {}).unwrap();
    }

    #[test]
    fn an_export_removes_what_killed_exports_left_beside_it_and_keeps_running_ones() {
        let (dir, store) = store_with_everything();
        // No process has this id (above the kernel's pid_max); the test's own process runs.
        let killed = dir.path().join(".racestore-export-4194305-a1b2c3");
        let running = dir
            .path()
            .join(format!(".racestore-export-{}-d4e5f6", std::process::id()));
        let other = dir.path().join(".racestore-export-notes");
        for file in [&killed, &running, &other] {
            std::fs::write(file, "half an export").unwrap();
        }
        let laps = Export::new(vec![Collection::Laps], Format::Csv { delimiter: b',' });
        write_file(
            store.as_ref(),
            &laps,
            &dir.path().join("laps.csv"),
            &mut |_, _| {},
        )
        .unwrap();
        assert!(!killed.exists(), "the killed export's temporary file is removed");
        assert!(
            running.exists() && other.exists(),
            "a running export's file and others stay"
        );
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
