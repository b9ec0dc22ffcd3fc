//! Reading a JSON directory as opening it would, changing nothing: what `check` reports.

use std::path::Path;

use super::array_file::scan;
use super::journal::{self, Intent, Meta};
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
            repair_flag: None,
        });
    }
    let existed = dir.join(journal::META_FILE).exists()
        || Collection::ALL.iter().any(|c| dir.join(c.file_name()).exists());
    let meta = Meta::load(dir)?;
    let mut records = Vec::with_capacity(Collection::COUNT);
    let mut readable = true;
    for collection in Collection::ALL {
        match collection.visit(ReadFile {
            dir,
            problems: &mut problems,
            lost_if_missing: existed
                && (collection.original() || meta.files.contains(&collection.file_name())),
        }) {
            Some(read) => records.push(read),
            None => readable = false,
        }
    }
    if let Some(records) = &records_read(&records, readable) {
        prove_torn_sessions(records, &mut problems);
    }
    Ok(Inspection {
        problems,
        in_use_by,
        records: readable.then_some(records),
        readable,
    })
}

/// The records read, when every file could be.
fn records_read(records: &[Records], readable: bool) -> Option<&[Records]> {
    readable.then_some(records)
}

/// Marks a torn tail of the sessions file as a loss when other files hold records of a session
/// past its last whole record: that record was saved (opening refuses to cut it).
fn prove_torn_sessions(records: &[Records], problems: &mut [Problem]) {
    let sessions_file = Collection::Sessions.file_name();
    let Some(torn) = problems
        .iter_mut()
        .find(|p| p.location.starts_with(&sessions_file) && p.message.starts_with("a torn tail"))
    else {
        return;
    };
    let kept = records.first().and_then(|s| s.ids().last().copied()).unwrap_or(0);
    let mut proof = Vec::new();
    for page in records.iter().skip(1) {
        let named: std::collections::BTreeSet<_> =
            page.session_ids().into_iter().filter(|id| *id > kept).collect();
        if !named.is_empty() {
            let ids: Vec<String> = named.iter().map(ToString::to_string).collect();
            proof.push(format!(
                "{} names session {}",
                page.collection().file_name(),
                ids.join(", ")
            ));
        }
    }
    if proof.is_empty() {
        return;
    }
    torn.message = format!(
        "a torn record that was saved ({}): cutting it leaves those records without their session; restore {sessions_file} from a backup, or repair with --drop-orphans to cut it and drop them",
        proof.join("; ")
    );
    torn.repairable = false;
    torn.repair_flag = Some("--drop-orphans");
}

/// Reads one collection's file, noting its problems; `None` when it cannot be read.
struct ReadFile<'a> {
    dir: &'a Path,
    problems: &'a mut Vec<Problem>,
    /// Whether a missing file is lost records (the store existed and had it), not a new one.
    lost_if_missing: bool,
}

impl CollectionVisitor for ReadFile<'_> {
    type Output = Option<Records>;
    fn visit<R: Record>(self) -> Option<Records> {
        let file = R::COLLECTION.file_name();
        let path = self.dir.join(&file);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.problems.push(if self.lost_if_missing {
                    Problem {
                        location: file.clone(),
                        message: format!(
                            "the file is missing from a store that has existed: every record it held is lost; restore {file} from a backup, or repair with --recreate-missing to recreate it empty"
                        ),
                        repairable: false,
                        repair_flag: Some("--recreate-missing"),
                    }
                } else {
                    Problem {
                        location: file,
                        message: "the file is missing (a collection newer than the store); opening it for writing creates it empty".into(),
                        repairable: true,
                        repair_flag: None,
                    }
                });
                return Some(Records::empty(R::COLLECTION));
            }
            Err(e) => {
                self.problems.push(Problem {
                    location: file,
                    message: format!("cannot be read: {e}"),
                    repairable: false,
                    repair_flag: None,
                });
                return None;
            }
        };
        match scan::<R>(&path, &bytes) {
            Ok(scanned) => {
                if scanned.lenient > 0 {
                    self.problems.push(Problem {
                        location: file.clone(),
                        message: format!(
                            "{} held NaN, Infinity or nesting deeper than 127 levels, as Python's json.dump writes but JSON does not allow: read back as written (a number as NaN or ±inf, inside a JSON value as null) and never rewritten",
                            R::COLLECTION.count_text(scanned.lenient)
                        ),
                        repairable: false,
                        repair_flag: None,
                    });
                }
                if let Some(torn) = scanned.torn {
                    self.problems.push(Problem {
                        location: format!("{file} at byte {}", torn.offset),
                        message: format!(
                            "a torn tail of {} bytes (an interrupted save); repairing cuts it and closes the array",
                            torn.removed_bytes
                        ),
                        repairable: true,
                        repair_flag: None,
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
                    repair_flag: None,
                });
                None
            }
            Err(other) => {
                self.problems.push(Problem {
                    location: file,
                    message: other.to_string(),
                    repairable: false,
                    repair_flag: None,
                });
                None
            }
        }
    }
}
