//! The one error type every backend returns.

use std::path::PathBuf;

/// What can go wrong when using a store, in variants a caller can act on.
///
/// Backends keep their detailed errors private and convert them into these, so a caller that
/// matches on `Error::NotFound` or `Error::Invalid` behaves the same on every backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record the call refers to does not exist (a save into an unknown session, say).
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of record: `"session"`.
        what: &'static str,
        /// The id that was looked for.
        id: i64,
    },

    /// The input was rejected before anything was stored.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field at fault, as the caller named it (`lap_time`, `sectors.S2`, `metrics.aggression_score`).
        field: String,
        /// Why it was rejected.
        message: String,
    },

    /// A data file is damaged in a way racestore will not guess around; nothing was changed.
    #[error("{} is damaged at byte {offset} (line {line}, column {column}): {message}; the file was left untouched, restore it from a backup or repair it by hand", path.display())]
    CorruptFile {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the first bad byte.
        offset: u64,
        /// 1-based line of that byte.
        line: u64,
        /// 1-based column of that byte.
        column: u64,
        /// What was found there.
        message: String,
    },

    /// The store is damaged in a way opening will not repair on its own, as repairing would
    /// lose records (a data file missing, a torn record other files prove was saved); nothing
    /// was changed. The message names the file and the repair that would go ahead.
    #[error("{} is damaged: {message}", path.display())]
    Damaged {
        /// The damaged file (or the store's directory).
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },

    /// The store was opened read-only (`?mode=ro`), so it refuses every write.
    #[error("{} was opened read-only (mode=ro): nothing can be saved or deleted through it; open it without mode=ro to write", path.display())]
    ReadOnly {
        /// The store's directory or file.
        path: PathBuf,
    },

    /// A row in a database does not hold what the schema promises.
    #[error("{table} row {id} is damaged: {message}")]
    CorruptRow {
        /// The table holding the row.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// What is wrong with it.
        message: String,
    },

    /// Another process (or another open store in this process) holds the store for writing.
    #[error("{} is in use by {holder}; close that store first, or use another directory", path.display())]
    Locked {
        /// The locked store.
        path: PathBuf,
        /// Who holds it, as the holder recorded it (process id, program, since when).
        holder: String,
    },

    /// The store URL names no backend racestore has, or an option it does not know.
    #[error("unsupported store URL {url:?}: {message}")]
    Unsupported {
        /// The URL as given (passwords redacted).
        url: String,
        /// What is wrong and what would work.
        message: String,
    },

    /// The store was closed with [`RaceStore::close`](crate::RaceStore::close).
    #[error("the store has been closed")]
    Closed,

    /// An earlier write or sync failed, so the store no longer knows what reached the disk; reopen it.
    #[error("the store stopped accepting writes after an earlier failure ({0}); reopen it to recover")]
    Poisoned(String),

    /// Reading or writing a file failed.
    #[error("{action} {}: {os_error}", path.display())]
    Io {
        /// What racestore was doing (`"writing"`, `"opening"`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error. Not chained as the error's source (hence its name): its
        /// text is in the message already, and a chain would print it twice.
        os_error: std::io::Error,
    },

    /// The database engine reported an error racestore has no better variant for.
    #[error("{backend}: {message}")]
    Backend {
        /// Which backend (`"sqlite"`, `"postgres"`).
        backend: &'static str,
        /// What failed, in words (the engine's message included).
        message: String,
        /// Whether the same call may succeed if tried again (a lost connection, a busy
        /// database), as opposed to failing the same way every time (a schema that does not fit).
        retryable: bool,
        /// The engine's own error, when there is one, for callers that inspect it. Not chained
        /// as the error's source: its text is in `message` already, and a chain would print it twice.
        engine: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A file being imported (a timing export) cannot be read as its format, or has rows that
    /// cannot be trusted and the import was told to abort on them; nothing was stored.
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Import {
        /// The file, as given to the importer.
        file: PathBuf,
        /// 1-based line of the row at fault; `None` when the file as a whole is.
        line: Option<u64>,
        /// What is wrong and what the user can do.
        message: String,
    },
}

/// `Result` with racestore's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Builds an [`Error::Backend`] that trying again will not mend.
    pub fn backend(backend: &'static str, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
            retryable: false,
            engine: None,
        }
    }

    /// Whether the same call may succeed if tried again: the store is locked or busy, or the
    /// connection to its server was lost.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Locked { .. } | Error::Backend { retryable: true, .. }
        )
    }

    /// Builds the [`Error::NotFound`] a save into an unknown session gets.
    pub fn session_not_found(id: i64) -> Self {
        Error::NotFound { what: "session", id }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            os_error: source,
        }
    }
}
