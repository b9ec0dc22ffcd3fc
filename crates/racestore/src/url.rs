//! Choosing a backend from one string, so changing backend is changing that string.
//!
//! Every backend racestore was built with registers here, once, in [`BACKENDS`]: its name, its
//! URL schemes and file endings, and how it reads what follows its scheme. Everything else
//! (opening, checking, backing up, copying) reaches the backend through the
//! [`StoreLocation`] that parsing gives.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::redact::redact_url;
use crate::store::{Durability, OpenOptions, Opened, RaceStore, StoreLocation};

/// The environment variable holding the default store URL.
pub const URL_ENV: &str = "RACESTORE_URL";

/// The store used when [`URL_ENV`] is unset: a JSON directory `storage` in the working directory,
/// where the original system kept its files.
pub const DEFAULT_URL: &str = "json:storage";

/// Reads a URL of one backend: the URL as given (for messages), what follows the scheme (`//`
/// removed), and its options other than `durability`.
type ParseLocation = fn(&str, &str, &[(&str, &str)]) -> Result<Arc<dyn StoreLocation>>;

/// A backend as the factory knows it.
struct Registration {
    /// Its name, as [`StoreLocation::backend`] gives it.
    name: &'static str,
    /// The URL schemes that name it (`sqlite:`), compared without case.
    schemes: &'static [&'static str],
    /// File endings that name it without a scheme (`race.db`).
    extensions: &'static [&'static str],
    /// How its URLs look, for messages.
    forms: &'static str,
    /// Reads a URL of this backend.
    parse: ParseLocation,
}

/// Every backend this build has, the default (JSON) first.
const BACKENDS: &[Registration] = &[
    #[cfg(feature = "json")]
    Registration {
        name: "json",
        schemes: &["json"],
        extensions: &[],
        forms: "json:DIR (or a plain directory path)",
        parse: |url, rest, options| {
            no_options(url, options)?;
            Ok(Arc::new(crate::backend::json::JsonLocation::new(rest)))
        },
    },
    #[cfg(feature = "sqlite")]
    Registration {
        name: "sqlite",
        schemes: &["sqlite"],
        extensions: &["db", "sqlite", "sqlite3"],
        forms: "sqlite:FILE (or a path ending .db, .sqlite or .sqlite3)",
        parse: |url, rest, options| {
            no_options(url, options)?;
            Ok(Arc::new(crate::backend::sqlite::SqliteLocation::new(rest)))
        },
    },
    #[cfg(feature = "postgres")]
    Registration {
        name: "postgres",
        schemes: &["postgres", "postgresql"],
        extensions: &[],
        forms: "postgres://USER[:PASSWORD]@HOST[:PORT]/DB (options schema=NAME, pool_size=N, \
                sslmode=disable|prefer|require, connect_timeout=SECONDS)",
        parse: |url, _rest, options| {
            let body = url.split_once('?').map_or(url, |(body, _)| body);
            Ok(Arc::new(crate::backend::postgres::PostgresUrl::from_parts(
                url, body, options,
            )?))
        },
    },
];

/// Backends racestore knows of, whether or not this build has them, with the cargo feature
/// that brings each in: so a URL of a backend left out says how to get it.
const KNOWN_BACKENDS: &[(&str, &[&str])] = &[
    ("json", &["json"]),
    ("sqlite", &["sqlite"]),
    ("postgres", &["postgres", "postgresql"]),
];

/// The names of the backends this build has, the default first: `["json", "sqlite", "postgres"]`
/// with every cargo feature on.
pub fn backends() -> Vec<&'static str> {
    BACKENDS.iter().map(|b| b.name).collect()
}

fn valid_forms() -> String {
    let forms: Vec<&str> = BACKENDS.iter().map(|b| b.forms).collect();
    format!(
        "valid forms: {}; options of every backend: ?durability=process|power-loss, ?mode=rw|ro",
        forms.join(", ")
    )
}

#[cfg_attr(not(any(feature = "json", feature = "sqlite")), allow(dead_code))]
fn no_options(url: &str, options: &[(&str, &str)]) -> Result<()> {
    match options.first() {
        // The option's name only: its value may be a secret (`password=...`).
        Some((key, _)) => Err(Error::Unsupported {
            url: redact_url(url),
            message: format!("unknown option {key:?}; {}", valid_forms()),
        }),
        None => Ok(()),
    }
}

/// A parsed store URL: which backend, where, and with which options.
///
/// Its [`Display`](std::fmt::Display) is the URL with any password replaced by `***`: the only
/// form in which racestore shows a store URL.
#[derive(Debug, Clone)]
pub struct StoreUrl {
    /// The backend and where its store lives.
    pub location: Arc<dyn StoreLocation>,
    /// The durability asked for with `?durability=`.
    pub durability: Durability,
    /// Whether `?mode=ro` asked for a read-only store (see [`OpenOptions::read_only`]).
    pub read_only: bool,
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.location, f)?;
        if self.durability == Durability::PowerLoss {
            let separator = if self.location.to_string().contains('?') {
                '&'
            } else {
                '?'
            };
            write!(f, "{separator}durability=power-loss")?;
        }
        if self.read_only {
            let shown = self.location.to_string();
            let separator = if shown.contains('?') || self.durability == Durability::PowerLoss {
                '&'
            } else {
                '?'
            };
            write!(f, "{separator}mode=ro")?;
        }
        Ok(())
    }
}

impl StoreUrl {
    /// Parses a store URL.
    ///
    /// - `json:PATH`, or a plain path: a JSON directory;
    /// - `sqlite:PATH`, or a plain path ending `.db`, `.sqlite` or `.sqlite3`: a SQLite file;
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`): a schema in a
    ///   PostgreSQL database, with options `schema`, `pool_size`, `sslmode` and the driver's
    ///   (`connect_timeout`, `application_name`, ...); see
    ///   [`PostgresUrl`](crate::backend::postgres::PostgresUrl);
    /// - `?durability=process` (default) or `?durability=power-loss` after any of them;
    /// - `?mode=ro` to open read-only (see [`OpenOptions::read_only`]), `?mode=rw` (default).
    ///
    /// `scheme://path` is read as `scheme:path`, so `sqlite:///var/race.db` is an absolute path.
    /// A backend this build was compiled without is [`Error::Unsupported`] naming the cargo
    /// feature. Errors show the URL with any password replaced by `***`.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let unsupported = |message: String| Error::Unsupported {
            url: redact_url(url),
            message,
        };
        if url.trim().is_empty() {
            return Err(unsupported(format!("the URL is empty; {}", valid_forms())));
        }
        let (body, query) = match url.rsplit_once('?') {
            Some((body, query)) => (body, Some(query)),
            None => (url, None),
        };
        let mut durability = Durability::default();
        let mut read_only = false;
        // Options other than durability, as (key, value): the backend's to read.
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
                Some(("mode", "ro")) => read_only = true,
                Some(("mode", "rw")) => read_only = false,
                Some(("mode", other)) => {
                    return Err(unsupported(format!("mode must be rw or ro, not {other:?}")))
                }
                Some((key, value)) => backend_options.push((key, value)),
                None => backend_options.push((option, "")),
            }
        }
        let (registration, rest) = if let Some((scheme, rest)) = scheme_of(body) {
            let scheme = scheme.to_ascii_lowercase();
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let registration = BACKENDS
                .iter()
                .find(|b| b.schemes.contains(&scheme.as_str()))
                .ok_or_else(|| unsupported(missing_backend(&scheme)))?;
            if rest.is_empty() {
                return Err(unsupported(format!("no path after {scheme}:; {}", valid_forms())));
            }
            (registration, rest)
        } else {
            let extension = PathBuf::from(body)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let by_extension = extension
                .as_deref()
                .and_then(|e| BACKENDS.iter().find(|b| b.extensions.contains(&e)));
            let registration = match by_extension {
                Some(registration) => registration,
                None if matches!(extension.as_deref(), Some("db" | "sqlite" | "sqlite3")) => {
                    return Err(unsupported(missing_backend("sqlite")))
                }
                None => BACKENDS
                    .iter()
                    .find(|b| b.name == "json")
                    .ok_or_else(|| unsupported(missing_backend("json")))?,
            };
            (registration, body)
        };
        let location = (registration.parse)(url, rest, &backend_options)?;
        Ok(StoreUrl {
            location,
            durability,
            read_only,
        })
    }

    /// The backend's name: `json`, `sqlite`, `postgres`.
    pub fn backend(&self) -> &'static str {
        self.location.backend()
    }

    /// Opens the store this URL names: read-only with `?mode=ro`, otherwise for writing,
    /// creating it if it is missing.
    pub fn open(&self) -> Result<Box<dyn RaceStore>> {
        self.location.open(&self.options())
    }

    /// Opens the store as [`open`](Self::open) does and says whether opening created it (see
    /// [`StoreLocation::open_reporting`]), for a front end to tell its user.
    pub fn open_reporting(&self) -> Result<Opened> {
        self.location.open_reporting(&self.options())
    }

    /// Opens the store as `options` say, with this URL's durability; `?mode=ro` makes it
    /// read-only whatever `options` say.
    pub fn open_with(&self, options: &OpenOptions) -> Result<Box<dyn RaceStore>> {
        self.location.open(&OpenOptions {
            durability: self.durability,
            read_only: options.read_only || self.read_only,
            create: options.create && !self.read_only,
            ..*options
        })
    }

    /// Opens the store for reading only where its backend can (`json:`, `sqlite:`): nothing is
    /// created, locked for writing, repaired or changed, and a store that does not exist is an
    /// error naming it. A PostgreSQL schema opens as usual: the server's grants decide what a
    /// role may change.
    pub fn open_for_reading(&self) -> Result<Box<dyn RaceStore>> {
        let read_only = OpenOptions {
            durability: self.durability,
            ..OpenOptions::read_only()
        };
        match self.location.open(&read_only) {
            Err(Error::Unsupported { .. }) => self.location.open(&OpenOptions {
                create: false,
                ..self.options()
            }),
            other => other,
        }
    }

    /// How [`open`](Self::open) opens the store: the URL's durability and mode.
    pub fn options(&self) -> OpenOptions {
        OpenOptions {
            durability: self.durability,
            read_only: self.read_only,
            create: !self.read_only,
            ..OpenOptions::default()
        }
    }

    /// Whether two URLs name the same store (the same directory or file, or the same server,
    /// database and schema), whatever their spelling.
    pub fn same_store(&self, other: &StoreUrl) -> bool {
        self.location.backend() == other.location.backend()
            && self.location.identity() == other.location.identity()
    }
}

/// Why a scheme names no backend of this build: an unknown backend, or one left out at build time.
fn missing_backend(scheme: &str) -> String {
    match KNOWN_BACKENDS.iter().find(|(_, schemes)| schemes.contains(&scheme)) {
        Some((name, _)) => format!(
            "this racestore was built without the {name} backend; build it with the cargo feature \"{name}\"; {}",
            valid_forms()
        ),
        None => format!("unknown backend {scheme:?}; {}", valid_forms()),
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
/// assert_eq!(store.counts()?.sessions(), 0);
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

#[cfg(all(test, feature = "json", feature = "sqlite"))]
mod tests {
    use super::*;

    fn shown(url: &str) -> (String, String) {
        let parsed = StoreUrl::parse(url).unwrap();
        (parsed.backend().to_owned(), parsed.location.to_string())
    }

    #[test]
    fn url_forms_choose_the_backend() {
        let json = |p: &str| ("json".to_owned(), format!("json:{p}"));
        let sqlite = |p: &str| ("sqlite".to_owned(), format!("sqlite:{p}"));
        assert_eq!(shown("json:storage"), json("storage"));
        assert_eq!(shown("json:///tmp/s"), json("/tmp/s"));
        assert_eq!(shown("storage"), json("storage"));
        assert_eq!(shown("./data/race"), json("./data/race"));
        assert_eq!(shown("sqlite:race.db"), sqlite("race.db"));
        assert_eq!(shown("sqlite:///var/x"), sqlite("/var/x"));
        assert_eq!(shown("race_data.db"), sqlite("race_data.db"));
        assert_eq!(shown("/a/b.SQLite3"), sqlite("/a/b.SQLite3"));
        assert_eq!(shown(r"C:\races"), json(r"C:\races"));
    }

    #[test]
    fn durability_is_an_option_of_any_url() {
        assert_eq!(StoreUrl::parse("json:s").unwrap().durability, Durability::Process);
        let url = StoreUrl::parse("sqlite:r.db?durability=power-loss").unwrap();
        assert_eq!(url.durability, Durability::PowerLoss);
        assert_eq!(url.location.to_string(), "sqlite:r.db");
        assert_eq!(url.to_string(), "sqlite:r.db?durability=power-loss");
    }

    #[test]
    fn the_same_store_is_known_whatever_its_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = StoreUrl::parse(&format!("json:{}", dir.path().display())).unwrap();
        let b = StoreUrl::parse(&format!("{}/.", dir.path().display())).unwrap();
        let c = StoreUrl::parse(&format!("sqlite:{}/x.db", dir.path().display())).unwrap();
        assert!(a.same_store(&b));
        assert!(!a.same_store(&c));
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn postgres_urls_choose_the_postgres_backend_with_their_options() {
        for scheme in ["postgres", "postgresql", "PostgreSQL"] {
            let url = StoreUrl::parse(&format!(
                "{scheme}://race:pw@db:5433/timing?schema=team_a&pool_size=2&durability=power-loss"
            ))
            .unwrap();
            assert_eq!(url.durability, Durability::PowerLoss);
            assert_eq!(url.backend(), "postgres");
            assert_eq!(url.location.identity(), "postgres://db:5433/timing?schema=team_a");
            assert!(!url.to_string().contains("pw"), "{url}");
        }
    }

    #[test]
    #[cfg(feature = "postgres")]
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
        assert!(!format!("{url:?} {url}").contains("hunter2"), "{url:?}");
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
