//! The JSON-directory backend: the original's five human-readable files, made safe.
//!
//! A directory holds `race_sessions.json`, `driver_metrics.json`, `lap_data.json`,
//! `predictions.json` and `simulations.json`, each a pretty-printed JSON array exactly as the
//! original wrote them, plus `racestore.lock` (one writer process), `racestore.meta.json` (id
//! high-water marks) and `racestore.journal` (the multi-step write in progress).
//! See `docs/storage-format.md`.
//!
//! Every record is also kept in memory, indexed by session, so reads never touch the files.
//! Saves append in place (see [`array_file`]); only a delete rewrites a file.

mod array_file;
mod format;
mod fsio;
mod group_commit;
mod journal;
mod lock;

pub use fsio::{Fault, FaultInjector, FileOp};

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use array_file::{scan, ArrayFile};
use format::Record;
use fsio::Io;
use group_commit::{GroupCommit, Ticket};
use journal::{Intent, Journal, Meta};
use lock::DirLock;

use crate::error::{Error, Result};
use crate::model::{
    now_timestamp, Collection, Counts, DriverMetrics, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewLap,
    NewPrediction, NewSession, NewSimulation, Prediction, Records, Session, SessionQuery, Simulation,
};
use crate::store::{RaceStore, Repair};
use crate::url::Durability;

/// A store in a directory of JSON files (the default backend).
///
/// Open it with [`crate::open`]`("json:DIR")` or [`JsonStore::open`]. One process at a time may
/// have a directory open; a second gets [`Error::Locked`].
pub struct JsonStore {
    dir: PathBuf,
    state: RwLock<Option<State>>,
    repairs: Vec<Repair>,
}

#[derive(Debug)]
struct State {
    durability: Durability,
    sessions: Table<Session>,
    metrics: Table<DriverMetrics>,
    laps: Table<Lap>,
    predictions: Table<Prediction>,
    simulations: Table<Simulation>,
    meta: Meta,
    journal: Journal,
    io: Io,
    /// Set when a write or sync failed in a way that leaves the file's state unknown.
    poisoned: Option<String>,
    _lock: DirLock,
}

/// A save queued for a group commit, to wait on once the store's lock is released.
type Durable = Option<(Arc<GroupCommit>, Ticket)>;

/// One data file and its records, in id order, with an index by session.
#[derive(Debug)]
struct Table<T> {
    file: ArrayFile,
    records: Vec<T>,
    by_session: HashMap<Id, Vec<u32>>,
    next_id: Id,
}

impl std::fmt::Debug for JsonStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the records: a store's Debug output must stay readable at a million laps.
        let guard = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        f.debug_struct("JsonStore")
            .field("dir", &self.dir)
            .field("durability", &guard.as_ref().map(|s| s.durability))
            .field("open", &guard.is_some())
            .finish()
    }
}

impl JsonStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Takes the directory's lock, finishes or undoes a multi-step write a crash interrupted,
    /// cuts torn tails (reported by [`RaceStore::repairs`]), and refuses a file damaged
    /// anywhere else with [`Error::CorruptFile`], changing nothing in it.
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
        let io = Io::new(injector);
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating directory", &dir, e))?;
        let lock = DirLock::acquire(&dir)?;
        let sync = durability == Durability::PowerLoss;
        let meta = Meta::load(&dir)?;
        let (journal, pending) = Journal::open(&dir, io.clone())?;
        let mut repairs = Vec::new();
        let pending_append = match &pending {
            Some(Intent::Append { file, start, end }) => Some((file.as_str(), *start, *end)),
            _ => None,
        };
        let mut state = State {
            durability,
            sessions: Table::open(&io, &dir, &meta, pending_append, sync, &mut repairs)?,
            metrics: Table::open(&io, &dir, &meta, pending_append, sync, &mut repairs)?,
            laps: Table::open(&io, &dir, &meta, pending_append, sync, &mut repairs)?,
            predictions: Table::open(&io, &dir, &meta, pending_append, sync, &mut repairs)?,
            simulations: Table::open(&io, &dir, &meta, pending_append, sync, &mut repairs)?,
            meta,
            journal,
            io,
            poisoned: None,
            _lock: lock,
        };
        if let Some(Intent::DeleteSession { session_id }) = pending {
            // The delete was acknowledged to nobody, but it may have half happened: finish it.
            state.delete_session(&dir, session_id)?;
            repairs.push(Repair {
                file: dir.join(journal::JOURNAL_FILE),
                offset: 0,
                removed_bytes: 0,
                detail: format!("finished deleting session {session_id}, which a crash interrupted"),
            });
        }
        if pending.is_some() {
            state.journal.clear()?;
        }
        for repair in &repairs {
            tracing::warn!("{repair}");
        }
        Ok(JsonStore {
            dir,
            state: RwLock::new(Some(state)),
            repairs,
        })
    }

    /// The directory this store keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> Result<R>) -> Result<R> {
        let guard = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(guard.as_ref().ok_or(Error::Closed)?)
    }

    fn write<R>(&self, f: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = guard.as_mut().ok_or(Error::Closed)?;
        let failed_group = || {
            [
                state.sessions.file.failure(),
                state.metrics.file.failure(),
                state.laps.file.failure(),
                state.predictions.file.failure(),
                state.simulations.file.failure(),
            ]
            .into_iter()
            .flatten()
            .next()
        };
        if let Some(reason) = state
            .poisoned
            .clone()
            .or_else(|| state.io.failed_sync())
            .or_else(failed_group)
        {
            return Err(Error::Poisoned(reason));
        }
        f(state)
    }

    /// Runs a save under the lock, then waits (lock released) until a group commit made it durable.
    fn save<R>(&self, f: impl FnOnce(&mut State) -> Result<(R, Durable)>) -> Result<R> {
        let (value, durable) = self.write(f)?;
        if let Some((group, ticket)) = durable {
            group.wait(ticket)?;
        }
        Ok(value)
    }
}

impl State {
    fn sync(&self) -> bool {
        self.durability == Durability::PowerLoss
    }

    fn require_session(&self, session_id: Id) -> Result<()> {
        if self.sessions.get(session_id).is_some() {
            Ok(())
        } else {
            Err(Error::session_not_found(session_id))
        }
    }

    /// Appends records to one collection, journaling a batch so a crash cannot leave half of it.
    ///
    /// In power-loss mode a single record is queued for a group commit instead: the caller
    /// must wait on the returned [`Durable`] after releasing the store's lock.
    fn append<T: Record>(
        collection: &mut Table<T>,
        journal: &Journal,
        poisoned: &mut Option<String>,
        records: Vec<T>,
        sync: bool,
    ) -> Result<Durable> {
        let (bytes, spans) = collection.file.encode_append(&records);
        let batch = records.len() > 1;
        if sync && !batch {
            let (group, ticket) = collection.file.enqueue_append(&bytes, spans)?;
            collection.push_all(records);
            return Ok(Some((group, ticket)));
        }
        if batch {
            let start = collection.file.tail();
            let end = start + bytes.len() as u64 - 2;
            journal.begin(
                &Intent::Append {
                    file: T::FILE.to_owned(),
                    start,
                    end,
                },
                sync,
            )?;
        }
        if let Err(error) = collection.file.write_append(&bytes, spans) {
            // Nothing of this append was acknowledged: put the closing bracket back where it
            // was. Only if that fails too is the file's state unknown.
            match collection.file.restore() {
                Ok(()) if batch => {
                    let _ = journal.clear();
                }
                Ok(()) => {}
                Err(restore_error) => *poisoned = Some(format!("{error}, then {restore_error}")),
            }
            return Err(error);
        }
        if sync {
            // A failed fsync is recorded by `Io` and stops every later write (see `write`).
            collection.file.sync()?;
        }
        collection.push_all(records);
        if batch {
            // The batch is saved either way: a journal left behind names a batch that landed,
            // which opening recognises and keeps.
            if let Err(error) = journal.clear() {
                tracing::warn!("could not clear the journal after a batch: {error}");
            }
        }
        Ok(None)
    }

    fn delete_session(&mut self, dir: &Path, session_id: Id) -> Result<Counts> {
        let sync = self.sync();
        self.journal.begin(&Intent::DeleteSession { session_id }, sync)?;
        // Remember the ids given so far first, so none comes back once its record is gone.
        let mut meta = self.meta.clone();
        self.sessions.record_max_id(&mut meta);
        self.metrics.record_max_id(&mut meta);
        self.laps.record_max_id(&mut meta);
        self.predictions.record_max_id(&mut meta);
        self.simulations.record_max_id(&mut meta);
        meta.store(&self.io, dir, sync)?;
        self.meta = meta;
        // Children first: a crash part-way leaves the session, and the journal finishes the job.
        let counts = Counts {
            driver_metrics: self.metrics.remove_session(session_id, sync)?,
            laps: self.laps.remove_session(session_id, sync)?,
            predictions: self.predictions.remove_session(session_id, sync)?,
            simulations: self.simulations.remove_session(session_id, sync)?,
            sessions: self.sessions.remove_where(|s| s.id == session_id, sync)?,
        };
        if let Err(error) = self.journal.clear() {
            // The delete is done; a journal left behind only makes the next open redo it.
            tracing::warn!("could not clear the journal after a delete: {error}");
        }
        Ok(counts)
    }
}

impl<T: Record> Table<T> {
    fn open(
        io: &Io,
        dir: &Path,
        meta: &Meta,
        pending_append: Option<(&str, u64, u64)>,
        sync: bool,
        repairs: &mut Vec<Repair>,
    ) -> Result<Self> {
        let path = dir.join(T::FILE);
        let _ = std::fs::remove_file(fsio::temp_path(&path));
        if !path.exists() {
            io.replace_file(&path, b"[]", sync)?;
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let batch = pending_append
            .filter(|(file, _, _)| *file == T::FILE)
            .map(|(_, s, e)| (s, e));
        let mut scanned = match (array_file::scan_parallel::<T>(&path, &bytes), batch) {
            // Damage inside a batch that never finished is that batch's torn tail.
            (Err(Error::CorruptFile { offset, .. }), Some((start, _))) if offset >= start => {
                scan::<T>(&path, &bytes[..start as usize])?
            }
            (scanned, _) => scanned?,
        };
        if let Some((start, end)) = batch {
            let landed = scanned.spans.iter().any(|s| s.offset + s.len == end);
            if !landed && (scanned.tail > start || scanned.torn.is_some()) {
                let keep = scanned.spans.iter().take_while(|s| s.offset < start).count();
                scanned.records.truncate(keep);
                scanned.spans.truncate(keep);
                scanned.tail = scanned.tail.min(start);
                scanned.torn = Some(Repair {
                    file: path.clone(),
                    offset: start,
                    removed_bytes: bytes.len() as u64 - start,
                    detail:
                        "rolled back a batch of records that a crash interrupted (a batch is all or nothing)"
                            .into(),
                });
            }
        }
        let mut len = bytes.len() as u64;
        if let Some(repair) = scanned.torn.take() {
            len = ArrayFile::close_array_at(io, &file, &path, scanned.tail, !scanned.records.is_empty())?;
            if sync {
                io.sync(&file, &path)?;
            }
            repairs.push(repair);
        }
        let max_in_file = scanned.records.last().map_or(0, Record::id);
        let max_ever = meta.max_ids.get(T::FILE).copied().unwrap_or(0);
        let mut collection = Table {
            file: ArrayFile::new(path, file, io.clone(), len, scanned.tail, scanned.spans),
            records: scanned.records,
            by_session: HashMap::new(),
            next_id: max_in_file.max(max_ever) + 1,
        };
        if sync {
            collection.file.enable_group_commit()?;
        }
        collection.reindex();
        Ok(collection)
    }

    fn reindex(&mut self) {
        self.by_session.clear();
        for (index, record) in self.records.iter().enumerate() {
            if let Some(session_id) = record.session_id() {
                self.by_session.entry(session_id).or_default().push(index as u32);
            }
        }
    }

    fn push_all(&mut self, records: Vec<T>) {
        for record in records {
            self.next_id = self.next_id.max(record.id() + 1);
            if let Some(session_id) = record.session_id() {
                self.by_session
                    .entry(session_id)
                    .or_default()
                    .push(self.records.len() as u32);
            }
            self.records.push(record);
        }
    }

    fn get(&self, id: Id) -> Option<&T> {
        self.records
            .binary_search_by_key(&id, Record::id)
            .ok()
            .map(|index| &self.records[index])
    }

    fn of_session(&self, session_id: Id) -> impl Iterator<Item = &T> {
        self.by_session
            .get(&session_id)
            .into_iter()
            .flatten()
            .map(|index| &self.records[*index as usize])
    }

    fn page(&self, after_id: Id, limit: usize) -> Vec<T> {
        let start = self.records.partition_point(|r| r.id() <= after_id);
        self.records[start..].iter().take(limit).cloned().collect()
    }

    fn record_max_id(&self, meta: &mut Meta) {
        let given = self.next_id - 1;
        let entry = meta.max_ids.entry(T::FILE.to_owned()).or_insert(0);
        *entry = (*entry).max(given);
    }

    fn remove_session(&mut self, session_id: Id, sync: bool) -> Result<u64> {
        if !self.by_session.contains_key(&session_id) {
            return Ok(0);
        }
        self.remove_where(|record| record.session_id() == Some(session_id), sync)
    }

    fn remove_where(&mut self, remove: impl Fn(&T) -> bool, sync: bool) -> Result<u64> {
        let keep: Vec<bool> = self.records.iter().map(|r| !remove(r)).collect();
        let removed = keep.iter().filter(|k| !**k).count() as u64;
        if removed == 0 {
            return Ok(0);
        }
        self.file.rewrite_keeping(&keep, sync)?;
        let mut flags = keep.iter();
        self.records.retain(|_| *flags.next().unwrap_or(&true));
        self.reindex();
        Ok(removed)
    }
}

impl RaceStore for JsonStore {
    fn create_session(&self, session: &NewSession) -> Result<Id> {
        self.save(|state| {
            let record = session.validate(state.sessions.next_id, &now_timestamp())?;
            let id = record.id;
            let sync = state.sync();
            let durable = State::append(
                &mut state.sessions,
                &state.journal,
                &mut state.poisoned,
                vec![record],
                sync,
            )?;
            Ok((id, durable))
        })
    }

    fn save_driver_metrics(&self, metrics: &NewDriverMetrics) -> Result<Id> {
        self.save(|state| {
            let record = metrics.validate(state.metrics.next_id, &now_timestamp())?;
            state.require_session(record.session_id)?;
            let id = record.id;
            let sync = state.sync();
            let durable = State::append(
                &mut state.metrics,
                &state.journal,
                &mut state.poisoned,
                vec![record],
                sync,
            )?;
            Ok((id, durable))
        })
    }

    fn save_laps(&self, laps: &[NewLap]) -> Result<Vec<Id>> {
        if laps.is_empty() {
            return self.read(|_| Ok(Vec::new()));
        }
        self.save(|state| {
            let now = now_timestamp();
            let first_id = state.laps.next_id;
            let records = laps
                .iter()
                .zip(first_id..)
                .map(|(lap, id)| lap.validate(id, &now))
                .collect::<Result<Vec<_>>>()?;
            for record in &records {
                state.require_session(record.session_id)?;
            }
            let ids = records.iter().map(|r| r.id).collect();
            let sync = state.sync();
            let durable = State::append(
                &mut state.laps,
                &state.journal,
                &mut state.poisoned,
                records,
                sync,
            )?;
            Ok((ids, durable))
        })
    }

    fn save_prediction(&self, prediction: &NewPrediction) -> Result<Id> {
        self.save(|state| {
            let record = prediction.validate(state.predictions.next_id, &now_timestamp())?;
            state.require_session(record.session_id)?;
            let id = record.id;
            let sync = state.sync();
            let durable = State::append(
                &mut state.predictions,
                &state.journal,
                &mut state.poisoned,
                vec![record],
                sync,
            )?;
            Ok((id, durable))
        })
    }

    fn save_simulation(&self, simulation: &NewSimulation) -> Result<Id> {
        self.save(|state| {
            let record = simulation.validate(state.simulations.next_id, &now_timestamp())?;
            state.require_session(record.session_id)?;
            let id = record.id;
            let sync = state.sync();
            let durable = State::append(
                &mut state.simulations,
                &state.journal,
                &mut state.poisoned,
                vec![record],
                sync,
            )?;
            Ok((id, durable))
        })
    }

    fn get_session(&self, session_id: Id) -> Result<Option<Session>> {
        self.read(|state| Ok(state.sessions.get(session_id).cloned()))
    }

    fn get_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>> {
        self.read(|state| {
            Ok(state
                .sessions
                .records
                .iter()
                .filter(|s| query.matches(s))
                .cloned()
                .collect())
        })
    }

    fn get_session_metrics(&self, session_id: Id) -> Result<Vec<DriverMetrics>> {
        self.read(|state| Ok(state.metrics.of_session(session_id).cloned().collect()))
    }

    fn get_laps(&self, query: &LapQuery) -> Result<Vec<Lap>> {
        self.read(|state| {
            let laps = &state.laps;
            Ok(match query.session_id {
                Some(session_id) => laps
                    .of_session(session_id)
                    .filter(|l| query.matches(l))
                    .cloned()
                    .collect(),
                None => laps
                    .records
                    .iter()
                    .filter(|l| query.matches(l))
                    .cloned()
                    .collect(),
            })
        })
    }

    fn get_session_predictions(&self, session_id: Id) -> Result<Vec<Prediction>> {
        self.read(|state| Ok(state.predictions.of_session(session_id).cloned().collect()))
    }

    fn get_session_simulations(&self, session_id: Id) -> Result<Vec<Simulation>> {
        self.read(|state| Ok(state.simulations.of_session(session_id).cloned().collect()))
    }

    fn delete_session(&self, session_id: Id) -> Result<Counts> {
        self.write(|state| {
            state.require_session(session_id)?;
            let result = state.delete_session(&self.dir, session_id);
            if let Err(error) = &result {
                state.poisoned = Some(format!("deleting session {session_id} failed: {error}"));
            }
            result
        })
    }

    fn counts(&self) -> Result<Counts> {
        self.read(|state| {
            Ok(Counts {
                sessions: state.sessions.records.len() as u64,
                driver_metrics: state.metrics.records.len() as u64,
                laps: state.laps.records.len() as u64,
                predictions: state.predictions.records.len() as u64,
                simulations: state.simulations.records.len() as u64,
            })
        })
    }

    fn export_page(&self, collection: Collection, after_id: Id, limit: usize) -> Result<Records> {
        self.read(|state| {
            Ok(match collection {
                Collection::Sessions => Records::Sessions(state.sessions.page(after_id, limit)),
                Collection::DriverMetrics => Records::DriverMetrics(state.metrics.page(after_id, limit)),
                Collection::Laps => Records::Laps(state.laps.page(after_id, limit)),
                Collection::Predictions => Records::Predictions(state.predictions.page(after_id, limit)),
                Collection::Simulations => Records::Simulations(state.simulations.page(after_id, limit)),
            })
        })
    }

    fn import(&self, records: &Records) -> Result<()> {
        if records.is_empty() {
            return self.read(|_| Ok(()));
        }
        self.save(|state| {
            let sync = state.sync();
            let State {
                sessions,
                metrics,
                laps,
                predictions,
                simulations,
                journal,
                poisoned,
                ..
            } = state;
            let given = |next_id: Id| next_id - 1;
            macro_rules! import_children {
                ($collection:expr, $records:expr) => {{
                    records.validate_import(given($collection.next_id))?;
                    for session_id in records.session_ids() {
                        if sessions.get(session_id).is_none() {
                            return Err(Error::session_not_found(session_id));
                        }
                    }
                    State::append($collection, journal, poisoned, $records.clone(), sync).map(|d| ((), d))
                }};
            }
            match records {
                Records::Sessions(v) => {
                    records.validate_import(given(sessions.next_id))?;
                    State::append(sessions, journal, poisoned, v.clone(), sync).map(|d| ((), d))
                }
                Records::DriverMetrics(v) => import_children!(metrics, v),
                Records::Laps(v) => import_children!(laps, v),
                Records::Predictions(v) => import_children!(predictions, v),
                Records::Simulations(v) => import_children!(simulations, v),
            }
        })
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
        // Holding the read lock keeps every writer out (readers carry on) while the files,
        // which only ever grow at their tails, are copied up to their current length.
        self.read(|state| {
            std::fs::create_dir_all(destination)
                .map_err(|e| Error::io("creating directory", destination, e))?;
            let files = [
                (Session::FILE, state.sessions.file.read_all()?),
                (DriverMetrics::FILE, state.metrics.file.read_all()?),
                (Lap::FILE, state.laps.file.read_all()?),
                (Prediction::FILE, state.predictions.file.read_all()?),
                (Simulation::FILE, state.simulations.file.read_all()?),
            ];
            for (name, bytes) in files {
                state.io.replace_file(&destination.join(name), &bytes, true)?;
            }
            let mut meta = state.meta.clone();
            state.sessions.record_max_id(&mut meta);
            state.metrics.record_max_id(&mut meta);
            state.laps.record_max_id(&mut meta);
            state.predictions.record_max_id(&mut meta);
            state.simulations.record_max_id(&mut meta);
            meta.store(&state.io, destination, true)
        })
    }

    fn highest_ids(&self) -> Result<IdMarks> {
        self.read(|state| {
            Ok(IdMarks {
                sessions: state.sessions.next_id - 1,
                driver_metrics: state.metrics.next_id - 1,
                laps: state.laps.next_id - 1,
                predictions: state.predictions.next_id - 1,
                simulations: state.simulations.next_id - 1,
            })
        })
    }

    fn reserve_ids(&self, marks: &IdMarks) -> Result<()> {
        self.write(|state| {
            let given = IdMarks {
                sessions: (state.sessions.next_id - 1).max(marks.sessions),
                driver_metrics: (state.metrics.next_id - 1).max(marks.driver_metrics),
                laps: (state.laps.next_id - 1).max(marks.laps),
                predictions: (state.predictions.next_id - 1).max(marks.predictions),
                simulations: (state.simulations.next_id - 1).max(marks.simulations),
            };
            // Written first, so the marks hold after a reopen or not at all.
            let mut meta = state.meta.clone();
            for (file, id) in [
                (Session::FILE, given.sessions),
                (DriverMetrics::FILE, given.driver_metrics),
                (Lap::FILE, given.laps),
                (Prediction::FILE, given.predictions),
                (Simulation::FILE, given.simulations),
            ] {
                let entry = meta.max_ids.entry(file.to_owned()).or_insert(0);
                *entry = (*entry).max(id);
            }
            meta.store(&state.io, &self.dir, state.sync())?;
            state.meta = meta;
            state.sessions.next_id = given.sessions + 1;
            state.metrics.next_id = given.driver_metrics + 1;
            state.laps.next_id = given.laps + 1;
            state.predictions.next_id = given.predictions + 1;
            state.simulations.next_id = given.simulations + 1;
            Ok(())
        })
    }

    fn close(&self) -> Result<()> {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = guard.take().ok_or(Error::Closed)?;
        // Make everything durable before letting go, whatever the durability asked for.
        state.sessions.file.sync()?;
        state.metrics.file.sync()?;
        state.laps.file.sync()?;
        state.predictions.file.sync()?;
        state.simulations.file.sync()?;
        Ok(())
    }

    fn repairs(&self) -> Vec<Repair> {
        self.repairs.clone()
    }
}

/// What reading a JSON directory without changing anything found: see [`crate::check`].
pub(crate) struct Inspection {
    /// Damage and interrupted writes, each marked repairable or not.
    pub problems: Vec<crate::check::Problem>,
    /// Who holds the directory's lock, if another process does.
    pub in_use_by: Option<String>,
    /// Every collection's readable records (a torn tail left out), when no file is damaged.
    pub records: Option<Vec<Records>>,
}

/// Reads a JSON directory as opening it would, but repairs nothing and takes no lock.
pub(crate) fn inspect(dir: &Path) -> Result<Inspection> {
    use crate::check::Problem;
    if !dir.is_dir() {
        return Err(Error::io(
            "checking",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no store directory here"),
        ));
    }
    let mut problems = Vec::new();
    let in_use_by = lock::holder(dir);
    let journal = std::fs::read(dir.join(journal::JOURNAL_FILE)).unwrap_or_default();
    if let Ok(intent) = serde_json::from_slice::<Intent>(&journal) {
        let what = match intent {
            Intent::Append { file, start, .. } => format!("a batch appended to {file} at byte {start}"),
            Intent::DeleteSession { session_id } => format!("the delete of session {session_id}"),
        };
        problems.push(Problem {
            location: journal::JOURNAL_FILE.to_owned(),
            message: format!("{what} was interrupted; opening the store finishes or undoes it"),
            repairable: true,
        });
    }
    fn read<T: Record>(dir: &Path, problems: &mut Vec<crate::check::Problem>) -> Option<Vec<T>> {
        let path = dir.join(T::FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(crate::check::Problem {
                    location: T::FILE.to_owned(),
                    message: "the file is missing; opening the store creates it empty".into(),
                    repairable: true,
                });
                return Some(Vec::new());
            }
            Err(e) => {
                problems.push(crate::check::Problem {
                    location: T::FILE.to_owned(),
                    message: format!("cannot be read: {e}"),
                    repairable: false,
                });
                return None;
            }
        };
        match scan::<T>(&path, &bytes) {
            Ok(scanned) => {
                if let Some(torn) = scanned.torn {
                    problems.push(crate::check::Problem {
                        location: format!("{} at byte {}", T::FILE, torn.offset),
                        message: format!(
                            "a torn tail of {} bytes (an interrupted save); repairing cuts it and closes the array",
                            torn.removed_bytes
                        ),
                        repairable: true,
                    });
                }
                Some(scanned.records)
            }
            Err(Error::CorruptFile {
                offset,
                line,
                column,
                message,
                ..
            }) => {
                problems.push(crate::check::Problem {
                    location: format!("{} at byte {offset} (line {line}, column {column})", T::FILE),
                    message: format!(
                        "{message}; not repairable without losing records: restore it from a backup"
                    ),
                    repairable: false,
                });
                None
            }
            Err(other) => {
                problems.push(crate::check::Problem {
                    location: T::FILE.to_owned(),
                    message: other.to_string(),
                    repairable: false,
                });
                None
            }
        }
    }
    let sessions = read::<Session>(dir, &mut problems);
    let metrics = read::<DriverMetrics>(dir, &mut problems);
    let laps = read::<Lap>(dir, &mut problems);
    let predictions = read::<Prediction>(dir, &mut problems);
    let simulations = read::<Simulation>(dir, &mut problems);
    let records = match (sessions, metrics, laps, predictions, simulations) {
        (Some(s), Some(m), Some(l), Some(p), Some(r)) => Some(vec![
            Records::Sessions(s),
            Records::DriverMetrics(m),
            Records::Laps(l),
            Records::Predictions(p),
            Records::Simulations(r),
        ]),
        _ => None,
    };
    Ok(Inspection {
        problems,
        in_use_by,
        records,
    })
}
