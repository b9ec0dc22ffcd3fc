//! How the processes that share one directory take turns and learn of each other's saves.
//!
//! Two small files do it (see `docs/storage-format.md`):
//!
//! - `racestore.lock`, locked with `flock`: exclusively for each write (a save, a batch, a
//!   delete, a repair), shared while a read-only store catches up. The operating system lets
//!   go of it when a process dies, so a killed writer never leaves the store locked.
//! - `racestore.changes`, 16 bytes: a change counter and a rewrite counter. A writer makes the change counter odd before it touches a data file and
//!   even again when it is done, so an odd counter seen under the lock means a writer died
//!   part-way. The rewrite counter goes up whenever a file is replaced or cut rather than
//!   appended to (a delete, a repair), which tells the others to read that store afresh
//!   rather than only the records appended since they last looked.
//!
//! A read costs one 16-byte read of the counters when nobody else wrote. A save costs six
//! system calls, each needed:
//!
//! 1. `flock` to take the lock: writers take turns.
//! 2. `pread` of the counters: did others write since this process last looked?
//! 3. `pwrite` of the odd counter, before the data file is touched: a process that finds it
//!    odd knows a writer died part-way, and reads the files afresh instead of appending after
//!    a torn tail it does not know of.
//! 4. `pwrite` of the record at the data file's tail (`array_file.rs`).
//! 5. `pwrite` of the even counter: the save is whole, and the others see a change to catch up with.
//! 6. `flock` to let go.
//!
//! The counters are not read again before the last write: under the exclusive lock nobody
//! else can have changed them.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// The lock file's name inside a store directory.
pub(super) const LOCK_FILE: &str = "racestore.lock";
/// The shared counters' file name inside a store directory.
pub(super) const CHANGES_FILE: &str = "racestore.changes";

/// The two shared counters, as one process last saw them or as they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stamp {
    /// Goes up by two with every write; odd while one is in progress.
    pub changes: u64,
    /// Goes up whenever a data file is replaced or cut instead of appended to.
    pub rewrites: u64,
}

impl Stamp {
    /// What no store ever shows: the stamp of a view to be read afresh.
    const STALE: Stamp = Stamp {
        changes: u64::MAX,
        rewrites: u64::MAX,
    };

    /// Whether a writer started and never finished: it died holding the lock.
    pub(super) fn interrupted(self) -> bool {
        self.changes % 2 == 1
    }
}

/// What catching up with `now` after `seen` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Staleness {
    /// Nothing changed.
    Current,
    /// Records were appended: read the new tails.
    Appended,
    /// A file was replaced or cut, or a writer died part-way: read the store afresh.
    Rewritten,
}

impl Stamp {
    pub(super) fn staleness(self, now: Stamp) -> Staleness {
        if now == self {
            Staleness::Current
        } else if now.rewrites != self.rewrites || now.interrupted() || self.interrupted() {
            Staleness::Rewritten
        } else {
            Staleness::Appended
        }
    }
}

/// The counters in `racestore.changes`: two little-endian `u64`s.
#[derive(Debug)]
struct Counters {
    path: PathBuf,
    file: File,
}

impl Counters {
    const LEN: u64 = 16;

    fn open(dir: &Path, writable: bool) -> Result<Option<Counters>> {
        let path = dir.join(CHANGES_FILE);
        let file = if writable {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io("opening", &path, e))?;
            let len = file.metadata().map_err(|e| Error::io("reading", &path, e))?.len();
            if len < Self::LEN {
                // Only ever grown to its length, never cut: a second process doing the same
                // at once changes nothing.
                file.set_len(Self::LEN)
                    .map_err(|e| Error::io("writing", &path, e))?;
            }
            file
        } else {
            match File::open(&path) {
                Ok(file) => file,
                // A store no racestore writer has opened yet (one the original wrote, or on a
                // read-only filesystem): nobody to hear from until one does.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("opening", &path, e)),
            }
        };
        Ok(Some(Counters { path, file }))
    }

    fn load(&self) -> Result<Stamp> {
        let mut bytes = [0u8; 16];
        self.file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("reading", &self.path, e))?;
        let (changes, rewrites) = bytes.split_at(8);
        Ok(Stamp {
            changes: u64::from_le_bytes(changes.try_into().expect("8 bytes")),
            rewrites: u64::from_le_bytes(rewrites.try_into().expect("8 bytes")),
        })
    }

    fn store(&self, stamp: Stamp) -> Result<()> {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&stamp.changes.to_le_bytes());
        bytes[8..].copy_from_slice(&stamp.rewrites.to_le_bytes());
        self.file
            .write_all_at(&bytes, 0)
            .map_err(|e| Error::io("writing", &self.path, e))
    }
}

/// This process's part in sharing a directory with others.
#[derive(Debug)]
pub(super) struct Coordination {
    dir: PathBuf,
    writable: bool,
    /// `None` for a read-only store where no lock file exists (nobody wrote it with racestore).
    lock_file: Option<File>,
    counters: Mutex<Option<Counters>>,
    turn: Mutex<Turn>,
}

/// Who in this process holds the directory's lock, and what it has seen.
#[derive(Debug, Default)]
struct Turn {
    /// Writes in flight that hold the exclusive lock (group-committed saves wait holding it).
    writers: usize,
    /// Whether a write in flight replaced or cut a file.
    rewrote: bool,
    /// Whether a write in flight failed in a way that leaves this process's view in doubt.
    stale: bool,
    /// The counters as this process's view of the store last matched them.
    seen: Stamp,
}

/// The exclusive lock held for one write; [`Coordination::finish_write`] gives it back.
#[derive(Debug)]
#[must_use = "a write turn must be finished"]
pub(super) struct WriteTurn {
    /// What this process must catch up with before writing (others wrote since it last looked).
    pub staleness: Staleness,
}

impl Coordination {
    /// For a store opened for writing: creates the lock and counter files if missing.
    pub(super) fn for_writing(dir: &Path) -> Result<Coordination> {
        let path = dir.join(LOCK_FILE);
        let lock_file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ReadOnlyFilesystem => Error::io(
                    "opening for writing",
                    dir,
                    std::io::Error::new(
                        e.kind(),
                        "the store is on a read-only filesystem, so nothing can be saved or deleted there; reading works (commands that only read open it read-only, or add ?mode=ro to its URL)",
                    ),
                ),
                _ => Error::io("opening", &path, e),
            })?;
        Ok(Coordination {
            dir: dir.to_owned(),
            writable: true,
            lock_file: Some(lock_file),
            counters: Mutex::new(Counters::open(dir, true)?),
            turn: Mutex::default(),
        })
    }

    /// For a read-only store: creates nothing, and works without the files on a store no
    /// racestore writer has opened (nobody is writing it then).
    pub(super) fn for_reading(dir: &Path) -> Result<Coordination> {
        let path = dir.join(LOCK_FILE);
        let lock_file = match File::open(&path) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("opening", &path, e)),
        };
        Ok(Coordination {
            dir: dir.to_owned(),
            writable: false,
            lock_file,
            counters: Mutex::new(Counters::open(dir, false)?),
            turn: Mutex::default(),
        })
    }

    fn turn(&self) -> MutexGuard<'_, Turn> {
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters as they stand (zero when there are none).
    fn stamp(&self) -> Result<Stamp> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if counters.is_none() && !self.writable {
            // A writer may have come since: its counters are how this store hears of it.
            *counters = Counters::open(&self.dir, false).ok().flatten();
        }
        counters.as_ref().map_or(Ok(Stamp::default()), Counters::load)
    }

    fn store(&self, stamp: Stamp) -> Result<()> {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.as_ref().map_or(Ok(()), |c| c.store(stamp))
    }

    /// Whether another process changed the store since this one last looked; cheap enough for
    /// every read (one small read of the counters). False while this process holds the lock.
    /// A counter that cannot be read counts as a change, so the catch-up reports the error.
    pub(super) fn others_wrote(&self) -> bool {
        let turn = self.turn();
        turn.writers == 0 && self.stamp().map_or(true, |now| now != turn.seen)
    }

    fn lock(&self, exclusive: bool) -> Result<()> {
        let Some(file) = &self.lock_file else {
            return Ok(());
        };
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| Error::io("locking", self.dir.join(LOCK_FILE), e))
    }

    fn unlock(&self) {
        if let Some(file) = &self.lock_file {
            let _ = file.unlock();
        }
    }

    /// Runs `f` holding the directory's lock (exclusive when this store writes), then lets go.
    fn locked<R>(&self, exclusive: bool, f: impl FnOnce() -> Result<R>) -> Result<R> {
        self.lock(exclusive)?;
        let result = f();
        self.unlock();
        result
    }

    /// Takes the directory's lock for a write, waiting while another process writes, and says
    /// what must be caught up with first. Every turn must end with [`Coordination::finish_write`].
    pub(super) fn begin_write(&self) -> Result<WriteTurn> {
        let mut turn = self.turn();
        if turn.writers > 0 {
            // This process holds the lock already (saves waiting on a group commit).
            turn.writers += 1;
            return Ok(WriteTurn {
                staleness: Staleness::Current,
            });
        }
        self.lock(true)?;
        let marked = self.stamp().and_then(|now| {
            // Odd from here until the write is done: a process that finds it odd under the
            // lock knows this one died part-way.
            self.store(Stamp {
                changes: now.changes | 1,
                rewrites: now.rewrites,
            })?;
            Ok(now)
        });
        let now = match marked {
            Ok(now) => now,
            Err(error) => {
                self.unlock();
                return Err(error);
            }
        };
        let staleness = turn.seen.staleness(now);
        turn.writers = 1;
        turn.rewrote = false;
        turn.seen = now;
        Ok(WriteTurn { staleness })
    }

    /// Forgets what this process last saw, so its next catch-up reads the directory afresh.
    pub(super) fn forget_seen(&self) {
        self.turn().seen = Stamp::STALE;
    }

    /// Notes that the write in progress replaced or cut a data file (or the metadata).
    pub(super) fn note_rewrite(&self) {
        self.turn().rewrote = true;
    }

    /// Ends a write turn; the last one in flight lets go of the lock. `view_current` false
    /// says this process's view may not match the files (a write or catch-up failed), so
    /// its next read reads the directory afresh.
    pub(super) fn finish_write(&self, _turn: WriteTurn, view_current: bool) {
        let mut turn = self.turn();
        if !view_current {
            turn.stale = true;
        }
        turn.writers = turn.writers.saturating_sub(1);
        if turn.writers > 0 {
            return;
        }
        // No need to read the counters again: every writer takes the lock exclusively, so
        // they stand as `begin_write` read them (`turn.seen`), made odd since.
        let done = Stamp {
            changes: (turn.seen.changes | 1) + 1,
            rewrites: turn.seen.rewrites + u64::from(turn.rewrote),
        };
        let done = self.store(done).map(|()| done);
        turn.seen = match done {
            Ok(done) if !turn.stale => done,
            // The counter stays odd if it could not be written: the next writer reads the
            // directory afresh, as after a writer that died.
            _ => Stamp::STALE,
        };
        turn.stale = false;
        turn.rewrote = false;
        self.unlock();
    }

    /// Runs `catch_up` holding the lock (shared for a read-only store, which cannot repair;
    /// exclusive otherwise, as catching up may repair what a dead writer left), when others
    /// changed the store since this process last looked. `catch_up` gets how stale this
    /// process's view is and returns whether it replaced or cut a file.
    pub(super) fn catch_up(&self, catch_up: impl FnOnce(Staleness) -> Result<bool>) -> Result<()> {
        let mut turn = self.turn();
        if turn.writers > 0 {
            return Ok(());
        }
        let seen = turn.seen;
        let caught_up = self.locked(self.writable, || {
            let now = self.stamp()?;
            let staleness = seen.staleness(now);
            if staleness == Staleness::Current {
                return Ok(now);
            }
            let rewrote = catch_up(staleness)?;
            if !self.writable || !(rewrote || now.interrupted()) {
                return Ok(now);
            }
            // A repair (or a dead writer's odd counter) is news for the others too.
            let done = Stamp {
                changes: (now.changes | 1) + 1,
                rewrites: now.rewrites + u64::from(rewrote),
            };
            self.store(done)?;
            Ok(done)
        });
        turn.seen = match &caught_up {
            Ok(now) => *now,
            Err(_) => Stamp::STALE,
        };
        caught_up.map(|_| ())
    }

    /// Holds the lock (exclusive for writing, shared otherwise) while a store is opened, so
    /// no writer is half-way through a save while the files are read. `open` returns what it
    /// opened and whether it repaired (replaced or cut) a file.
    pub(super) fn while_opening<R>(&self, open: impl FnOnce() -> Result<(R, bool)>) -> Result<R> {
        let mut turn = self.turn();
        let (value, seen) = self.locked(self.writable, || {
            let now = self.stamp()?;
            let (value, rewrote) = open()?;
            if !self.writable || !(rewrote || now.interrupted()) {
                return Ok((value, now));
            }
            let done = Stamp {
                changes: (now.changes | 1) + 1,
                rewrites: now.rewrites + u64::from(rewrote),
            };
            self.store(done)?;
            Ok((value, done))
        })?;
        turn.seen = seen;
        Ok(value)
    }
}

/// Who holds `dir`'s lock, if anyone does, found without creating, writing or locking
/// anything (a probe that took the lock, even briefly, could make a writer wait).
///
/// Linux lists every `flock` in `/proc/locks` with the process holding it; elsewhere this
/// answers `None`.
pub(super) fn holder(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(LOCK_FILE);
    let metadata = std::fs::metadata(&path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let (dev, inode) = (metadata.dev(), metadata.ino());
    // The kernel prints the device as MAJOR:MINOR in hex (glibc's encoding of st_dev).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let wanted = format!("{major:02x}:{minor:02x}:{inode}");
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let held = line.contains("FLOCK") && fields.contains(&wanted.as_str());
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": the pid precedes the file.
        let at = fields.iter().position(|f| *f == wanted)?;
        held.then(|| fields.get(at.checked_sub(1)?).map(|p| (*p).to_owned()))
            .flatten()
    })?;
    let program = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|bytes| {
            let first = bytes.split(|b| *b == 0).next()?.to_vec();
            let text = String::from_utf8_lossy(&first).into_owned();
            Path::new(&text)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        });
    Some(match program {
        Some(program) => format!("process {pid} ({program})"),
        None => format!("process {pid}"),
    })
}
