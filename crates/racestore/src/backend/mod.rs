//! The backends: each folder maps the shared model onto one kind of storage, behind a cargo
//! feature of its own (`json`, `sqlite`, `postgres`).

#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
