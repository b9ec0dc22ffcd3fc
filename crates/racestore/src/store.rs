//! The interface every backend implements, and the conveniences built on it once for all.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{
    Collection, Counts, DriverMetrics, Entry, Id, IdMarks, Lap, LapQuery, Member, NewDriverMetrics, NewEntry,
    NewLap, NewPrediction, NewRecord, NewRecords, NewRecordsVisitor, NewSession, NewSimulation, Prediction,
    Query, Record, Records, Session, SessionQuery, Simulation,
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
/// - **Ids.** Each collection (sessions, driver metrics, laps, predictions, simulations, entries) numbers
///   its records 1, 2, 3, ... in the order they are saved. An id is never given twice, not even
///   after the record holding it was deleted and the store reopened. A rejected save uses no id.
/// - **Reads.** [`read`](RaceStore::read) returns the records a [`Query`] selects — one
///   session's or all, every filter met, ids above `after_id`, at most `limit` — in ascending
///   id order.
/// - **Round trip.** A saved record reads back with exactly the values given, the defaults
///   filled in (`race_type` `race`, `date` now, empty metric objects `{}`) and `created_at` in
///   the format of [`now_timestamp`](crate::model::now_timestamp). JSON values (metric objects,
///   paces, results) read back equal to what was saved: nested objects, unicode, and integers
///   to the full range of `i64`/`u64` included.
/// - **Validation.** Bad input is rejected with [`Error::Invalid`](crate::Error::Invalid) naming
///   the field (see the `validate` methods in [`crate::model`]), and nothing is stored. A NUL
///   character in any text or JSON value is invalid on every backend alike.
/// - **Unknown session.** Saving anything into a session that does not exist is
///   [`Error::NotFound`](crate::Error::NotFound), and nothing is stored. Reading an unknown
///   session gives no records.
/// - **Batches.** [`save`](RaceStore::save) stores every input of a [`Batch`] or none: one
///   invalid input, or one unknown session, rejects the whole batch, and the error is the one
///   the first invalid input (in input order, the session first) gets, or else the one the first
///   unknown session gets. The ids of each collection's records are consecutive, in input order.
///   A batch with a session creates it and saves every record of the batch into it. An empty
///   batch stores nothing.
/// - **Summaries.** [`session_summaries`](RaceStore::session_summaries) gives, per session a
///   [`SessionQuery`] selects, the number of records under it in each collection, the distinct
///   drivers of its laps and its fastest lap, as reading them would count.
/// - **Delete.** [`delete_session`](RaceStore::delete_session) removes the session and every
///   record under it, says how many of each it removed, and leaves other sessions untouched.
///   Deleting an unknown session is `NotFound`.
/// - **Persistence.** What a call acknowledged is there after the store is closed (or dropped)
///   and opened again.
/// - **Threads.** Calls from many threads at once lose nothing, and each save gets its own id.
/// - **Several stores.** Stores open on one location at once (in one process or in several)
///   share it: each sees a save another acknowledged on its next read, a delete too, and ids
///   stay unique and ascending across all of them.
/// - **Export and import.** [`export_page`](RaceStoreExt::export_page) pages through one collection
///   in id order, records whose session is gone included. [`import`](RaceStore::import) stores
///   records exactly as given, ids and timestamps included, all or nothing: the ids must ascend
///   and be above every id the collection has given ([`Error::Invalid`](crate::Error::Invalid)
///   naming `id` otherwise), and a child's session must exist (`NotFound`). Saves after an
///   import continue above the imported ids. [`highest_ids`](RaceStore::highest_ids) counts
///   ids of deleted records too; after [`reserve_ids`](RaceStore::reserve_ids) every save gets an
///   id above the marks given, also after reopening.
/// - **Backup.** [`backup`](RaceStore::backup) writes a copy that opens as a store of the same
///   backend and holds exactly what the store held at one moment, while other threads keep
///   saving; a backend without a format on disk says [`Error::Unsupported`](crate::Error), and
///   [`read_snapshot`](RaceStore::read_snapshot) gives every record as of one moment instead.
///   A backup that fails part-way leaves nothing at its destination: it is written under a
///   temporary name and renamed when complete.
/// - **Orphans.** [`delete_orphans`](RaceStore::delete_orphans) deletes only records whose
///   session does not exist: where every record has its session, nothing goes.
/// - **Close.** [`close`](RaceStore::close) flushes and releases the store; any later call is
///   [`Error::Closed`](crate::Error::Closed). Dropping the store closes it too.
pub trait RaceStore: std::fmt::Debug + Send + Sync + 'static {
    /// Saves a batch all together or not at all: a new session if the batch has one, and
    /// records of any collections; returns their ids.
    fn save(&self, batch: &Batch) -> Result<SavedIds>;

    /// The records a query selects, in id order.
    fn read(&self, query: &Query) -> Result<Records>;

    /// The sessions a query selects, in id order, each with how many records it has and what
    /// its laps say (drivers, best lap), computed without returning any lap.
    fn session_summaries(&self, query: &SessionQuery) -> Result<Vec<SessionSummary>>;

    /// Deletes a session and everything recorded under it; returns how many records of each kind went.
    fn delete_session(&self, session_id: Id) -> Result<Counts>;

    /// How many records the store holds, per collection.
    fn counts(&self) -> Result<Counts>;

    /// Stores records exactly as given, ids and timestamps included (migrating, restoring).
    ///
    /// All or nothing. Values are kept as they are (they were valid where they came from).
    fn import(&self, records: &Records) -> Result<()>;

    /// Writes a consistent copy of the store to `destination`, which must not exist yet, while
    /// other threads keep saving: in the store's own format where it has one on disk (a
    /// directory for JSON, a file for SQLite), otherwise [`Error::Unsupported`](crate::Error)
    /// and [`crate::transfer::backup`] copies [`read_snapshot`](Self::read_snapshot) into a JSON directory.
    fn backup(&self, destination: &Path) -> Result<()>;

    /// Calls `each` with every record of every collection, a page at a time, sessions first and
    /// in id order, all read from one consistent moment while other threads keep saving; returns
    /// the store's [`highest_ids`](Self::highest_ids) at that moment.
    fn read_snapshot(&self, each: &mut dyn FnMut(&Records) -> Result<()>) -> Result<IdMarks>;

    /// Per collection, the highest id the store has given, deleted records included.
    fn highest_ids(&self) -> Result<IdMarks>;

    /// Makes every collection give ids above `marks` from now on; a collection already past its
    /// mark is left as it is. A copy of a store takes the original's marks, so that neither ever
    /// gives an id the other gave.
    fn reserve_ids(&self, marks: &IdMarks) -> Result<()>;

    /// Flushes everything to storage and releases the store (and its lock); later calls fail with `Closed`.
    fn close(&self) -> Result<()>;

    /// Deletes every record whose session does not exist (which racestore never writes, but
    /// damage or the original's code can leave), returning how many of each kind went; their
    /// ids stay given. What `check --repair --drop-orphans` runs. A backend that cannot says
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    fn delete_orphans(&self) -> Result<Counts> {
        Err(Error::Unsupported {
            url: format!("{self:?}"),
            message: "this backend cannot delete records whose session is gone".into(),
        })
    }

    /// What opening the store repaired (a torn tail cut off after a crash, say); empty when nothing.
    fn repairs(&self) -> Vec<Repair> {
        Vec::new()
    }
}

/// A batch of inputs saved all together or not at all by [`RaceStore::save`].
///
/// With a [`session`](Self::session), the session is created and every record of the batch is
/// saved into it, whatever session id the inputs name: an import of one race is one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// A session to create, holding every record of the batch.
    pub session: Option<NewSession>,
    /// Records to save, per collection, in order (sessions go in [`session`](Self::session)).
    pub records: Vec<NewRecords>,
}

impl Batch {
    /// Records of one collection, into existing sessions.
    pub fn records(records: NewRecords) -> Self {
        Batch {
            session: None,
            records: vec![records],
        }
    }

    /// A new session and everything recorded under it.
    pub fn session(session: NewSession) -> Self {
        Batch {
            session: Some(session),
            records: Vec::new(),
        }
    }

    /// Adds records to the batch.
    #[must_use]
    pub fn with(mut self, records: NewRecords) -> Self {
        self.records.push(records);
        self
    }

    /// Whether the batch saves nothing.
    pub fn is_empty(&self) -> bool {
        self.session.is_none() && self.records.iter().all(NewRecords::is_empty)
    }

    /// Checks every input in order (the session first), giving the records to store, numbered
    /// from `next_id` per collection and attached to the new session's id; the first invalid
    /// input's error otherwise. Every backend saves through this, so every backend refuses the
    /// same inputs with the same error.
    pub fn validate(&self, next_id: &mut IdMarks, now: &str) -> Result<ValidBatch> {
        let session = match &self.session {
            Some(session) => {
                let id = next_id.get(Collection::Sessions);
                next_id.set(Collection::Sessions, id + 1);
                Some(session.validate_record(id, now)?)
            }
            None => None,
        };
        let mut records = Vec::with_capacity(self.records.len());
        for group in &self.records {
            if group.collection() == Collection::Sessions {
                return Err(Error::invalid(
                    "records",
                    "a batch creates at most one session, given as Batch::session",
                ));
            }
            // Copied only to attach them to the new session: a single save's input is read as it is.
            let attached;
            let group = match &session {
                Some(session) => {
                    let mut copy = group.clone();
                    copy.set_session_id(session.id);
                    attached = copy;
                    &attached
                }
                None => group,
            };
            struct Validate<'a> {
                next_id: &'a mut IdMarks,
                now: &'a str,
            }
            impl NewRecordsVisitor for Validate<'_> {
                type Output = Result<Records>;
                fn visit<N: NewRecord>(self, inputs: &[N]) -> Result<Records> {
                    let collection = <N::Record as Member>::COLLECTION;
                    let first = self.next_id.get(collection);
                    let records = inputs
                        .iter()
                        .zip(first..)
                        .map(|(input, id)| input.validate_record(id, self.now))
                        .collect::<Result<Vec<_>>>()?;
                    self.next_id.set(collection, first + records.len() as Id);
                    Ok(Records::of(records))
                }
            }
            records.push(group.visit(Validate { next_id, now })?);
        }
        Ok(ValidBatch { session, records })
    }
}

/// A [`Batch`] checked by [`Batch::validate`]: the records a backend stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBatch {
    /// The new session, if the batch creates one.
    pub session: Option<Session>,
    /// The records, per collection group of the batch, in order.
    pub records: Vec<Records>,
}

impl ValidBatch {
    /// The existing sessions the records name, each once, in input order (the new session's
    /// id left out): each must exist, or the batch is `NotFound` naming the first that does not.
    pub fn sessions_named(&self) -> Vec<Id> {
        let new = self.session.as_ref().map(|s| s.id);
        let mut seen = std::collections::HashSet::new();
        self.records
            .iter()
            .flat_map(Records::session_ids)
            .filter(|id| Some(*id) != new && seen.insert(*id))
            .collect()
    }

    /// The ids given, as [`RaceStore::save`] returns them.
    pub fn ids(&self) -> SavedIds {
        SavedIds {
            session: self.session.as_ref().map(|s| s.id),
            records: self.records.iter().map(Records::ids).collect(),
        }
    }

    /// How many records the batch saves, the session included.
    pub fn len(&self) -> usize {
        usize::from(self.session.is_some()) + self.records.iter().map(Records::len).sum::<usize>()
    }

    /// Whether it saves nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The ids a [`Batch`] was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedIds {
    /// The new session's id, if the batch created one.
    pub session: Option<Id>,
    /// Per collection group of the batch, in order, the ids of its records (consecutive).
    pub records: Vec<Vec<Id>>,
}

/// A session with what is recorded under it, from [`RaceStore::session_summaries`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    /// The session.
    pub session: Session,
    /// Records under it per collection (sessions: 1).
    pub counts: Counts,
    /// How many distinct `driver_id`s its laps have.
    pub drivers: u64,
    /// Its fastest lap time, in seconds.
    pub best_lap: Option<f64>,
}

impl SessionSummary {
    /// A summary from the session's laps and the other counts, as every backend computes it.
    pub fn from_laps<'a>(
        session: Session,
        laps: impl IntoIterator<Item = &'a Lap>,
        mut counts: Counts,
    ) -> Self {
        let mut drivers = std::collections::HashSet::new();
        let mut best_lap: Option<f64> = None;
        let mut n = 0;
        for lap in laps {
            n += 1;
            drivers.insert(lap.driver_id.as_str());
            best_lap = Some(best_lap.map_or(lap.lap_time, |b| b.min(lap.lap_time)));
        }
        counts.set(Collection::Laps, n);
        counts.set(Collection::Sessions, 1);
        SessionSummary {
            session,
            counts,
            drivers: drivers.len() as u64,
            best_lap,
        }
    }
}

/// How far an acknowledged save is guaranteed to survive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The default: once a save returns, it survives the process crashing or being killed
    /// (the data is in the operating system), but not necessarily a power cut or kernel crash.
    #[default]
    Process,
    /// Once a save (or batch) returns, it is on stable storage: each save is fsynced, so it
    /// survives a power cut. Slower: one disk flush per save or per batch.
    PowerLoss,
}

/// How [`StoreLocation::open`] opens a store.
///
/// The default opens for writing, creating the store if it is missing (its parent directory
/// must exist), and refuses a store whose repair would lose a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each named at its use
pub struct OpenOptions {
    /// How far an acknowledged save is guaranteed to survive.
    pub durability: Durability,
    /// Opens for reading only (`?mode=ro`): nothing is created, locked for writing, repaired
    /// or changed, so a store on a read-only filesystem opens; every write is
    /// [`Error::ReadOnly`](crate::Error::ReadOnly). A store that does not exist is an error
    /// naming the path.
    pub read_only: bool,
    /// Creates the store when it does not exist. Its parent directory must exist: a mistyped
    /// path is an error rather than a new store somewhere unexpected.
    pub create: bool,
    /// Lets opening cut a torn record off even where other records prove it had been saved
    /// (they are left without their session, for `check --drop-orphans`). Without it such a
    /// store is refused with [`Error::Damaged`](crate::Error::Damaged) naming that repair.
    pub cut_proven_records: bool,
    /// Lets opening recreate, empty, a data file missing from a store that existed (the
    /// records it held are lost). Without it such a store is refused with
    /// [`Error::Damaged`](crate::Error::Damaged) naming the file.
    pub recreate_missing: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::default(),
            read_only: false,
            create: true,
            cut_proven_records: false,
            recreate_missing: false,
        }
    }
}

impl OpenOptions {
    /// Opening for reading only, creating nothing.
    pub fn read_only() -> Self {
        OpenOptions {
            read_only: true,
            create: false,
            ..OpenOptions::default()
        }
    }
}

/// One thing wrong with a store, as [`crate::check`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: a file and byte offset (`lap_data.json at byte 1234 (line 50, column 3)`), or a
    /// collection and record id (`lap_data id 7`).
    pub location: String,
    /// What is wrong, and what repairing would do.
    pub message: String,
    /// Whether [`crate::check`] with `repair` fixes it without losing a valid record.
    pub repairable: bool,
    /// The option of [`crate::check::CheckOptions`] that repairs it by giving up records
    /// (`--drop-orphans`, `--recreate-missing`), when only such a repair exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair_flag: Option<&'static str>,
}

/// What reading a store's files or database without opening it for writing found: see
/// [`StoreLocation::inspect`].
#[derive(Debug, Default)]
pub struct Inspection {
    /// Damage and interrupted writes, each marked repairable or not.
    pub problems: Vec<Problem>,
    /// Who holds the store for writing, if another process does.
    pub in_use_by: Option<String>,
    /// Every collection's readable records, when the backend read them while inspecting (a
    /// JSON directory, read without its lock); `None` when the records are to be read by
    /// opening the store.
    pub records: Option<Vec<Records>>,
    /// Whether the store can be opened to read its records (no damage that stops it).
    pub readable: bool,
}

/// Where a store lives, as its backend understands it: what a store URL names once parsed.
///
/// Each backend implements it for its own location type and registers its URL forms once, in
/// [`crate::StoreUrl`]'s table of backends.
pub trait StoreLocation: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static {
    /// The backend's name: `json`, `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;

    /// Opens the store as `options` say (by default for writing, creating it if missing).
    fn open(&self, options: &OpenOptions) -> Result<Box<dyn RaceStore>>;

    /// Whether a store (or at least its directory or file) is there.
    fn exists(&self) -> bool;

    /// What identifies the store, to tell whether two URLs name the same one (a canonical path,
    /// or server, database and schema).
    fn identity(&self) -> String;

    /// Reads the store as opening it would, repairing nothing, creating nothing and taking no
    /// lock: the damage and interrupted writes opening would find.
    fn inspect(&self) -> Result<Inspection>;

    /// The URL of a store in this backend's own format at `path` (what
    /// [`RaceStore::backup`] writes), or `None` when the backend has no format on disk.
    fn url_at(&self, path: &Path) -> Option<String>;

    /// Opens the store as [`open`](Self::open) does and says whether opening created it: a
    /// store is created only when `options` allow it ([`OpenOptions::create`], not
    /// [`read_only`](OpenOptions::read_only)), and a front end tells its user when it was, so a
    /// mistyped path never becomes a new store unnoticed.
    ///
    /// By default a store was created when [`exists`](Self::exists) said no before opening;
    /// a backend that learns it while opening (SQLite: the file held no table; PostgreSQL: the
    /// schema had none of racestore's migrations) says so exactly.
    fn open_reporting(&self, options: &OpenOptions) -> Result<Opened> {
        let creating = options.create && !options.read_only && !self.exists();
        let store = self.open(options)?;
        Ok(Opened {
            store,
            created: creating,
        })
    }
}

/// A store just opened, and whether opening created it ([`StoreLocation::open_reporting`]).
#[derive(Debug)]
pub struct Opened<S = Box<dyn RaceStore>> {
    /// The open store.
    pub store: S,
    /// Whether there was no store at the location before: opening made a new, empty one.
    pub created: bool,
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

/// The original system's call forms and typed reads, built on [`RaceStore`]'s primitives once
/// for every backend.
pub trait RaceStoreExt: RaceStore {
    /// Creates a session and returns its id.
    fn create_session(&self, session: &NewSession) -> Result<Id> {
        let ids = self.save(&Batch::session(session.clone()))?;
        ids.session
            .ok_or_else(|| Error::invalid("session", "the backend created no session"))
    }

    /// Saves records of one collection all together or not at all, returning their ids
    /// (consecutive, in input order).
    fn save_records<N: NewRecord>(&self, inputs: &[N]) -> Result<Vec<Id>> {
        save_group(self, NewRecords::of(inputs.to_vec()))
    }

    /// Saves laps all together or not at all, returning their ids (consecutive, in input order).
    fn save_laps(&self, laps: &[NewLap]) -> Result<Vec<Id>> {
        save_group(self, NewRecords::Laps(laps.to_vec()))
    }

    /// Saves one lap (`save_lap_data` in the original), returning its id.
    fn save_lap_data(&self, lap: &NewLap) -> Result<Id> {
        save_one(self, NewRecords::Laps(vec![lap.clone()]))
    }

    /// Saves one driver's metrics for a session and returns the record's id.
    fn save_driver_metrics(&self, metrics: &NewDriverMetrics) -> Result<Id> {
        save_one(self, NewRecords::DriverMetrics(vec![metrics.clone()]))
    }

    /// Saves a prediction and returns its id.
    fn save_prediction(&self, prediction: &NewPrediction) -> Result<Id> {
        save_one(self, NewRecords::Predictions(vec![prediction.clone()]))
    }

    /// Saves a simulation run and returns its id.
    fn save_simulation(&self, simulation: &NewSimulation) -> Result<Id> {
        save_one(self, NewRecords::Simulations(vec![simulation.clone()]))
    }

    /// Saves entries (who drove which car) all together or not at all, returning their ids
    /// (consecutive, in input order).
    fn save_entries(&self, entries: &[NewEntry]) -> Result<Vec<Id>> {
        save_group(self, NewRecords::Entries(entries.to_vec()))
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

    /// The records of type `R` a query selects, in id order.
    fn read_records<R: Record>(&self, query: &Query) -> Result<Vec<R>> {
        read_typed(self, query)
    }

    /// The session with this id, if it exists.
    fn get_session(&self, session_id: Id) -> Result<Option<Session>> {
        let sessions: Vec<Session> = read_typed(self, &Query::session(Collection::Sessions, session_id))?;
        Ok(sessions.into_iter().next())
    }

    /// The sessions a query selects, in id order.
    fn get_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>> {
        read_typed(self, &Query::from(query))
    }

    /// Every session, in id order.
    fn get_all_sessions(&self) -> Result<Vec<Session>> {
        self.get_sessions(&SessionQuery::all())
    }

    /// The laps a query selects, in id order.
    fn get_laps(&self, query: &LapQuery) -> Result<Vec<Lap>> {
        read_typed(self, &Query::from(query))
    }

    /// Every lap of a session, in id order.
    fn get_session_laps(&self, session_id: Id) -> Result<Vec<Lap>> {
        self.get_laps(&LapQuery::session(session_id))
    }

    /// One driver's laps in a session, in id order.
    fn get_driver_laps(&self, session_id: Id, driver_id: &str) -> Result<Vec<Lap>> {
        self.get_laps(&LapQuery::session(session_id).driver(driver_id))
    }

    /// The driver metrics of a session, in id order.
    fn get_session_metrics(&self, session_id: Id) -> Result<Vec<DriverMetrics>> {
        read_typed(self, &Query::session(Collection::DriverMetrics, session_id))
    }

    /// The predictions of a session, in id order.
    fn get_session_predictions(&self, session_id: Id) -> Result<Vec<Prediction>> {
        read_typed(self, &Query::session(Collection::Predictions, session_id))
    }

    /// The simulations of a session, in id order.
    fn get_session_simulations(&self, session_id: Id) -> Result<Vec<Simulation>> {
        read_typed(self, &Query::session(Collection::Simulations, session_id))
    }

    /// The entries of a session (one per car and driver), in id order.
    fn get_session_entries(&self, session_id: Id) -> Result<Vec<Entry>> {
        read_typed(self, &Query::session(Collection::Entries, session_id))
    }

    /// The entry of the driver a lap names: the entry of session `session_id` with the lap's
    /// `driver_id` (the first saved, should there be several); `None` when there is none.
    fn get_lap_entry(&self, session_id: Id, driver_id: &str) -> Result<Option<Entry>> {
        let query = Query {
            limit: Some(1),
            ..Query::session(Collection::Entries, session_id).text_equals("driver_id", driver_id)
        };
        Ok(read_typed::<Entry, _>(self, &query)?.into_iter().next())
    }

    /// Up to `limit` records of `collection` with ids above `after_id`, in id order.
    ///
    /// Paging with the last id of each page reads a whole collection once, whatever its size:
    /// the primitive behind export, migrate and check.
    fn export_page(&self, collection: Collection, after_id: Id, limit: usize) -> Result<Records> {
        self.read(&Query::page(collection, after_id, limit))
    }

    /// Deletes every session and everything recorded under it (`clear_all` in the original),
    /// returning how many records of each kind went.
    ///
    /// Ids keep counting from where they were, as after any delete: a cleared store never gives
    /// an id twice. Records that belong to no session (which racestore never writes, but the
    /// original's files may hold) are left in place; `racestore check` lists them.
    fn clear_all(&self) -> Result<Counts> {
        let mut removed = Counts::default();
        for session in self.get_all_sessions()? {
            let counts = self.delete_session(session.id)?;
            for collection in Collection::ALL {
                removed.add(collection, counts.get(collection));
            }
        }
        Ok(removed)
    }
}

impl<T: RaceStore + ?Sized> RaceStoreExt for T {}

fn save_group<S: RaceStore + ?Sized>(store: &S, records: NewRecords) -> Result<Vec<Id>> {
    let mut ids = store.save(&Batch::records(records))?;
    Ok(ids.records.pop().unwrap_or_default())
}

fn save_one<S: RaceStore + ?Sized>(store: &S, records: NewRecords) -> Result<Id> {
    save_group(store, records)?
        .first()
        .copied()
        .ok_or_else(|| Error::invalid("records", "the backend saved nothing"))
}

fn read_typed<R: Record, S: RaceStore + ?Sized>(store: &S, query: &Query) -> Result<Vec<R>> {
    let records = store.read(query)?;
    let collection = records.collection();
    records.into_vec().ok_or_else(|| {
        Error::invalid(
            "query",
            format!(
                "the backend returned {collection} for a read of {}",
                query.collection
            ),
        )
    })
}

#[cfg(all(test, feature = "json", feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::model::{NewLap, NewPrediction};

    #[test]
    fn clear_all_removes_every_session_and_ids_keep_counting() {
        let tmp = tempfile::tempdir().unwrap();
        for url in [
            format!("json:{}", tmp.path().join("storage").display()),
            format!("sqlite:{}", tmp.path().join("race.db").display()),
        ] {
            let store = crate::open(&url).unwrap();
            for circuit in ["Barber", "Sonoma"] {
                let session = store.create_session(&NewSession::new(circuit)).unwrap();
                store
                    .save_laps(&[
                        NewLap::new(session, "D1", 1, 90.0),
                        NewLap::new(session, "D2", 1, 91.0),
                    ])
                    .unwrap();
                store
                    .save_prediction(&NewPrediction::new(session, "D1", "lap_time", 90.5, "m.pkl"))
                    .unwrap();
            }
            let removed = store.clear_all().unwrap();
            assert_eq!(
                (removed.sessions(), removed.laps(), removed.predictions()),
                (2, 4, 2),
                "{url}"
            );
            assert_eq!(store.counts().unwrap().total(), 0, "{url}");
            assert_eq!(
                store.create_session(&NewSession::new("Barber")).unwrap(),
                3,
                "{url}"
            );
        }
    }
}
