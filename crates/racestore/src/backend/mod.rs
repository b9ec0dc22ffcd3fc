//! The backends: each folder maps the shared model onto one kind of storage.

pub mod json;
pub mod postgres;
pub mod sqlite;
