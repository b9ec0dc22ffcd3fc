//! How records look inside the original's files: `json.dump(data, indent=2, ensure_ascii=False)`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Appends `record` to `out` as an element of a top-level array: `{` at column 3 (after the two
/// spaces the caller writes), keys indented four spaces, closing `  }` — byte for byte what
/// Python's `json.dump(..., indent=2, ensure_ascii=False)` writes for the same record.
pub(super) fn write_array_element<T: Serialize>(out: &mut Vec<u8>, record: &T) {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, ElementFormatter::default());
    // Serializing our own model types into memory cannot fail: no maps with non-string keys, no I/O.
    record
        .serialize(&mut serializer)
        .expect("model records always serialize");
}

/// `serde_json`'s pretty formatter, but starting one level deep, as an array element is.
struct ElementFormatter {
    depth: usize,
    has_value: bool,
}

impl Default for ElementFormatter {
    fn default() -> Self {
        ElementFormatter {
            depth: 1,
            has_value: false,
        }
    }
}

impl ElementFormatter {
    fn newline_indent<W: ?Sized + Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            for _ in 0..self.depth {
                writer.write_all(b"  ")?;
            }
        }
        writer.write_all(bracket)
    }
}

impl Formatter for ElementFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.newline_indent(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.newline_indent(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_match_python_json_dump_with_indent_2() {
        let mut out = b"[\n  ".to_vec();
        write_array_element(
            &mut out,
            &json!({"id": 1, "paces": {"GR86-002-7": 91.5}, "empty": {}, "list": [1, [], {"a": null}], "note": "Pérez"}),
        );
        out.extend_from_slice(b"\n]");
        let expected = r#"[
  {
    "id": 1,
    "paces": {
      "GR86-002-7": 91.5
    },
    "empty": {},
    "list": [
      1,
      [],
      {
        "a": null
      }
    ],
    "note": "Pérez"
  }
]"#;
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
