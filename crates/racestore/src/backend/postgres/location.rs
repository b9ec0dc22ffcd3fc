//! `postgres://...`: where a PostgreSQL store lives.

use std::path::Path;

use super::{PostgresStore, PostgresUrl};
use crate::error::Result;
use crate::store::{Inspection, OpenOptions, Opened, RaceStore, StoreLocation};

impl StoreLocation for PostgresUrl {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn open(&self, options: &OpenOptions) -> Result<Box<dyn RaceStore>> {
        self.open_reporting(options).map(|opened| opened.store)
    }

    /// Created when the schema had none of racestore's migrations (its tables were made now).
    fn open_reporting(&self, options: &OpenOptions) -> Result<Opened> {
        if options.read_only {
            return Err(crate::Error::Unsupported {
                url: self.to_string(),
                message: "mode=ro is for json: and sqlite: stores; a PostgreSQL role without write grants reads a schema read-only".into(),
            });
        }
        let store = PostgresStore::open_with(self, options.durability, options.create)?;
        let created = store.created;
        Ok(Opened {
            store: Box::new(store),
            created,
        })
    }

    /// A server's schema is there when racestore can reach it; it is created on first open.
    fn exists(&self) -> bool {
        true
    }

    fn identity(&self) -> String {
        format!(
            "postgres://{}/{}?schema={}",
            self.servers(),
            self.database(),
            self.schema()
        )
    }

    /// The server keeps its own tables sound: nothing to read beyond the records.
    fn inspect(&self) -> Result<Inspection> {
        Ok(Inspection {
            readable: true,
            ..Inspection::default()
        })
    }

    /// A schema has no format on disk: its backups are JSON directories.
    fn url_at(&self, _path: &Path) -> Option<String> {
        None
    }
}
