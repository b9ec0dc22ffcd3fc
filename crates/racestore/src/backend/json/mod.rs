//! The JSON-directory backend: the original's human-readable files, made safe.
//!
//! A directory holds one file per collection (`race_sessions.json`, `driver_metrics.json`,
//! `lap_data.json`, `predictions.json`, `simulations.json`), each a pretty-printed JSON array
//! exactly as the original wrote them, plus `racestore.lock` and `racestore.changes` (how the
//! processes sharing the directory take turns and hear of each other's saves),
//! `racestore.meta.json` (id high-water marks), `racestore.journal` (the multi-step write in
//! progress) and `racestore.index` (a cache of the index, for opening fast). See `docs/storage-format.md`.
//!
//! Memory holds an index, not the records: per record its id, session and place in its file,
//! per session its records, kept compact (`index.rs`). Opening takes it from the on-disk cache
//! `racestore.index` where that still fits the file (`index_cache.rs`), and otherwise checks
//! each file's structure; a read parses the records it returns from the file. Saves append in place (see `array_file.rs`); only a delete
//! rewrites a file. Several processes may open one directory: each write takes the directory's
//! lock, first reading what others appended since (see `lock.rs`). Nothing here names a
//! collection: each is a table of its record type, reached through the model's registry.

mod array_file;
mod format;
mod fsio;
mod group_commit;
mod index;
mod index_cache;
mod inspect;
mod journal;
mod location;
mod lock;
mod structure;

pub use fsio::{Fault, FaultInjector, FileOp};
pub use location::JsonLocation;

use std::any::Any;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::marker::PhantomData;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use array_file::{ArrayFile, Span};
use fsio::Io;
use group_commit::{GroupCommit, Ticket};
use index::Runs;
use index_cache::{FileIndex, IndexCache, IndexView};
use journal::{AppendSpan, Intent, Journal, Meta};
use lock::{Coordination, Staleness};

use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, CollectionVisitor, Counts, Id, IdMarks, Lap, Query, Record, Records,
    RecordsVisitor, Session, SessionQuery,
};
use crate::store::{Batch, Durability, OpenOptions, RaceStore, Repair, SavedIds, SessionSummary, ValidBatch};

/// How many records [`RaceStore::read_snapshot`] hands over at a time.
const SNAPSHOT_PAGE: usize = 10_000;

/// How many records a read without a session parses at a time.
const READ_CHUNK: usize = 4_096;

/// A store in a directory of JSON files (the default backend).
///
/// Open it with [`crate::open`]`("json:DIR")` or [`JsonStore::open`]. Several stores, in one
/// process or many, may have a directory open at once: each write waits its turn on the
/// directory's lock, and each read first catches up with what the others saved.
pub struct JsonStore {
    dir: PathBuf,
    /// Opened with `mode=ro`: every write is refused, nothing on disk changes.
    read_only: bool,
    /// How it was opened, to read the directory afresh the same way.
    options: OpenOptions,
    coordination: Coordination,
    state: RwLock<Option<State>>,
    repairs: Vec<Repair>,
}

#[derive(Debug)]
struct State {
    durability: Durability,
    /// One table per collection, in [`Collection::ALL`] order.
    tables: Vec<Box<dyn AnyTable>>,
    meta: Meta,
    /// The intent journal; `None` in a read-only store, which writes nothing.
    journal: Option<Journal>,
    io: Io,
    /// Set when a write or sync failed in a way that leaves the file's state unknown.
    poisoned: Option<String>,
    /// Per session, what its laps add up to, computed on first ask and kept up to date.
    lap_stats: Mutex<HashMap<Id, LapStats>>,
}

/// What a session's laps add up to in its summary.
#[derive(Debug, Default, Clone)]
struct LapStats {
    laps: u64,
    drivers: HashSet<String>,
    best_lap: Option<f64>,
}

impl LapStats {
    fn add(&mut self, lap: &Lap) {
        self.laps += 1;
        if !self.drivers.contains(&lap.driver_id) {
            self.drivers.insert(lap.driver_id.clone());
        }
        self.best_lap = Some(self.best_lap.map_or(lap.lap_time, |b| b.min(lap.lap_time)));
    }
}

/// A save queued for a group commit, to wait on once the store's lock is released.
type Durable = Option<(Arc<GroupCommit>, Ticket)>;

/// One data file and an index of its records: their ids and sessions, in file (id) order, and
/// per session where its records are. The records themselves stay in the file.
#[derive(Debug)]
struct Table<T> {
    file: ArrayFile,
    /// Each record's id, ascending.
    ids: Runs,
    /// Each record's session (children only: a session's is its id).
    session_ids: Runs,
    /// Per session, the ranges of record indices holding its records, ascending.
    by_session: HashMap<Id, Vec<Range<usize>>>,
    next_id: Id,
    /// A torn tail found on opening and not cut yet: the file ends past `file.tail()`.
    torn: Option<Repair>,
    /// The highest `session_id` a torn tail's bytes name, which proves that session existed.
    torn_session: Id,
    /// Whether the index came from `racestore.index` rather than a scan of the file: then a
    /// record that does not read as the index says sends the store back to scanning, and no
    /// rewrite copies records by it.
    from_cache: bool,
    /// How many bytes of the file `racestore.index` is known to cover (0: none).
    cache_covers: u64,
    records: PhantomData<fn() -> T>,
}

/// What the store does with a table whatever its record type.
trait AnyTable: std::fmt::Debug + Send + Sync {
    fn file(&self) -> &ArrayFile;
    fn file_mut(&mut self) -> &mut ArrayFile;
    fn next_id(&self) -> Id;
    fn set_next_id(&mut self, next_id: Id);
    fn len(&self) -> usize;
    fn count_of_session(&self, session_id: Id) -> u64;
    fn remove_session(&mut self, session_id: Id, sync: bool) -> Result<u64>;
    /// Removes a session's records from memory only (a read-only store finishing a delete).
    fn forget_session(&mut self, session_id: Id);
    /// The highest id a record holds.
    fn last_id(&self) -> Id;
    /// The highest session id a record (or a torn tail) names; 0 for sessions.
    fn highest_session_named(&self) -> Id;
    /// The session ids above `above` that whole records name, with how many records name each
    /// (not a torn tail: a record being written with its session proves nothing was saved).
    fn sessions_named_above(&self, above: Id) -> Vec<(Id, u64)>;
    /// The torn tail found on opening, not cut yet.
    fn torn(&self) -> Option<&Repair>;
    /// Cuts the torn tail found on opening, if any, and closes the array there.
    fn cut_torn(&mut self, sync: bool) -> Result<Option<Repair>>;
    /// Indexes the records other processes appended since this one last looked, and returns
    /// the sessions they belong to. An error when the file did not just grow by whole records.
    fn catch_up(&mut self) -> Result<Vec<Id>>;
    /// The index, as `racestore.index` keeps it.
    fn index_view(&self) -> IndexView<'_>;
    fn indexed_from_cache(&self) -> bool;
    fn cache_covers(&self) -> u64;
    fn set_cache_covers(&mut self, covers: u64);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Record> AnyTable for Table<T> {
    fn file(&self) -> &ArrayFile {
        &self.file
    }
    fn file_mut(&mut self) -> &mut ArrayFile {
        &mut self.file
    }
    fn next_id(&self) -> Id {
        self.next_id
    }
    fn set_next_id(&mut self, next_id: Id) {
        self.next_id = next_id;
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn count_of_session(&self, session_id: Id) -> u64 {
        if Self::indexed() {
            self.by_session.get(&session_id).map_or(0, |ranges| {
                ranges.iter().map(ExactSizeIterator::len).sum::<usize>() as u64
            })
        } else {
            u64::from(self.position(session_id).is_some())
        }
    }
    fn remove_session(&mut self, session_id: Id, sync: bool) -> Result<u64> {
        if Self::indexed() && !self.by_session.contains_key(&session_id) {
            return Ok(0);
        }
        let keep: Vec<bool> = self.sessions().map(|s| s != session_id).collect();
        self.keep_only(&keep, sync)
    }
    fn forget_session(&mut self, session_id: Id) {
        let keep: Vec<bool> = self.sessions().map(|s| s != session_id).collect();
        self.file.spans = self.file.spans.keep_flagged(&keep);
        self.forget_flagged(&keep);
    }
    fn last_id(&self) -> Id {
        self.ids.last().unwrap_or(0)
    }
    fn highest_session_named(&self) -> Id {
        let named = self.by_session.keys().copied().max().unwrap_or(0);
        named.max(self.torn_session)
    }
    fn sessions_named_above(&self, above: Id) -> Vec<(Id, u64)> {
        let mut named: Vec<(Id, u64)> = self
            .by_session
            .iter()
            .filter(|(id, _)| **id > above)
            .map(|(id, ranges)| {
                (
                    *id,
                    ranges.iter().map(ExactSizeIterator::len).sum::<usize>() as u64,
                )
            })
            .collect();
        named.sort_unstable();
        named
    }
    fn torn(&self) -> Option<&Repair> {
        self.torn.as_ref()
    }
    fn cut_torn(&mut self, sync: bool) -> Result<Option<Repair>> {
        let Some(repair) = self.torn.take() else {
            return Ok(None);
        };
        self.file.close_at_tail()?;
        if sync {
            self.file.sync()?;
        }
        Ok(Some(repair))
    }
    fn catch_up(&mut self) -> Result<Vec<Id>> {
        let Some(appended) = self.file.read_appended()? else {
            return Ok(Vec::new());
        };
        let session_key = Self::indexed().then_some("session_id");
        let scanned = structure::scan_structure_from(
            &self.file.path,
            &appended,
            0,
            !self.file.spans.is_empty(),
            self.ids.last(),
            session_key,
        )?;
        if scanned.torn.is_some() {
            return Err(Error::invalid(
                "file",
                format!(
                    "{} did not grow by whole records past byte {}",
                    self.file.path.display(),
                    self.file.tail()
                ),
            ));
        }
        let tail = self.file.tail();
        let spans = scanned
            .spans
            .into_iter()
            .map(|span| Span {
                offset: span.offset + tail,
                len: span.len,
            })
            .collect();
        let sessions: BTreeSet<Id> = if Self::indexed() {
            scanned.session_ids.iter().copied().collect()
        } else {
            scanned.ids.iter().copied().collect()
        };
        self.file
            .extend_caught_up(spans, tail + scanned.tail, appended.len() as u64);
        self.index_structure(scanned.ids, scanned.session_ids);
        Ok(sessions.into_iter().collect())
    }
    fn index_view(&self) -> IndexView<'_> {
        IndexView {
            len: self.file.len(),
            tail: self.file.tail(),
            spans: &self.file.spans,
            ids: &self.ids,
            session_ids: &self.session_ids,
        }
    }
    fn indexed_from_cache(&self) -> bool {
        self.from_cache
    }
    fn cache_covers(&self) -> u64 {
        self.cache_covers
    }
    fn set_cache_covers(&mut self, covers: u64) {
        self.cache_covers = covers;
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl std::fmt::Debug for JsonStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the records: a store's Debug output must stay readable at a million laps.
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("JsonStore")
            .field("dir", &self.dir)
            .field("durability", &guard.as_ref().map(|s| s.durability))
            .field("open", &guard.is_some())
            .finish()
    }
}

/// Opens one collection's table while the store opens.
#[allow(clippy::struct_excessive_bools)]
struct OpenTable<'a> {
    io: &'a Io,
    dir: &'a Path,
    meta: &'a Meta,
    /// The span a crash-interrupted batch appended to this collection's file, and whether the
    /// whole batch landed (then it is kept; otherwise rolled back).
    pending: Option<(AppendSpan, bool)>,
    sync: bool,
    read_only: bool,
    /// Whether the store existed before this open (it had a data file or its metadata).
    existed: bool,
    /// Recreate a data file the store lost, empty (`check --repair --recreate-missing`).
    recreate_missing: bool,
    repairs: &'a mut Vec<Repair>,
    /// The on-disk index, whose entry for this file is used if it still holds.
    cache: &'a mut IndexCache,
}

impl CollectionVisitor for OpenTable<'_> {
    type Output = Result<Box<dyn AnyTable>>;
    fn visit<R: Record>(self) -> Result<Box<dyn AnyTable>> {
        Ok(Box::new(Table::<R>::open(self)?))
    }
}

impl JsonStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Finishes or undoes a multi-step write a crash interrupted, cuts torn tails (reported
    /// by [`RaceStore::repairs`]), and refuses a file damaged anywhere else with
    /// [`Error::CorruptFile`], changing nothing in it. A data file missing from a store that
    /// existed, or a torn session record other files prove was saved, is [`Error::Damaged`]:
    /// see [`JsonStore::open_with`].
    pub fn open(dir: impl AsRef<Path>, durability: Durability) -> Result<JsonStore> {
        Self::open_with_faults(dir, durability, None)
    }

    /// Opens the store with every file write, fsync, truncate and rename passed first through
    /// `injector`, which can make it fail: for testing how failures are handled.
    pub fn open_with_faults(
        dir: impl AsRef<Path>,
        durability: Durability,
        injector: Option<Arc<dyn FaultInjector>>,
    ) -> Result<JsonStore> {
        let options = OpenOptions {
            durability,
            ..OpenOptions::default()
        };
        Self::open_with(dir, &options, injector)
    }

    /// Opens the store in `dir` as `options` say, file operations passed through `injector`.
    ///
    /// Read-only ([`OpenOptions::read_only`]): creates, locks for writing, repairs and writes
    /// nothing (an interrupted batch or delete is undone or finished in memory only, a torn
    /// tail is left on disk and not read), and refuses every write with [`Error::ReadOnly`];
    /// it works beside processes writing the store and sees their saves. Otherwise it
    /// finishes or undoes an interrupted write, cuts torn tails and creates the directory
    /// (whose parent must exist) and its files if missing. Opening waits while another process
    /// is in the middle of a write.
    ///
    /// Never loses a record on its own: a data file missing from a store that existed is
    /// [`Error::Damaged`] naming it (unless [`OpenOptions::recreate_missing`]), and so is a
    /// torn session record whose laps or other records are in the other files (unless
    /// [`OpenOptions::cut_proven_records`]). Ids continue above the highest any file names,
    /// a torn tail's and other collections' `session_id`s included, so none is given twice.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: &OpenOptions,
        injector: Option<Arc<dyn FaultInjector>>,
    ) -> Result<JsonStore> {
        let io = Io::new(injector);
        let dir = dir.as_ref().to_owned();
        let read_only = options.read_only;
        if !dir.is_dir() {
            if read_only || !options.create {
                return Err(Error::io(
                    "opening",
                    &dir,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "there is no store here (a store is created only by a command that writes)",
                    ),
                ));
            }
            std::fs::create_dir(&dir).map_err(|e| Error::io("creating the store directory", &dir, e))?;
            tracing::info!(dir = %dir.display(), "created a new JSON store");
        }
        let coordination = if read_only {
            Coordination::for_reading(&dir)?
        } else {
            Coordination::for_writing(&dir)?
        };
        let (state, repairs) = coordination.while_opening(|| {
            let (state, repairs) = load_state(&dir, *options, io, IndexSource::Cache)?;
            let rewrote = !repairs.is_empty();
            Ok(((state, repairs), rewrote))
        })?;
        for repair in &repairs {
            tracing::warn!("{repair}");
        }
        Ok(JsonStore {
            dir,
            read_only,
            options: *options,
            coordination,
            state: RwLock::new(Some(state)),
            repairs,
        })
    }

    /// The directory this store keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many single saves are queued for a group commit and not yet durable (power-loss mode;
    /// always 0 otherwise): for tests and diagnostics.
    pub fn saves_awaiting_sync(&self) -> u64 {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map_or(0, |state| {
            state.tables.iter().map(|t| t.file().awaiting_sync()).sum()
        })
    }

    /// Brings this store's view up to date with what other processes saved since it last
    /// looked: the records they appended, or the whole directory afresh after a delete or
    /// repair there, or after a writer died part-way.
    fn refresh(&self) -> Result<()> {
        if !self.coordination.others_wrote() {
            return Ok(());
        }
        let mut guard = self.state.write().map_err(|_| panicked())?;
        let state = guard.as_mut().ok_or(Error::Closed)?;
        self.coordination
            .catch_up(|staleness| self.catch_up(state, staleness, IndexSource::Cache))
    }

    /// Reads the directory afresh, scanning every file: after `racestore.index` was found not
    /// to fit one (a writable store removes it, and writes it anew from the scan).
    fn rescan(&self) -> Result<()> {
        let mut guard = self.state.write().map_err(|_| panicked())?;
        let state = guard.as_mut().ok_or(Error::Closed)?;
        if !self.read_only {
            index_cache::remove(&self.dir);
        }
        self.coordination.forget_seen();
        self.coordination
            .catch_up(|_| self.catch_up(state, Staleness::Rewritten, IndexSource::Scan))
    }

    /// Makes sure no table's index came from `racestore.index` before a rewrite copies records
    /// by it (the caller holds the directory's lock): a rewrite trusts only a scan.
    fn scanned_for_rewrite(&self, state: &mut State) -> Result<()> {
        if state.tables.iter().any(|t| t.indexed_from_cache())
            && self.catch_up(state, Staleness::Rewritten, IndexSource::Scan)?
        {
            self.coordination.note_rewrite();
        }
        Ok(())
    }

    /// Catches `state` up (reading the directory afresh from `source` when needed); returns
    /// whether doing so replaced or cut a file (a repair).
    fn catch_up(&self, state: &mut State, staleness: Staleness, source: IndexSource) -> Result<bool> {
        if staleness == Staleness::Appended {
            match state.catch_up_appends() {
                Ok(()) => return Ok(false),
                Err(error) => {
                    tracing::debug!("reading the directory afresh: {error}");
                }
            }
        }
        let (fresh, repairs) = load_state(&self.dir, self.options, state.io.clone(), source)?;
        for repair in &repairs {
            tracing::warn!("{repair}");
        }
        let poisoned = state.poisoned.take();
        *state = fresh;
        state.poisoned = poisoned;
        Ok(!repairs.is_empty())
    }

    /// Runs a read on a view caught up with other processes. A record that does not read as an
    /// index from `racestore.index` says (the file changed behind racestore's back) makes the
    /// store scan its files and read again.
    fn read<R>(&self, mut f: impl FnMut(&State) -> Result<R>) -> Result<R> {
        self.refresh()?;
        let (outcome, from_cache) = {
            // Only a writer that panicked poisons the lock; what it left in memory is not to be trusted.
            let guard = self.state.read().map_err(|_| panicked())?;
            let state = guard.as_ref().ok_or(Error::Closed)?;
            (f(state), state.tables.iter().any(|t| t.indexed_from_cache()))
        };
        match outcome {
            Err(error @ Error::CorruptFile { .. }) if from_cache => {
                tracing::warn!(
                    "{error}; scanning the files instead of trusting {}",
                    index_cache::INDEX_FILE
                );
                self.rescan()?;
                let guard = self.state.read().map_err(|_| panicked())?;
                f(guard.as_ref().ok_or(Error::Closed)?)
            }
            outcome => outcome,
        }
    }

    /// Runs a write holding the directory's lock, after catching up with other processes;
    /// then waits (the store's lock released, the directory's still held) until a group
    /// commit made it durable.
    fn write<R>(&self, f: impl FnOnce(&mut State) -> Result<(R, Durable)>) -> Result<R> {
        let mut guard = self.state.write().map_err(|_| panicked())?;
        let state = guard.as_mut().ok_or(Error::Closed)?;
        if self.read_only {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
            });
        }
        let failed_group = state.tables.iter().find_map(|t| t.file().failure());
        if let Some(reason) = state
            .poisoned
            .clone()
            .or_else(|| state.io.failed_sync())
            .or(failed_group)
        {
            return Err(Error::Poisoned(reason));
        }
        let turn = self.coordination.begin_write()?;
        let caught_up = match turn.staleness {
            Staleness::Current => Ok(false),
            staleness => self.catch_up(state, staleness, IndexSource::Cache),
        };
        let caught_up_fine = caught_up.is_ok();
        let outcome = caught_up.and_then(|rewrote| {
            if rewrote {
                self.coordination.note_rewrite();
            }
            f(state)
        });
        drop(guard);
        let outcome = outcome.and_then(|(value, durable)| {
            if let Some((group, ticket)) = durable {
                group.wait(ticket)?;
            }
            Ok(value)
        });
        // A write refused before it began (bad input, no such session) changed nothing; one
        // that failed on the files may have left anything, so every process reads them afresh.
        let view_current = caught_up_fine
            && !matches!(
                outcome,
                Err(Error::Io { .. } | Error::Poisoned(_) | Error::CorruptFile { .. })
            );
        if !view_current {
            self.coordination.note_rewrite();
        }
        self.coordination.finish_write(turn, view_current);
        outcome
    }
}

/// The error every call gets after a thread panicked while changing the store.
fn panicked() -> Error {
    Error::Poisoned(
        "a thread panicked while saving into this store, so what it holds in memory may be incomplete".into(),
    )
}

/// Where opening takes each file's index from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexSource {
    /// `racestore.index` where it still fits the file, a scan elsewhere.
    Cache,
    /// A scan of every file.
    Scan,
}

/// How many bytes of the data files `racestore.index` may leave unindexed (scanned on every
/// open) before a writable store writes it anew. Below it, a store needs no cache at all.
const INDEX_CACHE_SLACK: u64 = 1 << 20;

/// Reads the directory into a fresh [`State`], as opening does (the caller holds the
/// directory's lock): finishes or undoes an interrupted write and cuts torn tails unless
/// read-only, and writes `racestore.index` anew when it left much to scan (unless read-only).
/// Returns the state and the repairs made.
fn load_state(dir: &Path, options: OpenOptions, io: Io, source: IndexSource) -> Result<(State, Vec<Repair>)> {
    let read_only = options.read_only;
    let sync = !read_only && options.durability == Durability::PowerLoss;
    let existed = dir.join(journal::META_FILE).exists()
        || Collection::ALL.iter().any(|c| dir.join(c.file_name()).exists());
    let mut meta = Meta::load(dir)?;
    let (journal, pending) = if read_only {
        (None, Journal::read(dir)?)
    } else {
        let (journal, pending) = Journal::open(dir, io.clone())?;
        (Some(journal), pending)
    };
    let mut repairs = Vec::new();
    // A write a crash interrupted is finished or undone by what a scan finds.
    if !read_only {
        index_cache::remove_abandoned(dir);
    }
    let mut cache = if source == IndexSource::Cache && pending.is_none() {
        IndexCache::load(dir)
    } else {
        IndexCache::default()
    };
    let appends = match &pending {
        Some(intent) => intent.appends(),
        None => Vec::new(),
    };
    // Files are appended to one after the other, each whole before the next starts, so the
    // batch landed exactly when its last file holds whole records up to its end.
    let landed = match appends.last() {
        Some(last) => array_file::landed(&dir.join(&last.file), last)?,
        None => true,
    };
    let mut tables = Vec::with_capacity(Collection::COUNT);
    for collection in Collection::ALL {
        let file = collection.file_name();
        let pending = appends
            .iter()
            .find(|a| a.file == file)
            .map(|a| (a.clone(), landed));
        tables.push(collection.visit(OpenTable {
            io: &io,
            dir,
            meta: &meta,
            pending,
            sync,
            read_only,
            existed,
            recreate_missing: options.recreate_missing,
            repairs: &mut repairs,
            cache: &mut cache,
        })?);
    }
    // A session id some record names was given, even if the session's own record is gone.
    let sessions = Collection::Sessions.index();
    let named = tables
        .iter()
        .map(|t| t.highest_session_named())
        .max()
        .unwrap_or(0);
    let next_session = tables[sessions].next_id().max(named + 1);
    tables[sessions].set_next_id(next_session);
    if !read_only && !options.cut_proven_records {
        refuse_cutting_proven_sessions(&tables)?;
    }
    if read_only {
        for table in &tables {
            if let Some(torn) = table.torn() {
                tracing::warn!("{} (left as it is: the store is open read-only)", torn);
            }
        }
    } else {
        for table in &mut tables {
            repairs.extend(table.cut_torn(sync)?);
            if sync {
                table.file_mut().enable_group_commit()?;
            }
        }
    }
    let mut state = State {
        durability: options.durability,
        tables,
        meta: meta.clone(),
        journal,
        io,
        poisoned: None,
        lap_stats: Mutex::default(),
    };
    if let Some(Intent::DeleteSession { session_id }) = pending {
        if read_only {
            for table in &mut state.tables {
                table.forget_session(session_id);
            }
        } else {
            // The delete was acknowledged to nobody, but it may have half happened: finish it.
            state.delete_session(dir, session_id)?;
            repairs.push(Repair {
                file: dir.join(journal::JOURNAL_FILE),
                offset: 0,
                removed_bytes: 0,
                detail: format!("finished deleting session {session_id}, which a crash interrupted"),
            });
        }
    }
    if let (Some(_), Some(journal)) = (&pending, &state.journal) {
        journal.clear()?;
    }
    if !read_only {
        // Every data file the store has, so that losing one later is known as damage.
        let files: BTreeSet<String> = Collection::ALL.iter().map(|c| c.file_name()).collect();
        if !files.is_subset(&state.meta.files) {
            meta = state.meta.clone();
            meta.files.extend(files);
            meta.store(&state.io, dir, sync)?;
            state.meta = meta;
        }
        refresh_index_cache(dir, &mut state.tables);
    }
    Ok((state, repairs))
}

/// Writes `racestore.index` anew when it leaves [`INDEX_CACHE_SLACK`] bytes or more of the
/// data files to scan. A cache that cannot be written costs only time: opening scans.
fn refresh_index_cache(dir: &Path, tables: &mut [Box<dyn AnyTable>]) {
    let unindexed: u64 = tables
        .iter()
        .map(|t| t.file().len().saturating_sub(t.cache_covers()))
        .sum();
    if unindexed < INDEX_CACHE_SLACK {
        return;
    }
    let files: Vec<(String, &File, IndexView<'_>)> = Collection::ALL
        .iter()
        .zip(tables.iter())
        .map(|(collection, table)| (collection.file_name(), table.file().handle(), table.index_view()))
        .collect();
    match index_cache::store(dir, &files) {
        Ok(()) => {
            for table in tables {
                let len = table.file().len();
                table.set_cache_covers(len);
            }
        }
        Err(error) => tracing::warn!("{error} (it only speeds opening up: the files are scanned instead)"),
    }
}

impl State {
    fn sync(&self) -> bool {
        self.durability == Durability::PowerLoss
    }

    /// The intent journal, which every write needs and only a read-only store lacks.
    fn journal(&self) -> Result<&Journal> {
        self.journal.as_ref().ok_or_else(|| {
            Error::invalid(
                "store",
                "this store was opened read-only (mode=ro) and writes nothing",
            )
        })
    }

    fn table<R: Record>(&self) -> &Table<R> {
        self.tables[R::COLLECTION.index()]
            .as_any()
            .downcast_ref()
            .expect("each table holds its collection's records")
    }

    fn table_mut<R: Record>(&mut self) -> &mut Table<R> {
        self.tables[R::COLLECTION.index()]
            .as_any_mut()
            .downcast_mut()
            .expect("each table holds its collection's records")
    }

    fn session_exists(&self, session_id: Id) -> bool {
        self.table::<Session>().position(session_id).is_some()
    }

    /// Indexes what other processes appended since this process last looked. An error when a
    /// file did not simply grow by whole records: then the directory is read afresh.
    fn catch_up_appends(&mut self) -> Result<()> {
        let mut touched = Vec::new();
        for table in &mut self.tables {
            touched.extend(table.catch_up()?);
        }
        let sessions = Collection::Sessions.index();
        let named = self
            .tables
            .iter()
            .map(|t| t.highest_session_named())
            .max()
            .unwrap_or(0);
        let next_session = self.tables[sessions].next_id().max(named + 1);
        self.tables[sessions].set_next_id(next_session);
        let stats = self.lap_stats.get_mut().unwrap_or_else(PoisonError::into_inner);
        for session_id in touched {
            stats.remove(&session_id);
        }
        Ok(())
    }

    /// Keeps the lap totals of sessions already summed up in step with records just saved.
    fn count_in<R: Record>(&self, records: &[R]) {
        let mut stats = self.lap_stats.lock().unwrap_or_else(PoisonError::into_inner);
        if stats.is_empty() {
            return;
        }
        for record in records {
            if let Some(lap) = (record as &dyn Any).downcast_ref::<Lap>() {
                if let Some(totals) = stats.get_mut(&lap.session_id) {
                    totals.add(lap);
                }
            }
        }
    }

    /// What the laps of `session_id` add up to, summed from the file the first time.
    fn lap_stats_of(&self, session_id: Id) -> Result<LapStats> {
        if let Some(stats) = self
            .lap_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&session_id)
        {
            return Ok(stats.clone());
        }
        let mut stats = LapStats::default();
        for lap in self.table::<Lap>().of_session(session_id)? {
            stats.add(&lap);
        }
        self.lap_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session_id, stats.clone());
        Ok(stats)
    }

    fn require_session(&self, session_id: Id) -> Result<()> {
        if self.session_exists(session_id) {
            Ok(())
        } else {
            Err(Error::session_not_found(session_id))
        }
    }

    fn next_ids(&self) -> IdMarks {
        IdMarks::from_fn(|c| self.tables[c.index()].next_id())
    }

    fn given_ids(&self) -> IdMarks {
        IdMarks::from_fn(|c| self.tables[c.index()].next_id() - 1)
    }

    /// Appends validated records, one collection group after another, all or nothing.
    ///
    /// A single record in power-loss mode is queued for a group commit instead: the caller
    /// must wait on the returned [`Durable`] after releasing the store's lock. Anything larger
    /// is journaled first, so a crash cannot leave part of it.
    fn append(&mut self, groups: Vec<Records>) -> Result<Durable> {
        let sync = self.sync();
        let groups: Vec<Records> = groups.into_iter().filter(|g| !g.is_empty()).collect();
        let total: usize = groups.iter().map(Records::len).sum();
        if total == 0 {
            return Ok(None);
        }
        if total == 1 && !sync {
            // A single save: one write, no journal (a crash can only tear the file's tail,
            // which opening cuts), nothing allocated for the batch bookkeeping below.
            let group = groups.into_iter().next().expect("one group");
            return group.visit(AppendOne { state: self });
        }
        let mut encoded = Vec::with_capacity(groups.len());
        let mut planned: HashMap<Collection, (u64, usize)> = HashMap::new();
        for group in &groups {
            let collection = group.collection();
            let file = self.tables[collection.index()].file();
            // A collection twice in one batch: the second group follows the first.
            let (tail, earlier) = planned.get(&collection).copied().unwrap_or((file.tail(), 0));
            let (bytes, spans) = group.visit(Encode {
                file,
                tail,
                earlier_records: earlier,
            });
            planned.insert(collection, (tail + bytes.len() as u64 - 2, earlier + group.len()));
            encoded.push((collection, bytes, spans));
        }
        if sync && total == 1 {
            let (_, bytes, spans) = encoded.pop().expect("one group");
            let group = groups.into_iter().next().expect("one group");
            return group.visit(QueueOne {
                state: self,
                bytes,
                spans,
            });
        }
        let journaled = total > 1;
        if journaled {
            let mut appends: Vec<AppendSpan> = Vec::new();
            let mut tails: HashMap<Collection, u64> = HashMap::new();
            for (collection, bytes, _) in &encoded {
                let start = *tails
                    .entry(*collection)
                    .or_insert_with(|| self.tables[collection.index()].file().tail());
                let end = start + bytes.len() as u64 - 2;
                tails.insert(*collection, end);
                let file = collection.file_name();
                match appends.iter_mut().find(|a| a.file == file) {
                    Some(existing) => existing.end = end,
                    None => appends.push(AppendSpan { file, start, end }),
                }
            }
            self.journal()?.begin(&Intent::Appends { appends }, sync)?;
        }
        // Where each file stood before the batch, to cut it back there if a later write fails.
        let mut written: Vec<(Collection, u64, usize)> = Vec::new();
        for (collection, bytes, spans) in encoded {
            let table = &mut self.tables[collection.index()];
            let before = (table.file().tail(), table.file().spans.len());
            if let Err(error) = write_group(table.as_mut(), &bytes, &spans, sync) {
                // Nothing of this batch was acknowledged: cut every file back to where it was.
                // Only if that fails too is a file's state unknown.
                match self.undo_appends(&written, collection) {
                    Ok(()) if journaled => {
                        if let Some(journal) = &self.journal {
                            let _ = journal.clear();
                        }
                    }
                    Ok(()) => {}
                    Err(undo_error) => self.poisoned = Some(format!("{error}, then {undo_error}")),
                }
                return Err(error);
            }
            if !written.iter().any(|(c, _, _)| *c == collection) {
                written.push((collection, before.0, before.1));
            }
        }
        for group in groups {
            group.visit(Push { state: self });
        }
        if journaled {
            // The batch is saved either way: a journal left behind names a batch that landed,
            // which opening recognises and keeps.
            if let Err(error) = self.journal()?.clear() {
                tracing::warn!("could not clear the journal after a batch: {error}");
            }
        }
        Ok(None)
    }

    /// Cuts the files a failed batch had already appended to back to where they were, and puts
    /// the closing bracket back on the file whose write failed.
    fn undo_appends(&mut self, written: &[(Collection, u64, usize)], failed: Collection) -> Result<()> {
        let mut result = Ok(());
        for (collection, tail, spans) in written {
            let file = self.tables[collection.index()].file_mut();
            if let Err(error) = file.cut_back(*tail, *spans) {
                result = result.and(Err(error));
            }
        }
        if !written.iter().any(|(c, _, _)| *c == failed) {
            if let Err(error) = self.tables[failed.index()].file_mut().restore() {
                result = result.and(Err(error));
            }
        }
        result
    }

    fn delete_session(&mut self, dir: &Path, session_id: Id) -> Result<Counts> {
        let sync = self.sync();
        self.journal()?
            .begin(&Intent::DeleteSession { session_id }, sync)?;
        // Remember the ids given so far first, so none comes back once its record is gone.
        let mut meta = self.meta.clone();
        meta.raise(&self.given_ids());
        meta.store(&self.io, dir, sync)?;
        self.meta = meta;
        // Children first, sessions last: a crash part-way leaves the session, and the journal
        // finishes the job.
        self.lap_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session_id);
        let mut counts = Counts::default();
        for collection in Collection::ALL.into_iter().rev() {
            let removed = self.tables[collection.index()].remove_session(session_id, sync)?;
            counts.set(collection, removed);
        }
        if let Err(error) = self.journal()?.clear() {
            // The delete is done; a journal left behind only makes the next open redo it.
            tracing::warn!("could not clear the journal after a delete: {error}");
        }
        Ok(counts)
    }
}

/// Refuses to cut a torn session record off when other files hold records of a session past
/// the last whole one: that record was saved, and cutting it would leave them without it.
fn refuse_cutting_proven_sessions(tables: &[Box<dyn AnyTable>]) -> Result<()> {
    let sessions = &tables[Collection::Sessions.index()];
    let Some(torn) = sessions.torn() else {
        return Ok(());
    };
    let kept = sessions.last_id();
    let mut proof = Vec::new();
    for collection in Collection::ALL.into_iter().skip(1) {
        let named = tables[collection.index()].sessions_named_above(kept);
        if named.is_empty() {
            continue;
        }
        let records: u64 = named.iter().map(|(_, n)| n).sum();
        let ids: Vec<String> = named.iter().map(|(id, _)| id.to_string()).collect();
        proof.push(format!(
            "{} holds {} of session {}",
            collection.file_name(),
            collection.count_text(records),
            ids.join(", ")
        ));
    }
    if proof.is_empty() {
        return Ok(());
    }
    let file = Collection::Sessions.file_name();
    Err(Error::Damaged {
        path: torn.file.clone(),
        message: format!(
            "it ends in a torn record at byte {}, and {}: that record was saved, so cutting it off would leave them without their session. Nothing was changed. Restore {file} from a backup, or run `racestore check --repair --drop-orphans` to cut it and drop the records that name it",
            torn.offset,
            proof.join("; "),
        ),
    })
}

/// Writes one group's bytes at its file's tail (and syncs them in power-loss mode).
fn write_group(table: &mut dyn AnyTable, bytes: &[u8], spans: &[Span], sync: bool) -> Result<()> {
    let file = table.file_mut();
    file.write_append(bytes, spans)?;
    if sync {
        // A failed fsync is recorded by `Io` and stops every later write (see `JsonStore::write`).
        file.sync()?;
    }
    Ok(())
}

/// Encodes one group of records for appending at `tail`.
struct Encode<'a> {
    file: &'a ArrayFile,
    tail: u64,
    earlier_records: usize,
}

impl RecordsVisitor for Encode<'_> {
    type Output = (Vec<u8>, Vec<Span>);
    fn visit<R: Record>(self, records: &[R]) -> (Vec<u8>, Vec<Span>) {
        self.file
            .encode_append_at(records, self.tail, self.earlier_records)
    }
}

/// Queues one record for a group commit and adds it to its table.
struct QueueOne<'a> {
    state: &'a mut State,
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

impl RecordsVisitor for QueueOne<'_> {
    type Output = Result<Durable>;
    fn visit<R: Record>(self, records: &[R]) -> Result<Durable> {
        let table = self.state.table_mut::<R>();
        let (group, ticket) = table.file.enqueue_append(&self.bytes, self.spans)?;
        table.index(records);
        self.state.count_in(records);
        Ok(Some((group, ticket)))
    }
}

/// Appends one record to its table's file (durability=process) and indexes it; on failure puts
/// the file's closing bracket back, as a failed batch does.
struct AppendOne<'a> {
    state: &'a mut State,
}

impl RecordsVisitor for AppendOne<'_> {
    type Output = Result<Durable>;
    fn visit<R: Record>(self, records: &[R]) -> Result<Durable> {
        let [record] = records else {
            unreachable!("AppendOne is given exactly one record")
        };
        let table = self.state.table_mut::<R>();
        if let Err(error) = table.file.append_one(record) {
            if let Err(undo_error) = table.file.restore() {
                self.state.poisoned = Some(format!("{error}, then {undo_error}"));
            }
            return Err(error);
        }
        table.index(records);
        self.state.count_in(records);
        Ok(None)
    }
}

/// Refuses records whose session does not exist (other than the batch's `new_session`).
struct RequireSessions<'a> {
    state: &'a State,
    new_session: Option<Id>,
}

impl RecordsVisitor for RequireSessions<'_> {
    type Output = Result<()>;
    fn visit<R: Record>(self, records: &[R]) -> Result<()> {
        records
            .iter()
            .map(Record::session_id)
            .filter(|id| Some(*id) != self.new_session)
            .try_for_each(|id| self.state.require_session(id))
    }
}

/// Adds appended records to their table.
struct Push<'a> {
    state: &'a mut State,
}

impl RecordsVisitor for Push<'_> {
    type Output = ();
    fn visit<R: Record>(self, records: &[R]) {
        self.state.table_mut::<R>().index(records);
        self.state.count_in(records);
    }
}

impl<T: Record> Table<T> {
    fn new(file: ArrayFile, next_id: Id) -> Self {
        Table {
            file,
            ids: Runs::ids(),
            session_ids: Runs::sessions(),
            by_session: HashMap::new(),
            next_id,
            torn: None,
            torn_session: 0,
            from_cache: false,
            cache_covers: 0,
            records: PhantomData,
        }
    }

    fn open(args: OpenTable<'_>) -> Result<Self> {
        let OpenTable {
            io,
            dir,
            meta,
            pending,
            sync,
            read_only,
            existed,
            recreate_missing,
            repairs,
            cache,
        } = args;
        let file_name = T::COLLECTION.file_name();
        let path = dir.join(&file_name);
        if !read_only {
            let _ = std::fs::remove_file(fsio::temp_path(&path));
        }
        if !path.exists() {
            let expected = existed && (meta.files.contains(&file_name) || T::COLLECTION.original());
            if expected && !recreate_missing {
                return Err(Error::Damaged {
                    path: path.clone(),
                    message: format!(
                        "the file is missing from a store that has existed, and recreating it empty would lose every record it held; restore {file_name} from a backup, or run `racestore check --repair --recreate-missing` to recreate it empty"
                    ),
                });
            }
            if read_only {
                // A collection newer than the store (entries in an older store): empty.
                let empty = File::open("/dev/null").map_err(|e| Error::io("opening", "/dev/null", e))?;
                return Ok(Table::new(
                    ArrayFile::new(path, empty, io.clone(), 2, 1, Vec::new()),
                    1,
                ));
            }
            io.replace_file(&path, b"[]", sync)?;
            if expected {
                repairs.push(Repair {
                    file: path.clone(),
                    offset: 0,
                    removed_bytes: 0,
                    detail: "recreated the missing file empty, as asked (--recreate-missing): the records it held are lost".into(),
                });
            }
        }
        let file = File::options()
            .read(true)
            .write(!read_only)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let len = file.metadata().map_err(|e| Error::io("reading", &path, e))?.len();
        // After a crash in the middle of a batch, the file is scanned: the rollback needs it.
        if pending.is_none() {
            if let Some(index) = cache.take(&file_name, &path, &file) {
                match Self::from_index(&path, &file, io, meta, len, index) {
                    Ok(table) => return Ok(table),
                    Err(error) => tracing::debug!("{file_name} is scanned: {error}"),
                }
            }
        }
        let session_key = Self::indexed().then_some("session_id");
        let rollback = pending.filter(|(_, landed)| !landed).map(|(span, _)| span.start);
        let mut scanned = match (
            structure::scan_file(&path, &file, u64::MAX, session_key),
            rollback,
        ) {
            // Damage inside a batch that never finished is that batch's torn tail.
            (Err(Error::CorruptFile { offset, .. }), Some(start)) if offset >= start => {
                structure::scan_file(&path, &file, start, session_key)?
            }
            (scanned, _) => scanned?,
        };
        if let Some(start) = rollback {
            if scanned.tail > start || scanned.torn.is_some() {
                let keep = scanned.spans.iter().take_while(|s| s.offset < start).count();
                scanned.ids.truncate(keep);
                scanned.session_ids.truncate(keep.min(scanned.session_ids.len()));
                scanned.spans.truncate(keep);
                scanned.tail = scanned.tail.min(start);
                scanned.torn = Some(Repair {
                    file: path.clone(),
                    offset: start,
                    removed_bytes: len.saturating_sub(start),
                    detail:
                        "rolled back a batch of records that a crash interrupted (a batch is all or nothing)"
                            .into(),
                });
            }
        }
        // What a torn tail still shows of its records: their ids were given, and the sessions
        // they name existed.
        let (torn_id, torn_session) = match &scanned.torn {
            Some(_) => {
                let mut rest = vec![0; usize::try_from(len.saturating_sub(scanned.tail)).unwrap_or(0)];
                file.read_exact_at(&mut rest, scanned.tail)
                    .map_err(|e| Error::io("reading", &path, e))?;
                (
                    array_file::highest_number_after(&rest, b"\"id\":"),
                    array_file::highest_number_after(&rest, b"\"session_id\":"),
                )
            }
            None => (0, 0),
        };
        let max_in_file = scanned.ids.last().unwrap_or(0);
        let max_ever = meta.max_ids.get(&file_name).copied().unwrap_or(0);
        let mut table = Table::new(
            ArrayFile::new(path, file, io.clone(), len, scanned.tail, scanned.spans),
            max_in_file.max(max_ever).max(torn_id) + 1,
        );
        table.torn = scanned.torn;
        table.torn_session = torn_session;
        table.index_runs(scanned.ids, scanned.session_ids);
        Ok(table)
    }

    /// The table `racestore.index` describes (the file's first `index.len` bytes), caught up
    /// with the records appended to the file since, which are scanned. An error when they are
    /// too many to read at once or do not scan as whole records: then the whole file is scanned.
    fn from_index(
        path: &Path,
        file: &File,
        io: &Io,
        meta: &Meta,
        len: u64,
        index: FileIndex,
    ) -> Result<Self> {
        // What a catch-up reads in one piece; a longer unindexed tail is scanned part by part.
        const MOST_APPENDED: u64 = 64 << 20;
        if len - index.len > MOST_APPENDED {
            return Err(Error::invalid(
                "racestore.index",
                format!("covers {} of {len} bytes", index.len),
            ));
        }
        let sessions_expected = if Self::indexed() { index.ids.len() } else { 0 };
        if index.session_ids.len() != sessions_expected {
            return Err(Error::invalid(
                "racestore.index",
                "holds no session for every record",
            ));
        }
        let file = file.try_clone().map_err(|e| Error::io("opening", path, e))?;
        let max_ever = meta.max_ids.get(&T::COLLECTION.file_name()).copied().unwrap_or(0);
        let covers = index.len;
        let mut table = Table::new(
            ArrayFile::new(
                path.to_owned(),
                file,
                io.clone(),
                index.len,
                index.tail,
                index.spans,
            ),
            max_ever + 1,
        );
        table.index_runs(index.ids, index.session_ids);
        table.catch_up()?;
        table.from_cache = true;
        table.cache_covers = covers;
        Ok(table)
    }

    /// Indexes records a structural scan found (their spans already in the file's).
    fn index_structure(&mut self, ids: Vec<Id>, session_ids: Vec<Id>) {
        if let Some(last) = ids.last() {
            self.next_id = self.next_id.max(last + 1);
        }
        if Self::indexed() {
            let first = self.ids.len();
            for (k, session_id) in session_ids.iter().enumerate() {
                self.note_in_session(*session_id, first + k);
            }
            self.session_ids.extend(session_ids);
        }
        self.ids.extend(ids);
    }

    /// Indexes what `racestore.index` holds (into an empty table), a run at a time.
    fn index_runs(&mut self, ids: Runs, session_ids: Runs) {
        if let Some(last) = ids.last() {
            self.next_id = self.next_id.max(last + 1);
        }
        self.ids = ids;
        if Self::indexed() {
            self.session_ids = session_ids;
            self.index_sessions();
        }
    }

    /// Builds the index by session from the session of each record, a run at a time.
    fn index_sessions(&mut self) {
        self.by_session.clear();
        for (session_id, start, count) in self.session_ids.runs() {
            let ranges = self.by_session.entry(session_id).or_default();
            match ranges.last_mut() {
                Some(range) if range.end == start => range.end += count,
                _ => ranges.push(start..start + count),
            }
        }
    }

    /// Notes that the record at `index` (the last indexed) belongs to `session_id`.
    fn note_in_session(&mut self, session_id: Id, index: usize) {
        let ranges = self.by_session.entry(session_id).or_default();
        match ranges.last_mut() {
            Some(range) if range.end == index => range.end += 1,
            _ => ranges.push(index..index + 1),
        }
    }

    /// Each record's session, in order.
    fn sessions(&self) -> Box<dyn Iterator<Item = Id> + '_> {
        if Self::indexed() {
            Box::new(self.session_ids.iter())
        } else {
            Box::new(self.ids.iter())
        }
    }

    /// Whether records are indexed by session (every collection but sessions, which are their own).
    fn indexed() -> bool {
        T::COLLECTION != Collection::Sessions
    }

    /// The session of the record at `index`.
    fn session_of(&self, index: usize) -> Id {
        if Self::indexed() {
            self.session_ids.get(index)
        } else {
            self.ids.get(index)
        }
    }

    /// Adds records just written (their spans already in the file's) to the index.
    fn index(&mut self, records: &[T]) {
        for record in records {
            self.next_id = self.next_id.max(record.id() + 1);
            if Self::indexed() {
                self.note_in_session(record.session_id(), self.ids.len());
                self.session_ids.push(record.session_id());
            }
            self.ids.push(record.id());
        }
    }

    /// Keeps only the index entries `keep` flags (the file's spans are the caller's), and
    /// indexes the sessions again.
    fn forget_flagged(&mut self, keep: &[bool]) {
        self.ids = self.ids.keep_flagged(keep);
        if Self::indexed() {
            self.session_ids = self.session_ids.keep_flagged(keep);
            self.index_sessions();
        }
    }

    /// Where the record with `id` is, if there is one.
    fn position(&self, id: Id) -> Option<usize> {
        self.ids.position(id)
    }

    /// The records at `indices` (ascending), read from the file: neighbours in one read.
    ///
    /// Each must carry the id and session the index gives it; one that does not is a
    /// [`Error::CorruptFile`] (an index from `racestore.index` that no longer fits the file,
    /// which sends the store back to scanning).
    fn read_at(&self, indices: &[usize]) -> Result<Vec<T>> {
        let spans = self.file.spans.at(indices);
        let records: Vec<T> = self.file.read_records(&spans)?;
        for ((record, index), span) in records.iter().zip(indices).zip(&spans) {
            if record.id() != self.ids.get(*index) || record.session_id() != self.session_of(*index) {
                return Err(self.file.corrupt_at_offset(
                    span.offset,
                    format!(
                        "the record here is not the one the index says (id {} in session {}, not id {} in session {}): the file changed behind racestore's back",
                        record.id(),
                        record.session_id(),
                        self.ids.get(*index),
                        self.session_of(*index)
                    ),
                ));
            }
        }
        Ok(records)
    }

    fn get(&self, id: Id) -> Result<Option<T>> {
        match self.position(id) {
            Some(index) => Ok(self.read_at(&[index])?.pop()),
            None => Ok(None),
        }
    }

    fn of_session(&self, session_id: Id) -> Result<Vec<T>> {
        let indices: Vec<usize> = self
            .by_session
            .get(&session_id)
            .into_iter()
            .flatten()
            .flat_map(Clone::clone)
            .collect();
        self.read_at(&indices)
    }

    /// The records a query selects, in id order.
    fn select(&self, query: &Query) -> Result<Vec<T>> {
        let limit = query.limit.unwrap_or(usize::MAX);
        match query.session_id {
            Some(session_id) if Self::indexed() => Ok(self
                .of_session(session_id)?
                .into_iter()
                .filter(|r| query.matches(r))
                .take(limit)
                .collect()),
            Some(session_id) => Ok(self
                .get(session_id)?
                .filter(|r| query.matches(r))
                .into_iter()
                .collect()),
            None => {
                let start = self.ids.count_at_most(query.after_id);
                let mut selected = Vec::new();
                let mut next = start;
                while next < self.ids.len() && selected.len() < limit {
                    let wanted = limit - selected.len();
                    // Without filters, exactly the records wanted: none past them is parsed.
                    let chunk = if query.filters.is_empty() {
                        wanted.min(READ_CHUNK)
                    } else {
                        READ_CHUNK
                    };
                    let end = (next + chunk).min(self.ids.len());
                    let indices: Vec<usize> = (next..end).collect();
                    selected.extend(
                        self.read_at(&indices)?
                            .into_iter()
                            .filter(|r| query.matches(r))
                            .take(wanted),
                    );
                    next = end;
                }
                Ok(selected)
            }
        }
    }

    /// Rewrites the file with only the records `keep` flags; returns how many went.
    fn keep_only(&mut self, keep: &[bool], sync: bool) -> Result<u64> {
        let removed = keep.iter().filter(|k| !**k).count() as u64;
        if removed == 0 {
            return Ok(0);
        }
        // A new file: whatever racestore.index said of the old one is of no use.
        self.cache_covers = 0;
        self.file.rewrite_keeping(keep, sync)?;
        self.forget_flagged(keep);
        Ok(removed)
    }
}

/// Reads one collection for a query.
struct Select<'a> {
    state: &'a State,
    query: &'a Query,
}

impl CollectionVisitor for Select<'_> {
    type Output = Result<Records>;
    fn visit<R: Record>(self) -> Result<Records> {
        Ok(Records::of(self.state.table::<R>().select(self.query)?))
    }
}

/// Checks and appends imported records of one collection.
struct ImportInto<'a> {
    state: &'a mut State,
}

impl RecordsVisitor for ImportInto<'_> {
    type Output = Result<Durable>;
    fn visit<R: Record>(self, records: &[R]) -> Result<Durable> {
        let given = self.state.table::<R>().next_id - 1;
        let all = Records::of(records.to_vec());
        all.validate_import(given)?;
        if R::COLLECTION != Collection::Sessions {
            for record in records {
                self.state.require_session(record.session_id())?;
            }
        }
        self.state.append(vec![all])
    }
}

impl RaceStore for JsonStore {
    fn save(&self, batch: &Batch) -> Result<SavedIds> {
        if batch.is_empty() {
            return self.read(|_| Ok(SavedIds::default()));
        }
        self.write(|state| {
            let mut next_ids = state.next_ids();
            let valid: ValidBatch = batch.validate(&mut next_ids, &now_timestamp())?;
            // As `valid.sessions_named()` would, the first missing one in input order, but
            // without collecting them: a single save allocates no set for its one session.
            let new_session = valid.session.as_ref().map(|s| s.id);
            for group in &valid.records {
                group.visit(RequireSessions { state, new_session })?;
            }
            let ids = valid.ids();
            let groups = match valid.session {
                Some(session) => std::iter::once(Records::of(vec![session]))
                    .chain(valid.records)
                    .collect(),
                None => valid.records,
            };
            let durable = state.append(groups)?;
            Ok((ids, durable))
        })
    }

    fn read(&self, query: &Query) -> Result<Records> {
        JsonStore::read(self, |state| query.collection.visit(Select { state, query }))
    }

    fn session_summaries(&self, query: &SessionQuery) -> Result<Vec<SessionSummary>> {
        JsonStore::read(self, |state| {
            let sessions = state.table::<Session>().select(&Query::from(query))?;
            sessions
                .into_iter()
                .map(|session| {
                    let mut counts =
                        Counts::from_fn(|c| state.tables[c.index()].count_of_session(session.id));
                    let stats = state.lap_stats_of(session.id)?;
                    // As `SessionSummary::from_laps` sums them, from totals kept per session.
                    counts.set(Collection::Laps, stats.laps);
                    counts.set(Collection::Sessions, 1);
                    Ok(SessionSummary {
                        session,
                        counts,
                        drivers: stats.drivers.len() as u64,
                        best_lap: stats.best_lap,
                    })
                })
                .collect()
        })
    }

    fn delete_session(&self, session_id: Id) -> Result<Counts> {
        self.write(|state| {
            state.require_session(session_id)?;
            self.scanned_for_rewrite(state)?;
            self.coordination.note_rewrite();
            let result = state.delete_session(&self.dir, session_id);
            if let Err(error) = &result {
                state.poisoned = Some(format!("deleting session {session_id} failed: {error}"));
            }
            Ok((result?, None))
        })
    }

    fn counts(&self) -> Result<Counts> {
        JsonStore::read(self, |state| {
            Ok(Counts::from_fn(|c| state.tables[c.index()].len() as u64))
        })
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return JsonStore::read(self, |_| Ok(()));
        }
        self.write(|state| Ok(((), records.visit(ImportInto { state })?)))
    }

    fn backup(&self, destination: &Path) -> Result<()> {
        if destination.exists() {
            return Err(Error::invalid(
                "destination",
                format!(
                    "{} already exists; a backup goes to a new directory",
                    destination.display()
                ),
            ));
        }
        // Holding the read lock keeps this store's writers out (readers carry on) while the
        // files are copied up to the tails it knows: other processes only append past those
        // or replace a file by renaming another over it, which leaves the open one as it was.
        // Written under a temporary name and renamed once complete, so a backup cut short
        // never looks like a (smaller) store.
        let partial = fsio::partial_path(destination);
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
        }
        let _ = std::fs::remove_dir_all(&partial);
        JsonStore::read(self, |state| {
            let written = (|| {
                std::fs::create_dir(&partial).map_err(|e| Error::io("creating directory", &partial, e))?;
                for collection in Collection::ALL {
                    let bytes = state.tables[collection.index()].file().read_whole_array()?;
                    state
                        .io
                        .replace_file(&partial.join(collection.file_name()), &bytes, true)?;
                }
                let mut meta = state.meta.clone();
                meta.raise(&state.given_ids());
                meta.files = Collection::ALL.iter().map(|c| c.file_name()).collect();
                meta.store(&state.io, &partial, true)?;
                state.io.rename(&partial, destination)?;
                state.io.sync_parent_dir(destination)
            })();
            if written.is_err() {
                let _ = std::fs::remove_dir_all(&partial);
            }
            written
        })
    }

    fn read_snapshot(&self, each: &mut dyn FnMut(&Records) -> Result<()>) -> Result<IdMarks> {
        // The read lock keeps writers out for the whole walk: one moment. Where the walk got
        // to is kept outside the read, so one repeated after a rescan goes on from there.
        let (mut collection_index, mut after) = (0, 0);
        JsonStore::read(self, |state| {
            while let Some(&collection) = Collection::ALL.get(collection_index) {
                loop {
                    let page = collection.visit(Select {
                        state,
                        query: &Query::page(collection, after, SNAPSHOT_PAGE),
                    })?;
                    let Some(&last) = page.ids().last() else { break };
                    each(&page)?;
                    after = last;
                }
                (collection_index, after) = (collection_index + 1, 0);
            }
            Ok(state.given_ids())
        })
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        JsonStore::read(self, |state| Ok(state.given_ids()))
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        self.write(|state| {
            self.coordination.note_rewrite();
            let given = state.given_ids().max(marks);
            // Written first, so the marks hold after a reopen or not at all.
            let mut meta = state.meta.clone();
            meta.raise(&given);
            meta.store(&state.io, &self.dir, state.sync())?;
            state.meta = meta;
            for collection in Collection::ALL {
                state.tables[collection.index()].set_next_id(given.get(collection) + 1);
            }
            Ok(((), None))
        })
    }

    fn close(&self) -> Result<()> {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = guard.take().ok_or(Error::Closed)?;
        if self.read_only {
            return Ok(());
        }
        // Make everything durable before letting go, whatever the durability asked for.
        for table in &state.tables {
            table.file().sync()?;
        }
        let mut tables = state.tables;
        refresh_index_cache(&self.dir, &mut tables);
        Ok(())
    }

    fn repairs(&self) -> Vec<Repair> {
        self.repairs.clone()
    }

    fn delete_orphans(&self) -> Result<Counts> {
        self.write(|state| {
            self.scanned_for_rewrite(state)?;
            self.coordination.note_rewrite();
            let sessions = state.table::<Session>();
            let mut orphaned = BTreeSet::new();
            for collection in Collection::ALL.into_iter().skip(1) {
                let named = state.tables[collection.index()].sessions_named_above(0);
                orphaned.extend(
                    named
                        .into_iter()
                        .map(|(id, _)| id)
                        .filter(|id| sessions.position(*id).is_none()),
                );
            }
            let mut removed = Counts::default();
            for session_id in orphaned {
                let result = state.delete_session(&self.dir, session_id);
                let counts = match result {
                    Ok(counts) => counts,
                    Err(error) => {
                        state.poisoned = Some(format!(
                            "deleting the records of missing session {session_id} failed: {error}"
                        ));
                        return Err(error);
                    }
                };
                for collection in Collection::ALL {
                    removed.add(collection, counts.get(collection));
                }
            }
            Ok((removed, None))
        })
    }
}
