//! Where a PostgreSQL store lives: the `postgres://` URL, racestore's own options in it, and the
//! redaction that keeps its password out of every message.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};

use crate::error::{Error, Result};
use crate::redact::redact_url;

/// The schema a store uses when the URL names none.
pub(super) const DEFAULT_SCHEMA: &str = "public";

/// The number of connections a store keeps when the URL does not say (`?pool_size=`).
pub(super) const DEFAULT_POOL_SIZE: usize = 4;

/// The most connections one store may keep open (PostgreSQL's own default limit is 100 for all
/// clients together).
pub(super) const MAX_POOL_SIZE: usize = 64;

/// How long opening a connection may take when the URL does not say (`?connect_timeout=`, seconds).
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `application_name` racestore's connections show in `pg_stat_activity`, unless the URL sets one.
const DEFAULT_APPLICATION_NAME: &str = "racestore";

/// Whether connections to the server are encrypted (`?sslmode=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMode {
    /// `disable`: never; every byte, the password exchange aside, crosses the network in clear.
    Disable,
    /// `prefer` (the default, as in libpq): TLS when the server offers it, plain text when it does
    /// not. As in libpq, the server's certificate is not checked, so this keeps out eavesdroppers
    /// but not an attacker who can impersonate the server.
    #[default]
    Prefer,
    /// `require` (or `verify-full`): TLS or no connection, and the server's certificate must chain
    /// to a root in the system's certificate store and name the host connected to. Stricter than
    /// libpq's `require`, which checks nothing: it is libpq's `verify-full`.
    Require,
}

impl TlsMode {
    /// The name used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
        }
    }
}

/// A PostgreSQL store's URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?OPTIONS]` (or
/// `postgresql://`), parsed and checked.
///
/// racestore's own options (`schema`, `pool_size`, `sslmode`; `durability` is read by
/// [`StoreUrl`](crate::StoreUrl)) are taken out; every other option (`connect_timeout`,
/// `application_name`, `options`, `keepalives`, `target_session_attrs`, ...) goes to the driver
/// as libpq would read it.
///
/// The password is kept only to connect: [`Debug`](fmt::Debug) and [`Display`](fmt::Display)
/// show `postgres://user:***@host:port/db`, and so does every error message.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The URL handed to the driver, racestore's options removed. Holds the password: never print it.
    driver_url: String,
    /// The URL as given, password replaced by [`REDACTED`].
    redacted: String,
    /// `HOST:PORT` of each server named, for messages.
    servers: String,
    schema: String,
    pool_size: usize,
    tls: TlsMode,
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("url", &self.redacted)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("tls", &self.tls)
            .finish()
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl FromStr for PostgresUrl {
    type Err = Error;

    /// Parses a whole `postgres://` URL; a `durability` option in it is accepted and ignored
    /// (it is [`StoreUrl`](crate::StoreUrl)'s).
    fn from_str(url: &str) -> Result<Self> {
        let (body, query) = match url.split_once('?') {
            Some((body, query)) => (body, query),
            None => (url, ""),
        };
        let options: Vec<(&str, &str)> = query
            .split('&')
            .filter(|o| !o.is_empty())
            .map(|o| o.split_once('=').unwrap_or((o, "")))
            .filter(|(key, _)| *key != "durability")
            .collect();
        PostgresUrl::from_parts(url, body, &options)
    }
}

impl PostgresUrl {
    /// Builds the URL from its parts: `url` as given (for messages), the part before `?`, and
    /// the options after it as `(key, value)` pairs, racestore's and the driver's mixed.
    pub(crate) fn from_parts(url: &str, body: &str, options: &[(&str, &str)]) -> Result<PostgresUrl> {
        let redacted = redact_url(url);
        let unsupported = |message: String| Error::Unsupported {
            url: redacted.clone(),
            message,
        };
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut tls = TlsMode::default();
        let mut driver_options = Vec::new();
        for &(key, value) in options {
            match key {
                "schema" => schema = parse_schema(value).map_err(unsupported)?,
                "pool_size" => {
                    pool_size = match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_POOL_SIZE).contains(&n) => n,
                        _ => {
                            return Err(unsupported(format!(
                                "pool_size must be a number from 1 to {MAX_POOL_SIZE}, not {value:?}"
                            )))
                        }
                    }
                }
                "sslmode" => {
                    tls = match value {
                        "disable" => TlsMode::Disable,
                        "prefer" => TlsMode::Prefer,
                        "require" | "verify-full" => TlsMode::Require,
                        other => {
                            return Err(unsupported(format!(
                        "sslmode must be disable, prefer or require (verify-full is require), not {other:?}"
                    )))
                        }
                    }
                }
                // The driver's own options, checked by its parser below.
                _ => driver_options.push(format!("{key}={value}")),
            }
        }
        let sslmode = match tls {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
        };
        driver_options.push(format!("sslmode={sslmode}"));
        // The driver reads the scheme in lower case only.
        let body = match body.split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
            None => body.to_owned(),
        };
        let driver_url = format!("{body}?{}", driver_options.join("&"));
        let config = postgres::Config::from_str(&driver_url).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            unsupported(format!(
                "{e}{cause}; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB with options such as \
                 ?schema=NAME&pool_size=N&sslmode=disable|prefer|require&connect_timeout=SECONDS"
            ))
        })?;
        if config.get_hosts().is_empty() {
            return Err(unsupported(
                "the URL names no server; write postgres://USER@HOST[:PORT]/DB".to_owned(),
            ));
        }
        if config.get_user().is_none() {
            return Err(unsupported(
                "the URL names no user; write postgres://USER@HOST[:PORT]/DB".to_owned(),
            ));
        }
        Ok(PostgresUrl {
            servers: servers(&config),
            driver_url,
            redacted,
            schema,
            pool_size,
            tls,
        })
    }

    /// The schema holding the store's tables (`?schema=`, default `public`).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// How many connections the store keeps at most (`?pool_size=`, default 4).
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// Whether connections are encrypted (`?sslmode=`, default `prefer`).
    pub fn tls(&self) -> TlsMode {
        self.tls
    }

    /// `HOST:PORT` of the server (comma separated when the URL names several).
    pub fn servers(&self) -> &str {
        &self.servers
    }

    /// The database the URL names (the user's name when it names none, as libpq does).
    pub fn database(&self) -> String {
        let config = self.driver_config();
        config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or_default()
            .to_owned()
    }

    /// The URL with its password replaced by `***`, as every message shows it.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The driver's configuration: the URL's, plus what racestore sets on every connection
    /// (`search_path` to the schema, a default connect timeout and application name).
    pub(crate) fn driver_config(&self) -> postgres::Config {
        let mut config = postgres::Config::from_str(&self.driver_url)
            .expect("the driver URL was parsed when the PostgresUrl was made");
        // The schema comes first and alone on the search path, so every unqualified name in
        // racestore's statements is the schema's; set at connection start, it costs no round trip.
        let search_path = format!("-c search_path={}", self.schema);
        let options = match config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {search_path}"),
            _ => search_path,
        };
        config.options(&options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(DEFAULT_APPLICATION_NAME);
        }
        let mode = match self.tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require => SslMode::Require,
        };
        config.ssl_mode(mode);
        config
    }
}

/// `HOST:PORT` for each server a configuration names.
fn servers(config: &postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            // As libpq: one port for all hosts, or one per host; 5432 when none is given.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks a `schema` option: a plain lower-case SQL name, so it is the same name quoted or not
/// and can be written into SQL as it is.
fn parse_schema(value: &str) -> std::result::Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !value.starts_with("pg_");
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "schema must be 1 to 63 lower-case letters, digits and underscores, starting with a letter \
             or underscore and not with pg_ (like team_a), not {value:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> PostgresUrl {
        url.parse().unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn error(url: &str) -> String {
        match url.parse::<PostgresUrl>() {
            Err(e @ Error::Unsupported { .. }) => e.to_string(),
            other => panic!("{url}: expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_public_schema_four_connections_and_prefer_tls() {
        let url = parse("postgres://race@db.example:5433/timing");
        assert_eq!(url.schema(), "public");
        assert_eq!(url.pool_size(), DEFAULT_POOL_SIZE);
        assert_eq!(url.tls(), TlsMode::Prefer);
        assert_eq!(url.servers(), "db.example:5433");
        let config = url.driver_config();
        assert_eq!(config.get_user(), Some("race"));
        assert_eq!(config.get_dbname(), Some("timing"));
        assert_eq!(config.get_options(), Some("-c search_path=public"));
        assert_eq!(config.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(config.get_application_name(), Some("racestore"));
        assert_eq!(parse("postgresql://u@h/db").servers(), "h:5432");
    }

    #[test]
    fn racestore_options_are_read_and_the_rest_go_to_the_driver() {
        let url = parse(
            "postgres://u:pw@h/db?schema=team_a&pool_size=9&sslmode=require&connect_timeout=3\
             &application_name=pit-wall&options=-c%20statement_timeout%3D5s&durability=power-loss",
        );
        assert_eq!(url.schema(), "team_a");
        assert_eq!(url.pool_size(), 9);
        assert_eq!(url.tls(), TlsMode::Require);
        let config = url.driver_config();
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(config.get_application_name(), Some("pit-wall"));
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=5s -c search_path=team_a")
        );
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(config.get_password(), Some(&b"pw"[..]));
        assert!(!url.driver_url.contains("schema="), "{}", url.driver_url);
        assert!(!url.driver_url.contains("pool_size="), "{}", url.driver_url);
        assert!(!url.driver_url.contains("durability="), "{}", url.driver_url);
        assert_eq!(
            parse("postgres://u@h/db?sslmode=verify-full").tls(),
            TlsMode::Require
        );
        assert_eq!(parse("postgres://u@h/db?sslmode=disable").tls(), TlsMode::Disable);
    }

    #[test]
    fn bad_options_are_unsupported_and_say_what_would_work() {
        assert!(error("postgres://u@h/db?pool_size=0").contains("pool_size must be a number from 1 to 64"));
        assert!(error("postgres://u@h/db?pool_size=many").contains("pool_size"));
        assert!(error("postgres://u@h/db?pool_size=65").contains("pool_size"));
        assert!(
            error("postgres://u@h/db?sslmode=allow").contains("sslmode must be disable, prefer or require")
        );
        for schema in [
            "Team",
            "a-b",
            "",
            "1st",
            "pg_temp",
            "x;drop",
            "\"q\"",
            &"s".repeat(64),
        ] {
            let text = error(&format!("postgres://u@h/db?schema={schema}"));
            assert!(text.contains("schema must be"), "{schema}: {text}");
        }
        assert!(error("postgres://u@h/db?cache=1").contains("unknown option"));
        assert!(error("postgres://u@h/db?connect_timeout=soon").contains("connect_timeout"));
        assert!(error("postgres:///db").contains("names no server"));
        assert!(error("postgres://h/db").contains("names no user"));
    }

    #[test]
    fn passwords_never_appear_in_debug_display_or_errors() {
        let secret = "s3cr%40t-P4ss";
        let url = parse(&format!(
            "postgres://race:{secret}@db.example:5432/timing?schema=team_a"
        ));
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted().to_owned()] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("race:***@db.example:5432/timing"), "{shown}");
        }
        let text = error(&format!("postgres://race:{secret}@db.example/timing?pool_size=0"));
        assert!(!text.contains("s3cr") && text.contains("race:***@"), "{text}");
        let text = error(&format!("postgres://race:{secret}@db.example/timing?bogus=1"));
        assert!(!text.contains("s3cr"), "{text}");
        let in_query = parse("postgres://race@h/db?password=hunter2&schema=s");
        assert!(!format!("{in_query:?} {in_query}").contains("hunter2"));
        assert_eq!(in_query.driver_config().get_password(), Some(&b"hunter2"[..]));
    }

    #[test]
    fn redaction_hides_the_password_even_in_odd_urls() {
        assert_eq!(redact_url("postgres://u:p@h:1/d"), "postgres://u:***@h:1/d");
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact_url("postgres://h/d"), "postgres://h/d");
        // An unencoded `@`, `/` or `?` in the password still hides all of it.
        assert_eq!(redact_url("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact_url("postgres://u:p/s?s@h/d"), "postgres://u:***@h/d");
        assert_eq!(
            redact_url("postgresql://u@h/d?password=x&schema=s"),
            "postgresql://u@h/d?password=***&schema=s"
        );
        assert_eq!(redact_url("json:storage"), "json:storage");
    }
}
