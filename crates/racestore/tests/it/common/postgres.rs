//! A PostgreSQL schema of its own for each test, on the server `RACESTORE_TEST_POSTGRES_URL` names.

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the test server, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub(crate) const URL_ENV: &str = "RACESTORE_TEST_POSTGRES_URL";

/// The test server's URL, or `None` after printing a visible SKIP line. With `CI` set, a missing
/// URL fails the test instead: CI must never skip PostgreSQL quietly.
pub(crate) fn server_url(test: &str) -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: {URL_ENV} is not set, and CI must not skip the PostgreSQL tests")
        }
        _ => {
            eprintln!("SKIP {test}: {URL_ENV} is not set");
            None
        }
    }
}

/// A fresh schema (`rs_test_<pid>_<counter>_<nanos>`), dropped with everything in it when this
/// value is dropped.
pub(crate) struct TestSchema {
    /// The schema's name.
    pub name: String,
    server: String,
}

impl TestSchema {
    /// A new schema name on the test server (created by the first store opened on it), or
    /// `None` after a SKIP line (see [`server_url`]).
    pub(crate) fn new(test: &str) -> Option<TestSchema> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let server = server_url(test)?;
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "rs_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Some(TestSchema { name, server })
    }

    /// The store URL for this schema, with `extra` options (`pool_size=2&...`) if any.
    pub(crate) fn url(&self, extra: &str) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{separator}schema={}", self.server, self.name);
        if !extra.is_empty() {
            url.push('&');
            url.push_str(extra);
        }
        url
    }

    /// A plain connection to the test server, for the test's own checks and interventions.
    pub(crate) fn admin(&self) -> postgres::Client {
        admin_client(&self.server)
    }
}

/// A plain connection (no TLS) to the server `url` names.
pub(crate) fn admin_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to the test server {}: {e}",
            racestore_redacted(url)
        )
    })
}

fn racestore_redacted(url: &str) -> String {
    match url.parse::<racestore::PostgresUrl>() {
        Ok(parsed) => parsed.redacted().to_owned(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.server, postgres::NoTls).and_then(|mut admin| {
            admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}
