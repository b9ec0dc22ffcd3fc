//! Analysis of stored records: what a session's laps say, computed once here for every front end
//! (the CLI, the Python package, the server).
//!
//! Every function is pure: it takes records a store returned and computes from them, reading and
//! writing nothing.
//!
//! - [`race`]: the classification with gaps, and per competitor the best, average and green laps,
//!   sector bests, theoretical best and pit stops; lap counts by type.

pub mod race;
