//! One writer process per directory, enforced with an advisory lock on `racestore.lock`.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a store directory.
pub(super) const LOCK_FILE: &str = "racestore.lock";

/// Holds the directory's lock until dropped (the operating system releases it if the process dies).
#[derive(Debug)]
pub(super) struct DirLock {
    file: File,
}

impl Drop for DirLock {
    /// Unlocks explicitly rather than only closing: a child process forked by another thread
    /// at that moment shares the open file until it runs its program, and would otherwise keep
    /// the directory locked for that instant.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl DirLock {
    /// Takes the lock on `dir`, or fails with [`Error::Locked`] naming the holder.
    ///
    /// The lock is per open store, not per process: a second `open` of the same directory in the
    /// same process is refused too, as two stores writing one directory would interleave.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let this_process = format!("process {} ", std::process::id());
                let holder = if holder.is_empty() {
                    "another process".to_owned()
                } else if holder.starts_with(&this_process) {
                    format!("{holder}, another open store in this same process")
                } else {
                    holder.to_owned()
                };
                return Err(Error::Locked {
                    path: dir.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("locking", &path, e)),
        }
        let program = std::env::args()
            .next()
            .map(PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let holder = format!(
            "process {} ({}) since {}\n",
            std::process::id(),
            program.as_deref().unwrap_or("unknown program"),
            crate::model::now_timestamp()
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(|e| Error::io("writing", &path, e))?;
        Ok(DirLock { file })
    }
}

impl DirLock {
    /// For a read-only open: a shared lock on `dir`'s lock file while the files are read, so
    /// that no writer starts meanwhile; nothing is created or written. `None` when there is no
    /// lock file (a store the original wrote, or one on a read-only filesystem never opened
    /// for writing there). A store another process holds for writing is [`Error::Locked`].
    pub(super) fn shared(dir: &Path) -> Result<Option<DirLock>> {
        let path = dir.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("opening", &path, e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(DirLock { file })),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = (&file).read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    text => text.to_owned(),
                };
                Err(Error::Locked {
                    path: dir.to_owned(),
                    holder: format!(
                        "{holder} (a read-only open beside a process writing the store is not supported yet)"
                    ),
                })
            }
            // A filesystem without locks: nothing to wait for.
            Err(TryLockError::Error(_)) => Ok(None),
        }
    }
}

/// Who holds `dir`'s lock, if anyone does, found without creating, writing or locking
/// anything (a probe that took the lock, even briefly, could make a writer opening the store at
/// that moment fail).
///
/// Linux lists every `flock` in `/proc/locks`; elsewhere this answers `None`.
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
    let held = locks
        .lines()
        .any(|line| line.contains("FLOCK") && line.split_whitespace().any(|field| field == wanted));
    if !held {
        return None;
    }
    let mut holder = String::new();
    let _ = File::open(&path).and_then(|mut f| f.read_to_string(&mut holder));
    Some(holder.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or(Some("another process".into()))
}
