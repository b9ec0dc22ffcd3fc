//! Analysis of stored records: what a session's laps say, computed once here for every front end
//! (the CLI, the Python package, the server).
//!
//! Every function is pure — it takes records a store returned and computes from them, reading and
//! writing nothing — except the `*_session` conveniences, which read a session from a store (and
//! save, when asked to).
//!
//! - [`race`]: the classification with gaps, and per competitor the best, average and green laps,
//!   sector bests, theoretical best and pit stops; lap counts by type.
//! - [`metrics`] (cargo feature `analysis`): the original GR Race Guardian's five driver metrics
//!   (consistency index, aggression score, pace stability, fatigue drop-off, sector strength),
//!   with its numbers.
//! - [`simulation`] (cargo feature `analysis`): the original's Monte Carlo race simulation, seeded
//!   and parallel, with its lap-time model or one fitted from the session's green laps.
//!
//! The original's definitions are written out as formulas in `docs/analysis.md`, with the quirks
//! racestore keeps.

#[cfg(feature = "analysis")]
pub mod metrics;
#[cfg(feature = "analysis")]
mod numeric;
pub mod race;
#[cfg(feature = "analysis")]
pub mod simulation;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::model::{Id, Lap, Session};
use crate::store::{RaceStore, RaceStoreExt};

/// A stored session and its laps: [`Error::NotFound`] when there is no such session,
/// [`Error::Invalid`] naming `session` when it has no laps to analyse.
pub fn session_laps(store: &dyn RaceStore, session_id: Id) -> Result<(Session, Vec<Lap>)> {
    let session = store
        .get_session(session_id)?
        .ok_or_else(|| Error::session_not_found(session_id))?;
    let laps = store.get_session_laps(session_id)?;
    if laps.is_empty() {
        return Err(Error::invalid(
            "session",
            format!("session {session_id} has no laps to analyse; import or save its laps first"),
        ));
    }
    Ok((session, laps))
}

/// Values by key in a fixed order, serialized as a JSON object in that order (the original's
/// dicts keep their insertion order).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed<V>(pub Vec<(String, V)>);

impl<V> Keyed<V> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<V: Serialize> Serialize for Keyed<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}
