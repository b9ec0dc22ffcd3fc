//! The one place the JSON backend changes files, so a test can make any write, fsync, truncate
//! or rename fail (see [`FaultInjector`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A file operation the JSON backend is about to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp<'a> {
    /// Writing `len` bytes at `offset`.
    Write {
        /// The file.
        path: &'a Path,
        /// Where the bytes go.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// Cutting or extending a file to `len` bytes.
    Truncate {
        /// The file.
        path: &'a Path,
        /// The new length.
        len: u64,
    },
    /// Flushing a file's data to stable storage (`fdatasync`/`fsync`).
    Sync {
        /// The file.
        path: &'a Path,
    },
    /// Flushing a directory, to make a creation or rename in it durable.
    SyncDir {
        /// The directory.
        path: &'a Path,
    },
    /// Renaming `from` over `to`.
    Rename {
        /// The file renamed.
        from: &'a Path,
        /// Its new name.
        to: &'a Path,
    },
    /// Creating (or emptying) a file.
    Create {
        /// The file.
        path: &'a Path,
    },
}

/// What an injected fault does to the operation.
#[derive(Debug)]
pub enum Fault {
    /// The operation does nothing and fails with this error.
    Fail(io::Error),
    /// A write stores only its first `n` bytes, then fails with the error (a torn write).
    ShortWrite(usize, io::Error),
}

/// Decides, before each file operation, whether it fails: the seam fault-injection tests use.
pub trait FaultInjector: std::fmt::Debug + Send + Sync {
    /// Returns a fault to inject into `op`, or `None` to let it run.
    fn inject(&self, op: &FileOp<'_>) -> Option<Fault>;
}

/// File operations, with the injector (if any) consulted first.
#[derive(Debug, Clone, Default)]
pub(super) struct Io {
    injector: Option<Arc<dyn FaultInjector>>,
    /// The first fsync that failed. After one, the kernel may have dropped written data while a
    /// later fsync succeeds, so nothing written since can be trusted to be on disk.
    failed_sync: Arc<Mutex<Option<String>>>,
}

impl Io {
    pub(super) fn new(injector: Option<Arc<dyn FaultInjector>>) -> Io {
        Io {
            injector,
            failed_sync: Arc::default(),
        }
    }

    /// Why the store must stop writing: an fsync that failed, if one did.
    pub(super) fn failed_sync(&self) -> Option<String> {
        self.failed_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn note_sync(&self, result: Result<()>) -> Result<()> {
        if let Err(error) = &result {
            let mut failed = self
                .failed_sync
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            failed.get_or_insert_with(|| error.to_string());
        }
        result
    }

    fn fault(&self, op: FileOp<'_>) -> Option<Fault> {
        #[cfg(feature = "crash-hook")]
        if crash_hook::now() {
            if let FileOp::Write { .. } = op {
                return Some(Fault::ShortWrite(usize::MAX, io::Error::other("crash")));
            }
            std::process::abort();
        }
        self.injector.as_ref().and_then(|i| i.inject(&op))
    }

    fn plain(
        &self,
        op: FileOp<'_>,
        action: &'static str,
        path: &Path,
        run: impl FnOnce() -> io::Result<()>,
    ) -> Result<()> {
        match self.fault(op) {
            Some(Fault::Fail(e) | Fault::ShortWrite(_, e)) => Err(Error::io(action, path, e)),
            None => run().map_err(|e| Error::io(action, path, e)),
        }
    }

    pub(super) fn write_at(&self, file: &File, path: &Path, bytes: &[u8], offset: u64) -> Result<()> {
        let op = FileOp::Write {
            path,
            offset,
            len: bytes.len(),
        };
        match self.fault(op) {
            Some(Fault::Fail(e)) => Err(Error::io("writing", path, e)),
            #[cfg(feature = "crash-hook")]
            Some(Fault::ShortWrite(usize::MAX, _)) => {
                // The crash hook: half the bytes reach the file, then the process dies.
                let _ = file.write_all_at(&bytes[..bytes.len() / 2], offset);
                std::process::abort();
            }
            Some(Fault::ShortWrite(n, e)) => {
                let _ = file.write_all_at(&bytes[..n.min(bytes.len())], offset);
                Err(Error::io("writing", path, e))
            }
            None => file
                .write_all_at(bytes, offset)
                .map_err(|e| Error::io("writing", path, e)),
        }
    }

    pub(super) fn set_len(&self, file: &File, path: &Path, len: u64) -> Result<()> {
        self.plain(FileOp::Truncate { path, len }, "truncating", path, || {
            file.set_len(len)
        })
    }

    pub(super) fn sync(&self, file: &File, path: &Path) -> Result<()> {
        self.note_sync(self.plain(FileOp::Sync { path }, "syncing", path, || file.sync_data()))
    }

    pub(super) fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.note_sync(
            self.plain(FileOp::SyncDir { path: dir }, "syncing directory", dir, || {
                File::open(dir).and_then(|d| d.sync_all())
            }),
        )
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.plain(FileOp::Rename { from, to }, "replacing", to, || {
            std::fs::rename(from, to)
        })
    }

    pub(super) fn create(&self, path: &Path) -> Result<File> {
        if let Some(Fault::Fail(e) | Fault::ShortWrite(_, e)) = self.fault(FileOp::Create { path }) {
            return Err(Error::io("creating", path, e));
        }
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("creating", path, e))
    }

    /// The directory holding `path`, flushed so a creation or rename in it is durable.
    pub(super) fn sync_parent_dir(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        self.sync_dir(dir)
    }

    /// Writes `contents` to `path` through a temporary file and a rename, so readers and crashes
    /// see the old contents or the new, never a part.
    pub(super) fn replace_file(&self, path: &Path, contents: &[u8], sync: bool) -> Result<()> {
        let temp = temp_path(path);
        let result = (|| {
            let file = self.create(&temp)?;
            self.write_at(&file, &temp, contents, 0)?;
            if sync {
                self.sync(&file, &temp)?;
            }
            self.rename(&temp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result?;
        if sync {
            self.sync_parent_dir(path)?;
        }
        Ok(())
    }
}

/// Test only (cargo feature `crash-hook`): dying at the K-th file change, K from the
/// environment variable `RACESTORE_CRASH_AT_FILE_OP`.
#[cfg(feature = "crash-hook")]
mod crash_hook {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// The variable naming K.
    const VARIABLE: &str = "RACESTORE_CRASH_AT_FILE_OP";

    static SEEN: AtomicU64 = AtomicU64::new(0);
    static AT: OnceLock<Option<u64>> = OnceLock::new();

    /// Counts one file change; whether it is the one to die at.
    pub(super) fn now() -> bool {
        let at = *AT.get_or_init(|| std::env::var(VARIABLE).ok().and_then(|v| v.parse().ok()));
        at.is_some_and(|at| SEEN.fetch_add(1, Ordering::SeqCst) + 1 == at)
    }
}

/// The name a backup is written under until it is complete and renamed into place.
pub(super) fn partial_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".racestore-partial");
    path.with_file_name(name)
}

/// The name a file is written under before it is renamed into place.
pub(super) fn temp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".racestore-tmp");
    path.with_file_name(name)
}
