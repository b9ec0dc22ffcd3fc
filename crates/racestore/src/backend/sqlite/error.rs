//! The SQLite backend's private error, and its conversion into racestore's [`Error`].
//!
//! Inside the backend, functions return [`SqlResult`], so `?` works on both rusqlite calls and
//! racestore's own checks (validation, unknown session, damaged rows). At the public boundary
//! [`SqlError::into_error`] turns it into an [`Error`] naming the database file.

use std::path::Path;
use std::time::Duration;

use rusqlite::ErrorCode;

use crate::error::Error;

/// `Result` of the backend's internal functions.
pub(super) type SqlResult<T> = std::result::Result<T, SqlError>;

/// An error inside the SQLite backend: from SQLite, or already one of racestore's.
#[derive(Debug)]
pub(super) enum SqlError {
    /// SQLite (through rusqlite) failed.
    Sqlite(rusqlite::Error),
    /// racestore rejected the call or the data (`Invalid`, `NotFound`, `CorruptRow`, ...).
    Store(Error),
}

impl From<rusqlite::Error> for SqlError {
    fn from(err: rusqlite::Error) -> Self {
        SqlError::Sqlite(err)
    }
}

impl From<Error> for SqlError {
    fn from(err: Error) -> Self {
        SqlError::Store(err)
    }
}

impl SqlError {
    /// The public error for this failure on the database at `path`.
    ///
    /// Every SQLite failure becomes [`Error::Backend`] with a message that names the file and,
    /// where there is one, what the user can do about it.
    pub(super) fn into_error(self, path: &Path, busy_timeout: Duration) -> Error {
        match self {
            SqlError::Store(err) => err,
            SqlError::Sqlite(err) => Error::Backend {
                backend: "sqlite",
                message: describe(&err, path, busy_timeout),
                retryable: is_busy(&err),
                engine: Some(Box::new(err)),
            },
        }
    }
}

/// The public error for `VACUUM INTO` failing to back the database at `source` up to
/// `destination`: SQLite's message names no file, so this names the one the failure is about.
/// A full disk, a file that cannot be created or written, an I/O error: the backup being written
/// (the source is only read). A busy, damaged or unreadable database: the source.
pub(super) fn backup_error(
    err: rusqlite::Error,
    source: &Path,
    destination: &Path,
    busy_timeout: Duration,
) -> Error {
    let writing = matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::TooBig
        )
    );
    let message = if writing {
        format!(
            "writing the backup: {}",
            describe(&err, destination, busy_timeout)
        )
    } else {
        format!(
            "reading the store to back it up: {}",
            describe(&err, source, busy_timeout)
        )
    };
    Error::Backend {
        backend: "sqlite",
        message,
        retryable: is_busy(&err),
        engine: Some(Box::new(err)),
    }
}

/// Whether SQLite gave up because another connection held a lock.
pub(super) fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// What went wrong with the database at `path`, in words a user can act on.
fn describe(err: &rusqlite::Error, path: &Path, busy_timeout: Duration) -> String {
    let path = path.display();
    let Some(code) = err.sqlite_error_code() else {
        return format!("{path}: {err}");
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => format!(
            "{path}: the database is busy: another connection kept it locked for more than {} s ({err}); \
             try again, or stop the program holding it",
            busy_timeout.as_secs_f64()
        ),
        ErrorCode::CannotOpen => format!(
            "cannot open {path} ({err}); check that the path names a file in a directory that exists and \
             that racestore may write to"
        ),
        ErrorCode::PermissionDenied => {
            format!("{path}: permission denied ({err}); check the file's and its directory's permissions")
        }
        ErrorCode::ReadOnly => format!(
            "{path} is read-only ({err}); racestore needs to write to the database (and to its -wal and \
             -shm files beside it): make them writable, or copy the database somewhere writable"
        ),
        ErrorCode::NotADatabase => format!("{path} is not a SQLite database ({err}); check the path"),
        ErrorCode::DatabaseCorrupt => format!(
            "{path} is damaged ({err}); restore it from a backup, or try the sqlite3 shell's .recover"
        ),
        ErrorCode::DiskFull => format!("{path}: the disk is full ({err}); free some space and try again"),
        ErrorCode::SystemIoFailure => format!("{path}: reading or writing the file failed ({err})"),
        _ => format!("{path}: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> SqlError {
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn busy_errors_say_the_database_is_busy_and_name_the_file() {
        let err =
            failure(rusqlite::ffi::SQLITE_BUSY).into_error(Path::new("/r/race.db"), Duration::from_secs(10));
        let text = err.to_string();
        assert!(
            matches!(
                err,
                Error::Backend {
                    backend: "sqlite",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            text.contains("/r/race.db") && text.contains("busy") && text.contains("10 s"),
            "{text}"
        );
    }

    #[test]
    fn a_backup_error_names_the_file_it_is_about() {
        let sqlite = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        let (source, destination) = (Path::new("/data/race.db"), Path::new("/full/backup.db"));
        let full = backup_error(
            sqlite(rusqlite::ffi::SQLITE_FULL),
            source,
            destination,
            Duration::ZERO,
        );
        let text = full.to_string();
        assert!(
            text.starts_with("sqlite: writing the backup: /full/backup.db: the disk is full (")
                && !text.contains("race.db"),
            "{text}"
        );
        let busy = backup_error(
            sqlite(rusqlite::ffi::SQLITE_BUSY),
            source,
            destination,
            Duration::ZERO,
        );
        let text = busy.to_string();
        assert!(
            text.contains("reading the store to back it up: /data/race.db: the database is busy")
                && !text.contains("backup.db")
                && busy.is_retryable(),
            "{text}"
        );
    }

    #[test]
    fn racestore_errors_pass_through_unchanged() {
        let err = SqlError::from(Error::session_not_found(4)).into_error(Path::new("x.db"), Duration::ZERO);
        assert!(
            matches!(
                err,
                Error::NotFound {
                    what: "session",
                    id: 4
                }
            ),
            "{err:?}"
        );
    }
}
