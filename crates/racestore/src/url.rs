//! Choosing a backend from one string, so changing backend is changing that string.

use std::path::PathBuf;

use crate::backend::postgres::{redact_url, PostgresUrl};
use crate::error::{Error, Result};
use crate::store::RaceStore;

/// The environment variable holding the default store URL.
pub const URL_ENV: &str = "RACESTORE_URL";

/// The store used when [`URL_ENV`] is unset: a JSON directory `storage` in the working directory,
/// where the original system kept its files.
pub const DEFAULT_URL: &str = "json:storage";

const VALID_FORMS: &str = "valid forms: json:DIR (or a plain directory path), sqlite:FILE (or a path ending .db, .sqlite or .sqlite3), postgres://USER[:PASSWORD]@HOST[:PORT]/DB (options schema=NAME, pool_size=N, sslmode=disable|prefer|require, connect_timeout=SECONDS); options of every backend: ?durability=process|power-loss";

/// How far an acknowledged save is guaranteed to survive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The default: once a save returns, it survives the process crashing or being killed
    /// (the data is in the operating system), but not necessarily a power cut or kernel crash.
    #[default]
    Process,
    /// Once a save (or batch) returns, it is on stable storage: each save is fsynced, so it
    /// survives a power cut. Slower: one disk flush per save or per batch.
    PowerLoss,
}

/// A parsed store URL: which backend, where, and with which options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// The backend and its location.
    pub location: Location,
    /// The durability asked for with `?durability=`.
    pub durability: Durability,
}

/// Where a store lives, by backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A directory of JSON files.
    Json(PathBuf),
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A schema in a PostgreSQL database.
    Postgres(PostgresUrl),
}

impl StoreUrl {
    /// Parses a store URL.
    ///
    /// - `json:PATH`, or a plain path: a JSON directory (created if missing);
    /// - `sqlite:PATH`, or a plain path ending `.db`, `.sqlite` or `.sqlite3`: a SQLite file;
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`): a schema in a
    ///   PostgreSQL database, with options `schema`, `pool_size`, `sslmode` and the driver's
    ///   (`connect_timeout`, `application_name`, ...); see [`PostgresUrl`];
    /// - `?durability=process` (default) or `?durability=power-loss` after any of them.
    ///
    /// `scheme://path` is read as `scheme:path`, so `sqlite:///var/race.db` is an absolute path.
    /// Errors show the URL with any password replaced by `***`.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let unsupported = |message: String| Error::Unsupported {
            url: redact_url(url),
            message,
        };
        if url.trim().is_empty() {
            return Err(unsupported(format!("the URL is empty; {VALID_FORMS}")));
        }
        let (body, query) = match url.rsplit_once('?') {
            Some((body, query)) => (body, Some(query)),
            None => (url, None),
        };
        let mut durability = Durability::default();
        // Options other than durability, as (key, value) and as written: the backend's to read.
        let mut backend_options = Vec::new();
        for option in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|o| !o.is_empty())
        {
            match option.split_once('=') {
                Some(("durability", "process")) => durability = Durability::Process,
                Some(("durability", "power-loss")) => durability = Durability::PowerLoss,
                Some(("durability", other)) => {
                    return Err(unsupported(format!(
                        "durability must be process or power-loss, not {other:?}"
                    )))
                }
                Some((key, value)) => backend_options.push((key, value, option)),
                None => backend_options.push((option, "", option)),
            }
        }
        // The file backends take no other option.
        let no_other_options = || match backend_options.first() {
            // The option's name only: its value may be a secret (`password=...`).
            Some((key, _, _)) => Err(unsupported(format!("unknown option {key:?}; {VALID_FORMS}"))),
            None => Ok(()),
        };
        let location = match scheme_of(body) {
            Some((scheme, _))
                if matches!(scheme.to_ascii_lowercase().as_str(), "postgres" | "postgresql") =>
            {
                let options: Vec<(&str, &str)> = backend_options.iter().map(|(k, v, _)| (*k, *v)).collect();
                Location::Postgres(PostgresUrl::from_parts(url, body, &options)?)
            }
            Some((scheme, rest)) => {
                no_other_options()?;
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                if rest.is_empty() {
                    return Err(unsupported(format!("no path after {scheme}:; {VALID_FORMS}")));
                }
                match scheme.to_ascii_lowercase().as_str() {
                    "json" => Location::Json(PathBuf::from(rest)),
                    "sqlite" => Location::Sqlite(PathBuf::from(rest)),
                    other => return Err(unsupported(format!("unknown backend {other:?}; {VALID_FORMS}"))),
                }
            }
            None => {
                no_other_options()?;
                let path = PathBuf::from(body);
                let is_sqlite = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "db" | "sqlite" | "sqlite3"));
                if is_sqlite {
                    Location::Sqlite(path)
                } else {
                    Location::Json(path)
                }
            }
        };
        Ok(StoreUrl { location, durability })
    }

    /// Opens the store this URL names.
    pub fn open(&self) -> Result<Box<dyn RaceStore>> {
        match &self.location {
            Location::Json(dir) => Ok(Box::new(crate::backend::json::JsonStore::open(
                dir,
                self.durability,
            )?)),
            Location::Sqlite(path) => Ok(Box::new(crate::backend::sqlite::SqliteStore::open(
                path,
                self.durability,
            )?)),
            Location::Postgres(url) => Ok(Box::new(crate::backend::postgres::PostgresStore::open(
                url,
                self.durability,
            )?)),
        }
    }
}

/// Splits `scheme:rest`, where a scheme is two or more letters (so `C:\races` stays a path).
fn scheme_of(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let is_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some((scheme, rest))
}

/// Opens the store a URL names; see [`StoreUrl::parse`] for the forms.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = racestore::open(&format!("json:{}", dir.path().display()))?;
/// assert_eq!(store.counts()?.sessions, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(url: &str) -> Result<Box<dyn RaceStore>> {
    StoreUrl::parse(url)?.open()
}

/// The URL [`open_default`] uses: `RACESTORE_URL` if set, else [`DEFAULT_URL`].
pub fn default_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Opens the default store: `RACESTORE_URL` if set, else the JSON directory `storage`.
pub fn open_default() -> Result<Box<dyn RaceStore>> {
    open(&default_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(url: &str) -> Location {
        StoreUrl::parse(url).unwrap().location
    }

    #[test]
    fn url_forms_choose_the_backend() {
        assert_eq!(location("json:storage"), Location::Json("storage".into()));
        assert_eq!(location("json:///tmp/s"), Location::Json("/tmp/s".into()));
        assert_eq!(location("storage"), Location::Json("storage".into()));
        assert_eq!(location("./data/race"), Location::Json("./data/race".into()));
        assert_eq!(location("sqlite:race.db"), Location::Sqlite("race.db".into()));
        assert_eq!(location("sqlite:///var/x"), Location::Sqlite("/var/x".into()));
        assert_eq!(location("race_data.db"), Location::Sqlite("race_data.db".into()));
        assert_eq!(location("/a/b.SQLite3"), Location::Sqlite("/a/b.SQLite3".into()));
        assert_eq!(location(r"C:\races"), Location::Json(r"C:\races".into()));
    }

    #[test]
    fn durability_is_an_option_of_any_url() {
        assert_eq!(StoreUrl::parse("json:s").unwrap().durability, Durability::Process);
        let url = StoreUrl::parse("sqlite:r.db?durability=power-loss").unwrap();
        assert_eq!(url.durability, Durability::PowerLoss);
        assert_eq!(url.location, Location::Sqlite("r.db".into()));
    }

    #[test]
    fn postgres_urls_choose_the_postgres_backend_with_their_options() {
        for scheme in ["postgres", "postgresql", "PostgreSQL"] {
            let url = StoreUrl::parse(&format!(
                "{scheme}://race:pw@db:5433/timing?schema=team_a&pool_size=2&durability=power-loss"
            ))
            .unwrap();
            assert_eq!(url.durability, Durability::PowerLoss);
            let Location::Postgres(pg) = url.location else {
                panic!("{scheme}: {:?}", url.location)
            };
            assert_eq!(
                (pg.schema(), pg.pool_size(), pg.servers()),
                ("team_a", 2, "db:5433")
            );
        }
    }

    #[test]
    fn errors_never_show_a_postgres_password() {
        for url in [
            "postgres://race:hunter2@db/timing?pool_size=zero",
            "postgres://race:hunter2@db/timing?sslmode=maybe",
            "postgres://race:hunter2@db/timing?durability=fast",
            "postgres://race:hunter2@db/timing?nonsense=1",
            "postgres://race:hunter2@db:notaport/timing",
        ] {
            let err = StoreUrl::parse(url).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(matches!(err, Error::Unsupported { .. }), "{url}: {shown}");
            assert!(!shown.contains("hunter2"), "{url}: {shown}");
            assert!(shown.contains("race:***@db"), "{url}: {shown}");
        }
        let url = StoreUrl::parse("postgres://race:hunter2@db/timing").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
    }

    #[test]
    fn an_unknown_options_value_is_never_echoed() {
        let err = StoreUrl::parse("json:/tmp/x?password=s3cret")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option \"password\""), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn unsupported_urls_say_what_would_work() {
        for url in [
            "mongodb://x",
            "",
            "json:",
            "json:s?durability=fast",
            "json:s?cache=1",
        ] {
            let err = StoreUrl::parse(url).unwrap_err();
            assert!(matches!(err, Error::Unsupported { .. }), "{url}: {err:?}");
            let text = err.to_string();
            assert!(
                text.contains("json:") || text.contains("power-loss"),
                "{url}: {text}"
            );
        }
    }
}
