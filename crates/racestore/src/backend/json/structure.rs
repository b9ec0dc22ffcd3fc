//! Opening without parsing: a structural scan of one data file.
//!
//! Opening checks that each data file is a JSON array of whole records and indexes where each
//! record sits, its id and its session, without building a value; records are parsed from the
//! file when they are read. The scan checks JSON syntax (strings with their escapes and UTF-8,
//! numbers, literals, Python's `NaN`, `Infinity` and `-Infinity`, nesting to any depth without
//! recursion) but not field types: a `lap_time` of `"fast"` passes here and is refused when the
//! record is read. Torn tails and damage are reported as [`scan`](super::array_file::scan)
//! reports them: the same spans, ids, tail and repair for every file it accepts.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::array_file::{corrupt_at, corrupt_in_file, skip_ws, Span};
use super::index::Runs;
use crate::error::{Error, Result};
use crate::model::Id;
use crate::store::Repair;

/// What a structural scan of one data file found.
pub(super) struct Structure {
    /// Where each record sits (`{` to just past `}`).
    pub spans: Vec<Span>,
    /// Each record's top-level `"id"`.
    pub ids: Vec<Id>,
    /// Each record's top-level session key (`"session_id"`) when one was asked for, else empty.
    pub session_ids: Vec<Id>,
    /// Just past the last whole record's `}` (or the `[` of an empty array): where appends write.
    pub tail: u64,
    /// Set when the file ends in a torn tail: cut it at `tail` and close the array.
    pub torn: Option<Repair>,
}

/// What a structural scan of a whole data file found, ids and sessions kept as runs (a file of a
/// million laps has a few thousand), so that memory holds little more than the spans.
pub(super) struct FileStructure {
    pub spans: Vec<Span>,
    pub ids: Runs,
    /// Empty unless a session key was asked for.
    pub session_ids: Runs,
    pub tail: u64,
    pub torn: Option<Repair>,
}

impl From<Structure> for FileStructure {
    fn from(found: Structure) -> FileStructure {
        let mut ids = Runs::ids();
        ids.extend(found.ids);
        let mut session_ids = Runs::sessions();
        session_ids.extend(found.session_ids);
        FileStructure {
            spans: found.spans,
            ids,
            session_ids,
            tail: found.tail,
            torn: found.torn,
        }
    }
}

/// Scans a whole data file: its structure, each record's span, id and (with `session_key`,
/// `Some("session_id")` for the collections under a session) session id.
///
/// A torn tail is reported in `torn` (nothing is changed here); damage anywhere else is
/// [`Error::CorruptFile`](crate::Error::CorruptFile) with the offset of the first bad byte.
pub(super) fn scan_structure(path: &Path, bytes: &[u8], session_key: Option<&str>) -> Result<Structure> {
    let data = &bytes[..data_len(bytes)];
    let start = skip_ws(data, 0);
    if start == data.len() {
        return Err(corrupt_at(
            path,
            bytes,
            0,
            "the file holds no JSON array (it is empty or all zeros)".into(),
        ));
    }
    if data[start] != b'[' {
        return Err(corrupt_at(
            path,
            bytes,
            start,
            "expected '[': the file must hold a JSON array of records".into(),
        ));
    }
    scan_structure_from(path, bytes, start as u64 + 1, false, None, session_key)
}

/// Continues a scan at `from`, a known tail: just past a whole record, or just past the `[`
/// when `after_record` is false. For catching up with records another process appended:
/// `bytes` is the whole file as read now, offsets are file offsets, and the spans and ids
/// returned are only those after `from`; `previous_id` is the last id known (ids must ascend).
pub(super) fn scan_structure_from(
    path: &Path,
    bytes: &[u8],
    from: u64,
    after_record: bool,
    previous_id: Option<Id>,
    session_key: Option<&str>,
) -> Result<Structure> {
    let data = &bytes[..data_len(bytes)];
    let corrupt = |offset: usize, message: String| corrupt_at(path, bytes, offset, message);
    let torn = |tail: u64, what: &str| Repair {
        file: path.to_owned(),
        offset: tail,
        removed_bytes: (bytes.len() as u64).saturating_sub(tail),
        detail: format!("cut a torn tail ({what}) left by an interrupted save, and closed the array"),
    };
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut found = Structure {
        spans: Vec::new(),
        ids: Vec::new(),
        session_ids: Vec::new(),
        tail: from,
        torn: None,
    };
    let mut records = RecordScanner {
        data,
        session_key: session_key.map(str::as_bytes),
        open: Vec::new(),
    };
    let mut previous_id = previous_id;
    loop {
        let first = found.spans.is_empty() && !after_record;
        let at = skip_ws(data, usize::try_from(found.tail).unwrap_or(usize::MAX));
        let record_at = match data.get(at) {
            None => {
                found.torn = Some(torn(found.tail, "the closing ']' is missing"));
                return Ok(found);
            }
            Some(b']') => {
                let after = skip_ws(data, at + 1);
                if after != data.len() {
                    return Err(corrupt(after, "unexpected data after the closing ']'".into()));
                }
                if data.len() != bytes.len() {
                    found.torn = Some(torn(found.tail, "zero bytes after the closing ']'"));
                }
                return Ok(found);
            }
            Some(b',') if !first => {
                let next = skip_ws(data, at + 1);
                match data.get(next) {
                    None | Some(b']') => {
                        found.torn = Some(torn(found.tail, "a dangling ',' after the last record"));
                        return Ok(found);
                    }
                    Some(b'{') => next,
                    Some(_) => return Err(corrupt(next, "expected a record ('{')".into())),
                }
            }
            Some(b'{') if first => at,
            Some(_) if first => return Err(corrupt(at, "expected a record ('{') or ']'".into())),
            Some(_) => return Err(corrupt(at, "expected ',' or ']' after a record".into())),
        };
        let record = match records.record(record_at) {
            Ok(record) => record,
            Err(Stop::EndOfData) => {
                found.torn = Some(torn(found.tail, "a partly written record"));
                return Ok(found);
            }
            // A bad last byte is read as a torn write, as `scan` reads it (its parser reports
            // the error one past the byte, at the end of the data).
            Err(Stop::Invalid { detected, .. }) if detected + 1 >= data.len() => {
                found.torn = Some(torn(found.tail, "a partly written record"));
                return Ok(found);
            }
            Err(Stop::Invalid { offset, what, .. }) => {
                return Err(corrupt(offset, format!("{file_name} record: {what}")));
            }
        };
        if previous_id.is_some_and(|p| record.id <= p) {
            return Err(corrupt(
                record_at,
                format!(
                    "record id {} does not follow id {} (ids must ascend)",
                    record.id,
                    previous_id.unwrap_or(0)
                ),
            ));
        }
        previous_id = Some(record.id);
        found.spans.push(Span {
            offset: record_at as u64,
            len: (record.end - record_at) as u64,
        });
        found.ids.push(record.id);
        if let Some(session_id) = record.session_id {
            found.session_ids.push(session_id);
        }
        found.tail = record.end as u64;
    }
}

/// [`scan_structure`], on several threads when the file is large: the file is cut where one
/// top-level record ends (`\n  },\n  {`, which only occurs between records in the original's
/// format, as JSON strings cannot hold a raw newline) and the parts are scanned at once. The
/// result is exactly [`scan_structure`]'s: a part that does not end cleanly at its cut, any
/// damage, or ids that do not ascend across a cut, and the file is scanned again in one pass,
/// which then reports it.
pub(super) fn scan_structure_parallel(
    path: &Path,
    bytes: &[u8],
    session_key: Option<&str>,
) -> Result<Structure> {
    const MIN_PART: usize = 4 << 20;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(8);
    scan_in_parts(path, bytes, session_key, threads.min(bytes.len() / MIN_PART))
}

/// [`scan_structure_parallel`] with the number of parts given.
fn scan_in_parts(path: &Path, bytes: &[u8], session_key: Option<&str>, parts: usize) -> Result<Structure> {
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
        return scan_structure(path, bytes, session_key);
    }
    let starts: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).collect();
    let ends: Vec<usize> = cuts.iter().copied().chain(std::iter::once(bytes.len())).collect();
    let results: Vec<Result<Structure>> = std::thread::scope(|scope| {
        // The first part on this thread, the others each on one of their own.
        let handles: Vec<_> = starts[1..]
            .iter()
            .zip(&ends[1..])
            .map(|(&start, &end)| {
                scope.spawn(move || {
                    scan_structure_from(path, &bytes[..end], start as u64, true, None, session_key)
                })
            })
            .collect();
        let first = scan_structure(path, &bytes[..ends[0]], session_key);
        std::iter::once(first)
            .chain(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a scan thread panicked")),
            )
            .collect()
    });
    let last = results.len() - 1;
    let mut merged: Option<Structure> = None;
    for (index, result) in results.into_iter().enumerate() {
        let Ok(part) = result else {
            return scan_structure(path, bytes, session_key);
        };
        let clean_cut = part.tail == ends[index] as u64 && !part.ids.is_empty();
        if index < last && !clean_cut {
            return scan_structure(path, bytes, session_key);
        }
        merged = Some(match merged {
            None => part,
            Some(mut whole) => {
                let ascending = match (whole.ids.last(), part.ids.first()) {
                    (Some(a), Some(b)) => a < b,
                    _ => true,
                };
                if !ascending {
                    return scan_structure(path, bytes, session_key);
                }
                whole.spans.extend(part.spans);
                whole.ids.extend(part.ids);
                whole.session_ids.extend(part.session_ids);
                whole.tail = part.tail;
                whole.torn = part.torn;
                whole
            }
        });
    }
    Ok(merged.expect("at least one part"))
}

/// The length of `bytes` without the zeros at its end: what a power cut leaves where an
/// extended file's data never landed.
fn data_len(bytes: &[u8]) -> usize {
    bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count()
}

/// Why a record's scan stopped short of its end.
enum Stop {
    /// The data ended inside the record: a torn write.
    EndOfData,
    /// The record is not valid JSON, or its id or session id is missing or not an integer.
    Invalid {
        /// The first bad byte, reported.
        offset: usize,
        /// Where the scan found out (past `offset` for bad UTF-8, seen at the string's end).
        detected: usize,
        /// What is wrong there.
        what: &'static str,
    },
}

fn invalid(at: usize, what: &'static str) -> Stop {
    Stop::Invalid {
        offset: at,
        detected: at,
        what,
    }
}

/// A whole record's end (just past its `}`) and the keys extracted from it.
struct RecordFound {
    end: usize,
    id: Id,
    session_id: Option<Id>,
}

/// Which top-level field the value being scanned belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Session,
    Other,
}

/// What the scan expects next inside a record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A key or `}`: just after `{`.
    FirstKey,
    /// A key: after `,` in an object.
    Key,
    /// A value or `]`: just after `[`.
    FirstItem,
    /// A value: after `:`, or after `,` in an array.
    Value,
    /// `,` or the closing bracket of the innermost container.
    AfterValue,
}

/// Scans records one at a time; keeps its stack of open containers between them.
struct RecordScanner<'a> {
    data: &'a [u8],
    session_key: Option<&'a [u8]>,
    /// The containers open inside the record (the record itself not counted): `true` for an object.
    open: Vec<bool>,
}

impl RecordScanner<'_> {
    /// Scans the record whose `{` is at `at`: checks its syntax, finds its end, and reads its
    /// top-level id and session id, which must be integers.
    fn record(&mut self, at: usize) -> std::result::Result<RecordFound, Stop> {
        let data = self.data;
        self.open.clear();
        let (mut id, mut session_id) = (None, None);
        let mut field = Field::Other;
        let mut expect = Expect::FirstKey;
        let mut i = at + 1;
        loop {
            i = skip_whitespace(data, i);
            let Some(&byte) = data.get(i) else {
                return Err(Stop::EndOfData);
            };
            let closes = match expect {
                Expect::FirstKey if byte == b'}' => true,
                Expect::FirstKey | Expect::Key => {
                    if byte != b'"' {
                        let what = if expect == Expect::FirstKey {
                            "expected a key ('\"') or '}'"
                        } else {
                            "expected a key ('\"')"
                        };
                        return Err(invalid(i, what));
                    }
                    let (end, escaped) = string_end(data, i + 1)?;
                    if self.open.is_empty() {
                        field = self.field(i, end, escaped);
                        let repeated = match field {
                            Field::Id => id.is_some(),
                            Field::Session => session_id.is_some(),
                            Field::Other => false,
                        };
                        if repeated {
                            return Err(invalid(i, "the record has this key twice"));
                        }
                    }
                    i = skip_whitespace(data, end);
                    match data.get(i) {
                        Some(b':') => {}
                        Some(_) => return Err(invalid(i, "expected ':' after a key")),
                        None => return Err(Stop::EndOfData),
                    }
                    i += 1;
                    expect = Expect::Value;
                    false
                }
                Expect::FirstItem if byte == b']' => true,
                Expect::FirstItem | Expect::Value => {
                    if field == Field::Other || !self.open.is_empty() {
                        match byte {
                            b'"' => i = string_end(data, i + 1)?.0,
                            b'{' => {
                                self.open.push(true);
                                expect = Expect::FirstKey;
                                i += 1;
                                continue;
                            }
                            b'[' => {
                                self.open.push(false);
                                expect = Expect::FirstItem;
                                i += 1;
                                continue;
                            }
                            b'-' | b'0'..=b'9' => i = number_end(data, i)?,
                            b't' => i = literal_end(data, i, b"true")?,
                            b'f' => i = literal_end(data, i, b"false")?,
                            b'n' => i = literal_end(data, i, b"null")?,
                            b'N' => i = literal_end(data, i, b"NaN")?,
                            b'I' => i = literal_end(data, i, b"Infinity")?,
                            _ => return Err(invalid(i, "expected a value")),
                        }
                    } else {
                        let (value, end) = integer(data, i)?;
                        if field == Field::Id {
                            id = Some(value);
                        } else {
                            session_id = Some(value);
                        }
                        field = Field::Other;
                        i = end;
                    }
                    expect = Expect::AfterValue;
                    false
                }
                Expect::AfterValue => {
                    let in_object = self.open.last().copied().unwrap_or(true);
                    match byte {
                        b',' => {
                            expect = if in_object { Expect::Key } else { Expect::Value };
                            i += 1;
                            false
                        }
                        b'}' if in_object => true,
                        b']' if !in_object => true,
                        _ if in_object => return Err(invalid(i, "expected ',' or '}' after a value")),
                        _ => return Err(invalid(i, "expected ',' or ']' after a value")),
                    }
                }
            };
            if closes {
                if self.open.pop().is_none() {
                    return self.found(at, i, id, session_id);
                }
                expect = Expect::AfterValue;
                i += 1;
            }
        }
    }

    /// The record whose `}` is at `close`, once it has the keys it must have.
    fn found(
        &self,
        at: usize,
        close: usize,
        id: Option<Id>,
        session_id: Option<Id>,
    ) -> std::result::Result<RecordFound, Stop> {
        let missing = |what| Stop::Invalid {
            offset: at,
            detected: close,
            what,
        };
        let id = id.ok_or_else(|| missing("the record has no \"id\""))?;
        if self.session_key.is_some() && session_id.is_none() {
            return Err(missing("the record has no session id"));
        }
        Ok(RecordFound {
            end: close + 1,
            id,
            session_id,
        })
    }

    /// Which field the top-level key from the `"` at `quote` to `end` (just past its closing `"`) names.
    fn field(&self, quote: usize, end: usize, escaped: bool) -> Field {
        let raw = &self.data[quote + 1..end - 1];
        if raw == b"id" {
            return Field::Id;
        }
        // The length and first byte first: most keys differ there, without a call to memcmp.
        let named = |key: &[u8]| key.len() == raw.len() && key.first() == raw.first() && key == raw;
        if self.session_key.is_some_and(named) {
            return Field::Session;
        }
        if !escaped {
            return Field::Other;
        }
        // A key spelt with escapes (`"i\u0064"`) names the field it decodes to.
        match serde_json::from_slice::<String>(&self.data[quote..end]) {
            Ok(key) if key == "id" => Field::Id,
            Ok(key) if self.session_key == Some(key.as_bytes()) => Field::Session,
            _ => Field::Other,
        }
    }
}

#[inline]
fn skip_whitespace(data: &[u8], mut i: usize) -> usize {
    loop {
        match data.get(i) {
            Some(b' ' | b'\n' | b'\r' | b'\t') => i += 1,
            _ => return i,
        }
        // Indentation: spaces eight at a time.
        while let Some(chunk) = data.get(i..i + 8) {
            let not_spaces =
                u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ (ONES * u64::from(b' '));
            if not_spaces != 0 {
                i += (not_spaces.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` (eight bytes, little-endian) a string scan must stop at: `"`, `\`, a
/// control character, or a byte of a multi-byte UTF-8 character. The lowest byte whose top bit
/// is set in the result is the first such byte (bytes above it may be flagged falsely).
fn string_stops(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let is_control = word.wrapping_sub(ONES * 0x20) & !word;
    (is_quote | is_backslash | is_control | word) & HIGHS
}

/// Just past the closing `"` of the string whose contents start at `i`, and whether it holds
/// an escape.
#[inline]
fn string_end(data: &[u8], i: usize) -> std::result::Result<(usize, bool), Stop> {
    // Most strings (every key and most values) hold no escape and no multi-byte character:
    // their closing quote is the first byte a string stops at, found here without a call.
    let mut at = i;
    while let Some(chunk) = data.get(at..at + 8) {
        let stops = string_stops(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if stops != 0 {
            at += (stops.trailing_zeros() / 8) as usize;
            if data[at] == b'"' {
                return Ok((at + 1, false));
            }
            break;
        }
        at += 8;
    }
    // The bytes before `at` are plain: the rest of the string goes on from there.
    string_end_from(data, at)
}

/// [`string_end`] for every string: escapes, multi-byte characters, and what is wrong.
#[inline(never)]
fn string_end_from(data: &[u8], mut i: usize) -> std::result::Result<(usize, bool), Stop> {
    let mut bad_utf8 = None;
    let mut escaped = false;
    loop {
        while let Some(chunk) = data.get(i..i + 8) {
            let stops = string_stops(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
            if stops != 0 {
                i += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&byte) = data.get(i) else {
            return Err(Stop::EndOfData);
        };
        match byte {
            b'"' => {
                return match bad_utf8 {
                    None => Ok((i + 1, escaped)),
                    Some(offset) => Err(Stop::Invalid {
                        offset,
                        detected: i,
                        what: "a string is not valid UTF-8",
                    }),
                };
            }
            b'\\' => {
                i = escape_end(data, i)?;
                escaped = true;
            }
            0..=0x1f => return Err(invalid(i, "a control character in a string (it must be escaped)")),
            0x80.. => {
                let width = match byte {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => 1,
                };
                match data.get(i..i + width) {
                    // Cut short: the string cannot end before the data does.
                    None => return Err(Stop::EndOfData),
                    Some(character) if width > 1 && std::str::from_utf8(character).is_ok() => i += width,
                    Some(_) => {
                        bad_utf8.get_or_insert(i);
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
}

/// Just past the escape whose `\` is at `i`.
fn escape_end(data: &[u8], i: usize) -> std::result::Result<usize, Stop> {
    match data.get(i + 1) {
        None => Err(Stop::EndOfData),
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => match hex4(data, i + 2)? {
            0xd800..=0xdbff => {
                match (data.get(i + 6), data.get(i + 7)) {
                    (Some(b'\\'), Some(b'u')) => {}
                    (None, _) | (Some(b'\\'), None) => return Err(Stop::EndOfData),
                    _ => return Err(invalid(i, "a lone UTF-16 surrogate in a \\u escape")),
                }
                if (0xdc00..=0xdfff).contains(&hex4(data, i + 8)?) {
                    Ok(i + 12)
                } else {
                    Err(invalid(i, "a lone UTF-16 surrogate in a \\u escape"))
                }
            }
            0xdc00..=0xdfff => Err(invalid(i, "a lone UTF-16 surrogate in a \\u escape")),
            _ => Ok(i + 6),
        },
        Some(_) => Err(invalid(i + 1, "an unknown escape in a string")),
    }
}

/// The four hex digits at `at`.
fn hex4(data: &[u8], at: usize) -> std::result::Result<u32, Stop> {
    let digits = data.get(at..at + 4).ok_or(Stop::EndOfData)?;
    let mut unit = 0;
    for (k, digit) in digits.iter().enumerate() {
        let value = char::from(*digit)
            .to_digit(16)
            .ok_or_else(|| invalid(at + k, "expected four hex digits after \\u"))?;
        unit = unit * 16 + value;
    }
    Ok(unit)
}

/// Just past the number (or `-Infinity`) starting at `i`.
fn number_end(data: &[u8], mut i: usize) -> std::result::Result<usize, Stop> {
    if data[i] == b'-' {
        i += 1;
        if data.get(i) == Some(&b'I') {
            return literal_end(data, i, b"Infinity");
        }
    }
    match data.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(data, i + 1),
        Some(_) => return Err(invalid(i, "expected a digit")),
        None => return Err(Stop::EndOfData),
    }
    if data.get(i) == Some(&b'.') {
        i = at_least_one_digit(data, i + 1, "expected a digit after '.'")?;
    }
    if let Some(b'e' | b'E') = data.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = data.get(i) {
            i += 1;
        }
        i = at_least_one_digit(data, i, "expected a digit in the exponent")?;
    }
    Ok(i)
}

fn digits_end(data: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = data.get(i) {
        i += 1;
    }
    i
}

fn at_least_one_digit(data: &[u8], i: usize, what: &'static str) -> std::result::Result<usize, Stop> {
    match data.get(i) {
        Some(b'0'..=b'9') => Ok(digits_end(data, i + 1)),
        Some(_) => Err(invalid(i, what)),
        None => Err(Stop::EndOfData),
    }
}

/// Just past `word` (`true`, `NaN`, ...) expected at `i`.
fn literal_end(data: &[u8], i: usize, word: &[u8]) -> std::result::Result<usize, Stop> {
    for (k, expected) in word.iter().enumerate() {
        match data.get(i + k) {
            Some(byte) if byte == expected => {}
            Some(_) => return Err(invalid(i + k, "expected a value")),
            None => return Err(Stop::EndOfData),
        }
    }
    Ok(i + word.len())
}

/// The integer (an id) at `at` and just past it.
fn integer(data: &[u8], at: usize) -> std::result::Result<(Id, usize), Stop> {
    const NOT_AN_ID: &str = "an id or session id is not an integer";
    let negative = data.get(at) == Some(&b'-');
    let digits = at + usize::from(negative);
    let mut i = digits;
    let mut value: Id = 0;
    while let Some(&byte @ b'0'..=b'9') = data.get(i) {
        let digit = Id::from(byte - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(digit)
                } else {
                    v.checked_add(digit)
                }
            })
            .ok_or_else(|| invalid(at, NOT_AN_ID))?;
        i += 1;
    }
    match data.get(i) {
        _ if i == digits && i == data.len() => return Err(Stop::EndOfData),
        _ if i == digits => return Err(invalid(at, NOT_AN_ID)),
        // Leading zeros: the number ends after the `0`, and what follows cannot.
        _ if data[digits] == b'0' && i > digits + 1 => {
            return Err(invalid(digits + 1, "expected ',' or '}' after a value"))
        }
        Some(b'.' | b'e' | b'E') => {
            return Err(Stop::Invalid {
                offset: at,
                detected: i,
                what: NOT_AN_ID,
            })
        }
        _ => {}
    }
    Ok((value, i))
}

/// [`scan_structure`] of the file `file` at `path`, up to `limit` bytes (`u64::MAX`: all of it),
/// read a part at a time: memory holds a part and the index, never the whole file.
///
/// Each part after the first starts at the tail the parts before it reached (just past a
/// whole record), so a record cut by a part's end is read whole with the next part; a record
/// longer than a part makes the part grow. The outcome is [`scan_structure`]'s on the whole file.
pub(super) fn scan_file(
    path: &Path,
    file: &File,
    limit: u64,
    session_key: Option<&str>,
) -> Result<FileStructure> {
    scan_file_in_parts(path, file, limit, session_key, 16 << 20)
}

/// [`scan_file`], `part_len` bytes at a time.
fn scan_file_in_parts(
    path: &Path,
    file: &File,
    limit: u64,
    session_key: Option<&str>,
    part_len: u64,
) -> Result<FileStructure> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len()
        .min(limit);
    if len <= part_len {
        let mut buffer = Vec::new();
        let bytes = read_part(path, file, &mut buffer, 0, 0, len)?;
        return scan_structure_parallel(path, bytes, session_key).map(FileStructure::from);
    }
    // Room before a part read ahead for the end of the part before it (the start of a record
    // that part's end cut), so the two join without copying the part.
    let slack = usize::try_from((part_len / 4).min(1 << 20)).unwrap_or(usize::MAX);
    let mut found = FileStructure {
        spans: Vec::new(),
        ids: Runs::ids(),
        session_ids: Runs::sessions(),
        tail: 0,
        torn: None,
    };
    let mut part = part_len;
    let mut first = true;
    // Two buffers, each reused for every other part: their pages are faulted in once. The part
    // being scanned is `buffer[at..at + end - base]`, the file's bytes from `base` to `end`.
    let (mut buffer, mut spare) = (Vec::new(), Vec::new());
    let (mut at, mut base, mut end) = (0, 0, 0);
    let mut read_ahead = false;
    std::thread::scope(move |scope| loop {
        if !read_ahead {
            base = found.tail;
            end = base.saturating_add(part).min(len);
            at = 0;
            read_part(path, file, &mut buffer, at, base, end)?;
        }
        let last = end == len;
        // The next part's new bytes, read on another thread while this part is scanned.
        let ahead = (!last).then(|| {
            let mut next = std::mem::take(&mut spare);
            let (from, to) = (end, end.saturating_add(part).min(len));
            let reader = scope.spawn(move || {
                let read = read_part(path, file, &mut next, slack, from, to).map(|_| ());
                (next, read)
            });
            (reader, to)
        });
        let bytes = &mut buffer[at..at + usize::try_from(end - base).unwrap_or(usize::MAX)];
        let scanned = if first {
            scan_structure_parallel(path, bytes, session_key)
        } else {
            continue_scan(
                path,
                bytes,
                !found.spans.is_empty(),
                found.ids.last(),
                session_key,
            )
        };
        let scanned = match scanned {
            Ok(scanned) => Ok(scanned),
            // Damage just before a part's end may be a token the end cut: read on to be sure.
            Err(Error::CorruptFile { offset, .. }) if !last && offset + 64 >= bytes.len() as u64 => {
                part = part.saturating_mul(2);
                Err(None)
            }
            Err(Error::CorruptFile { offset, message, .. }) => {
                Err(Some(corrupt_in_file(path, file, base + offset, message)))
            }
            Err(other) => Err(Some(other)),
        };
        // Waited for whatever comes next, so that its buffer is not lost.
        let ahead = ahead.map(|(reader, to)| {
            let (next, read) = reader.join().expect("the read-ahead thread panicked");
            (next, read, to)
        });
        let mut scanned = match scanned {
            Ok(scanned) => scanned,
            Err(error) => {
                if let Some((next, _, _)) = ahead {
                    spare = next;
                }
                read_ahead = false;
                match error {
                    None => continue,
                    Some(error) => return Err(error),
                }
            }
        };
        for span in &mut scanned.spans {
            span.offset += base;
        }
        let progressed = !scanned.spans.is_empty();
        found.spans.append(&mut scanned.spans);
        found.ids.extend(scanned.ids);
        found.session_ids.extend(scanned.session_ids);
        found.tail = base + scanned.tail;
        if last {
            found.torn = scanned.torn.map(|mut torn| {
                torn.offset += base;
                torn
            });
            return Ok(found);
        }
        if first && progressed {
            // Room for the whole file's spans, as many as the first part suggests (and a
            // sixteenth more), so they do not grow by doubling: copying, and holding the old
            // and the new at once at the peak of memory.
            let estimate = found.spans.len() as u64 * (len / found.tail.max(1) + 1);
            let more = usize::try_from(estimate + estimate / 16)
                .unwrap_or(0)
                .saturating_sub(found.spans.len());
            found.spans.reserve_exact(more);
        }
        first = false;
        if !progressed {
            part = part.saturating_mul(2);
        }
        let (mut next, read, to) = ahead.expect("a part before the last reads the next ahead");
        // What this part's end cut off: the next part starts with it.
        let carried = usize::try_from(end - found.tail).unwrap_or(usize::MAX);
        read_ahead = progressed && read.is_ok() && carried <= slack;
        if read_ahead {
            let from = at + usize::try_from(found.tail - base).unwrap_or(usize::MAX);
            next[slack - carried..slack].copy_from_slice(&buffer[from..from + carried]);
            spare = std::mem::replace(&mut buffer, next);
            (at, base, end) = (slack - carried, found.tail, to);
        } else {
            // A record longer than the room before the part, or a failed read (which reading
            // again reports): the next part is read whole from the tail.
            spare = next;
        }
    })
}

/// The file's bytes from `from` to `to`, read into `buffer` from `at` on (the buffer grown if
/// need be, never shrunk).
fn read_part<'b>(
    path: &Path,
    file: &File,
    buffer: &'b mut Vec<u8>,
    at: usize,
    from: u64,
    to: u64,
) -> Result<&'b mut [u8]> {
    let len = at + usize::try_from(to - from).unwrap_or(usize::MAX);
    if buffer.len() < len {
        // Fresh zeroed pages (no copy of the old contents, which the read replaces anyway).
        *buffer = vec![0; len];
    }
    let bytes = &mut buffer[at..len];
    file.read_exact_at(bytes, from)
        .map_err(|e| Error::io("reading", path, e))?;
    Ok(bytes)
}

/// Scans a part that starts at a tail (`bytes` from there): on several threads when the part
/// goes on with `,` and more records, as [`scan_structure_from`] otherwise. Offsets come back
/// relative to the part. `bytes` is changed while it is scanned, and given back as it was.
fn continue_scan(
    path: &Path,
    bytes: &mut [u8],
    after_record: bool,
    previous_id: Option<Id>,
    session_key: Option<&str>,
) -> Result<Structure> {
    let at = skip_ws(bytes, 0);
    if after_record && bytes.get(at) == Some(&b',') {
        // The part read as an array of its own: its `,` stands for the `[` (in place, not in
        // a copy of the part).
        bytes[at] = b'[';
        let parallel = scan_structure_parallel(path, bytes, session_key);
        bytes[at] = b',';
        if let Ok(scanned) = parallel {
            let ascending = match (previous_id, scanned.ids.first()) {
                (Some(previous), Some(first)) => *first > previous,
                _ => true,
            };
            // Nothing whole in it, or ids falling back: the exact scan says what it is.
            if ascending && !scanned.spans.is_empty() {
                return Ok(scanned);
            }
        }
    }
    scan_structure_from(path, bytes, 0, after_record, previous_id, session_key)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::super::array_file::scan;
    use super::super::format::write_array_element;
    use super::*;
    use crate::error::Error;
    use crate::model::{Lap, Record, Session, Simulation};

    const DRIVERS: [&str; 5] = [
        "GR86-002-7",
        "says \"fast\" \\ back\\slash /",
        "Pérez ✓ 😀",
        "tab\there\nnewline \u{1} bell \u{7}",
        "",
    ];

    fn lap(id: Id) -> Lap {
        Lap {
            id,
            session_id: 1 + id / 7,
            driver_id: DRIVERS[id as usize % DRIVERS.len()].into(),
            lap_number: id,
            lap_time: 90.0 + id as f64 / 8.0,
            sector_1: Some(29.5),
            sector_2: None,
            sector_3: Some(-30.25e-3),
            lap_type: "RACE_LAP".into(),
            position: (id % 3 != 0).then_some(id % 20),
            created_at: "2026-11-25T16:33:08.009625Z".into(),
        }
    }

    fn laps(count: Id) -> Vec<Lap> {
        (1..=count).map(lap).collect()
    }

    fn session(id: Id) -> Session {
        Session {
            id,
            circuit: DRIVERS[id as usize % DRIVERS.len()].into(),
            date: "2025-09-06T14:00:00".into(),
            race_type: "race".into(),
            created_at: "2026-11-25T16:33:08.009625Z".into(),
            updated_at: "2026-11-25T16:33:08.009625Z".into(),
        }
    }

    /// `{"a": [{"a": [ ... 1.5 ... ]}]}`, `levels` containers deep.
    fn nested(levels: usize) -> serde_json::Value {
        let mut value = serde_json::json!(1.5);
        for level in 0..levels {
            value = if level % 2 == 0 {
                serde_json::json!([value, "x\"]}"])
            } else {
                serde_json::json!({ "a": value, "b": {} })
            };
        }
        value
    }

    fn simulation(id: Id, depth: usize) -> Simulation {
        Simulation {
            id,
            session_id: id,
            driver_paces: nested(depth),
            n_laps: 20,
            iterations: 100,
            results: serde_json::json!({"win_probability": {"GR86-002-7": 1.0}, "note": "Pérez", "empty": []}),
            created_at: "2026-11-25T16:33:08.009625Z".into(),
        }
    }

    /// The records as the original writes them (`json.dump(indent=2)`).
    fn indented<T: Serialize>(records: &[T]) -> Vec<u8> {
        let mut bytes = b"[".to_vec();
        for (i, record) in records.iter().enumerate() {
            bytes.extend_from_slice(if i == 0 { b"\n  " } else { b",\n  " });
            write_array_element(&mut bytes, record);
        }
        bytes.extend_from_slice(if records.is_empty() { b"]" } else { b"\n]" });
        bytes
    }

    fn compact<T: Serialize>(records: &[T]) -> Vec<u8> {
        serde_json::to_vec(records).unwrap()
    }

    /// The records indented, each with its keys in reverse order.
    fn reversed_keys<T: Serialize>(records: &[T]) -> Vec<u8> {
        let reversed: Vec<serde_json::Map<String, serde_json::Value>> = records
            .iter()
            .map(|r| {
                let serde_json::Value::Object(map) = serde_json::to_value(r).unwrap() else {
                    unreachable!("records are objects")
                };
                map.into_iter().rev().collect()
            })
            .collect();
        serde_json::to_vec_pretty(&reversed).unwrap()
    }

    fn replaced(bytes: &[u8], from: &str, to: &str, count: usize) -> Vec<u8> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, count).into_bytes()
    }

    /// Spans, ids, session ids, tail and repair; or a refusal's offset and message.
    type Outcome =
        std::result::Result<(Vec<(u64, u64)>, Vec<Id>, Vec<Id>, u64, Option<Repair>), (u64, String)>;

    fn refusal(path: &Path, error: Error) -> (u64, String) {
        match error {
            Error::CorruptFile {
                path: named,
                offset,
                message,
                ..
            } => {
                assert_eq!(named, path);
                (offset, message)
            }
            other => panic!("expected CorruptFile, got {other:?}"),
        }
    }

    fn parsed<T: Record>(path: &Path, bytes: &[u8], key: Option<&str>) -> Outcome {
        match scan::<T>(path, bytes) {
            Ok(s) => Ok((
                s.spans.iter().map(|s| (s.offset, s.len)).collect(),
                s.records.iter().map(Record::id).collect(),
                match key {
                    Some(_) => s.records.iter().map(Record::session_id).collect(),
                    None => Vec::new(),
                },
                s.tail,
                s.torn,
            )),
            Err(error) => Err(refusal(path, error)),
        }
    }

    fn structural(path: &Path, result: Result<Structure>) -> Outcome {
        match result {
            Ok(s) => Ok((
                s.spans.iter().map(|s| (s.offset, s.len)).collect(),
                s.ids,
                s.session_ids,
                s.tail,
                s.torn,
            )),
            Err(error) => Err(refusal(path, error)),
        }
    }

    /// Just past the line holding `at`.
    fn line_end(bytes: &[u8], at: usize) -> usize {
        let at = at.min(bytes.len());
        at + bytes[at..]
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(bytes.len() - at)
            + 1
    }

    /// Asserts that the structural scan, in one pass and in 2 to 5 parts, finds what parsing
    /// every record finds, and refuses what it refuses no later than the end of that line.
    fn assert_agrees<T: Record>(what: &str, bytes: &[u8], key: Option<&str>) {
        let name = T::COLLECTION.file_name();
        let path = Path::new(&name);
        let expected = parsed::<T>(path, bytes, key);
        for parts in 1..=5 {
            let found = structural(path, scan_in_parts(path, bytes, key, parts));
            match (&expected, &found) {
                (Ok(_), _) => assert_eq!(found, expected, "{what}, {parts} parts"),
                (Err((at, message)), Err((offset, found_message))) => {
                    assert!(
                        *offset as usize <= line_end(bytes, *at as usize),
                        "{what}, {parts} parts: refused at {offset}, parsing at {at}: {found_message}"
                    );
                    if message.contains("ids must ascend") {
                        assert!(
                            found_message.contains("ids must ascend"),
                            "{what}: {found_message}"
                        );
                    }
                }
                (Err(refused), Ok(_)) => {
                    panic!("{what}, {parts} parts: accepted, parsing refused {refused:?}")
                }
            }
        }
    }

    /// The files of the differential tests: (what, collection, bytes).
    fn clean_files() -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            ("no laps".to_owned(), indented::<Lap>(&[])),
            ("no laps, spaced".to_owned(), b" \n[ \r\n\t]\n ".to_vec()),
            ("one lap".to_owned(), indented(&laps(1))),
            ("indented laps".to_owned(), indented(&laps(40))),
            ("compact laps".to_owned(), compact(&laps(40))),
            ("keys reversed".to_owned(), reversed_keys(&laps(40))),
        ];
        let many = indented(&laps(40));
        files.push((
            "unicode escapes".to_owned(),
            replaced(&many, "é", "\\u00e9", 3)
                .pipe(|b| replaced(&b, "😀", "\\ud83d\\ude00", 2))
                .pipe(|b| replaced(&b, "✓", "\\u2713", 1)),
        ));
        files.push((
            "an escaped id key".to_owned(),
            replaced(&many, "\"id\": 7,", "\"i\\u0064\": 7,", 1),
        ));
        files.push((
            "NaN and infinities".to_owned(),
            replaced(&many, "\"sector_2\": null", "\"sector_2\": NaN", 30)
                .pipe(|b| replaced(&b, "\"sector_1\": 29.5", "\"sector_1\": Infinity", 20))
                .pipe(|b| replaced(&b, "\"sector_3\": -0.03025", "\"sector_3\": -Infinity", 10)),
        ));
        files.push((
            "numbers written otherwise".to_owned(),
            replaced(&many, "\"sector_1\": 29.5", "\"sector_1\": 2.95E+1", 5)
                .pipe(|b| replaced(&b, "\"sector_3\": -0.03025", "\"sector_3\": -3025e-5", 5))
                .pipe(|b| replaced(&b, "\"sector_2\": null", "\"sector_2\": -0", 5)),
        ));
        files
    }

    trait Pipe: Sized {
        fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
            f(self)
        }
    }
    impl<T> Pipe for T {}

    /// Torn at every byte of the last record, with and without zeros after the cut.
    fn torn_versions(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let last_record = bytes
            .windows(2)
            .rposition(|w| w == b",\n")
            .or_else(|| bytes.iter().rposition(|b| *b == b','));
        let from = last_record.unwrap_or(1);
        let mut versions = Vec::new();
        for cut in from..bytes.len() {
            versions.push((format!("cut at {cut}"), bytes[..cut].to_vec()));
            let mut zeros = bytes[..cut].to_vec();
            zeros.extend_from_slice(&[0; 9]);
            versions.push((format!("cut at {cut}, zeros after"), zeros));
        }
        let body = &bytes[..bytes.len() - 2];
        for tail in [
            &b",\n  "[..],
            b",",
            b",]",
            b"\n]\0\0\0\0",
            b"\0\0\0\0\0\0\0\0",
            b",\n  {\n    \"id\": 99,\0\0\0",
            b"\n] \n ",
        ] {
            let mut damaged = body.to_vec();
            damaged.extend_from_slice(tail);
            versions.push((format!("tail {tail:?}"), damaged));
        }
        versions
    }

    #[test]
    fn clean_and_torn_lap_files_scan_as_parsing_finds() {
        for (what, bytes) in clean_files() {
            assert_agrees::<Lap>(&what, &bytes, Some("session_id"));
            for (how, torn) in torn_versions(&bytes) {
                assert_agrees::<Lap>(&format!("{what}, {how}"), &torn, Some("session_id"));
            }
        }
    }

    #[test]
    fn sessions_and_deeply_nested_simulations_scan_as_parsing_finds() {
        let sessions: Vec<Session> = (1..=30).map(session).collect();
        for (what, bytes) in [
            ("sessions", indented(&sessions)),
            ("compact sessions", compact(&sessions)),
            ("sessions keys reversed", reversed_keys(&sessions)),
        ] {
            assert_agrees::<Session>(what, &bytes, None);
            for (how, torn) in torn_versions(&bytes) {
                assert_agrees::<Session>(&format!("{what}, {how}"), &torn, None);
            }
        }
        // 200 levels (past serde_json's limit of 128, which parsing works around) in a record
        // before the last, which torn versions cut.
        let simulations: Vec<Simulation> = (1..=3)
            .map(|id| simulation(id, if id == 2 { 200 } else { 3 }))
            .collect();
        for (what, bytes) in [
            ("simulations", indented(&simulations)),
            ("compact simulations", compact(&simulations)),
        ] {
            assert_agrees::<Simulation>(what, &bytes, Some("session_id"));
            for (how, torn) in torn_versions(&bytes) {
                assert_agrees::<Simulation>(&format!("{what}, {how}"), &torn, Some("session_id"));
            }
        }
    }

    #[test]
    fn a_flipped_structural_byte_is_refused_on_its_line() {
        let many = indented(&laps(15));
        let simulations = indented(&(1..=3).map(|id| simulation(id, 20)).collect::<Vec<_>>());
        for (bytes, is_lap) in [(many, true), (simulations, false)] {
            let last_record = bytes.windows(4).rposition(|w| w == b",\n  ").unwrap();
            let structural = (2..last_record).filter(|&i| match bytes[i] {
                b'{' | b'}' | b'[' | b']' => bytes[i - 1] == b' ' || bytes[i + 1] == b'\n',
                b',' => bytes[i + 1] == b'\n',
                b':' => bytes[i - 1] == b'"' && bytes[i + 1] == b' ',
                b'"' => bytes[i - 1] == b' ' && bytes[i - 2] == b' ',
                _ => false,
            });
            for at in structural.step_by(2) {
                let mut damaged = bytes.clone();
                damaged[at] = b'#';
                let path = Path::new("data.json");
                match scan_in_parts(path, &damaged, Some("session_id"), 1 + at % 5) {
                    Err(Error::CorruptFile {
                        path: named, offset, ..
                    }) => {
                        assert_eq!(named, path);
                        assert!(
                            offset as usize <= line_end(&bytes, at),
                            "flip at {at}: offset {offset}"
                        );
                    }
                    Err(other) => panic!("flip at {at}: {other}"),
                    Ok(_) => panic!("flip at {at}: accepted"),
                }
                let what = format!("flip at {at}");
                if is_lap {
                    assert_agrees::<Lap>(&what, &damaged, Some("session_id"));
                } else {
                    assert_agrees::<Simulation>(&what, &damaged, Some("session_id"));
                }
            }
        }
    }

    #[test]
    fn bad_strings_numbers_and_ids_are_refused_where_they_are() {
        let bytes = indented(&laps(5));
        let path = Path::new("lap_data.json");
        for (what, from, to, needle) in [
            ("a raw control character", "RACE_LAP", "RACE\tLAP", "\t"),
            ("an unknown escape", "RACE_LAP", "RACE\\qLAP", "\\q"),
            ("a short \\u escape", "RACE_LAP", "RACE\\u12xLAP", "\\u12x"),
            ("a lone surrogate", "RACE_LAP", "RACE\\ud800LAP", "\\ud800"),
            ("a number with two points", "29.5", "29.5.1", "29.5.1"),
            ("a leading zero", "29.5", "029.5", "029.5"),
            ("a bare minus", "29.5", "-", "-,"),
            ("an exponent without digits", "29.5", "29.5e", "29.5e"),
            ("a misspelt literal", "null", "nul", "nul,"),
            ("a float id", "\"id\": 3,", "\"id\": 3.0,", "\"id\": 3.0"),
            ("a string id", "\"id\": 3,", "\"id\": \"3\",", "\"3\""),
            (
                "an id past i64",
                "\"id\": 3,",
                "\"id\": 9223372036854775808,",
                "922",
            ),
            ("two ids", "\"id\": 3,", "\"id\": 3, \"id\": 4,", "3, \"id\": 4"),
            (
                "no id",
                "\"id\": 3,",
                "",
                "\"session_id\": 1,\n    \"driver_id\": \"tab",
            ),
            (
                "a session id of null",
                "\"session_id\": 1,",
                "\"session_id\": null,",
                "\"session_id\": null",
            ),
            (
                "ids that fall back",
                "\"id\": 4,",
                "\"id\": 2,",
                "{\n    \"id\": 2,\n    \"session_id\": 1,\n    \"driver_id\": \"\"",
            ),
        ] {
            let damaged = replaced(&bytes, from, to, 1);
            let expected_at = damaged
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            for parts in 1..=3 {
                let (offset, message) =
                    structural(path, scan_in_parts(path, &damaged, Some("session_id"), parts))
                        .expect_err(what);
                assert!(
                    (offset as usize) <= line_end(&damaged, expected_at)
                        && (offset as usize) + 80 >= expected_at,
                    "{what}: offset {offset}, expected near {expected_at}: {message}"
                );
            }
            assert_agrees::<Lap>(what, &damaged, Some("session_id"));
        }
        // A UTF-8 error in a string is found at the bad byte.
        let mut damaged = bytes.clone();
        let at = damaged.windows(8).position(|w| w == b"RACE_LAP").unwrap() + 2;
        damaged[at] = 0xff;
        let (offset, message) = structural(path, scan_structure(path, &damaged, None)).unwrap_err();
        assert_eq!(
            (offset as usize, message.as_str()),
            (at, "lap_data.json record: a string is not valid UTF-8")
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_left_for_reading_to_refuse() {
        let bytes = replaced(
            &indented(&laps(5)),
            "\"lap_time\": 90.375",
            "\"lap_time\": \"fast\"",
            1,
        );
        let path = Path::new("lap_data.json");
        assert!(scan::<Lap>(path, &bytes).is_err(), "parsing refuses it");
        let found = scan_structure(path, &bytes, Some("session_id")).unwrap();
        assert_eq!(found.ids, [1, 2, 3, 4, 5]);
        assert_eq!(found.session_ids, [1, 1, 1, 1, 1]);
        assert!(found.torn.is_none());
    }

    #[test]
    fn a_torn_record_holding_nan_or_deep_nesting_is_a_torn_tail() {
        // Parsing refuses these (its Python-tolerant reading needs the whole record); the
        // structural scan reads them as what they are: a record cut short by a crash.
        let path = Path::new("simulations.json");
        let nan = replaced(&indented(&laps(3)), "\"sector_2\": null", "\"sector_2\": NaN", 3);
        let deep = indented(&(1..=3).map(|id| simulation(id, 200)).collect::<Vec<_>>());
        for bytes in [nan, deep] {
            let cut = bytes.len() - 40;
            let found = scan_structure(path, &bytes[..cut], Some("session_id")).unwrap();
            assert_eq!(found.ids, [1, 2]);
            let torn = found.torn.unwrap();
            assert_eq!(torn.offset, found.tail);
            assert_eq!(torn.removed_bytes, cut as u64 - found.tail);
            assert!(torn.detail.contains("a partly written record"), "{}", torn.detail);
        }
    }

    #[test]
    fn scanning_from_a_tail_finds_only_the_records_appended_since() {
        let path = Path::new("lap_data.json");
        let key = Some("session_id");
        for known in [0, 3] {
            let before = indented(&laps(known));
            let after = indented(&laps(known + 4));
            let old = scan_structure(path, &before, key).unwrap();
            let whole = scan_structure(path, &after, key).unwrap();
            let previous = old.ids.last().copied();
            let new = scan_structure_from(path, &after, old.tail, known > 0, previous, key).unwrap();
            assert_eq!(new.ids, whole.ids[known as usize..]);
            assert_eq!(new.session_ids, whole.session_ids[known as usize..]);
            assert_eq!(
                new.spans.iter().map(|s| (s.offset, s.len)).collect::<Vec<_>>(),
                whole.spans[known as usize..]
                    .iter()
                    .map(|s| (s.offset, s.len))
                    .collect::<Vec<_>>()
            );
            assert_eq!((new.tail, new.torn), (whole.tail, None));
            // Nothing appended: nothing new, the same tail.
            let none = scan_structure_from(path, &before, old.tail, known > 0, previous, key).unwrap();
            assert!(none.ids.is_empty() && none.torn.is_none());
            assert_eq!(none.tail, old.tail);
            // An append still being written: the whole records before it, the rest torn.
            let cut = after.len() - 100;
            let partial =
                scan_structure_from(path, &after[..cut], old.tail, known > 0, previous, key).unwrap();
            assert_eq!(partial.ids, whole.ids[known as usize..whole.ids.len() - 1]);
            assert_eq!(
                partial.torn.unwrap().offset,
                whole.spans[whole.ids.len() - 2].offset + whole.spans[whole.ids.len() - 2].len
            );
        }
        // The appended ids must follow the last one known.
        let before = indented(&laps(3));
        let after = indented(&laps(5));
        let tail = scan_structure(path, &before, key).unwrap().tail;
        let error = scan_structure_from(path, &after, tail, true, Some(10), key)
            .err()
            .unwrap();
        assert!(error.to_string().contains("ids must ascend"), "{error}");
    }

    #[test]
    fn a_file_scanned_part_by_part_gives_what_one_pass_over_it_gives() {
        let clean = indented(&laps(200));
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
        cases.push((
            "ids falling back",
            replaced(&clean, "\"id\": 150,", "\"id\": 15,", 1),
        ));
        let dir = tempfile::tempdir().unwrap();
        for (what, bytes) in cases {
            let file_path = dir.path().join("lap_data.json");
            std::fs::write(&file_path, &bytes).unwrap();
            let file = File::open(&file_path).unwrap();
            let one_pass = structural(&file_path, scan_structure(&file_path, &bytes, Some("session_id")));
            // Parts shorter than a record, a few records long, and the whole file.
            for part_len in [100, 333, 1000, 4096, 1 << 20] {
                let parts = scan_file_in_parts(&file_path, &file, u64::MAX, Some("session_id"), part_len)
                    .map(|found| Structure {
                        spans: found.spans,
                        ids: found.ids.iter().collect(),
                        session_ids: found.session_ids.iter().collect(),
                        tail: found.tail,
                        torn: found.torn,
                    });
                assert_eq!(
                    structural(&file_path, parts),
                    one_pass,
                    "{what}, parts of {part_len}"
                );
            }
        }
    }

    #[test]
    fn the_parallel_scan_finds_what_one_pass_finds() {
        let bytes = indented(&laps(300));
        let path = Path::new("lap_data.json");
        let one = structural(path, scan_structure(path, &bytes, Some("session_id")));
        assert_eq!(
            structural(path, scan_structure_parallel(path, &bytes, Some("session_id"))),
            one
        );
        assert_eq!(one.unwrap().1.len(), 300);
    }

    /// Bytes a flip may put anywhere: structure, string and number bytes, zeros, bad UTF-8.
    const FLIPS: &[u8] = b"#\"\\{}[],: \n09-.eEnNtI\x00\x1f\xff\xc3";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any one byte changed: what parsing accepts is found the same; what the structural
        /// scan refuses, parsing refuses too.
        #[test]
        fn one_changed_byte_never_makes_the_scans_disagree(
            at in 1usize..4000,
            flip in prop::sample::select(FLIPS),
            parts in 1usize..=5,
            nan in any::<bool>(),
        ) {
            let mut bytes = indented(&laps(12));
            if nan {
                bytes = replaced(&bytes, "\"sector_2\": null", "\"sector_2\": NaN", 12);
            }
            let at = at % bytes.len();
            bytes[at] = flip;
            let path = Path::new("lap_data.json");
            let expected = parsed::<Lap>(path, &bytes, Some("session_id"));
            let found = structural(path, scan_in_parts(path, &bytes, Some("session_id"), parts));
            if expected.is_ok() {
                prop_assert_eq!(found, expected);
            } else if let Ok(accepted) = found {
                // Parsing refused what is valid JSON (a field of the wrong type, an unknown key,
                // a number out of range, a torn record it cannot read leniently): serde_json's
                // own syntax check, which builds no value, passes every whole record.
                for (offset, len) in accepted.0 {
                    let record = &bytes[offset as usize..(offset + len) as usize];
                    let text = String::from_utf8(record.to_vec()).unwrap().replace("NaN", "null");
                    prop_assert!(serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(), "{}", text);
                }
            }
        }
    }
}
