//! Every integration test of this crate, in one binary (one link, one run).

mod common;

mod analysis;
mod backup;
mod bench;
mod check;
mod cli;
mod entries;
mod export;
mod filesystems;
mod import;
mod import_csv;
mod import_ergast;
mod integrity;
mod manage;
mod migrate;
mod progress;
mod secrets;
#[cfg(feature = "server")]
mod serve;
