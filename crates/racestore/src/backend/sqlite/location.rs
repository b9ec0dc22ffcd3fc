//! `sqlite:FILE`: where a SQLite store lives.

use std::path::{Path, PathBuf};

use super::SqliteStore;
use crate::error::Result;
use crate::store::{Inspection, OpenOptions, Opened, RaceStore, StoreLocation};

/// A SQLite database file, as a store URL names it (`sqlite:FILE`, or a path ending `.db`,
/// `.sqlite` or `.sqlite3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteLocation {
    path: PathBuf,
}

impl SqliteLocation {
    /// The database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteLocation { path: path.into() }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Display for SqliteLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite:{}", self.path.display())
    }
}

impl StoreLocation for SqliteLocation {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn open(&self, options: &OpenOptions) -> Result<Box<dyn RaceStore>> {
        Ok(Box::new(SqliteStore::open_with(&self.path, options)?))
    }

    /// Created when the file held no table (a missing or empty file).
    fn open_reporting(&self, options: &OpenOptions) -> Result<Opened> {
        let store = SqliteStore::open_with(&self.path, options)?;
        let created = store.created;
        Ok(Opened {
            store: Box::new(store),
            created,
        })
    }

    fn exists(&self) -> bool {
        self.path.is_file()
    }

    fn identity(&self) -> String {
        let canonical = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("sqlite:{}", canonical.display())
    }

    fn inspect(&self) -> Result<Inspection> {
        let problems = super::integrity_check(&self.path)?;
        Ok(Inspection {
            readable: true,
            problems,
            in_use_by: None,
            records: None,
        })
    }

    fn url_at(&self, path: &Path) -> Option<String> {
        Some(format!("sqlite:{}", path.display()))
    }
}
