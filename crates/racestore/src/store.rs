//! The interface every backend implements, and the conveniences built on it once for all.

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::model::{
    Collection, Counts, DriverMetrics, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewLap, NewPrediction,
    NewSession, NewSimulation, Prediction, Records, Session, SessionQuery, Simulation,
};

/// Storage for race sessions and everything recorded under them.
///
/// Open one with [`crate::open`]; share it between threads as `Arc<dyn RaceStore>`. The
/// original GR Race Guardian names (`save_lap_data`, `get_session_laps`, ...) that are not
/// primitives here live in [`RaceStoreExt`], implemented once for every backend.
///
/// # Contract
///
/// Every backend behaves as follows; the conformance suite (`racestore::conformance`, one test
/// per sentence) runs against each.
///
/// - **Ids.** Each collection (sessions, driver metrics, laps, predictions, simulations) numbers
///   its records 1, 2, 3, ... in the order they are saved. An id is never given twice, not even
///   after the record holding it was deleted and the store reopened. A rejected save uses no id.
/// - **Ordering.** Every read returns records in ascending id order.
/// - **Round trip.** A saved record reads back with exactly the values given, the defaults
///   filled in (`race_type` `race`, `date` now, empty metric objects `{}`) and `created_at` in
///   the format of [`now_timestamp`](crate::model::now_timestamp). JSON values (metric objects,
///   paces, results) read back equal to what was saved: nested objects, unicode, and integers
///   to the full range of `i64`/`u64` included.
/// - **Validation.** Bad input is rejected with [`Error::Invalid`](crate::Error::Invalid) naming
///   the field (see the `validate` methods in [`crate::model`]), and nothing is stored.
/// - **Unknown session.** Saving anything into a session that does not exist is
///   [`Error::NotFound`](crate::Error::NotFound), and nothing is stored. Reading an unknown
///   session gives `None` or an empty list.
/// - **Batches.** [`save_laps`](RaceStore::save_laps) stores every lap or none: one bad lap, or
///   one unknown session, rejects the whole batch, and the error is the one the first such lap
///   (in input order) gets. Its ids are consecutive.
/// - **Delete.** [`delete_session`](RaceStore::delete_session) removes the session and every
///   record under it, says how many of each it removed, and leaves other sessions untouched.
///   Deleting an unknown session is `NotFound`.
/// - **Persistence.** What a call acknowledged is there after the store is closed (or dropped)
///   and opened again.
/// - **Threads.** Calls from many threads at once lose nothing, and each save gets its own id.
/// - **Export and import.** [`export_page`](RaceStore::export_page) pages through one collection
///   in id order, records whose session is gone included. [`import`](RaceStore::import) stores
///   records exactly as given, ids and timestamps included, all or nothing: the ids must ascend
///   and be above every id the collection has given ([`Error::Invalid`](crate::Error::Invalid)
///   naming `id` otherwise), and a child's session must exist (`NotFound`). Saves after an
///   import continue above the imported ids. [`highest_ids`](RaceStore::highest_ids) counts
///   ids of deleted records too; after [`reserve_ids`](RaceStore::reserve_ids) every save gets an
///   id above the marks given, also after reopening.
/// - **Backup.** [`backup`](RaceStore::backup) writes a copy that opens as a store of the same
///   backend and holds exactly what the store held at one moment, while other threads keep
///   saving.
/// - **Close.** [`close`](RaceStore::close) flushes and releases the store; any later call is
///   [`Error::Closed`](crate::Error::Closed). Dropping the store closes it too.
pub trait RaceStore: std::fmt::Debug + Send + Sync + 'static {
    /// Creates a session and returns its id.
    fn create_session(&self, session: &NewSession) -> Result<Id>;

    /// Saves one driver's metrics for a session and returns the record's id.
    fn save_driver_metrics(&self, metrics: &NewDriverMetrics) -> Result<Id>;

    /// Saves laps all together or not at all, returning their ids (consecutive, in input order).
    fn save_laps(&self, laps: &[NewLap]) -> Result<Vec<Id>>;

    /// Saves a prediction and returns its id.
    fn save_prediction(&self, prediction: &NewPrediction) -> Result<Id>;

    /// Saves a simulation run and returns its id.
    fn save_simulation(&self, simulation: &NewSimulation) -> Result<Id>;

    /// The session with this id, if it exists.
    fn get_session(&self, session_id: Id) -> Result<Option<Session>>;

    /// The sessions a query selects, in id order.
    fn get_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>>;

    /// The driver metrics of a session, in id order.
    fn get_session_metrics(&self, session_id: Id) -> Result<Vec<DriverMetrics>>;

    /// The laps a query selects, in id order.
    fn get_laps(&self, query: &LapQuery) -> Result<Vec<Lap>>;

    /// The predictions of a session, in id order.
    fn get_session_predictions(&self, session_id: Id) -> Result<Vec<Prediction>>;

    /// The simulations of a session, in id order.
    fn get_session_simulations(&self, session_id: Id) -> Result<Vec<Simulation>>;

    /// Deletes a session and everything recorded under it; returns how many records of each kind went.
    fn delete_session(&self, session_id: Id) -> Result<Counts>;

    /// How many records the store holds, per collection.
    fn counts(&self) -> Result<Counts>;

    /// Up to `limit` records of `collection` with ids above `after_id`, in id order.
    ///
    /// Paging with the last id of each page reads a whole collection once, whatever its size:
    /// the primitive behind export, migrate and check.
    fn export_page(&self, collection: Collection, after_id: Id, limit: usize) -> Result<Records>;

    /// Stores records exactly as given, ids and timestamps included (migrating, restoring).
    ///
    /// All or nothing. Values are kept as they are (they were valid where they came from).
    fn import(&self, records: &Records) -> Result<()>;

    /// Writes a consistent copy of the store in its own format to `destination`, which must not
    /// exist yet (a directory for JSON, a file for SQLite), while other threads keep saving.
    fn backup(&self, destination: &Path) -> Result<()>;

    /// Per collection, the highest id the store has given, deleted records included.
    fn highest_ids(&self) -> Result<IdMarks>;

    /// Makes every collection give ids above `marks` from now on; a collection already past its
    /// mark is left as it is. A copy of a store takes the original's marks, so that neither ever
    /// gives an id the other gave.
    fn reserve_ids(&self, marks: &IdMarks) -> Result<()>;

    /// Flushes everything to storage and releases the store (and its lock); later calls fail with `Closed`.
    fn close(&self) -> Result<()>;

    /// What opening the store repaired (a torn tail cut off after a crash, say); empty when nothing.
    fn repairs(&self) -> Vec<Repair> {
        Vec::new()
    }
}

/// Something opening a store found damaged and repaired without losing an acknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file (or table) repaired.
    pub file: std::path::PathBuf,
    /// Byte offset where the damage started.
    pub offset: u64,
    /// Bytes removed from there.
    pub removed_bytes: u64,
    /// What was found and done.
    pub detail: String,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "repaired {}: {} ({} bytes removed at byte {})",
            self.file.display(),
            self.detail,
            self.removed_bytes,
            self.offset
        )
    }
}

/// The original system's call forms, built on [`RaceStore`]'s primitives for every backend.
pub trait RaceStoreExt: RaceStore {
    /// Saves one lap (`save_lap_data` in the original), returning its id.
    fn save_lap_data(&self, lap: &NewLap) -> Result<Id> {
        let ids = self.save_laps(std::slice::from_ref(lap))?;
        Ok(ids[0])
    }

    /// Saves one lap given in the original's positional form, sectors as `{"S1": .., "S2": .., "S3": ..}`.
    #[allow(clippy::too_many_arguments)]
    fn save_lap_json(
        &self,
        session_id: Id,
        driver_id: &str,
        lap_number: i64,
        lap_time: f64,
        sectors: &Value,
        lap_type: &str,
        position: Option<i64>,
    ) -> Result<Id> {
        let lap = NewLap {
            session_id,
            driver_id: driver_id.to_owned(),
            lap_number,
            lap_time,
            sectors: crate::model::Sectors::from_json(sectors)?,
            lap_type: lap_type.to_owned(),
            position,
        };
        self.save_lap_data(&lap)
    }

    /// Saves metrics given as the original's dict (`aggression_score` plain or nested).
    fn save_driver_metrics_json(&self, session_id: Id, driver_id: &str, metrics: &Value) -> Result<Id> {
        self.save_driver_metrics(&NewDriverMetrics::from_json(session_id, driver_id, metrics)?)
    }

    /// Every lap of a session, in id order.
    fn get_session_laps(&self, session_id: Id) -> Result<Vec<Lap>> {
        self.get_laps(&LapQuery::session(session_id))
    }

    /// One driver's laps in a session, in id order.
    fn get_driver_laps(&self, session_id: Id, driver_id: &str) -> Result<Vec<Lap>> {
        self.get_laps(&LapQuery::session(session_id).driver(driver_id))
    }

    /// Every session, in id order.
    fn get_all_sessions(&self) -> Result<Vec<Session>> {
        self.get_sessions(&SessionQuery::all())
    }
}

impl<T: RaceStore + ?Sized> RaceStoreExt for T {}
