//! The bounded snapshot: which offsets of which partitions a scan reads.
//!
//! At planning time every partition's watermarks are fixed, so one query
//! sees one consistent cut of the topic. Time bounds from
//! [`super::pushdown`] become offsets here, through the broker's
//! `offsets_for_times` where its answer holds up, and through a binary
//! search over the log where it does not. Each partition's result is a
//! [`PartitionCut`]: what the filters allow, and the part of it read first.
//!
//! What must stay true: a seek never changes a result. The seeks assume
//! that message timestamps are out of order by at most the lateness margin
//! `d`, and every cut is widened so that, under that assumption, no
//! matching message is left out:
//! - a broker answer is checked against the messages either side of it
//!   (librdkafka's mock answers -1 to everything, Tansu answers 0 past the
//!   end), and a wrong answer is replaced by a search, never used; "no
//!   message at or after t" holds only if the last message is before t - d;
//! - the search for a lower bound `t` looks for `t - d` and the search and
//!   broker question for an upper bound `t` use `t + d`, so that disorder
//!   within `d` cannot hide a matching message on the far side;
//! - each cut side is widened by a guard stretch of messages, so that the
//!   scan sees the ordering on both sides of it.
//!
//! The assumption itself is checked where the data is read
//! (`stream` and `cut_check`): when the messages read contradict it, the rest of
//! the partition ([`PartitionCut::rest`]) is read too.

use std::fmt;

use super::config::TimestampLookup;
use super::pushdown::{Bounds, ScanBounds};
use crate::error::Result;

/// A partition's low and high watermarks: its messages are `[low, high)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The first offset still held.
    pub low: i64,
    /// One past the last offset written.
    pub high: i64,
}

/// The offsets `[start, end)` of one partition that one DataFusion
/// partition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct OffsetRange {
    /// The Kafka partition.
    pub partition: i32,
    /// The first offset to read.
    pub start: i64,
    /// One past the last offset to read.
    pub end: i64,
}

impl OffsetRange {
    /// Number of offsets in the range.
    pub fn len(&self) -> u64 {
        u64::try_from(self.end - self.start).unwrap_or(0)
    }

    /// True when the range holds no offset.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Display for OffsetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:[{}..{})", self.partition, self.start, self.end)
    }
}

/// How timestamps can be looked up in one topic's log.
pub(crate) trait LogIndex {
    /// The broker's `offsets_for_times` answer for `partition`: the first
    /// offset whose timestamp is at or after `t_ms`, or a negative number
    /// for none. Not trusted: see [`seek`].
    fn broker_offset_for_time(&self, partition: i32, t_ms: i64) -> Result<i64>;

    /// The broker's answers to several questions `(partition, t_ms)`, in
    /// order: one round trip where the index can ask them together. A
    /// partition may be asked about at several times (one a time bound);
    /// a broker index sends those as separate requests together, as a
    /// request names each partition once.
    fn broker_offsets_for_times(&self, questions: &[(i32, i64)]) -> Result<Vec<i64>> {
        questions
            .iter()
            .map(|&(partition, t_ms)| self.broker_offset_for_time(partition, t_ms))
            .collect()
    }

    /// The first message at or after `offset` and before `end`, as
    /// `(offset, timestamp_ms)`, or `None` when `[offset, end)` holds none.
    fn probe(&self, partition: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>>;

    /// What several [`Look`]s see, in order: one round trip where the index
    /// can fetch the partitions together. A partition may be looked at in
    /// several places (one a time bound); a broker index fetches the second
    /// place through a consumer of its own at the same time, as one
    /// consumer reads each partition from one place.
    /// By default, one [`LogIndex::probe`] per message.
    fn look(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
        looks.iter().map(|l| look_by_probes(self, l)).collect()
    }
}

/// A look at a few consecutive messages of one partition: those at or
/// after `offset` and before `end`, up to and including the first at or
/// after `until` (`until >= offset`), in offset order with none skipped.
/// Checking a broker answer `a` looks at `a - 1` until `a`: the message
/// before the answer, if there is one at `a - 1`, and the first at or after
/// it. (If the log's start has moved to `a` since the watermarks were
/// read, the look sees nothing and the answer is rejected: the search
/// that replaces it is still right.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Look {
    /// The Kafka partition.
    pub partition: i32,
    /// The first offset looked at.
    pub offset: i64,
    /// The look stops at the first message at or after this offset.
    pub until: i64,
    /// One past the last offset looked at.
    pub end: i64,
}

impl Look {
    /// True when a look that has seen `seen` (in offset order) needs no
    /// more messages.
    pub fn is_done(&self, seen: &[(i64, i64)]) -> bool {
        seen.last().is_some_and(|&(offset, _)| offset >= self.until)
    }

    /// The look taken one probe at a time: `first_from(from)` is the first
    /// message at or after `from` and before `end` (a probe's answer). An
    /// error from it ends the walk.
    pub fn walk<E>(
        &self,
        mut first_from: impl FnMut(i64) -> std::result::Result<Option<(i64, i64)>, E>,
    ) -> std::result::Result<Vec<(i64, i64)>, E> {
        let mut seen = Vec::new();
        let mut from = self.offset;
        while !self.is_done(&seen) && from < self.end {
            let Some(found) = first_from(from)? else {
                break;
            };
            seen.push(found);
            from = found.0 + 1;
        }
        Ok(seen)
    }
}

/// A [`Look`] taken one [`LogIndex::probe`] at a time: what
/// [`LogIndex::look`] must return, however it fetches.
pub(crate) fn look_by_probes<I: LogIndex + ?Sized>(index: &I, look: &Look) -> Result<Vec<(i64, i64)>> {
    look.walk(|from| index.probe(look.partition, from, look.end))
}

/// How a scan planned its ranges, for `EXPLAIN`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct SeekReport {
    /// Broker answers that were checked and held.
    pub broker_answers_used: usize,
    /// Broker answers that were wrong, replaced by a search.
    pub broker_answers_rejected: usize,
    /// Searches of the log.
    pub searches: usize,
    /// Looks at the log to check answers and to search: a single message
    /// fetched, or the message before an answer and the one at it.
    pub probes: usize,
}

/// Which way a time bound points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    /// Find `s` such that every offset before `s` has a timestamp before `t`.
    Lower,
    /// Find `e` such that every offset from `e` has a timestamp at or after `t`.
    Upper,
}

/// Turns time bounds into offsets for one scan, counting what it did.
pub(crate) struct Seeker<'a> {
    index: &'a dyn LogIndex,
    disorder_ms: i64,
    mode: TimestampLookup,
    /// Broker answers asked ahead, by `(partition, t_ms)`.
    asked: std::collections::HashMap<(i32, i64), i64>,
    /// Broker answers checked ahead, by `(partition, t_ms)`: the offset
    /// when the answer held, `None` when it was wrong.
    checked: std::collections::HashMap<(i32, i64), Option<i64>>,
    /// What the seeks cost, for `EXPLAIN`.
    pub report: SeekReport,
}

impl<'a> Seeker<'a> {
    /// Seeks in `index`, assuming message timestamps out of order by at most
    /// `disorder_ms`.
    pub fn new(index: &'a dyn LogIndex, disorder_ms: i64, mode: TimestampLookup) -> Self {
        Self {
            index,
            disorder_ms,
            mode,
            asked: std::collections::HashMap::new(),
            checked: std::collections::HashMap::new(),
            report: SeekReport::default(),
        }
    }

    /// The time the broker is asked for, to seek `edge` at `t_ms`: exact for
    /// a lower bound; an upper bound asks past the margin.
    fn broker_time(&self, edge: Edge, t_ms: i64) -> i64 {
        match edge {
            Edge::Lower => t_ms,
            Edge::Upper => t_ms.saturating_add(self.disorder_ms),
        }
    }

    /// Asks the broker, in one call, what the seeks of every `(edge, t_ms)`
    /// in `partitions` will ask it one by one, so that planning costs the
    /// same for 6 partitions or 600, and for one edge or two (a broker
    /// index sends each edge's questions together).
    pub fn ask_ahead(&mut self, partitions: &[i32], edges: &[(Edge, i64)]) -> Result<()> {
        if self.mode == TimestampLookup::Search || partitions.is_empty() {
            return Ok(());
        }
        let mut questions: Vec<(i32, i64)> = Vec::new();
        let mut new = std::collections::HashSet::new();
        for &(edge, t_ms) in edges {
            let broker_t = self.broker_time(edge, t_ms);
            for &p in partitions {
                if !self.asked.contains_key(&(p, broker_t)) && new.insert((p, broker_t)) {
                    questions.push((p, broker_t));
                }
            }
        }
        if questions.is_empty() {
            return Ok(());
        }
        let answers = self.index.broker_offsets_for_times(&questions)?;
        self.asked.extend(questions.into_iter().zip(answers));
        Ok(())
    }

    /// Checks the broker answers that [`Self::ask_ahead`] got for every
    /// `(edge, t_ms)` in `partitions` with one [`LogIndex::look`] (on a
    /// broker, the messages around every partition's answers fetched
    /// together, each edge's at the same time, instead of one partition after
    /// another), so that the seeks that follow find them checked. The
    /// verdicts are [`Self::seek`]'s own.
    pub fn check_ahead(&mut self, partitions: &[(i32, Watermarks)], edges: &[(Edge, i64)]) -> Result<()> {
        if self.mode != TimestampLookup::Auto {
            return Ok(());
        }
        // (look, watermarks, answer, broker time); a look two edges share
        // (both answers past the end) is taken once
        let mut looked: Vec<(Look, Watermarks, i64, i64)> = Vec::new();
        let mut pending = std::collections::HashSet::new();
        for &(edge, t_ms) in edges {
            let broker_t = self.broker_time(edge, t_ms);
            for &(partition, wm) in partitions {
                let Some(&answer) = self.asked.get(&(partition, broker_t)) else {
                    continue;
                };
                if wm.high <= wm.low
                    || self.checked.contains_key(&(partition, broker_t))
                    || !pending.insert((partition, broker_t))
                {
                    continue;
                }
                match look_at_answer(partition, wm, answer) {
                    Some(look) => looked.push((look, wm, answer, broker_t)),
                    None => {
                        self.checked.insert((partition, broker_t), None);
                    }
                }
            }
        }
        if looked.is_empty() {
            return Ok(());
        }
        let mut looks: Vec<Look> = Vec::new();
        let mut slot = std::collections::HashMap::new();
        let which: Vec<usize> = looked
            .iter()
            .map(|(look, ..)| {
                *slot.entry(*look).or_insert_with(|| {
                    looks.push(*look);
                    looks.len() - 1
                })
            })
            .collect();
        self.report.probes += looks.len();
        let seen = self.index.look(&looks)?;
        for ((look, wm, answer, broker_t), i) in looked.into_iter().zip(which) {
            // an index that answered fewer looks than asked saw nothing
            // there: the answer is rejected and the seek searches instead
            let verdict = self.judge(wm, broker_t, answer, seen.get(i).map_or(&[][..], |s| s));
            self.checked.insert((look.partition, broker_t), verdict);
        }
        Ok(())
    }

    fn probe(&mut self, partition: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
        self.report.probes += 1;
        self.index.probe(partition, offset, end)
    }

    /// The offset in `[wm.low, wm.high]` at which the time bound `t_ms` cuts
    /// `partition`, per [`Edge`].
    pub fn seek(&mut self, partition: i32, wm: Watermarks, edge: Edge, t_ms: i64) -> Result<i64> {
        if wm.high <= wm.low {
            return Ok(wm.low);
        }
        // The broker answers "first offset with timestamp >= t", which is
        // exact for a lower bound; an upper bound asks past the margin.
        let broker_t = self.broker_time(edge, t_ms);
        let search_t = match edge {
            Edge::Lower => t_ms.saturating_sub(self.disorder_ms),
            Edge::Upper => t_ms.saturating_add(self.disorder_ms),
        };
        if self.mode != TimestampLookup::Search {
            let answer = match self.asked.get(&(partition, broker_t)) {
                Some(&answer) => answer,
                None => self.index.broker_offset_for_time(partition, broker_t)?,
            };
            if self.mode == TimestampLookup::Broker {
                self.report.broker_answers_used += 1;
                return Ok(if answer < 0 {
                    wm.high
                } else {
                    answer.clamp(wm.low, wm.high)
                });
            }
            let checked = match self.checked.remove(&(partition, broker_t)) {
                Some(checked) => checked,
                None => self.check_broker_answer(partition, wm, broker_t, answer)?,
            };
            if let Some(offset) = checked {
                self.report.broker_answers_used += 1;
                return Ok(offset);
            }
            self.report.broker_answers_rejected += 1;
        }
        self.report.searches += 1;
        self.search(partition, wm, search_t)
    }

    /// The broker's answer if the messages around it agree with it.
    fn check_broker_answer(&mut self, partition: i32, wm: Watermarks, t_ms: i64, answer: i64) -> Result<Option<i64>> {
        let Some(look) = look_at_answer(partition, wm, answer) else {
            return Ok(None);
        };
        self.report.probes += 1;
        let seen = self.index.look(&[look])?.pop().unwrap_or_default();
        Ok(self.judge(wm, t_ms, answer, &seen))
    }

    /// Whether the broker's `answer` for `t_ms` holds, given what
    /// [`look_at_answer`] saw: the offset to seek to, or `None`.
    fn judge(&self, wm: Watermarks, t_ms: i64, answer: i64, seen: &[(i64, i64)]) -> Option<i64> {
        if answer < 0 || answer >= wm.high {
            // "No message at or after t": with disorder up to d, every message
            // is at most d after the last one, so the last must be before t - d.
            return match seen.first() {
                Some(&(_, ts)) if ts.saturating_add(self.disorder_ms) < t_ms => Some(wm.high),
                _ => None,
            };
        }
        // The message at the answer (the first at or after it) is at or after t...
        match seen.iter().find(|&&(offset, _)| offset >= answer) {
            Some(&(_, ts)) if ts >= t_ms => {}
            _ => return None,
        }
        // ...and the one before it, if there is one at answer - 1, is before t.
        match seen.iter().find(|&&(offset, _)| offset == answer - 1) {
            Some(&(_, ts)) if ts >= t_ms => None,
            _ => Some(answer),
        }
    }

    /// The first offset in `[low, high)` whose message's timestamp is at or
    /// after `t_ms`, or `high`, by binary search. Offsets without a message
    /// (transaction markers, compacted records) take the next message's time.
    fn search(&mut self, partition: i32, wm: Watermarks, t_ms: i64) -> Result<i64> {
        let (mut lo, mut hi) = (wm.low, wm.high);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.probe(partition, mid, hi)? {
                Some((offset, ts)) if ts < t_ms => lo = offset + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }
}

/// The messages that show whether the broker's `answer` holds in
/// `partition`: the last one when the answer is "none" (negative or past the
/// end), the one before the answer and the one at it otherwise; `None`
/// when the answer is before the log's start (wrong without looking).
fn look_at_answer(partition: i32, wm: Watermarks, answer: i64) -> Option<Look> {
    if answer < 0 || answer >= wm.high {
        let last = wm.high - 1;
        return Some(Look {
            partition,
            offset: last,
            until: last,
            end: wm.high,
        });
    }
    (answer >= wm.low).then(|| Look {
        partition,
        offset: if answer > wm.low { answer - 1 } else { answer },
        until: answer,
        end: wm.high,
    })
}

/// What one scan reads of one partition.
///
/// `limit` is everything the filters allow by partition and offset (exact
/// bounds) within the snapshot's watermarks; `first` is the part of it that
/// the time bounds point to, widened by a guard stretch on each side that a
/// time bound cut. The scan reads `first`; it reads the rest of `limit`
/// only when the messages it read contradict the ordering the time seeks
/// assumed (see the `cut_check` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct PartitionCut {
    /// The Kafka partition.
    pub partition: i32,
    /// What the filters allow: `[limit.start, limit.end)`.
    pub limit: OffsetRange,
    /// What is read first, within `limit`.
    pub first: OffsetRange,
}

impl PartitionCut {
    /// True when a time bound narrowed what is read first.
    pub fn is_cut(&self) -> bool {
        self.first != self.limit
    }

    /// The offsets of `limit` outside `first`: what a contradicted cut
    /// reads too.
    pub fn rest(&self) -> Vec<OffsetRange> {
        let p = self.partition;
        [(self.limit.start, self.first.start), (self.first.end, self.limit.end)]
            .into_iter()
            .filter(|(start, end)| start < end)
            .map(|(start, end)| OffsetRange {
                partition: p,
                start,
                end,
            })
            .collect()
    }
}

/// How time bounds cut a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CutPolicy {
    /// Messages read past each side a time bound cut.
    pub guard: i64,
    /// Whether an upper time bound cuts the end of a partition. A lower
    /// cut is exact on a broker with a time index (its answer is the first
    /// offset at or after the time, whatever the order); nothing can show
    /// that no message after an upper cut is stamped back into the window,
    /// so by default a scan reads to the snapshot's end.
    pub upper: bool,
}

/// The cuts one scan reads: for every partition the filters allow, the
/// watermarks narrowed by offset bounds (`limit`), and within them by
/// `time` (message-timestamp bounds in ms) widened by the guard on each
/// side a time bound cut (`first`). Partitions with nothing to read are
/// left out.
pub(crate) fn plan_cuts(
    seeker: &mut Seeker<'_>,
    partitions: &[(i32, Watermarks)],
    bounds: &ScanBounds,
    time: Bounds,
    policy: CutPolicy,
) -> Result<Vec<PartitionCut>> {
    let guard = policy.guard;
    let mut cuts = Vec::new();
    // An upper bound that may not cut may not empty the range either: a
    // lower `_timestamp` bound past an event-time upper bound widened by
    // the margin says nothing of a message stamped late.
    let time = if policy.upper {
        time
    } else {
        Bounds { hi: None, ..time }
    };
    if time.is_empty() || bounds.offsets.is_empty() {
        return Ok(cuts);
    }
    // every partition's broker questions of both edges in one call, and
    // the checks of the answers in another
    let asked: Vec<(i32, Watermarks)> = partitions
        .iter()
        .copied()
        .filter(|(p, wm)| bounds.allows_partition(*p) && wm.high > wm.low)
        .collect();
    let ids: Vec<i32> = asked.iter().map(|(p, _)| *p).collect();
    let edges: Vec<(Edge, i64)> = [
        time.lo.map(|t| (Edge::Lower, t)),
        time.hi.filter(|_| policy.upper).map(|t| (Edge::Upper, t)),
    ]
    .into_iter()
    .flatten()
    .collect();
    seeker.ask_ahead(&ids, &edges)?;
    seeker.check_ahead(&asked, &edges)?;
    for &(partition, wm) in partitions {
        if !bounds.allows_partition(partition) {
            continue;
        }
        let start = wm.low.max(bounds.offsets.lo.unwrap_or(i64::MIN));
        let end = wm.high.min(bounds.offsets.hi.unwrap_or(i64::MAX));
        if start >= end {
            continue;
        }
        let limit = OffsetRange { partition, start, end };
        let (mut first_start, mut first_end) = (start, end);
        if let Some(t) = time.lo {
            let s = seeker.seek(partition, wm, Edge::Lower, t)?;
            first_start = first_start.max(s.saturating_sub(guard));
        }
        if let Some(t) = time.hi.filter(|_| policy.upper) {
            let e = seeker.seek(partition, wm, Edge::Upper, t)?;
            first_end = first_end.min(e.saturating_add(guard));
        }
        // the bounds can cross (no message in the window): an empty `first`
        let first_start = first_start.min(end);
        let first = OffsetRange {
            partition,
            start: first_start,
            end: first_end.max(first_start),
        };
        cuts.push(PartitionCut {
            partition,
            limit,
            first,
        });
    }
    Ok(cuts)
}

/// Splits every range into consecutive pieces of at most `max` offsets.
pub(crate) fn split(ranges: &[OffsetRange], max: u64) -> Vec<OffsetRange> {
    let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let mut start = r.start;
        while start < r.end {
            let end = start.saturating_add(max).min(r.end);
            out.push(OffsetRange {
                partition: r.partition,
                start,
                end,
            });
            start = end;
        }
    }
    out
}

/// Ranges smaller than this are not split to fill the session's cores.
const MIN_AUTO_SPLIT: u64 = 10_000;

/// Splits the largest ranges in half until there are `target` ranges (or
/// none is worth splitting), so that a topic with fewer partitions than the
/// session has cores still keeps every core busy. A topic with enough
/// partitions is not split: each split is one more consumer to start.
pub fn fill_partitions(mut ranges: Vec<OffsetRange>, target: usize) -> Vec<OffsetRange> {
    while ranges.len() < target {
        let Some((i, largest)) = ranges.iter().copied().enumerate().max_by_key(|(_, r)| r.len()) else {
            break;
        };
        if largest.len() < 2 * MIN_AUTO_SPLIT {
            break;
        }
        let mid = largest.start + (largest.end - largest.start) / 2;
        ranges[i] = OffsetRange { end: mid, ..largest };
        ranges.insert(i + 1, OffsetRange { start: mid, ..largest });
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A partition log in memory, with a configurable broker answer.
    struct FakeLog {
        /// offset -> timestamp (gaps are offsets without a message)
        messages: BTreeMap<i64, i64>,
        broker: Box<dyn Fn(i64) -> i64>,
    }

    impl FakeLog {
        fn new(timestamps: &[(i64, i64)], broker: impl Fn(i64) -> i64 + 'static) -> Self {
            Self {
                messages: timestamps.iter().copied().collect(),
                broker: Box::new(broker),
            }
        }

        /// The true first offset with timestamp >= t (a correct broker).
        fn truth(&self, t: i64) -> i64 {
            self.messages.iter().find(|(_, ts)| **ts >= t).map_or(-1, |(o, _)| *o)
        }

        fn wm(&self) -> Watermarks {
            Watermarks {
                low: *self.messages.keys().next().unwrap(),
                high: self.messages.keys().last().unwrap() + 1,
            }
        }
    }

    impl LogIndex for FakeLog {
        fn broker_offset_for_time(&self, _: i32, t: i64) -> Result<i64> {
            Ok((self.broker)(t))
        }
        fn probe(&self, _: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
            Ok(self.messages.range(offset..end).next().map(|(o, t)| (*o, *t)))
        }
    }

    fn monotonic(n: i64) -> Vec<(i64, i64)> {
        (0..n).map(|o| (o, 1_000 + 10 * o)).collect()
    }

    /// An index that counts what reaches `inner` and records the looks
    /// (each look taken by `inner`'s probes, which are not counted).
    struct Recorded<'a, I: LogIndex> {
        inner: &'a I,
        single: std::cell::Cell<usize>,
        batched: std::cell::Cell<usize>,
        probed: std::cell::Cell<usize>,
        looks: std::cell::RefCell<Vec<Vec<Look>>>,
    }

    impl<'a, I: LogIndex> Recorded<'a, I> {
        fn new(inner: &'a I) -> Self {
            Self {
                inner,
                single: 0.into(),
                batched: 0.into(),
                probed: 0.into(),
                looks: Vec::new().into(),
            }
        }

        /// How many times `look` was called.
        fn looked(&self) -> usize {
            self.looks.borrow().len()
        }
    }

    impl<I: LogIndex> LogIndex for Recorded<'_, I> {
        fn broker_offset_for_time(&self, p: i32, t: i64) -> Result<i64> {
            self.single.set(self.single.get() + 1);
            self.inner.broker_offset_for_time(p, t)
        }
        fn broker_offsets_for_times(&self, questions: &[(i32, i64)]) -> Result<Vec<i64>> {
            self.batched.set(self.batched.get() + 1);
            questions
                .iter()
                .map(|&(p, t)| self.inner.broker_offset_for_time(p, t))
                .collect()
        }
        fn probe(&self, p: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
            self.probed.set(self.probed.get() + 1);
            self.inner.probe(p, offset, end)
        }
        fn look(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
            self.looks.borrow_mut().push(looks.to_vec());
            looks.iter().map(|l| look_by_probes(self.inner, l)).collect()
        }
    }

    fn lower(log: &FakeLog, t: i64, mode: TimestampLookup, report: &mut SeekReport) -> i64 {
        let mut seeker = Seeker::new(log, 0, mode);
        let offset = seeker.seek(0, log.wm(), Edge::Lower, t).unwrap();
        report.broker_answers_used += seeker.report.broker_answers_used;
        report.broker_answers_rejected += seeker.report.broker_answers_rejected;
        report.searches += seeker.report.searches;
        report.probes += seeker.report.probes;
        offset
    }

    #[test]
    fn broker_questions_asked_ahead_in_one_round_trip_are_not_asked_again() {
        let log = FakeLog::new(&monotonic(100), |t| (t - 1_000 + 9) / 10);
        let index = Recorded::new(&log);
        let mut seeker = Seeker::new(&index, 0, TimestampLookup::Auto);
        let partitions: Vec<(i32, Watermarks)> = (0..6).map(|p| (p, log.wm())).collect();
        let bounds = ScanBounds::default();
        let time = Bounds {
            lo: Some(1_500),
            hi: Some(1_700),
        };
        let cuts = plan_cuts(&mut seeker, &partitions, &bounds, time, both(0)).unwrap();
        assert_eq!(cuts.len(), 6);
        assert!(
            cuts.iter().all(|c| c.first.start == 50 && c.first.end == 70),
            "{cuts:?}"
        );
        assert_eq!(index.batched.get(), 1, "both edges asked in one call");
        assert_eq!(index.single.get(), 0, "no partition asked on its own");
        assert_eq!(index.looked(), 1, "the answers of both edges checked in one call");
        assert_eq!(index.probed.get(), 0, "no partition checked on its own");
        assert_eq!(
            (seeker.report.broker_answers_used, seeker.report.probes),
            (12, 12),
            "{:?}",
            seeker.report
        );
    }

    /// The check of a broker answer as it was written before looks: one
    /// probe at the answer, one before it.
    fn check_by_single_probes(log: &FakeLog, wm: Watermarks, t: i64, answer: i64, d: i64) -> Option<i64> {
        if answer < 0 || answer >= wm.high {
            return match log.probe(0, wm.high - 1, wm.high).unwrap() {
                Some((_, ts)) if ts.saturating_add(d) < t => Some(wm.high),
                _ => None,
            };
        }
        if answer < wm.low {
            return None;
        }
        match log.probe(0, answer, wm.high).unwrap() {
            Some((_, ts)) if ts >= t => {}
            _ => return None,
        }
        if answer > wm.low
            && let Some((offset, ts)) = log.probe(0, answer - 1, answer).unwrap()
            && offset == answer - 1
            && ts >= t
        {
            return None;
        }
        Some(answer)
    }

    #[test]
    fn answers_checked_together_are_judged_as_one_at_a_time() {
        /// Partitions with logs and watermarks of their own.
        struct Topic {
            logs: Vec<(FakeLog, Watermarks)>,
        }
        impl LogIndex for Topic {
            fn broker_offset_for_time(&self, p: i32, t: i64) -> Result<i64> {
                self.logs[p as usize].0.broker_offset_for_time(0, t)
            }
            fn probe(&self, p: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
                self.logs[p as usize].0.probe(0, offset, end)
            }
        }
        /// The seek as it was before looks: the broker's answer for the
        /// edge, checked by single probes, else a search; and whether the
        /// answer was used.
        fn one_at_a_time(log: &FakeLog, wm: Watermarks, edge: Edge, t: i64, d: i64) -> (i64, bool) {
            let broker_t = if edge == Edge::Lower { t } else { t + d };
            let answer = log.broker_offset_for_time(0, broker_t).unwrap();
            match check_by_single_probes(log, wm, broker_t, answer, d) {
                Some(offset) => (offset, true),
                None => {
                    let searched = Seeker::new(log, d, TimestampLookup::Search)
                        .seek(0, wm, edge, t)
                        .unwrap();
                    (searched, false)
                }
            }
        }
        let mut rng = crate::test_rng::Rng(0x5eed_10c5);
        for round in 0..400 {
            let d = rng.below(3) as i64 * 20;
            let logs: Vec<(FakeLog, Watermarks)> = (0..6)
                .map(|_| {
                    // offsets with gaps (at the log's start and end too),
                    // timestamps rising with jitter of up to d
                    let low = rng.below(5) as i64;
                    let (mut offset, mut ts) = (low + (rng.below(3) == 0) as i64, 1_000);
                    let mut msgs = Vec::new();
                    for _ in 0..1 + rng.below(40) {
                        let jitter = if d > 0 { rng.below(d as u64) as i64 - d / 2 } else { 0 };
                        msgs.push((offset, ts + jitter));
                        offset += 1 + (rng.below(4) == 0) as i64 * rng.below(3) as i64;
                        ts += rng.below(20) as i64;
                    }
                    let high = msgs.last().unwrap().0 + 1 + (rng.below(3) == 0) as i64;
                    let truth = FakeLog::new(&msgs, |_| 0);
                    // a correct answer, one off by a few, none, zero, or past the end
                    let kind = rng.below(5);
                    let off = rng.below(7) as i64 - 3;
                    let log = FakeLog::new(&msgs, move |t| match kind {
                        0 => truth.truth(t),
                        1 => truth.truth(t).max(0) + off,
                        2 => -1,
                        3 => 0,
                        _ => high + 3,
                    });
                    (log, Watermarks { low, high })
                })
                .collect();
            // a quarter of the rounds cut near the logs' first messages
            let lo = if rng.below(4) == 0 {
                990 + rng.below(20) as i64
            } else {
                1_000 + rng.below(500) as i64
            };
            let hi = lo + 1 + rng.below(300) as i64;
            let topic = Topic { logs };
            let recorded = Recorded::new(&topic);
            let partitions: Vec<(i32, Watermarks)> = (0..6).map(|p| (p, topic.logs[p as usize].1)).collect();
            let mut seeker = Seeker::new(&recorded, d, TimestampLookup::Auto);
            let time = Bounds::new(Some(lo), Some(hi));
            let cuts = plan_cuts(&mut seeker, &partitions, &ScanBounds::default(), time, both(0)).unwrap();
            assert_eq!(
                recorded.looked(),
                1,
                "round {round}: one look for every partition's check of both edges"
            );
            assert_eq!(cuts.len(), 6);
            let mut used = 0;
            for (cut, &(p, wm)) in cuts.iter().zip(&partitions) {
                let log = &topic.logs[p as usize].0;
                let (start, start_used) = one_at_a_time(log, wm, Edge::Lower, lo, d);
                let (end, end_used) = one_at_a_time(log, wm, Edge::Upper, hi, d);
                used += start_used as usize + end_used as usize;
                assert_eq!(
                    (cut.first.start, cut.first.end),
                    (start, end.max(start)),
                    "round {round}, partition {p}, {wm:?}, [{lo}, {hi}), d {d}"
                );
            }
            assert_eq!(seeker.report.broker_answers_used, used, "round {round}");
            assert_eq!(seeker.report.broker_answers_rejected, 12 - used, "round {round}");
        }
    }

    #[test]
    fn a_correct_broker_answer_is_used() {
        let msgs = monotonic(100);
        let truth = FakeLog::new(&msgs, |_| 0);
        let expected: Vec<i64> = (0..=100).map(|i| truth.truth(995 + 10 * i)).collect();
        let log = FakeLog::new(&msgs, move |t| truth.truth(t));
        let mut report = SeekReport::default();
        for (i, want) in expected.iter().enumerate() {
            let want = if *want < 0 { 100 } else { *want };
            assert_eq!(
                lower(&log, 995 + 10 * i as i64, TimestampLookup::Auto, &mut report),
                want
            );
        }
        assert_eq!(report.broker_answers_rejected, 0);
        assert_eq!(report.searches, 0);
    }

    #[test]
    fn the_mock_brokers_minus_one_is_detected_and_searched() {
        let log = FakeLog::new(&monotonic(1000), |_| -1);
        let mut report = SeekReport::default();
        assert_eq!(lower(&log, 1_000 + 10 * 700, TimestampLookup::Auto, &mut report), 700);
        assert_eq!(
            lower(&log, 1_000 + 10 * 700 - 5, TimestampLookup::Auto, &mut report),
            700
        );
        assert_eq!((report.broker_answers_rejected, report.searches), (2, 2));
        // a bounded number of single-message fetches: about log2(1000) each
        assert!(report.probes <= 2 * (1 + 11), "{report:?}");
        // -1 is right when every message is older
        let mut report = SeekReport::default();
        assert_eq!(lower(&log, 1_000_000, TimestampLookup::Auto, &mut report), 1000);
        assert_eq!(report.broker_answers_used, 1);
    }

    #[test]
    fn minus_one_is_trusted_only_when_the_last_message_is_older_than_the_margin() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        // the last message is at 1990; with a margin of 50, "none at or after 2000"
        // cannot be told from a message up to 50 ms out of order: search, which
        // widens the bound by the margin (the first message at or after 1950)
        let mut seeker = Seeker::new(&log, 50, TimestampLookup::Auto);
        assert_eq!(seeker.seek(0, log.wm(), Edge::Lower, 2_000).unwrap(), 95);
        assert_eq!(seeker.report.searches, 1);
        let mut seeker = Seeker::new(&log, 5, TimestampLookup::Auto);
        assert_eq!(seeker.seek(0, log.wm(), Edge::Lower, 2_000).unwrap(), 100);
        assert_eq!((seeker.report.broker_answers_used, seeker.report.searches), (1, 0));
    }

    #[test]
    fn tansus_zero_past_the_end_is_detected() {
        let log = FakeLog::new(&monotonic(50), |_| 0);
        let mut report = SeekReport::default();
        assert_eq!(lower(&log, 1_000_000, TimestampLookup::Auto, &mut report), 50);
        assert_eq!(lower(&log, 1_000 + 10 * 20, TimestampLookup::Auto, &mut report), 20);
        assert_eq!(report.broker_answers_rejected, 2);
        // and 0 is accepted where it is right
        assert_eq!(lower(&log, 0, TimestampLookup::Auto, &mut report), 0);
        assert_eq!(report.broker_answers_used, 1);
    }

    #[test]
    fn answers_too_early_or_too_late_are_rejected() {
        let log = FakeLog::new(&monotonic(100), |t| ((t - 1_000) / 10 + 7).clamp(0, 99));
        let mut report = SeekReport::default();
        assert_eq!(lower(&log, 1_000 + 10 * 40, TimestampLookup::Auto, &mut report), 40);
        let log = FakeLog::new(&monotonic(100), |t| ((t - 1_000) / 10 - 7).clamp(0, 99));
        assert_eq!(lower(&log, 1_000 + 10 * 40, TimestampLookup::Auto, &mut report), 40);
        assert_eq!(report.broker_answers_rejected, 2);
    }

    #[test]
    fn broker_mode_trusts_and_search_mode_ignores_the_broker() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        let mut report = SeekReport::default();
        assert_eq!(lower(&log, 1_500, TimestampLookup::Broker, &mut report), 100);
        assert_eq!(lower(&log, 1_500, TimestampLookup::Search, &mut report), 50);
        assert_eq!((report.broker_answers_used, report.searches), (1, 1));
    }

    #[test]
    fn search_skips_offsets_without_messages() {
        // offsets 10..20 are transaction markers or compacted away
        let msgs: Vec<(i64, i64)> = monotonic(40)
            .into_iter()
            .filter(|(o, _)| !(10..20).contains(o))
            .collect();
        let log = FakeLog::new(&msgs, |_| -1);
        let mut report = SeekReport::default();
        // 10 and 20 are both right: nothing between them holds a message
        let s = lower(&log, 1_000 + 10 * 15, TimestampLookup::Search, &mut report);
        assert!((10..=20).contains(&s), "{s}");
        assert_eq!(lower(&log, 1_000 + 10 * 25, TimestampLookup::Search, &mut report), 25);
    }

    #[test]
    fn disorder_within_the_margin_never_loses_a_message() {
        // timestamps jitter by up to 30 ms around a rising trend
        let msgs: Vec<(i64, i64)> = (0..500)
            .map(|o| (o, 10 * o + [0, 30, -30, 15, -15][(o % 5) as usize]))
            .collect();
        let log = FakeLog::new(&msgs, |_| -1);
        for t in (0..5_000).step_by(37) {
            let mut seeker = Seeker::new(&log, 60, TimestampLookup::Search);
            let s = seeker.seek(0, log.wm(), Edge::Lower, t).unwrap();
            assert!(msgs.iter().all(|(o, ts)| *o >= s || *ts < t), "lower {t} -> {s}");
            let e = seeker.seek(0, log.wm(), Edge::Upper, t).unwrap();
            assert!(msgs.iter().all(|(o, ts)| *o < e || *ts >= t), "upper {t} -> {e}");
        }
    }

    fn both(guard: i64) -> CutPolicy {
        CutPolicy { guard, upper: true }
    }

    #[test]
    fn a_look_both_edges_share_is_taken_once_and_judges_both() {
        // the broker answers "none at or after t" for both edges: each check
        // looks at the last message, one look for the two
        // 100 messages stamped 1,000..1,990; both bounds after the last
        let log = FakeLog::new(&monotonic(100), |_| -1);
        let index = Recorded::new(&log);
        let mut seeker = Seeker::new(&index, 0, TimestampLookup::Auto);
        let partitions: Vec<(i32, Watermarks)> = (0..3).map(|p| (p, log.wm())).collect();
        let time = Bounds::new(Some(5_000), Some(6_000));
        let cuts = plan_cuts(&mut seeker, &partitions, &ScanBounds::default(), time, both(0)).unwrap();
        let looked = index.looks.borrow().clone();
        assert_eq!(looked.len(), 1, "one call");
        assert_eq!(looked[0].len(), 3, "one look a partition for both edges: {looked:?}");
        assert!(cuts.iter().all(|c| c.first.is_empty()), "{cuts:?}");
        assert_eq!(
            (seeker.report.broker_answers_used, seeker.report.broker_answers_rejected),
            (6, 0),
            "both edges' answers held: {:?}",
            seeker.report
        );
    }

    #[test]
    fn an_upper_bound_that_may_not_cut_may_not_empty_the_range() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        // lower bound past the upper: nothing can match by message time, but
        // an event-time upper bound must not decide that when it may not cut
        let crossed = Bounds::new(Some(1_000 + 10 * 60), Some(1_000 + 10 * 50));
        let mut seeker = Seeker::new(&log, 0, TimestampLookup::Auto);
        let lower_only = CutPolicy { guard: 0, upper: false };
        let cuts = plan_cuts(
            &mut seeker,
            &[(0, log.wm())],
            &ScanBounds::default(),
            crossed,
            lower_only,
        )
        .unwrap();
        assert_eq!((cuts[0].first.start, cuts[0].first.end), (60, 100));
        assert!(
            plan_cuts(&mut seeker, &[(0, log.wm())], &ScanBounds::default(), crossed, both(0))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn by_default_an_upper_bound_does_not_cut() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        let time = Bounds::new(Some(1_000 + 10 * 30), Some(1_000 + 10 * 90));
        let mut seeker = Seeker::new(&log, 0, TimestampLookup::Auto);
        let policy = CutPolicy { guard: 0, upper: false };
        let cuts = plan_cuts(&mut seeker, &[(0, log.wm())], &ScanBounds::default(), time, policy).unwrap();
        assert_eq!((cuts[0].first.start, cuts[0].first.end), (30, 100));
    }

    #[test]
    fn cuts_combine_partition_offset_and_time_bounds_and_widen_by_the_guard() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        let parts = [(0, log.wm()), (1, log.wm()), (2, Watermarks { low: 5, high: 5 })];
        let bounds = ScanBounds {
            offsets: Bounds::new(Some(10), None),
            partitions: Bounds::new(Some(0), Some(2)),
            ..Default::default()
        };
        let time = Bounds::new(Some(1_000 + 10 * 30), Some(1_000 + 10 * 90));
        let mut seeker = Seeker::new(&log, 0, TimestampLookup::Auto);
        let r = |partition, start, end| OffsetRange { partition, start, end };
        let cuts = plan_cuts(&mut seeker, &parts, &bounds, time, both(0)).unwrap();
        assert_eq!(
            cuts,
            [
                PartitionCut {
                    partition: 0,
                    limit: r(0, 10, 100),
                    first: r(0, 30, 90)
                },
                PartitionCut {
                    partition: 1,
                    limit: r(1, 10, 100),
                    first: r(1, 30, 90)
                },
            ]
        );
        assert_eq!(cuts[0].rest(), [r(0, 10, 30), r(0, 90, 100)]);
        assert!(cuts[0].is_cut());
        // a guard widens each side that a time bound cut, within the limit
        let guarded = plan_cuts(&mut seeker, &parts, &bounds, time, both(25)).unwrap();
        assert_eq!(guarded[0].first, r(0, 10, 100));
        assert!(!guarded[0].is_cut() && guarded[0].rest().is_empty());
        let lower_only = plan_cuts(
            &mut seeker,
            &parts,
            &bounds,
            Bounds::new(Some(1_000 + 10 * 30), None),
            both(5),
        )
        .unwrap();
        assert_eq!(lower_only[0].first, r(0, 25, 100));
        assert_eq!(lower_only[0].rest(), [r(0, 10, 25)]);
        // a window after every message: an empty first read at the end, the rest before it
        let after = plan_cuts(
            &mut seeker,
            &parts[..1],
            &ScanBounds::default(),
            Bounds::new(Some(9_999), None),
            both(0),
        )
        .unwrap();
        assert_eq!(after[0].first, r(0, 100, 100));
        assert_eq!(after[0].rest(), [r(0, 0, 100)]);
        // an empty partition, an empty time range and a contradiction read nothing
        let none = plan_cuts(
            &mut seeker,
            &parts[2..],
            &ScanBounds::default(),
            Bounds::default(),
            both(25),
        )
        .unwrap();
        assert!(none.is_empty());
        let empty = Bounds::new(Some(5), Some(5));
        assert!(
            plan_cuts(&mut seeker, &parts, &ScanBounds::default(), empty, both(25))
                .unwrap()
                .is_empty()
        );
        // the first reads split into pieces
        let pieces = split(&[cuts[0].first], 25);
        assert_eq!(pieces, [r(0, 30, 55), r(0, 55, 80), r(0, 80, 90)]);
    }

    #[test]
    fn ranges_are_split_only_to_fill_the_cores() {
        let r = |partition, start, end| OffsetRange { partition, start, end };
        // enough partitions: nothing is split
        let six: Vec<OffsetRange> = (0..6).map(|p| r(p, 0, 1_000_000)).collect();
        assert_eq!(fill_partitions(six.clone(), 2), six);
        // one large partition, 4 cores: halves of halves, contiguous, in order
        let split = fill_partitions(vec![r(0, 100, 400_100)], 4);
        assert_eq!(
            split,
            vec![
                r(0, 100, 100_100),
                r(0, 100_100, 200_100),
                r(0, 200_100, 300_100),
                r(0, 300_100, 400_100)
            ]
        );
        // a small range is not worth a consumer of its own
        assert_eq!(fill_partitions(vec![r(0, 0, 15_000)], 4), vec![r(0, 0, 15_000)]);
        assert!(fill_partitions(Vec::new(), 4).is_empty());
    }
}
