//! Importers of timing-system exports into a [`RaceStore`](crate::RaceStore).
//!
//! An importer reads a whole file and checks every row (without touching any store) before it
//! stores anything; then it writes one session and all its laps in one batch. An import that
//! fails or is aborted leaves the store as it was.
//!
//! - [`alkamel`]: Al Kamel Systems' lap-by-lap analysis exports (`23_Analysis...`), used by the
//!   Toyota GR Cup and the FIA WEC.
//! - [`ergast`]: Formula 1's history from the Ergast database's CSV tables, one session per race.

pub mod alkamel;
pub mod ergast;
mod table;
mod time;
