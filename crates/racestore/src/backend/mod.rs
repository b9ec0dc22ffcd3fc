//! The backends: each folder maps the shared model onto one kind of storage.

pub mod json;
pub mod postgres;
pub(crate) mod sql;
pub mod sqlite;
