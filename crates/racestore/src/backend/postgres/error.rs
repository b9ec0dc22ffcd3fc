//! The PostgreSQL backend's private error, and its conversion into racestore's [`Error`].
//!
//! Inside the backend, functions return [`PgResult`], so `?` works on both driver calls and
//! racestore's own checks. At the public boundary [`PgError::into_error`] turns it into an
//! [`Error`] naming the server (`HOST:PORT`) and the URL with its password redacted.

use std::error::Error as _;

use postgres::error::{DbError, SqlState};

use super::config::PostgresUrl;
use crate::error::Error;

/// `Result` of the backend's internal functions.
pub(super) type PgResult<T> = std::result::Result<T, PgError>;

/// An error inside the PostgreSQL backend.
#[derive(Debug)]
pub(super) enum PgError {
    /// A statement (or the connection it ran on) failed.
    Pg(postgres::Error),
    /// Opening a new connection failed.
    Connect(postgres::Error),
    /// racestore rejected the call or the data (`Invalid`, `NotFound`, `CorruptRow`, `Closed`, ...).
    Store(Error),
}

impl From<postgres::Error> for PgError {
    fn from(err: postgres::Error) -> Self {
        PgError::Pg(err)
    }
}

impl From<Error> for PgError {
    fn from(err: Error) -> Self {
        PgError::Store(err)
    }
}

impl PgError {
    /// Whether the connection the error happened on may be unusable now (lost, terminated by
    /// the server, or in a state racestore cannot tell), so the pool drops it instead of
    /// reusing it. Errors the server reported on a healthy session (a constraint, a privilege)
    /// keep it.
    pub(super) fn breaks_connection(&self) -> bool {
        match self {
            PgError::Pg(err) | PgError::Connect(err) => {
                is_connection_failure(err) || err.as_db_error().is_none()
            }
            PgError::Store(_) => false,
        }
    }

    /// The public error for this failure on the store at `url`.
    pub(super) fn into_error(self, url: &PostgresUrl) -> Error {
        match self {
            PgError::Store(err) => err,
            PgError::Connect(err) => {
                let retryable = is_retryable(&err);
                Error::Backend {
                    backend: "postgres",
                    message: connect_message(&err, url),
                    retryable,
                    engine: Some(Box::new(err)),
                }
            }
            PgError::Pg(err) => match map_statement_error(&err, url) {
                Error::Backend { backend, message, .. } => Error::Backend {
                    backend,
                    message,
                    retryable: is_retryable(&err),
                    engine: Some(Box::new(err)),
                },
                other => other,
            },
        }
    }
}

fn backend(message: String) -> Error {
    Error::backend("postgres", message)
}

/// Whether the same call may succeed if tried again: the connection was lost, the server is
/// starting or out of connection slots, or a transaction lost a serialization race.
fn is_retryable(err: &postgres::Error) -> bool {
    if is_connection_failure(err) {
        return true;
    }
    err.code().is_some_and(|code| {
        [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ]
        .contains(code)
    })
}

/// Whether `err` means the connection is gone: closed, an I/O failure, a FATAL error, or the
/// server terminating the session or shutting down.
pub(super) fn is_connection_failure(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P") || matches!(db.severity(), "FATAL" | "PANIC")
        }
        None => err
            .source()
            .is_some_and(<dyn std::error::Error + 'static>::is::<std::io::Error>),
    }
}

/// The whole chain of a driver error on one line: `error connecting to server: Connection refused`.
fn describe(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return describe_db(db);
    }
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}

fn describe_db(db: &DbError) -> String {
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" (detail: {detail})"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" (hint: {hint})"));
    }
    text.replace('\n', " ")
}

/// Why a new connection failed, and what to check.
fn connect_message(err: &postgres::Error, url: &PostgresUrl) -> String {
    let at = format!("the PostgreSQL server at {} ({url})", url.servers());
    let code = err.code();
    let advice = match code {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            "check the user and password in the URL, and the server's pg_hba.conf"
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            "create the database first (createdb), or name one that exists"
        }
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => {
            "the server has no free connection slot; lower pool_size, or raise the server's max_connections"
        }
        Some(c) if *c == SqlState::CANNOT_CONNECT_NOW => {
            "the server is starting up or shutting down; try again shortly"
        }
        Some(_) => "see the server's message",
        None => {
            "check that the server is running and accepts connections there, and the host and port in the URL"
        }
    };
    format!("cannot connect to {at}: {}; {advice}", describe(err))
}

/// The public error for a failed statement: a constraint violation becomes the error kind the
/// other backends give for the same input; everything else is [`Error::Backend`].
fn map_statement_error(err: &postgres::Error, url: &PostgresUrl) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            if let Some(id) = db.detail().and_then(referenced_session) {
                return Error::session_not_found(id);
            }
        }
        if *code == SqlState::NOT_NULL_VIOLATION || *code == SqlState::CHECK_VIOLATION {
            let field = db.column().or(db.constraint()).unwrap_or("a column");
            return Error::invalid(field, format!("rejected by the database: {}", db.message()));
        }
    }
    let server = format!("the PostgreSQL server at {} ({url})", url.servers());
    let message = if is_connection_failure(err) {
        format!(
            "lost the connection to {server}: {}; the call failed, and stored nothing unless the \
             connection broke as it committed (look before saving it again); later calls reconnect",
            describe(err)
        )
    } else {
        let advice = match err.code() {
            Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
                "; the user needs CREATE on the database (to create the schema) or USAGE and CREATE on the schema, \
                 and read-write rights on its tables"
            }
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
                "; nothing was stored, try again"
            }
            Some(c) if *c == SqlState::QUERY_CANCELED => "; the statement was cancelled (statement_timeout?)",
            _ => "",
        };
        format!("{server}: {}{advice}", describe(err))
    };
    backend(message)
}

/// The session id in a foreign-key violation's detail: `Key (session_id)=(9) is not present in table "race_sessions".`
fn referenced_session(detail: &str) -> Option<i64> {
    let rest = detail.strip_prefix("Key (session_id)=(")?;
    let (id, tail) = rest.split_once(')')?;
    tail.contains("race_sessions").then(|| id.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_key_details_name_the_session() {
        assert_eq!(
            referenced_session(r#"Key (session_id)=(9) is not present in table "race_sessions"."#),
            Some(9)
        );
        assert_eq!(
            referenced_session(r#"Key (session_id)=(-3) is not present in table "race_sessions"."#),
            Some(-3)
        );
        assert_eq!(referenced_session("Key (id)=(9) is still referenced"), None);
    }
}
