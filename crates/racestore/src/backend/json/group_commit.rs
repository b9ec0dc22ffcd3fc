//! Group commit: in power-loss mode, single saves from many threads share one write and one
//! fsync instead of each paying for its own.
//!
//! A save appends its bytes to a queue (in memory, under the store's lock) and then waits,
//! outside the lock, until its bytes are durable. The first waiter becomes the leader: it takes
//! everything queued, writes it with one positioned write, fsyncs once, and wakes every save
//! that write covered. Only one leader writes at a time, so the file never has more than one
//! unsynced write in flight: a power cut can still only tear the tail, never leave a hole.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::fsio::Io;
use crate::error::{Error, Result};

/// The queue of one data file.
#[derive(Debug)]
pub(super) struct GroupCommit {
    file: File,
    path: PathBuf,
    io: Io,
    queue: Mutex<Queue>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// Bytes queued and not yet written, ending with the closing `\n]`.
    pending: Vec<u8>,
    /// Where `pending` goes in the file.
    pending_at: u64,
    /// Number of the last save queued, and of the last one made durable.
    queued: u64,
    durable: u64,
    /// A leader is writing and syncing now.
    flushing: bool,
    /// Set when a group's write or fsync failed: the file's state is unknown from then on.
    failed: Option<String>,
}

/// A queued save's place in line: [`GroupCommit::wait`] returns once it is durable.
#[derive(Debug)]
pub(super) struct Ticket(u64);

impl GroupCommit {
    pub(super) fn new(file: &File, path: PathBuf, io: Io) -> Result<GroupCommit> {
        let file = file.try_clone().map_err(|e| Error::io("opening", &path, e))?;
        Ok(GroupCommit {
            file,
            path,
            io,
            queue: Mutex::default(),
            done: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `bytes` (an encoded append: `,\n  {...}\n]`) to be written at `at`, where the
    /// previous queued append's closing bracket, if any, begins.
    pub(super) fn enqueue(&self, bytes: &[u8], at: u64) -> Result<Ticket> {
        let mut queue = self.lock();
        if let Some(reason) = &queue.failed {
            return Err(Error::Poisoned(reason.clone()));
        }
        if queue.pending.is_empty() {
            queue.pending_at = at;
        } else {
            // The queued bytes end with "\n]"; the new append starts where that "\n]" starts.
            let len = queue.pending.len() - 2;
            debug_assert_eq!(queue.pending_at + len as u64, at);
            queue.pending.truncate(len);
        }
        queue.pending.extend_from_slice(bytes);
        queue.queued += 1;
        Ok(Ticket(queue.queued))
    }

    /// Returns once the save `ticket` stands for is durable (leading a group write if needed).
    pub(super) fn wait(&self, ticket: Ticket) -> Result<()> {
        self.wait_for(ticket.0)
    }

    /// Returns once everything queued so far is durable.
    pub(super) fn flush(&self) -> Result<()> {
        let queued = self.lock().queued;
        self.wait_for(queued)
    }

    fn wait_for(&self, seq: u64) -> Result<()> {
        let mut queue = self.lock();
        loop {
            if queue.durable >= seq {
                return Ok(());
            }
            if let Some(reason) = &queue.failed {
                return Err(Error::Poisoned(reason.clone()));
            }
            if queue.flushing {
                queue = self
                    .done
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            queue.flushing = true;
            let bytes = std::mem::take(&mut queue.pending);
            let (at, upto) = (queue.pending_at, queue.queued);
            drop(queue);
            let written = self
                .io
                .write_at(&self.file, &self.path, &bytes, at)
                .and_then(|()| self.io.sync(&self.file, &self.path));
            queue = self.lock();
            queue.flushing = false;
            match written {
                Ok(()) => queue.durable = upto,
                Err(error) => {
                    queue.failed = Some(error.to_string());
                    self.done.notify_all();
                    return Err(error);
                }
            }
            self.done.notify_all();
        }
    }

    /// How many queued saves are not durable yet (the group being written included).
    pub(super) fn awaiting(&self) -> u64 {
        let queue = self.lock();
        queue.queued - queue.durable
    }

    /// Why this file stopped accepting writes, if a group failed.
    pub(super) fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }
}
