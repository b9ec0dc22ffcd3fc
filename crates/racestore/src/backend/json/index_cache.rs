//! The index kept on disk (`racestore.index`): what opening would otherwise find by scanning
//! every data file, so that a large store opens in milliseconds.
//!
//! A cache, never the truth: deleting it loses nothing (the next writable open scans the files
//! and writes it again), and anything it says is checked against the file before it is used.
//! Each data file's entry names the file it describes (device and inode: a rewritten file is a
//! new one), how long it was, and a checksum of the 4 KiB before its tail (appends write only
//! past the tail). An entry whose file is the same length must also carry its modification time;
//! one whose file grew is used for the part it covers, and the records appended since are
//! scanned as catching up with another process's appends would. A file edited by hand so that
//! none of this shows is still caught when read: every record read is checked against the id
//! and session the index gives it (see `JsonStore::read`). The whole cache carries a CRC-32, so
//! a torn or damaged cache is ignored.
//!
//! Layout: the magic line `racestore index 1\n`, the body's length (`u64`) and CRC-32 (`u32`),
//! then the body: the number of entries (`u32`), and per entry its file name, device, inode,
//! modification time, length, tail, the tail window's CRC-32, the record count, runs of
//! consecutive ids, runs of equal session ids, the width of a length (2, 4 or 8 bytes), per
//! record the gap before it (one byte) and its length, and the offset of every 64th record.
//! All integers little-endian. Opening keeps these bytes as the index (see `index.rs`): a
//! million laps' cost about 3 MB, read in a millisecond or two.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::index::{Packed, Runs, Spans, BLOCK};
use crate::error::{Error, Result};
use crate::model::Id;

/// The cache's file name inside a store directory.
pub(super) const INDEX_FILE: &str = "racestore.index";

const MAGIC: &[u8] = b"racestore index 1\n";

/// How many bytes before a file's tail an entry's checksum covers.
const WINDOW: u64 = 4_096;

/// What the cache holds for one data file.
#[derive(Debug, Clone)]
pub(super) struct FileIndex {
    /// How long the file was: the entry covers its first `len` bytes.
    pub len: u64,
    /// Just past its last record's `}` (where appends write).
    pub tail: u64,
    pub spans: Spans,
    pub ids: Runs,
    /// Empty for the sessions' file, whose records are their own session.
    pub session_ids: Runs,
}

/// What is to be written for one data file: a table's index, borrowed.
#[derive(Debug, Clone, Copy)]
pub(super) struct IndexView<'a> {
    pub len: u64,
    pub tail: u64,
    pub spans: &'a Spans,
    pub ids: &'a Runs,
    pub session_ids: &'a Runs,
}

/// Who a file is and how it stood when its entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    window_crc: u32,
}

/// The cache as read: entries by file name.
#[derive(Debug, Default)]
pub(super) struct IndexCache {
    entries: HashMap<String, (Identity, FileIndex)>,
    /// When `racestore.changes` was last written: racestore writes it after every change to a
    /// data file, so a data file modified later was changed by something else.
    last_change: (i64, i64),
}

impl IndexCache {
    /// Reads the cache in `dir`; an empty one when there is none or it cannot be trusted
    /// (torn, damaged, another version), which only means opening scans the files.
    pub(super) fn load(dir: &Path) -> IndexCache {
        let path = dir.join(INDEX_FILE);
        let Ok(changes) = std::fs::metadata(dir.join(super::lock::CHANGES_FILE)) else {
            // No racestore writer has had the store open: nothing to check an index against.
            return IndexCache::default();
        };
        let last_change = (changes.mtime(), changes.mtime_nsec());
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), "index cache not read: {error}");
                }
                return IndexCache::default();
            }
        };
        let Some(entries) = decode(bytes) else {
            tracing::debug!(path = %path.display(), "index cache ignored: torn, damaged or of another version");
            return IndexCache::default();
        };
        IndexCache { entries, last_change }
    }

    /// The entry for the data file `name`, opened as `file`, if it still describes the start
    /// of that file: the same file (device, inode), unchanged in the 4 KiB before its tail, and
    /// either just as long and not modified since, or longer and modified no later than
    /// racestore last wrote `racestore.changes` (grown by racestore's appends, not by hand).
    pub(super) fn take(&mut self, name: &str, path: &Path, file: &File) -> Option<FileIndex> {
        let (cached, index) = self.entries.remove(name)?;
        let now = match identity(file, index.tail) {
            Ok(now) => now,
            Err(error) => {
                tracing::debug!(path = %path.display(), "index cache entry not checked: {error}");
                return None;
            }
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let same_file = now.dev == cached.dev && now.ino == cached.ino;
        let unchanged_before_tail = now.window_crc == cached.window_crc;
        let untouched_or_grown = if len == index.len {
            (now.mtime, now.mtime_nsec) == (cached.mtime, cached.mtime_nsec)
        } else {
            len > index.len && (now.mtime, now.mtime_nsec) <= self.last_change
        };
        if same_file && unchanged_before_tail && untouched_or_grown {
            Some(index)
        } else {
            tracing::debug!(path = %path.display(), "index cache entry is stale: the file is scanned");
            None
        }
    }
}

/// Writes the cache for `files` (file name, the open file, what is indexed of it) in `dir`,
/// replacing any there: written beside it and renamed over it, so a reader sees the old cache
/// or the new one. Not synced: a cache lost to a power cut is rebuilt.
pub(super) fn store(dir: &Path, files: &[(String, &File, IndexView<'_>)]) -> Result<()> {
    // One buffer, the header filled in last: the cache of a large store is megabytes.
    let header = MAGIC.len() + 12;
    let records: usize = files.iter().map(|(_, _, index)| index.spans.len()).sum();
    let mut bytes = Vec::with_capacity(header + 4 + records * 4 + (4 << 10));
    bytes.extend_from_slice(MAGIC);
    bytes.resize(header + 4, 0);
    let mut entries = 0u32;
    for (name, file, index) in files {
        let identity = identity(file, index.tail).map_err(|e| Error::io("reading", dir.join(name), e))?;
        let start = bytes.len();
        // A file laid out unlike racestore's and the original's (gaps of 256 bytes or more
        // between records) has no entry: it is scanned.
        if encode(&mut bytes, name, identity, *index) {
            entries += 1;
        } else {
            bytes.truncate(start);
        }
    }
    bytes[header..header + 4].copy_from_slice(&entries.to_le_bytes());
    let body_len = (bytes.len() - header) as u64;
    let crc = crc32fast::hash(&bytes[header..]);
    bytes[MAGIC.len()..MAGIC.len() + 8].copy_from_slice(&body_len.to_le_bytes());
    bytes[MAGIC.len() + 8..header].copy_from_slice(&crc.to_le_bytes());
    let path = dir.join(INDEX_FILE);
    // Several processes, and stores within one, may write it at once: each its own temporary file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{INDEX_FILE}.{}-{write}.tmp", std::process::id()));
    let written = std::fs::write(&temp, &bytes).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io("writing", &path, error));
    }
    Ok(())
}

/// Removes the temporary files of cache writes whose process is gone (killed between writing
/// and renaming): each is named after its process.
pub(super) fn remove_abandoned(dir: &Path) {
    let writer = |name: &str| {
        let rest = name
            .strip_prefix(INDEX_FILE)?
            .strip_prefix('.')?
            .strip_suffix(".tmp")?;
        rest.split('-').next()?.parse().ok()
    };
    crate::leftovers::remove_files_of_gone_processes(dir, writer);
}

/// Removes the cache (when it described a file wrongly); a missing one is fine.
pub(super) fn remove(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(INDEX_FILE));
}

fn identity(file: &File, tail: u64) -> std::io::Result<Identity> {
    let meta = file.metadata()?;
    let start = tail.saturating_sub(WINDOW);
    let mut window = vec![0; (tail - start) as usize];
    file.read_exact_at(&mut window, start)?;
    Ok(Identity {
        dev: meta.dev(),
        ino: meta.ino(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        window_crc: crc32fast::hash(&window),
    })
}

fn put(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_runs(out: &mut Vec<u8>, runs: &Runs) {
    put(out, runs.runs().count() as u64);
    for (first, _, count) in runs.runs() {
        put(out, first as u64);
        put(out, count as u64);
    }
}

/// Encodes one file's entry into `out`; false when its layout cannot be (a gap of 256 bytes or
/// more between records).
fn encode(out: &mut Vec<u8>, name: &str, identity: Identity, index: IndexView<'_>) -> bool {
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    put(out, identity.dev);
    put(out, identity.ino);
    put(out, identity.mtime as u64);
    put(out, identity.mtime_nsec as u64);
    out.extend_from_slice(&identity.window_crc.to_le_bytes());
    put(out, index.len);
    put(out, index.tail);
    let count = index.spans.len();
    put(out, count as u64);
    put_runs(out, index.ids);
    put_runs(out, index.session_ids);
    let longest = index.spans.iter().map(|s| s.len).max().unwrap_or(0);
    let width: u8 = if u16::try_from(longest).is_ok() {
        2
    } else if u32::try_from(longest).is_ok() {
        4
    } else {
        8
    };
    out.push(width);
    let mut end = 0;
    for span in index.spans.iter() {
        match u8::try_from(span.offset - end) {
            Ok(gap) => out.push(gap),
            Err(_) => return false,
        }
        end = span.offset + span.len;
    }
    for span in index.spans.iter() {
        out.extend_from_slice(&span.len.to_le_bytes()[..usize::from(width)]);
    }
    for span in index.spans.iter().step_by(BLOCK) {
        put(out, span.offset);
    }
    true
}

/// Reads a cache's bytes; `None` at the first thing that does not add up.
fn decode(bytes: Vec<u8>) -> Option<HashMap<String, (Identity, FileIndex)>> {
    let bytes = Arc::new(bytes);
    let mut reader = Reader { bytes: &bytes, at: 0 };
    if reader.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let body_len = usize::try_from(reader.u64()?).ok()?;
    let crc = reader.u32()?;
    let body = &bytes[reader.at..];
    if body.len() != body_len || crc32fast::hash(body) != crc {
        return None;
    }
    let count = reader.u32()?;
    let mut entries = HashMap::new();
    for _ in 0..count {
        let name_len = usize::from(u16::from_le_bytes(reader.take(2)?.try_into().ok()?));
        let name = String::from_utf8(reader.take(name_len)?.to_vec()).ok()?;
        let identity = Identity {
            dev: reader.u64()?,
            ino: reader.u64()?,
            mtime: reader.u64()? as i64,
            mtime_nsec: reader.u64()? as i64,
            window_crc: reader.u32()?,
        };
        let len = reader.u64()?;
        let tail = reader.u64()?;
        let records = usize::try_from(reader.u64()?).ok()?;
        // No more records than the file has bytes: a damaged count cannot ask for the moon.
        if records as u64 > len || tail > len {
            return None;
        }
        let ids = reader.runs(Runs::ids(), records)?;
        let session_ids = reader.runs(Runs::sessions(), records)?;
        if ids.len() != records || !(session_ids.is_empty() || session_ids.len() == records) {
            return None;
        }
        let width = usize::from(*reader.take(1)?.first()?);
        if ![2, 4, 8].contains(&width) {
            return None;
        }
        let gaps = reader.skip(records)?;
        let lens = reader.skip(records.checked_mul(width)?)?;
        let block_offsets = reader.skip(records.div_ceil(BLOCK) * 8)?;
        let packed = Packed {
            bytes: Arc::clone(&bytes),
            gaps,
            lens,
            width,
            block_offsets,
            count: records,
        };
        if !packed.consistent(tail) {
            return None;
        }
        let index = FileIndex {
            len,
            tail,
            spans: Spans::packed(packed),
            ids,
            session_ids,
        };
        entries.insert(name, (identity, index));
    }
    (reader.at == bytes.len()).then_some(entries)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn skip(&mut self, n: usize) -> Option<Range<usize>> {
        let end = self.at.checked_add(n)?;
        if end > self.bytes.len() {
            return None;
        }
        let range = self.at..end;
        self.at = end;
        Some(range)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let range = self.skip(n)?;
        Some(&self.bytes[range])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// Runs of values into `column`; never more than `limit` values, ids ascending.
    fn runs(&mut self, mut column: Runs, limit: usize) -> Option<Runs> {
        let count = self.u64()?;
        let mut last: Option<Id> = None;
        for _ in 0..count {
            let first = self.u64()? as Id;
            let run = usize::try_from(self.u64()?).ok()?;
            if run == 0 || column.len() + run > limit {
                return None;
            }
            if column.ascending() && last.is_some_and(|last| first <= last) {
                return None;
            }
            column.push_run(first, run);
            last = Some(first + run as Id - 1);
        }
        Some(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::json::array_file::Span;

    #[test]
    fn an_entry_comes_back_as_it_was_written_and_any_damage_discards_the_whole_cache() {
        let mut plain = Vec::new();
        let mut at = 4;
        for len in (0..200).map(|k| 250 + k % 7).chain([70_000, 5]) {
            plain.push(Span { offset: at, len });
            at += len + 4;
        }
        let spans = Spans::from(plain.clone());
        let mut ids = Runs::ids();
        ids.extend((1..=150).chain(160..212));
        let mut session_ids = Runs::sessions();
        session_ids.extend((0..202).map(|k| 1 + k / 100));
        let view = IndexView {
            len: at + 10,
            tail: at - 4,
            spans: &spans,
            ids: &ids,
            session_ids: &session_ids,
        };
        let identity = Identity {
            dev: 1,
            ino: 2,
            mtime: 3,
            mtime_nsec: 4,
            window_crc: 5,
        };
        let mut body = 1u32.to_le_bytes().to_vec();
        assert!(encode(&mut body, "lap_data.json", identity, view));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        let entries = decode(bytes.clone()).expect("decodes");
        let (read_identity, index) = &entries["lap_data.json"];
        assert_eq!(*read_identity, identity);
        assert_eq!((index.len, index.tail), (view.len, view.tail));
        assert_eq!(index.spans.iter().collect::<Vec<_>>(), plain);
        assert_eq!(index.ids, ids);
        assert_eq!(index.session_ids, session_ids);
        for at in [0, MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(decode(damaged).is_none(), "a flipped byte at {at} is noticed");
        }
        assert!(
            decode(bytes[..bytes.len() - 1].to_vec()).is_none(),
            "a torn cache is noticed"
        );
    }

    #[test]
    fn a_file_with_a_gap_too_wide_to_pack_gets_no_entry() {
        let spans = Spans::from(vec![Span { offset: 300, len: 10 }]);
        let mut ids = Runs::ids();
        ids.push(1);
        let view = IndexView {
            len: 400,
            tail: 310,
            spans: &spans,
            ids: &ids,
            session_ids: &Runs::sessions(),
        };
        let identity = Identity {
            dev: 0,
            ino: 0,
            mtime: 0,
            mtime_nsec: 0,
            window_crc: 0,
        };
        assert!(!encode(&mut Vec::new(), "race_sessions.json", identity, view));
    }
}
