//! The in-memory index of a data file, kept compact so that it costs little to build and to
//! hold: ids and sessions as runs (a session's laps are saved together, ids one after the
//! other), and where each record sits as packed lengths from `racestore.index`, worked out a
//! few at a time when asked, followed by the spans of records indexed since.

use std::ops::Range;
use std::sync::Arc;

use super::array_file::Span;
use crate::model::Id;

/// How many packed records each stored offset starts: finding one record's span walks at most
/// this many lengths.
pub(super) const BLOCK: usize = 64;

/// A column of values stored as runs: each run a first value and how many follow it, each
/// `step` above the one before (1 for ids, 0 for session ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Runs {
    /// The index of each run's first value.
    starts: Vec<usize>,
    /// Each run's first value.
    firsts: Vec<Id>,
    len: usize,
    step: Id,
}

impl Runs {
    /// An empty column of ascending consecutive-friendly ids.
    pub(super) fn ids() -> Runs {
        Runs::new(1)
    }

    /// An empty column of session ids (equal neighbours make a run).
    pub(super) fn sessions() -> Runs {
        Runs::new(0)
    }

    fn new(step: Id) -> Runs {
        Runs {
            starts: Vec::new(),
            firsts: Vec::new(),
            len: 0,
            step,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether the values ascend (ids), rather than repeat (sessions).
    pub(super) fn ascending(&self) -> bool {
        self.step != 0
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `value`, extending the last run when it follows on.
    pub(super) fn push(&mut self, value: Id) {
        if let (Some(first), Some(start)) = (self.firsts.last(), self.starts.last()) {
            if first.wrapping_add(self.step.wrapping_mul((self.len - start) as Id)) == value {
                self.len += 1;
                return;
            }
        }
        self.starts.push(self.len);
        self.firsts.push(value);
        self.len += 1;
    }

    /// Appends a run of `count` values from `first`.
    pub(super) fn push_run(&mut self, first: Id, count: usize) {
        if count == 0 {
            return;
        }
        self.push(first);
        if self.len == self.starts.last().copied().unwrap_or(0) + 1 {
            // A run of its own: the rest follow on by construction.
            self.len += count - 1;
        } else {
            for k in 1..count {
                self.push(first.wrapping_add(self.step.wrapping_mul(k as Id)));
            }
        }
    }

    pub(super) fn extend(&mut self, values: impl IntoIterator<Item = Id>) {
        for value in values {
            self.push(value);
        }
    }

    fn run_end(&self, run: usize) -> usize {
        self.starts.get(run + 1).copied().unwrap_or(self.len)
    }

    /// The value at `index` (which must be below [`Runs::len`]).
    pub(super) fn get(&self, index: usize) -> Id {
        assert!(index < self.len, "index {index} past {}", self.len);
        let run = self.starts.partition_point(|start| *start <= index) - 1;
        self.firsts[run].wrapping_add(self.step.wrapping_mul((index - self.starts[run]) as Id))
    }

    pub(super) fn last(&self) -> Option<Id> {
        (self.len > 0).then(|| self.get(self.len - 1))
    }

    /// Keeps the first `len` values.
    pub(super) fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let runs = self.starts.partition_point(|start| *start < len);
        self.starts.truncate(runs);
        self.firsts.truncate(runs);
        self.len = len;
    }

    /// Each run: its first value, its first index and how many values it holds.
    pub(super) fn runs(&self) -> impl Iterator<Item = (Id, usize, usize)> + '_ {
        (0..self.starts.len()).map(|run| {
            (
                self.firsts[run],
                self.starts[run],
                self.run_end(run) - self.starts[run],
            )
        })
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Id> + '_ {
        let step = self.step;
        self.runs().flat_map(move |(first, _, count)| {
            (0..count).map(move |k| first.wrapping_add(step.wrapping_mul(k as Id)))
        })
    }

    /// Where `value` is, in a column of ascending ids.
    pub(super) fn position(&self, value: Id) -> Option<usize> {
        debug_assert_eq!(self.step, 1, "only ids ascend");
        let run = self
            .firsts
            .partition_point(|first| *first <= value)
            .checked_sub(1)?;
        let offset = usize::try_from(value - self.firsts[run]).ok()?;
        let start = self.starts[run];
        (offset < self.run_end(run) - start).then_some(start + offset)
    }

    /// How many values are at most `value`, in a column of ascending ids.
    pub(super) fn count_at_most(&self, value: Id) -> usize {
        debug_assert_eq!(self.step, 1, "only ids ascend");
        let Some(run) = self
            .firsts
            .partition_point(|first| *first <= value)
            .checked_sub(1)
        else {
            return 0;
        };
        let start = self.starts[run];
        let in_run = self.run_end(run) - start;
        let upto = usize::try_from(value - self.firsts[run])
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        start + upto.min(in_run)
    }

    /// The values `keep` flags.
    pub(super) fn keep_flagged(&self, keep: &[bool]) -> Runs {
        let mut kept = Runs::new(self.step);
        kept.extend(
            self.iter()
                .zip(keep)
                .filter(|(_, keep)| **keep)
                .map(|(value, _)| value),
        );
        kept
    }
}

/// Record spans read from `racestore.index`: per record the gap before it (one byte) and its
/// length (`width` bytes, little-endian), and the offset of every [`BLOCK`]th record, all kept
/// as the cache's bytes (shared, not copied).
#[derive(Debug, Clone)]
pub(super) struct Packed {
    pub bytes: Arc<Vec<u8>>,
    pub gaps: Range<usize>,
    pub lens: Range<usize>,
    pub width: usize,
    pub block_offsets: Range<usize>,
    pub count: usize,
}

impl Packed {
    fn gap(&self, index: usize) -> u64 {
        u64::from(self.bytes[self.gaps.start + index])
    }

    fn len_of(&self, index: usize) -> u64 {
        let at = self.lens.start + index * self.width;
        let mut full = [0u8; 8];
        full[..self.width].copy_from_slice(&self.bytes[at..at + self.width]);
        u64::from_le_bytes(full)
    }

    fn block_offset(&self, block: usize) -> u64 {
        let at = self.block_offsets.start + block * 8;
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// The span of the record at `index` (below `count`).
    fn get(&self, index: usize) -> Span {
        let block = index / BLOCK;
        let mut offset = self.block_offset(block);
        for j in block * BLOCK..index {
            offset += self.len_of(j) + self.gap(j + 1);
        }
        Span {
            offset,
            len: self.len_of(index),
        }
    }

    /// Checks what can be checked cheaply: the stored offsets ascend, each block's records fit
    /// before the next block's first, and the last record ends by `tail`.
    pub(super) fn consistent(&self, tail: u64) -> bool {
        let blocks = self.count.div_ceil(BLOCK);
        if self.block_offsets.len() != blocks * 8
            || self.gaps.len() != self.count
            || self.lens.len() != self.count * self.width
        {
            return false;
        }
        let ascending = (1..blocks).all(|b| self.block_offset(b - 1) < self.block_offset(b));
        let last_end = (self.count > 0).then(|| {
            let last = self.get(self.count - 1);
            last.offset + last.len
        });
        ascending && last_end.is_none_or(|end| end <= tail)
    }
}

/// Where each record of a file sits: packed ones from `racestore.index`, then those indexed
/// since, as spans.
#[derive(Debug, Clone)]
pub(super) struct Spans {
    packed: Option<Packed>,
    rest: Vec<Span>,
}

impl From<Vec<Span>> for Spans {
    fn from(rest: Vec<Span>) -> Spans {
        Spans { packed: None, rest }
    }
}

impl Spans {
    pub(super) fn packed(packed: Packed) -> Spans {
        Spans {
            packed: Some(packed),
            rest: Vec::new(),
        }
    }

    fn packed_count(&self) -> usize {
        self.packed.as_ref().map_or(0, |p| p.count)
    }

    pub(super) fn len(&self) -> usize {
        self.packed_count() + self.rest.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The span of the record at `index` (below [`Spans::len`]).
    pub(super) fn get(&self, index: usize) -> Span {
        match &self.packed {
            Some(packed) if index < packed.count => packed.get(index),
            _ => self.rest[index - self.packed_count()],
        }
    }

    /// The spans at `indices` (ascending): neighbours worked out one from the other.
    pub(super) fn at(&self, indices: &[usize]) -> Vec<Span> {
        let mut spans: Vec<Span> = Vec::with_capacity(indices.len());
        let mut previous: Option<usize> = None;
        for index in indices {
            let span = match (&self.packed, previous, spans.last()) {
                (Some(packed), Some(before), Some(last)) if before + 1 == *index && *index < packed.count => {
                    Span {
                        offset: last.offset + last.len + packed.gap(*index),
                        len: packed.len_of(*index),
                    }
                }
                _ => self.get(*index),
            };
            spans.push(span);
            previous = Some(*index);
        }
        spans
    }

    pub(super) fn extend(&mut self, spans: impl IntoIterator<Item = Span>) {
        self.rest.extend(spans);
    }

    /// Keeps the first `len` spans.
    pub(super) fn truncate(&mut self, len: usize) {
        let packed = self.packed_count();
        if len >= packed {
            self.rest.truncate(len - packed);
        } else {
            self.rest.clear();
            if let Some(p) = &mut self.packed {
                p.count = len;
            }
        }
    }

    /// Every span, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = Span> + '_ {
        let packed = self.packed_count();
        let mut last: Option<Span> = None;
        (0..packed)
            .map(move |index| {
                let p = self.packed.as_ref().expect("packed spans");
                let span = match last {
                    Some(before) if index % BLOCK != 0 => Span {
                        offset: before.offset + before.len + p.gap(index),
                        len: p.len_of(index),
                    },
                    _ => p.get(index),
                };
                last = Some(span);
                span
            })
            .chain(self.rest.iter().copied())
    }

    /// The spans `keep` flags, all unpacked.
    pub(super) fn keep_flagged(&self, keep: &[bool]) -> Spans {
        Spans::from(
            self.iter()
                .zip(keep)
                .filter(|(_, keep)| **keep)
                .map(|(span, _)| span)
                .collect::<Vec<_>>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn runs_answer_as_the_plain_column_would(
            steps in proptest::collection::vec((0i64..3, 1usize..5), 0..40),
            cut in 0usize..200,
            probe in 0i64..300,
        ) {
            let mut plain = Vec::new();
            let mut value = 1;
            for (jump, count) in steps {
                value += jump;
                for _ in 0..count {
                    plain.push(value);
                    value += 1;
                }
            }
            let mut ids = Runs::ids();
            ids.extend(plain.iter().copied());
            prop_assert_eq!(ids.len(), plain.len());
            prop_assert_eq!(ids.iter().collect::<Vec<_>>(), plain.clone());
            for (index, value) in plain.iter().enumerate() {
                prop_assert_eq!(ids.get(index), *value);
            }
            prop_assert_eq!(ids.position(probe), plain.binary_search(&probe).ok());
            prop_assert_eq!(ids.count_at_most(probe), plain.partition_point(|v| *v <= probe));
            let keep: Vec<bool> = (0..plain.len()).map(|i| i % 3 != 1).collect();
            let kept: Vec<Id> = plain.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v).collect();
            prop_assert_eq!(ids.keep_flagged(&keep).iter().collect::<Vec<_>>(), kept);
            ids.truncate(cut);
            plain.truncate(cut);
            prop_assert_eq!(ids.iter().collect::<Vec<_>>(), plain.clone());
            prop_assert_eq!(ids.last(), plain.last().copied());
            let mut sessions = Runs::sessions();
            for (value, count) in [(3, 2), (3, 1), (5, 4), (2, 1)] {
                sessions.push_run(value, count);
            }
            prop_assert_eq!(sessions.iter().collect::<Vec<_>>(), vec![3, 3, 3, 5, 5, 5, 5, 2]);
            prop_assert_eq!(sessions.runs().count(), 3);
        }
    }

    fn packed_of(spans: &[Span]) -> Packed {
        let mut bytes = Vec::new();
        let mut end = 0;
        let gaps = bytes.len()..bytes.len() + spans.len();
        for span in spans {
            bytes.push(u8::try_from(span.offset - end).unwrap());
            end = span.offset + span.len;
        }
        let lens = bytes.len()..bytes.len() + spans.len() * 4;
        for span in spans {
            bytes.extend_from_slice(&(span.len as u32).to_le_bytes());
        }
        let start = bytes.len();
        for block in spans.chunks(BLOCK) {
            bytes.extend_from_slice(&block[0].offset.to_le_bytes());
        }
        Packed {
            block_offsets: start..bytes.len(),
            bytes: Arc::new(bytes),
            gaps,
            lens,
            width: 4,
            count: spans.len(),
        }
    }

    #[test]
    fn packed_spans_read_back_one_at_a_time_in_runs_and_after_appends_and_cuts() {
        let mut plain = Vec::new();
        let mut at = 4;
        for k in 0..300u64 {
            let len = 200 + (k * 37) % 150;
            plain.push(Span { offset: at, len });
            at += len + if k % 50 == 0 { 9 } else { 4 };
        }
        let packed = packed_of(&plain);
        assert!(packed.consistent(at));
        assert!(
            !packed.consistent(plain[299].offset),
            "the last record must end by the tail"
        );
        let mut spans = Spans::packed(packed);
        assert_eq!(spans.iter().collect::<Vec<_>>(), plain);
        for index in [0, 1, 63, 64, 65, 299] {
            assert_eq!(spans.get(index), plain[index]);
        }
        let indices = [3, 4, 5, 63, 64, 65, 200, 299];
        assert_eq!(spans.at(&indices), indices.map(|i| plain[i]).to_vec());
        let extra = Span { offset: at, len: 10 };
        spans.extend([extra]);
        plain.push(extra);
        assert_eq!(spans.get(300), extra);
        assert_eq!(spans.at(&[299, 300]), vec![plain[299], extra]);
        spans.truncate(100);
        plain.truncate(100);
        assert_eq!(spans.iter().collect::<Vec<_>>(), plain);
        let keep: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let kept: Vec<Span> = plain.iter().step_by(2).copied().collect();
        assert_eq!(spans.keep_flagged(&keep).iter().collect::<Vec<_>>(), kept);
    }
}
