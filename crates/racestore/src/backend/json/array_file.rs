//! One data file: a JSON array of records that grows by appending, never by rewriting.
//!
//! The file always has the original's shape, `[` records separated by `,` then `\n]`. A save
//! overwrites the closing `\n]` with `,\n  {record}\n]` in one positioned write, so its cost does
//! not depend on how big the file is. A save interrupted by a crash leaves a *torn tail* (a
//! partial record, a dangling comma, a missing `]`, or zeros where a power cut lost the data)
//! that [`scan`] recognises and opening repairs; damage anywhere else is refused.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::write_array_element;
use super::fsio::{temp_path, Io};
use super::group_commit::{GroupCommit, Ticket};
use super::index::Spans;
use super::journal::AppendSpan;
use crate::error::{Error, Result};
use crate::model::{Id, Record};
use crate::store::Repair;

/// Where one record's bytes (`{` to `}`) sit in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub offset: u64,
    pub len: u64,
}

/// What reading a file found.
pub(super) struct Scanned<T> {
    pub records: Vec<T>,
    pub spans: Vec<Span>,
    /// Offset just past the last record's `}` (or the `[` of an empty array): where appends write.
    pub tail: u64,
    /// Set when the file ends in a torn tail: cut it at `tail` and close the array.
    pub torn: Option<Repair>,
    /// How many records were read as Python's `json.dump` writes them but strict JSON refuses
    /// (`NaN`, `Infinity`, nesting past the parser's limit); see [`python_record`].
    pub lenient: u64,
}

/// Parses a whole data file, record by record.
///
/// Returns the records and where each sits. A torn tail is reported in `torn` (nothing is
/// changed here); damage anywhere else is [`Error::CorruptFile`] with the byte offset.
pub(super) fn scan<T: Record>(path: &Path, bytes: &[u8]) -> Result<Scanned<T>> {
    // Zeros at the end are what a power cut leaves where an extended file's data never landed.
    let data_len = bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count();
    let data = &bytes[..data_len];
    let corrupt = |offset: usize, message: String| corrupt_at(path, bytes, offset, message);

    let start = skip_ws(data, 0);
    if start == data.len() {
        return Err(corrupt(
            0,
            "the file holds no JSON array (it is empty or all zeros)".into(),
        ));
    }
    if data[start] != b'[' {
        return Err(corrupt(
            start,
            "expected '[': the file must hold a JSON array of records".into(),
        ));
    }
    let scanned = Scanned {
        records: Vec::new(),
        spans: Vec::new(),
        tail: start as u64 + 1,
        torn: None,
        lenient: 0,
    };
    scan_records(path, bytes, scanned, false)
}

/// Parses records from `scanned.tail` to the end of `bytes`; `after_record` says a record
/// precedes that point (so a `,` comes first) although `scanned` holds none yet.
fn scan_records<T: Record>(
    path: &Path,
    bytes: &[u8],
    mut scanned: Scanned<T>,
    after_record: bool,
) -> Result<Scanned<T>> {
    let data_len = bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count();
    let data = &bytes[..data_len];
    let corrupt = |offset: usize, message: String| corrupt_at(path, bytes, offset, message);
    let torn = |scanned: &Scanned<T>, what: &str| Repair {
        file: path.to_owned(),
        offset: scanned.tail,
        removed_bytes: (bytes.len() as u64).saturating_sub(scanned.tail),
        detail: format!("cut a torn tail ({what}) left by an interrupted save, and closed the array"),
    };
    let mut previous_id: Option<Id> = None;
    loop {
        let first = scanned.records.is_empty() && !after_record;
        let at = skip_ws(data, scanned.tail as usize);
        let record_at = match data.get(at) {
            None => {
                scanned.torn = Some(torn(&scanned, "the closing ']' is missing"));
                return Ok(scanned);
            }
            Some(b']') => {
                let after = skip_ws(data, at + 1);
                if after != data.len() {
                    return Err(corrupt(after, "unexpected data after the closing ']'".into()));
                }
                if data_len != bytes.len() {
                    scanned.torn = Some(torn(&scanned, "zero bytes after the closing ']'"));
                }
                return Ok(scanned);
            }
            Some(b',') if !first => {
                let next = skip_ws(data, at + 1);
                match data.get(next) {
                    None | Some(b']') => {
                        scanned.torn = Some(torn(&scanned, "a dangling ',' after the last record"));
                        return Ok(scanned);
                    }
                    Some(b'{') => next,
                    Some(_) => return Err(corrupt(next, "expected a record ('{')".into())),
                }
            }
            Some(b'{') if first => at,
            Some(_) if first => return Err(corrupt(at, "expected a record ('{') or ']'".into())),
            Some(_) => return Err(corrupt(at, "expected ',' or ']' after a record".into())),
        };
        let mut stream = serde_json::Deserializer::from_slice(&data[record_at..]).into_iter::<T>();
        // The record, its length, and whether only the Python-tolerant reading accepted it.
        let (record, len, lenient) = match stream.next() {
            Some(Ok(record)) => (record, stream.byte_offset(), false),
            Some(Err(error)) => {
                let error_at = record_at + offset_of(&data[record_at..], error.line(), error.column());
                // The parser ran out of bytes: the record was being written when the writer died.
                if error.is_eof() || error_at >= data.len() {
                    scanned.torn = Some(torn(&scanned, "a partly written record"));
                    return Ok(scanned);
                }
                // What Python's json.dump writes but strict JSON refuses: NaN, Infinity, nesting
                // deeper than the parser's limit.
                let deep = error.to_string().contains("recursion limit");
                match python_record::<T>(&data[record_at..], deep) {
                    Some(Ok((record, len))) => (record, len, true),
                    _ => {
                        return Err(corrupt(
                            error_at.saturating_sub(1),
                            format!("{} record: {error}", T::COLLECTION.file_name()),
                        ))
                    }
                }
            }
            None => unreachable!("a '{{' was seen, so the stream yields a value or an error"),
        };
        let id = record.id();
        if previous_id.is_some_and(|p| id <= p) {
            return Err(corrupt(
                record_at,
                format!(
                    "record id {id} does not follow id {} (ids must ascend)",
                    previous_id.unwrap_or(0)
                ),
            ));
        }
        previous_id = Some(id);
        scanned.records.push(record);
        scanned.spans.push(Span {
            offset: record_at as u64,
            len: len as u64,
        });
        scanned.tail = (record_at + len) as u64;
        if lenient {
            scanned.lenient += 1;
        }
    }
}

/// Parses one record's bytes, read from `offset` of the file at `path`, as opening once did:
/// strictly, or as Python's `json.dump` may have written it (see [`python_record`]). A record
/// that does not parse is [`Error::CorruptFile`] naming the file and offset.
pub(super) fn parse_record<T: Record>(path: &Path, file: &File, offset: u64, bytes: &[u8]) -> Result<T> {
    let error = match serde_json::from_slice::<T>(bytes) {
        Ok(record) => return Ok(record),
        Err(error) => error,
    };
    let deep = error.to_string().contains("recursion limit");
    match python_record::<T>(bytes, deep) {
        Some(Ok((record, len))) if len == bytes.len() => Ok(record),
        _ => {
            let at = offset_of(bytes, error.line(), error.column()).saturating_sub(1);
            Err(corrupt_in_file(
                path,
                file,
                offset + at as u64,
                format!("{} record: {error}", T::COLLECTION.file_name()),
            ))
        }
    }
}

/// [`Error::CorruptFile`] at `offset` of the open `file` at `path`, its line and column counted
/// from the bytes before it (read only then: an error is rare, so its cost does not matter).
pub(super) fn corrupt_in_file(path: &Path, file: &File, offset: u64, message: String) -> Error {
    let mut before = vec![0; usize::try_from(offset).unwrap_or(0)];
    if file.read_exact_at(&mut before, 0).is_err() {
        before.clear();
    }
    match corrupt_at(path, &before, before.len(), message) {
        // The offset stands even when the bytes before it could not be read (line 1, column 1).
        Error::CorruptFile {
            line,
            column,
            message,
            ..
        } => Error::CorruptFile {
            path: path.to_owned(),
            offset,
            line,
            column,
            message,
        },
        other => other,
    }
}

/// [`scan`] on `parts` threads, the file cut where one record ends: the reference the
/// structural scan's parallel parts are checked against.
#[cfg(test)]
fn scan_in_parts<T: Record>(path: &Path, bytes: &[u8], parts: usize) -> Result<Scanned<T>> {
    let mut cuts: Vec<usize> = Vec::new();
    for k in 1..parts {
        let from = (bytes.len() * k / parts).max(cuts.last().copied().unwrap_or(0));
        let boundary = bytes[from..].windows(9).position(|w| w == b"\n  },\n  {");
        if let Some(found) = boundary {
            cuts.push(from + found + 4);
        }
    }
    cuts.dedup();
    if cuts.is_empty() {
        return scan(path, bytes);
    }
    let starts: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).collect();
    let ends: Vec<usize> = cuts.iter().copied().chain(std::iter::once(bytes.len())).collect();
    let results: Vec<Result<Scanned<T>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = starts
            .iter()
            .zip(&ends)
            .map(|(&start, &end)| {
                scope.spawn(move || {
                    if start == 0 {
                        scan(path, &bytes[..end])
                    } else {
                        let part = Scanned {
                            records: Vec::new(),
                            spans: Vec::new(),
                            tail: start as u64,
                            torn: None,
                            lenient: 0,
                        };
                        scan_records(path, &bytes[..end], part, true)
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a scan thread panicked"))
            .collect()
    });
    let Some(last) = results.len().checked_sub(1) else {
        return scan(path, bytes);
    };
    let mut merged: Option<Scanned<T>> = None;
    for (index, result) in results.into_iter().enumerate() {
        let Ok(part) = result else {
            return scan(path, bytes);
        };
        let clean_cut = part.tail == ends[index] as u64 && !part.records.is_empty();
        if index < last && !clean_cut {
            return scan(path, bytes);
        }
        merged = Some(match merged {
            None => part,
            Some(mut whole) => {
                let ascending = match (whole.records.last(), part.records.first()) {
                    (Some(a), Some(b)) => a.id() < b.id(),
                    _ => true,
                };
                if !ascending {
                    return scan(path, bytes);
                }
                whole.records.extend(part.records);
                whole.spans.extend(part.spans);
                whole.tail = part.tail;
                whole.torn = part.torn;
                whole.lenient += part.lenient;
                whole
            }
        });
    }
    Ok(merged.expect("at least one part"))
}

/// The text a bare `NaN`, `Infinity` or `-Infinity` is read as inside a record, before its
/// cells are read: a string no stored text can hold (a NUL character is refused on every save).
const NON_FINITE: [(&[u8], f64); 3] = [
    (b"-Infinity", f64::NEG_INFINITY),
    (b"Infinity", f64::INFINITY),
    (b"NaN", f64::NAN),
];

/// Where the JSON object starting at `bytes[0]` ends (just past its `}`), by a structural scan
/// that knows strings; `None` when it runs to the end.
fn object_end(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads one record as Python's `json.dump` may have written it, beyond strict JSON: bare
/// `NaN`, `Infinity` and `-Infinity`, and nesting deeper than `serde_json`'s limit of 128.
///
/// Numbers come back as the `f64` written (`NaN`, `inf`, `-inf`); inside a JSON value (metric
/// objects, paces, results), which cannot hold them, as `null`. The bytes on disk are never
/// rewritten: appends leave them, deletes and backups copy them as they are. `None` when the
/// object does not end in `bytes`, or holds none of these and is not `deep` (strict JSON's
/// error stands then); an error when it is not the record even so (every column's key, no other).
fn python_record<T: Record>(bytes: &[u8], deep: bool) -> Option<Result<(T, usize)>> {
    let len = object_end(bytes)?;
    let mut text = Vec::with_capacity(len + 16);
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < len {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            text.push(b);
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        if let Some((token, _)) = NON_FINITE.iter().find(|(t, _)| bytes[i..len].starts_with(t)) {
            text.extend_from_slice(b"\"\\u0000");
            text.extend_from_slice(token);
            text.push(b'"');
            i += token.len();
            continue;
        }
        text.push(b);
        i += 1;
    }
    if !deep && text == bytes[..len] {
        return None;
    }
    // Deep values are parsed on a thread with room for the recursion.
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || {
                let mut de = serde_json::Deserializer::from_slice(&text);
                de.disable_recursion_limit();
                let value = serde::Deserialize::deserialize(&mut de).map_err(|e| e.to_string());
                // A deep value is dropped here too, with the same room.
                value.map(|v: serde_json::Value| record_from_python::<T>(v))
            })
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "the parser panicked".to_owned()))
    });
    Some(match parsed {
        Ok(Ok(Ok(record))) => Ok((record, len)),
        Ok(Ok(Err(error))) => Err(error),
        Ok(Err(message)) | Err(message) => Err(Error::invalid("record", message)),
    })
}

/// The record from a parsed object, its non-finite numbers read back from their stand-in text.
fn record_from_python<T: Record>(value: serde_json::Value) -> Result<T> {
    use crate::model::{Cell, CellReader, ColumnKind};
    let serde_json::Value::Object(mut map) = value else {
        return Err(Error::invalid("record", "not a JSON object"));
    };
    let keys_are_columns =
        map.len() == T::COLUMNS.len() && T::COLUMNS.iter().all(|column| map.contains_key(column.name));
    if !keys_are_columns {
        return Err(Error::invalid("record", "its keys are not the record's fields"));
    }
    let non_finite = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.strip_prefix('\0'))
            .and_then(|s| NON_FINITE.iter().find(|(t, _)| t == &s.as_bytes()))
            .map(|(_, n)| *n)
    };
    let cells = T::COLUMNS
        .iter()
        .map(|column| {
            let value = map.remove(column.name).unwrap_or(serde_json::Value::Null);
            match (column.kind, &value) {
                (_, serde_json::Value::Null) => Cell::Null,
                (ColumnKind::Real, v) if non_finite(v).is_some() => {
                    Cell::Real(non_finite(v).unwrap_or(f64::NAN))
                }
                (ColumnKind::Real, v) => v.as_f64().map_or(Cell::Json(value.clone()), Cell::Real),
                (ColumnKind::Integer, v) => v.as_i64().map_or(Cell::Json(value.clone()), Cell::Integer),
                (ColumnKind::Text, serde_json::Value::String(s)) => Cell::Text(s.clone()),
                (ColumnKind::Text, _) => Cell::Json(value),
                (ColumnKind::Json, _) => Cell::Json(without_non_finite(value, &non_finite)),
            }
        })
        .collect();
    T::from_cells(CellReader::new(T::COLLECTION, cells))
}

/// `value` with every stand-in for a non-finite number replaced by `null`.
fn without_non_finite(
    value: serde_json::Value,
    is: &dyn Fn(&serde_json::Value) -> Option<f64>,
) -> serde_json::Value {
    use serde_json::Value;
    match value {
        v if is(&v).is_some() => Value::Null,
        Value::Array(items) => Value::Array(items.into_iter().map(|v| without_non_finite(v, is)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, without_non_finite(v, is)))
                .collect(),
        ),
        other => other,
    }
}

/// The highest number that follows `key` (then any spaces) anywhere in `bytes`: what a torn
/// tail still shows of the ids it held. 0 when none.
pub(super) fn highest_number_after(bytes: &[u8], key: &[u8]) -> Id {
    let mut highest = 0;
    let mut from = 0;
    while let Some(found) = bytes[from..].windows(key.len()).position(|w| w == key) {
        let mut at = from + found + key.len();
        while at < bytes.len() && bytes[at] == b' ' {
            at += 1;
        }
        let digits = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        // Digits cut short by the tear may be fewer than written, never more: a lower bound.
        if let Some(n) = std::str::from_utf8(&bytes[at..at + digits])
            .ok()
            .and_then(|d| d.parse::<Id>().ok())
        {
            highest = highest.max(n);
        }
        from = at.max(from + found + 1);
    }
    highest
}

/// Byte offset of serde_json's 1-based line and byte column within `data`.
fn offset_of(data: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        data.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map_or(data.len(), |(i, _)| i + 1)
    };
    (line_start + column).min(data.len())
}

pub(super) fn skip_ws(data: &[u8], mut at: usize) -> usize {
    while at < data.len() && matches!(data[at], b' ' | b'\n' | b'\r' | b'\t') {
        at += 1;
    }
    at
}

pub(super) fn corrupt_at(path: &Path, bytes: &[u8], offset: usize, message: String) -> Error {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let column = (before.len() - before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)) as u64 + 1;
    Error::CorruptFile {
        path: path.to_owned(),
        offset: offset as u64,
        line,
        column,
        message,
    }
}

/// Whether the file at `path` holds whole records up to `span.end`: whether the batch that
/// appended the span landed. A file damaged before the span's start is [`Error::CorruptFile`].
pub(super) fn landed(path: &Path, span: &AppendSpan) -> Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let (ends, broken_at) = record_ends(&bytes);
    if ends.contains(&span.end) {
        return Ok(true);
    }
    match broken_at {
        Some(at) if (at as u64) < span.start => Err(corrupt_at(
            path,
            &bytes,
            at,
            "damaged before a batch that a crash interrupted".into(),
        )),
        _ => Ok(false),
    }
}

/// The offsets just past each top-level record's closing `}`, found by a structural scan (no
/// values parsed), and where the array stops being whole, if it does.
fn record_ends(bytes: &[u8]) -> (Vec<u64>, Option<usize>) {
    let mut ends = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                let Some(inner) = depth.checked_sub(1) else {
                    return (ends, Some(i));
                };
                depth = inner;
                if depth == 1 && b == b'}' {
                    ends.push(i as u64 + 1);
                }
                if depth == 0 {
                    return (ends, None);
                }
            }
            0 => return (ends, Some(i)),
            _ => {}
        }
    }
    (ends, Some(bytes.len()))
}

/// An open data file and where its records sit.
#[derive(Debug)]
pub(super) struct ArrayFile {
    pub path: PathBuf,
    file: File,
    io: Io,
    /// Where the next append writes: just past the last record (the closing `\n]` follows).
    tail: u64,
    /// The file's length (with saves queued for a group commit counted in).
    len: u64,
    /// Where each record sits.
    pub spans: Spans,
    /// In power-loss mode, the queue single saves share writes and fsyncs through.
    group: Option<std::sync::Arc<GroupCommit>>,
    /// The bytes of the last single save, kept so the next one encodes without allocating.
    encoded: Vec<u8>,
}

impl ArrayFile {
    /// Wraps an opened file whose contents `scan` has read (and whose torn tail, if any, is repaired).
    pub(super) fn new(
        path: PathBuf,
        file: File,
        io: Io,
        len: u64,
        tail: u64,
        spans: impl Into<Spans>,
    ) -> Self {
        ArrayFile {
            path,
            file,
            io,
            tail,
            len,
            spans: spans.into(),
            group: None,
            encoded: Vec::new(),
        }
    }

    /// Makes single saves share writes and fsyncs with concurrent ones ([`ArrayFile::enqueue_append`]).
    pub(super) fn enable_group_commit(&mut self) -> Result<()> {
        self.group = Some(std::sync::Arc::new(GroupCommit::new(
            &self.file,
            self.path.clone(),
            self.io.clone(),
        )?));
        Ok(())
    }

    /// Queues encoded records for a group commit; wait on the returned handle, without the
    /// store's lock, until they are durable. Only with group commit enabled.
    pub(super) fn enqueue_append(
        &mut self,
        bytes: &[u8],
        spans: Vec<Span>,
    ) -> Result<(std::sync::Arc<GroupCommit>, Ticket)> {
        let group = self
            .group
            .clone()
            .expect("group commit is enabled in power-loss mode");
        let ticket = group.enqueue(bytes, self.tail)?;
        self.len = self.tail + bytes.len() as u64;
        self.tail = self.len - 2;
        self.spans.extend(spans);
        Ok((group, ticket))
    }

    /// Writes (and syncs) whatever saves are queued for a group commit, so the file on disk
    /// holds everything this `ArrayFile` knows of before it is written or read directly.
    fn flush_queued(&self) -> Result<()> {
        match &self.group {
            Some(group) => group.flush(),
            None => Ok(()),
        }
    }

    /// How many saves queued for a group commit are not durable yet.
    pub(super) fn awaiting_sync(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.awaiting())
    }

    /// Why the file stopped accepting writes, if a group commit failed.
    pub(super) fn failure(&self) -> Option<String> {
        self.group.as_ref().and_then(|g| g.failure())
    }

    /// Cuts the file at its tail and closes the array there: the repair of a torn tail found
    /// on opening.
    pub(super) fn close_at_tail(&mut self) -> Result<()> {
        self.len = Self::close_array_at(
            &self.io,
            &self.file,
            &self.path,
            self.tail,
            !self.spans.is_empty(),
        )?;
        Ok(())
    }

    /// The whole array as it stands: every record up to the tail, then the closing bracket
    /// (whatever follows the tail on disk, such as a torn tail a read-only store left alone).
    pub(super) fn read_whole_array(&self) -> Result<Vec<u8>> {
        if self.spans.is_empty() {
            return Ok(b"[]".to_vec());
        }
        self.flush_queued()?;
        let mut bytes = vec![0; usize::try_from(self.tail).unwrap_or(usize::MAX)];
        self.file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("reading", &self.path, e))?;
        bytes.extend_from_slice(b"\n]");
        Ok(bytes)
    }

    /// Cuts the file at `tail` and closes the array there: the repair of a torn tail.
    pub(super) fn close_array_at(
        io: &Io,
        file: &File,
        path: &Path,
        tail: u64,
        has_records: bool,
    ) -> Result<u64> {
        let closing: &[u8] = if has_records { b"\n]" } else { b"]" };
        io.set_len(file, path, tail)?;
        io.write_at(file, path, closing, tail)?;
        Ok(tail + closing.len() as u64)
    }

    /// The bytes an append of `records` writes at `tail`, after `earlier_records` records of
    /// the same batch were appended at the file's tail; and each record's place in the file.
    pub(super) fn encode_append_at<T: Record>(
        &self,
        records: &[T],
        tail: u64,
        earlier_records: usize,
    ) -> (Vec<u8>, Vec<Span>) {
        let mut bytes = Vec::with_capacity(records.len() * 384 + 2);
        let mut spans = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let first_in_file = self.spans.is_empty() && earlier_records == 0 && i == 0;
            spans.push(encode_element(&mut bytes, record, tail, first_in_file));
        }
        bytes.extend_from_slice(b"\n]");
        (bytes, spans)
    }

    /// Appends one record at the tail, as [`ArrayFile::encode_append_at`] and
    /// [`ArrayFile::write_append`] do, but encoded into a buffer kept from the last save: a
    /// single save allocates nothing here. On failure the caller must call [`ArrayFile::restore`].
    pub(super) fn append_one<T: Record>(&mut self, record: &T) -> Result<()> {
        // Large enough for any lap; a buffer grown past it by a large record is not kept.
        const KEPT: usize = 16 << 10;
        let mut bytes = std::mem::take(&mut self.encoded);
        bytes.clear();
        let span = encode_element(&mut bytes, record, self.tail, self.spans.is_empty());
        bytes.extend_from_slice(b"\n]");
        let written = self.write_append(&bytes, &[span]);
        if bytes.capacity() <= KEPT {
            self.encoded = bytes;
        }
        written
    }

    /// Cuts the file back to where it stood with `spans` records and its tail at `tail`: the
    /// undoing of an append that is part of a batch that failed.
    pub(super) fn cut_back(&mut self, tail: u64, spans: usize) -> Result<()> {
        self.flush_queued()?;
        self.spans.truncate(spans);
        self.tail = tail;
        self.restore()
    }

    /// Where the next append writes.
    /// [`Error::CorruptFile`] at `offset` of this file, with its line and column.
    pub(super) fn corrupt_at_offset(&self, offset: u64, message: String) -> Error {
        corrupt_in_file(&self.path, &self.file, offset, message)
    }

    /// The open file.
    pub(super) fn handle(&self) -> &File {
        &self.file
    }

    /// How long the file is, as far as this process knows.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) fn tail(&self) -> u64 {
        self.tail
    }

    /// Writes encoded records at the tail. On failure the caller must call [`ArrayFile::restore`].
    pub(super) fn write_append(&mut self, bytes: &[u8], spans: &[Span]) -> Result<()> {
        self.flush_queued()?;
        self.io.write_at(&self.file, &self.path, bytes, self.tail)?;
        let end = self.tail + bytes.len() as u64;
        if self.len > end {
            self.io.set_len(&self.file, &self.path, end)?;
        }
        self.len = end;
        self.tail = end - 2;
        self.spans.extend(spans.iter().copied());
        Ok(())
    }

    /// Puts the closing bracket back at the tail after a failed append, so the file is whole again.
    pub(super) fn restore(&mut self) -> Result<()> {
        self.len = Self::close_array_at(
            &self.io,
            &self.file,
            &self.path,
            self.tail,
            !self.spans.is_empty(),
        )?;
        Ok(())
    }

    /// Flushes the file's data to stable storage.
    pub(super) fn sync(&self) -> Result<()> {
        self.flush_queued()?;
        self.io.sync(&self.file, &self.path)
    }

    /// Reads one record's raw bytes, as they sit in the file.
    pub(super) fn read_span(&self, span: Span, out: &mut Vec<u8>) -> Result<()> {
        out.resize(span.len as usize, 0);
        self.file
            .read_exact_at(out, span.offset)
            .map_err(|e| Error::io("reading", &self.path, e))
    }

    /// Reads and parses the records at `spans` (ascending offsets); records next to each other
    /// in the file are read in one go.
    pub(super) fn read_records<T: Record>(&self, spans: &[Span]) -> Result<Vec<T>> {
        // Records closer than this are read together, the bytes between them skipped.
        const GAP: u64 = 64;
        if self.awaiting_sync() > 0 {
            // Saves queued for a group commit are indexed already; their bytes must be in the
            // file before they can be read from it.
            self.flush_queued()?;
        }
        let mut records = Vec::with_capacity(spans.len());
        let mut buffer = Vec::new();
        let mut first = 0;
        while first < spans.len() {
            let start = spans[first].offset;
            let mut last = first;
            while last + 1 < spans.len()
                && spans[last + 1].offset >= spans[last].offset + spans[last].len
                && spans[last + 1].offset <= spans[last].offset + spans[last].len + GAP
                && spans[last + 1].offset + spans[last + 1].len - start <= 16 << 20
            {
                last += 1;
            }
            let end = spans[last].offset + spans[last].len;
            buffer.resize(usize::try_from(end - start).unwrap_or(usize::MAX), 0);
            self.file
                .read_exact_at(&mut buffer, start)
                .map_err(|e| Error::io("reading", &self.path, e))?;
            for span in &spans[first..=last] {
                let at = (span.offset - start) as usize;
                let bytes = &buffer[at..at + span.len as usize];
                records.push(parse_record::<T>(&self.path, &self.file, span.offset, bytes)?);
            }
            first = last + 1;
        }
        Ok(records)
    }

    /// The bytes other processes appended past this one's tail, when the file grew; `None`
    /// when it did not change. An error when it shrank (it was cut, not appended to).
    pub(super) fn read_appended(&self) -> Result<Option<Vec<u8>>> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("reading", &self.path, e))?
            .len();
        if len == self.len {
            return Ok(None);
        }
        if len < self.len {
            return Err(Error::invalid(
                "file",
                format!("{} was cut to {len} bytes", self.path.display()),
            ));
        }
        let mut bytes = vec![0; usize::try_from(len - self.tail).unwrap_or(usize::MAX)];
        self.file
            .read_exact_at(&mut bytes, self.tail)
            .map_err(|e| Error::io("reading", &self.path, e))?;
        Ok(Some(bytes))
    }

    /// Takes in records another process appended: their spans, the new tail and how many
    /// bytes follow the old tail now.
    pub(super) fn extend_caught_up(&mut self, spans: Vec<Span>, tail: u64, appended: u64) {
        self.len = self.tail + appended;
        self.tail = tail;
        self.spans.extend(spans);
    }

    /// Replaces the file with one holding only the records `keep` selects, copied byte for byte.
    ///
    /// The new file is written beside the old one and renamed over it, so a crash leaves either
    /// the old file or the new one, never a mix. Costs a pass over the file: deletes are rare.
    pub(super) fn rewrite_keeping(&mut self, keep: &[bool], sync: bool) -> Result<()> {
        self.flush_queued()?;
        let temp = temp_path(&self.path);
        let written = (|| -> Result<(File, Vec<Span>, u64)> {
            let file = self.io.create(&temp)?;
            let mut out = Vec::with_capacity(1 << 20);
            let mut written = 0u64;
            let mut spans = Vec::new();
            let mut raw = Vec::new();
            out.push(b'[');
            for (span, _) in self.spans.iter().zip(keep).filter(|(_, keep)| **keep) {
                self.read_span(span, &mut raw)?;
                out.extend_from_slice(if spans.is_empty() { b"\n  " } else { b",\n  " });
                spans.push(Span {
                    offset: written + out.len() as u64,
                    len: span.len,
                });
                out.extend_from_slice(&raw);
                if out.len() >= 1 << 20 {
                    self.io.write_at(&file, &temp, &out, written)?;
                    written += out.len() as u64;
                    out.clear();
                }
            }
            let tail = written + out.len() as u64;
            out.extend_from_slice(if spans.is_empty() { b"]" } else { b"\n]" });
            self.io.write_at(&file, &temp, &out, written)?;
            if sync {
                self.io.sync(&file, &temp)?;
            }
            Ok((file, spans, tail))
        })();
        let (file, spans, tail) = match written {
            Ok(done) => done,
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
        };
        self.io.rename(&temp, &self.path)?;
        if sync {
            self.io.sync_parent_dir(&self.path)?;
        }
        self.len = tail + if spans.is_empty() { 1 } else { 2 };
        self.tail = tail;
        self.spans = Spans::from(spans);
        if self.group.is_some() {
            self.group = Some(std::sync::Arc::new(GroupCommit::new(
                &file,
                self.path.clone(),
                self.io.clone(),
            )?));
        }
        self.file = file;
        Ok(())
    }
}

/// Appends `record` to `bytes` as the next element of an array whose `bytes[0]` is at file
/// offset `at`: `,\n  {...}` (`\n  {...}` for the `first` element). Returns its span.
fn encode_element<T: Record>(bytes: &mut Vec<u8>, record: &T, at: u64, first: bool) -> Span {
    bytes.extend_from_slice(if first { b"\n  " } else { b",\n  " });
    let start = bytes.len();
    write_array_element(bytes, record);
    Span {
        offset: at + start as u64,
        len: (bytes.len() - start) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lap;

    fn file_of(laps: usize) -> Vec<u8> {
        let mut bytes = b"[".to_vec();
        for id in 1..=laps as i64 {
            bytes.extend_from_slice(if id == 1 { b"\n  " } else { b",\n  " });
            let lap = Lap {
                id,
                session_id: 1 + id / 7,
                driver_id: format!("GR86-{id:03}"),
                lap_number: id,
                lap_time: 90.0 + id as f64 / 8.0,
                sector_1: Some(29.5),
                sector_2: None,
                sector_3: Some(30.25),
                lap_type: "RACE_LAP".into(),
                position: Some(1),
                created_at: "2026-11-25T16:33:08.009625Z".into(),
            };
            write_array_element(&mut bytes, &lap);
        }
        bytes.extend_from_slice(b"\n]");
        bytes
    }

    /// Records, spans, tail and torn-tail offset of a scan.
    type Found = (Vec<Lap>, Vec<(u64, u64)>, u64, Option<u64>);

    /// What a scan found, comparable, or the error's offset.
    fn outcome(result: Result<Scanned<Lap>>) -> std::result::Result<Found, u64> {
        match result {
            Ok(s) => Ok((
                s.records,
                s.spans.iter().map(|s| (s.offset, s.len)).collect(),
                s.tail,
                s.torn.map(|t| t.offset),
            )),
            Err(Error::CorruptFile { offset, .. }) => Err(offset),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn scanning_in_parts_finds_exactly_what_one_pass_finds() {
        let path = Path::new("lap_data.json");
        let clean = file_of(200);
        let mut cases = vec![("clean", clean.clone())];
        cases.push(("torn tail", clean[..clean.len() - 50].to_vec()));
        let mut zeros = clean.clone();
        zeros.extend_from_slice(&[0; 100]);
        cases.push(("zeros after the end", zeros));
        for (what, at) in [
            ("damage early", clean.len() / 5),
            ("damage late", clean.len() * 4 / 5),
        ] {
            let mut damaged = clean.clone();
            let quote = at + damaged[at..].iter().position(|b| *b == b'"').unwrap();
            damaged[quote] = b'#';
            cases.push((what, damaged));
        }
        let swapped = String::from_utf8(clean.clone())
            .unwrap()
            .replacen("\"id\": 150,", "\"id\": 15,", 1);
        cases.push(("ids falling back across a cut", swapped.into_bytes()));
        let mut nuls_inside = clean.clone();
        let middle = clean.len() / 2;
        nuls_inside[middle..middle + 40].fill(0);
        cases.push(("zeros inside", nuls_inside));
        for (what, bytes) in cases {
            let one_pass = outcome(scan::<Lap>(path, &bytes));
            for parts in 2..=5 {
                assert_eq!(
                    outcome(scan_in_parts::<Lap>(path, &bytes, parts)),
                    one_pass,
                    "{what}, {parts} parts"
                );
            }
        }
        assert_eq!(
            outcome(scan_in_parts::<Lap>(path, &clean, 4)).unwrap().0.len(),
            200
        );
    }
}
