//! Runs the whole conformance suite against every backend.

mod common;

use racestore::conformance::Harness;
use racestore::{Durability, JsonStore, PostgresStore, RaceStore, SqliteStore};

/// A fresh JSON directory per test.
struct JsonDir(tempfile::TempDir);

impl Harness for JsonDir {
    fn open(&self) -> Box<dyn RaceStore> {
        Box::new(
            JsonStore::open(self.0.path().join("storage"), Durability::Process).expect("open json store"),
        )
    }
}

/// A fresh SQLite file per test.
struct SqliteFile(tempfile::TempDir);

impl Harness for SqliteFile {
    fn open(&self) -> Box<dyn RaceStore> {
        Box::new(
            SqliteStore::open(&self.0.path().join("race_data.db"), Durability::Process)
                .expect("open sqlite store"),
        )
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

mod json {
    use super::*;
    racestore::conformance_tests!(Some(JsonDir(tempdir())));
}

mod json_power_loss {
    use super::*;

    /// The JSON backend with an fsync per save: same behaviour, more durable.
    struct JsonDirSynced(tempfile::TempDir);

    impl Harness for JsonDirSynced {
        fn open(&self) -> Box<dyn RaceStore> {
            Box::new(JsonStore::open(self.0.path(), Durability::PowerLoss).expect("open json store"))
        }
    }

    racestore::conformance_tests!(Some(JsonDirSynced(tempdir())));
}

mod sqlite {
    use super::*;
    racestore::conformance_tests!(Some(SqliteFile(tempdir())));
}

/// A fresh PostgreSQL schema per test, dropped afterwards.
struct PostgresSchema(common::postgres::TestSchema);

impl Harness for PostgresSchema {
    fn open(&self) -> Box<dyn RaceStore> {
        let url = self.0.url("").parse().expect("test server URL");
        Box::new(PostgresStore::open(&url, Durability::Process).expect("open postgres store"))
    }
}

/// The PostgreSQL harness, or `None` (after a SKIP line) when `RACESTORE_TEST_POSTGRES_URL` is
/// unset; with `CI` set, that fails the test instead.
fn postgres_harness() -> Option<PostgresSchema> {
    common::postgres::TestSchema::new("postgres conformance").map(PostgresSchema)
}

mod postgres {
    use super::*;
    racestore::conformance_tests!(postgres_harness());
}
