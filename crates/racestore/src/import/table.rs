//! Delimited text tables as importers read them: a header of column names, then rows, with
//! every error naming the file, the line and the column.
//!
//! Header names are trimmed and compared case-insensitively (`raceId` is `raceid`); a UTF-8
//! byte-order mark is dropped; LF, CRLF and lone CR end lines; fields may be double-quoted.
//! A cell that is blank, or the Ergast null `\N`, has no value.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The null marker of the Ergast tables (MySQL's `\N`).
const NULL: &[u8] = b"\\N";

/// An import error at `line` of `file` (`None`: the file as a whole).
pub(crate) fn import_error(file: &Path, line: Option<u64>, message: impl Into<String>) -> Error {
    Error::Import {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// Reads a whole file, the error naming it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|err| Error::io("reading", path, err))
}

/// A table being read: its header, then a row at a time.
pub(crate) struct Table<'a> {
    file: PathBuf,
    names: Vec<String>,
    records: csv::ByteRecordsIntoIter<&'a [u8]>,
    lines: LineCounter<'a>,
}

impl<'a> Table<'a> {
    /// Reads the header of `bytes` (the contents of `file`), fields separated by `delimiter`.
    pub(crate) fn new(file: &Path, bytes: &'a [u8], delimiter: u8) -> Result<Self> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(bytes);
        let mut records = reader.into_byte_records();
        let header = match records.next() {
            Some(header) => header.map_err(|err| csv_error(file, &err))?,
            None => {
                return Err(import_error(
                    file,
                    None,
                    "is empty: expected a header line of column names",
                ))
            }
        };
        let names = header
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_owned())
            .collect();
        Ok(Table {
            file: file.to_owned(),
            names,
            records,
            lines: LineCounter::new(bytes),
        })
    }

    /// The index of the first of `names` the header has, case ignored.
    pub(crate) fn column(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|name| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))
    }

    /// [`column`](Self::column), or an error naming the column missing and those present.
    pub(crate) fn require(&self, names: &[&str]) -> Result<usize> {
        self.column(names).ok_or_else(|| {
            let wanted = if names.len() == 1 {
                format!("column {}", names[0])
            } else {
                format!("column {} (nor {})", names[0], names[1..].join(", "))
            };
            import_error(
                &self.file,
                Some(1),
                format!(
                    "has no {wanted} (case ignored); its columns are {}",
                    self.names.join(", ")
                ),
            )
        })
    }

    /// The header's column names, trimmed.
    pub(crate) fn column_names(&self) -> &[String] {
        &self.names
    }

    /// The next row, or `None` at the end; a row with more or fewer fields than the header is
    /// an error naming its line.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row<'_>>> {
        let Some(row) = self.next_any_row()? else {
            return Ok(None);
        };
        if let Some(message) = row.width_problem() {
            return Err(import_error(row.file, Some(row.line), message));
        }
        Ok(Some(row))
    }

    /// The next row, or `None` at the end, whatever its number of fields (see
    /// [`Row::width_problem`]).
    pub(crate) fn next_any_row(&mut self) -> Result<Option<Row<'_>>> {
        let Some(record) = self.records.next() else {
            return Ok(None);
        };
        let record = record.map_err(|err| csv_error(&self.file, &err))?;
        let line = self
            .lines
            .line_at(record.position().map_or(0, csv::Position::byte));
        Ok(Some(Row {
            file: &self.file,
            names: &self.names,
            line,
            record,
        }))
    }
}

fn csv_error(file: &Path, err: &csv::Error) -> Error {
    let line = err.position().map(csv::Position::line);
    import_error(file, line, format!("cannot be read: {err}"))
}

/// One row of a [`Table`].
pub(crate) struct Row<'t> {
    file: &'t Path,
    names: &'t [String],
    /// The row's 1-based line in the file.
    pub(crate) line: u64,
    record: csv::ByteRecord,
}

impl Row<'_> {
    /// An error at this row, naming the column `column`.
    pub(crate) fn error(&self, column: usize, message: impl std::fmt::Display) -> Error {
        import_error(
            self.file,
            Some(self.line),
            format!("column {}: {message}", self.names[column]),
        )
    }

    /// What is wrong with the row's number of fields, when it is not the header's.
    pub(crate) fn width_problem(&self) -> Option<String> {
        (self.record.len() != self.names.len()).then(|| {
            format!(
                "has {} fields where the header has {}",
                self.record.len(),
                self.names.len()
            )
        })
    }

    /// The name of column `column`, as the header writes it.
    pub(crate) fn column_name(&self, column: usize) -> &str {
        &self.names[column]
    }

    /// The raw bytes of cell `column`, trimmed of spaces.
    fn bytes(&self, column: usize) -> &[u8] {
        self.record.get(column).unwrap_or_default().trim_ascii()
    }

    /// The text of cell `column`, trimmed; `None` when blank or `\N`; an error when not UTF-8.
    pub(crate) fn text(&self, column: usize) -> Result<Option<&str>> {
        let bytes = self.bytes(column);
        if bytes.is_empty() || bytes == NULL {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.error(column, "is not UTF-8 text"))
    }

    /// [`text`](Self::text) of an optional column (`None` when the table has no such column).
    pub(crate) fn text_of(&self, column: Option<usize>) -> Result<Option<&str>> {
        column.map_or(Ok(None), |c| self.text(c))
    }

    /// A whole number in cell `column`; `None` when blank or `\N`.
    pub(crate) fn int(&self, column: usize) -> Result<Option<i64>> {
        let bytes = self.bytes(column);
        if bytes.is_empty() || bytes == NULL {
            return Ok(None);
        }
        parse_int(bytes).map(Some).ok_or_else(|| {
            self.error(
                column,
                format!(
                    "expected a whole number, got {:?}",
                    String::from_utf8_lossy(bytes)
                ),
            )
        })
    }

    /// A whole number in cell `column` that must be there.
    pub(crate) fn required_int(&self, column: usize) -> Result<i64> {
        self.int(column)?
            .ok_or_else(|| self.error(column, "is blank where a whole number is needed"))
    }

    /// Text in cell `column` that must be there.
    pub(crate) fn required_text(&self, column: usize) -> Result<&str> {
        self.text(column)?
            .ok_or_else(|| self.error(column, "is blank where a value is needed"))
    }
}

/// A decimal whole number, with an optional leading `-`, of at most 18 digits.
fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Finds the line a record starts on, counting as a text editor does: `\n`, `\r\n` and a lone
/// `\r` each end a line. (The csv crate's own line numbers lag behind in CRLF files and after
/// blank lines.)
pub(crate) struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Bytes counted so far.
    counted: usize,
    /// The line at `counted`.
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            counted: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record the csv reader says starts at byte `offset`; offsets must
    /// not go backwards.
    pub(crate) fn line_at(&mut self, offset: u64) -> u64 {
        // The reader may place a record's start on the line ends (and blank lines) before it.
        let mut start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        for i in self.counted..start {
            match self.bytes[i] {
                b'\n' => self.line += 1,
                b'\r' if self.bytes.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.counted = self.counted.max(start);
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<(u64, Vec<Option<String>>)>> {
        let mut table = Table::new(Path::new("t.csv"), text.as_bytes(), b',')?;
        let columns = table.names.len();
        let mut out = Vec::new();
        while let Some(row) = table.next_row()? {
            let cells = (0..columns)
                .map(|c| row.text(c).map(|t| t.map(str::to_owned)))
                .collect::<Result<Vec<_>>>()?;
            out.push((row.line, cells));
        }
        Ok(out)
    }

    #[test]
    fn quoted_or_not_crlf_or_lf_and_null_cells_read_alike() {
        let expected = vec![
            (
                2,
                vec![Some("1".to_owned()), Some("Lewis Hamilton".to_owned()), None],
            ),
            (3, vec![Some("2".to_owned()), None, None]),
        ];
        for text in [
            "id,name,number\n1,Lewis Hamilton,\\N\n2,,\n",
            "\"id\",\"name\",\"number\"\r\n1,\"Lewis Hamilton\",\"\\N\"\r\n2,\"\",\"\"\r\n",
            "\u{feff}id,name,number\r\n1,Lewis Hamilton,\r\n2,\\N,\\N",
        ] {
            assert_eq!(rows(text).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn columns_are_found_case_insensitively_and_a_missing_one_is_named() {
        let table = Table::new(Path::new("races.csv"), b"raceId, Year ,name\n", b',').unwrap();
        assert_eq!(table.column(&["raceid"]), Some(0));
        assert_eq!(table.column(&["YEAR"]), Some(1));
        assert_eq!(table.column(&["constructor_name", "name"]), Some(2));
        let err = table.require(&["date"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "races.csv line 1: has no column date (case ignored); its columns are raceId, Year, name"
        );
    }

    #[test]
    fn bad_cells_and_short_rows_are_errors_naming_file_line_and_column() {
        let text = "raceid,lap\r\n1,2\r\n1,x2\r\n";
        let mut table = Table::new(Path::new("lap_times.csv"), text.as_bytes(), b',').unwrap();
        assert_eq!(table.next_row().unwrap().unwrap().int(1).unwrap(), Some(2));
        let row = table.next_row().unwrap().unwrap();
        assert_eq!(
            row.int(1).unwrap_err().to_string(),
            r#"lap_times.csv line 3: column lap: expected a whole number, got "x2""#
        );
        let mut table = Table::new(Path::new("t.csv"), b"a,b\n1,2\n\n3\n", b',').unwrap();
        table.next_row().unwrap();
        let err = table.next_row().err().unwrap().to_string();
        assert_eq!(err, "t.csv line 4: has 1 fields where the header has 2");
    }

    #[test]
    fn whole_numbers_are_decimal_digits_with_an_optional_minus() {
        assert_eq!(parse_int(b"71454"), Some(71_454));
        assert_eq!(parse_int(b"-3"), Some(-3));
        for bad in [&b""[..], b"-", b"1.5", b"1e3", b"+1", b"1234567890123456789"] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lines_count_lf_crlf_lone_cr_and_blank_lines() {
        for (text, lines) in [
            (&b"h1;h2\na;b\nc;d\n"[..], [1, 2, 3]),
            (b"h1;h2;\r\na;b;\r\nc;d;\r\n", [1, 2, 3]),
            (b"h1;h2\r\n\r\na;b\r\nc;d", [1, 3, 4]),
            (b"h1;h2\n\na;b\n\n\nc;d\n", [1, 3, 6]),
            (b"h1;h2\ra;b\rc;d", [1, 2, 3]),
        ] {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(b';')
                .has_headers(false)
                .from_reader(text);
            let mut counter = LineCounter::new(text);
            let found: Vec<u64> = reader
                .byte_records()
                .map(|r| counter.line_at(r.unwrap().position().unwrap().byte()))
                .collect();
            assert_eq!(found, lines, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
