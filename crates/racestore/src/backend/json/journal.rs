//! The two small files beside the data files: the id high-water marks and the intent journal.
//!
//! `racestore.meta.json` remembers the highest id each collection ever gave, so a delete of the
//! newest records cannot make an id come back (the original computed `max(id)+1` on open).
//! `racestore.journal` holds, while it runs, the one multi-step write in progress: a batch
//! append (rolled back on open unless all of it landed) or a session delete (redone on open).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsio::Io;
use crate::error::{Error, Result};
use crate::model::{Collection, Id, IdMarks};

/// The metadata file's name.
pub(super) const META_FILE: &str = "racestore.meta.json";
/// The journal's name.
pub(super) const JOURNAL_FILE: &str = "racestore.journal";

/// Contents of `racestore.meta.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Meta {
    /// Format version of the directory; 1 is the original's five files plus these two.
    pub format: u32,
    /// Per data file, the highest id it ever held.
    pub max_ids: BTreeMap<String, Id>,
    /// Every data file the store has had, so a missing one is known as lost rather than new
    /// (absent in stores written before racestore recorded it).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub files: BTreeSet<String>,
}

impl Meta {
    /// Reads the metadata, or the default when the directory has none yet (as the original's has not).
    pub(super) fn load(dir: &Path) -> Result<Meta> {
        let path = dir.join(META_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::CorruptFile {
                offset: 0,
                line: e.line() as u64,
                column: e.column() as u64,
                message: format!("racestore metadata: {e}"),
                path,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Meta {
                format: 1,
                ..Meta::default()
            }),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// Raises each collection's mark to at least `given`.
    pub(super) fn raise(&mut self, given: &IdMarks) {
        for collection in Collection::ALL {
            let entry = self.max_ids.entry(collection.file_name()).or_insert(0);
            *entry = (*entry).max(given.get(collection));
        }
    }

    /// Replaces the metadata file atomically.
    pub(super) fn store(&self, io: &Io, dir: &Path, sync: bool) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("metadata serializes");
        bytes.push(b'\n');
        io.replace_file(&dir.join(META_FILE), &bytes, sync)
    }
}

/// A multi-step write in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Intent {
    /// Records are being appended to `file` from byte `start`; complete when the file holds
    /// whole records from there up to `end` (the offset of the closing `\n]`). Written by
    /// versions before batches spanned several files; still read.
    Append { file: String, start: u64, end: u64 },
    /// Records are being appended to several files, one after the other in this order; the
    /// batch is complete when the last file holds whole records up to its `end`.
    Appends { appends: Vec<AppendSpan> },
    /// Session `session_id` and everything under it are being deleted.
    DeleteSession { session_id: Id },
}

/// Where one file of a batch is being appended to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AppendSpan {
    /// The data file's name.
    pub file: String,
    /// Where the batch's first record in it starts (the tail before the batch).
    pub start: u64,
    /// Where its closing `\n]` is once the batch's records are in.
    pub end: u64,
}

impl Intent {
    /// The appends of a batch in progress, in the order they are written; none for a delete.
    pub(super) fn appends(&self) -> Vec<AppendSpan> {
        match self {
            Intent::Append { file, start, end } => vec![AppendSpan {
                file: file.clone(),
                start: *start,
                end: *end,
            }],
            Intent::Appends { appends } => appends.clone(),
            Intent::DeleteSession { .. } => Vec::new(),
        }
    }
}

/// The journal file, kept open.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    file: File,
    io: Io,
}

impl Journal {
    /// Opens (creating) the journal and returns the intent a crash left in it, if any.
    pub(super) fn open(dir: &Path, io: Io) -> Result<(Journal, Option<Intent>)> {
        let path = dir.join(JOURNAL_FILE);
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        // A journal that does not parse was being written when the process died, before the
        // step it announces began: nothing to undo or redo.
        let pending = serde_json::from_slice::<Intent>(&bytes).ok();
        Ok((Journal { path, file, io }, pending))
    }

    /// The intent a crash left in the journal of `dir`, if any, read without creating or
    /// changing anything (for a read-only store).
    pub(super) fn read(dir: &Path) -> Result<Option<Intent>> {
        let path = dir.join(JOURNAL_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice::<Intent>(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// Records `intent` before its steps start.
    pub(super) fn begin(&self, intent: &Intent, sync: bool) -> Result<()> {
        let bytes = serde_json::to_vec(intent).expect("intents serialize");
        self.io.set_len(&self.file, &self.path, 0)?;
        self.io.write_at(&self.file, &self.path, &bytes, 0)?;
        if sync {
            self.io.sync(&self.file, &self.path)?;
        }
        Ok(())
    }

    /// Marks the intent done.
    pub(super) fn clear(&self) -> Result<()> {
        self.io.set_len(&self.file, &self.path, 0)
    }
}
