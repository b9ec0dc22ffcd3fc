//! Reading a JSON directory as opening it would, changing nothing: what `check` reports.

use std::path::Path;

use super::array_file::scan;
use super::journal::{self, Intent};
use super::lock;
use crate::error::{Error, Result};
use crate::model::{Collection, CollectionVisitor, Record, Records};
use crate::store::{Inspection, Problem};

/// Reads a JSON directory as opening it would, but repairs nothing, creates nothing and takes
/// no lock.
pub(super) fn inspect(dir: &Path) -> Result<Inspection> {
    if !dir.is_dir() {
        return Err(Error::io(
            "checking",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no store directory here"),
        ));
    }
    let mut problems = Vec::new();
    let in_use_by = lock::holder(dir);
    let journal = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap_or_default();
    if let Ok(intent) = serde_json::from_slice::<Intent>(&journal) {
        let what = match &intent {
            Intent::DeleteSession { session_id } => format!("the delete of session {session_id}"),
            other => {
                let files: Vec<String> = other
                    .appends()
                    .iter()
                    .map(|a| format!("{} at byte {}", a.file, a.start))
                    .collect();
                format!("a batch appended to {}", files.join(", "))
            }
        };
        problems.push(Problem {
            location: journal::JOURNAL_FILE.to_owned(),
            message: format!("{what} was interrupted; opening the store finishes or undoes it"),
            repairable: true,
        });
    }
    let mut records = Vec::with_capacity(Collection::COUNT);
    let mut readable = true;
    for collection in Collection::ALL {
        match collection.visit(ReadFile {
            dir,
            problems: &mut problems,
        }) {
            Some(read) => records.push(read),
            None => readable = false,
        }
    }
    Ok(Inspection {
        problems,
        in_use_by,
        records: readable.then_some(records),
        readable,
    })
}

/// Reads one collection's file, noting its problems; `None` when it cannot be read.
struct ReadFile<'a> {
    dir: &'a Path,
    problems: &'a mut Vec<Problem>,
}

impl CollectionVisitor for ReadFile<'_> {
    type Output = Option<Records>;
    fn visit<R: Record>(self) -> Option<Records> {
        let file = R::COLLECTION.file_name();
        let path = self.dir.join(&file);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.problems.push(Problem {
                    location: file,
                    message: "the file is missing; opening the store creates it empty".into(),
                    repairable: true,
                });
                return Some(Records::empty(R::COLLECTION));
            }
            Err(e) => {
                self.problems.push(Problem {
                    location: file,
                    message: format!("cannot be read: {e}"),
                    repairable: false,
                });
                return None;
            }
        };
        match scan::<R>(&path, &bytes) {
            Ok(scanned) => {
                if let Some(torn) = scanned.torn {
                    self.problems.push(Problem {
                        location: format!("{file} at byte {}", torn.offset),
                        message: format!(
                            "a torn tail of {} bytes (an interrupted save); repairing cuts it and closes the array",
                            torn.removed_bytes
                        ),
                        repairable: true,
                    });
                }
                Some(Records::of(scanned.records))
            }
            Err(Error::CorruptFile {
                offset,
                line,
                column,
                message,
                ..
            }) => {
                self.problems.push(Problem {
                    location: format!("{file} at byte {offset} (line {line}, column {column})"),
                    message: format!(
                        "{message}; not repairable without losing records: restore it from a backup"
                    ),
                    repairable: false,
                });
                None
            }
            Err(other) => {
                self.problems.push(Problem {
                    location: file,
                    message: other.to_string(),
                    repairable: false,
                });
                None
            }
        }
    }
}
