//! `json:DIR`: where a JSON-directory store lives.

use std::path::{Path, PathBuf};

use super::JsonStore;
use crate::error::Result;
use crate::store::{Inspection, OpenOptions, RaceStore, StoreLocation};

/// A JSON directory, as a store URL names it (`json:DIR`, or a plain directory path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLocation {
    dir: PathBuf,
}

impl JsonLocation {
    /// The directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JsonLocation { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Display for JsonLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "json:{}", self.dir.display())
    }
}

impl StoreLocation for JsonLocation {
    fn backend(&self) -> &'static str {
        "json"
    }

    fn open(&self, options: &OpenOptions) -> Result<Box<dyn RaceStore>> {
        Ok(Box::new(JsonStore::open_with(&self.dir, options, None)?))
    }

    fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    fn identity(&self) -> String {
        let canonical = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        format!("json:{}", canonical.display())
    }

    fn inspect(&self) -> Result<Inspection> {
        super::inspect::inspect(&self.dir)
    }

    fn url_at(&self, path: &Path) -> Option<String> {
        Some(format!("json:{}", path.display()))
    }
}
