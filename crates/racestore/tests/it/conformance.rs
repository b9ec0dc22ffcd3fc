//! Runs the whole conformance suite against every backend.

use crate::common;

use std::path::{Path, PathBuf};

use racestore::conformance::Harness;
use racestore::{Durability, JsonStore, PostgresStore, RaceStore, SqliteStore};

/// A fresh JSON directory per test.
struct JsonDir(tempfile::TempDir, Durability);

impl Harness for JsonDir {
    fn open(&self) -> Box<dyn RaceStore> {
        Box::new(JsonStore::open(self.0.path().join("storage"), self.1).expect("open json store"))
    }

    fn backup_destination(&self) -> PathBuf {
        self.0.path().join("backup")
    }

    fn open_backup(&self, path: &Path) -> Box<dyn RaceStore> {
        Box::new(JsonStore::open(path, self.1).expect("open json backup"))
    }
}

/// A fresh SQLite file per test.
struct SqliteFile(tempfile::TempDir);

impl Harness for SqliteFile {
    fn open(&self) -> Box<dyn RaceStore> {
        let path = self.0.path().join("race_data.db");
        Box::new(SqliteStore::open(&path, Durability::Process).expect("open sqlite store"))
    }

    fn backup_destination(&self) -> PathBuf {
        self.0.path().join("backup.db")
    }

    fn open_backup(&self, path: &Path) -> Box<dyn RaceStore> {
        Box::new(SqliteStore::open(path, Durability::Process).expect("open sqlite backup"))
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

mod json {
    use super::*;
    racestore::conformance_tests!(Some(JsonDir(tempdir(), Durability::Process)));
}

/// The JSON backend with an fsync per save: same behaviour, more durable.
mod json_power_loss {
    use super::*;
    racestore::conformance_tests!(Some(JsonDir(tempdir(), Durability::PowerLoss)));
}

mod sqlite {
    use super::*;
    racestore::conformance_tests!(Some(SqliteFile(tempdir())));
}

/// A fresh PostgreSQL schema per test, dropped afterwards (and a directory for its backup).
struct PostgresSchema(common::postgres::TestSchema, tempfile::TempDir);

impl Harness for PostgresSchema {
    fn open(&self) -> Box<dyn RaceStore> {
        let url = self.0.url("").parse().expect("test server URL");
        Box::new(PostgresStore::open(&url, Durability::Process).expect("open postgres store"))
    }

    fn backup_destination(&self) -> PathBuf {
        self.1.path().join("backup")
    }

    /// A PostgreSQL store backs up to a JSON directory.
    fn open_backup(&self, path: &Path) -> Box<dyn RaceStore> {
        Box::new(JsonStore::open(path, Durability::Process).expect("open the backup directory"))
    }
}

/// The PostgreSQL harness, or `None` (after a SKIP line) when `RACESTORE_TEST_POSTGRES_URL` is
/// unset; with `CI` set, that fails the test instead.
fn postgres_harness() -> Option<PostgresSchema> {
    common::postgres::TestSchema::new("postgres conformance").map(|schema| PostgresSchema(schema, tempdir()))
}

mod postgres {
    use super::*;
    racestore::conformance_tests!(postgres_harness());
}
