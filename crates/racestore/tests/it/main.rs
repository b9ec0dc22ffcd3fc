//! Every integration test of this crate, in one binary (one link, one run).

mod common;

mod analysis;
mod check_and_transfer;
mod conformance;
mod damage;
mod entries;
mod faults;
mod import_alkamel;
mod import_ergast;
mod import_mapped;
mod index_cache;
mod integrity;
mod layers;
mod model_check;
mod original_fixtures;
mod postgres;
mod python_compat;
mod race_entries;
mod race_results;
