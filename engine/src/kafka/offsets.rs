//! The bounded snapshot: which offsets of which partitions a scan reads.
//!
//! At planning time every partition's watermarks are fixed, so one query
//! sees one consistent cut of the topic. Time bounds from
//! [`super::pushdown`] become offsets here, through the broker's
//! `offsets_for_times` where its answer holds up, and through a binary
//! search over the log where it does not.
//!
//! What must stay true: a range never leaves out an offset whose message
//! can match the filters, given that message timestamps are out of order by
//! at most the lateness margin `d`. That is why:
//! - a broker answer is checked against the messages either side of it
//!   (librdkafka's mock answers -1 to everything, Tansu answers 0 past the
//!   end), and a wrong answer is replaced by a search, never used; "no
//!   message at or after t" holds only if the last message is before t - d;
//! - the search for a lower bound `t` looks for `t - d` and the search and
//!   broker question for an upper bound `t` use `t + d`, so that disorder
//!   within `d` cannot hide a matching message on the far side.

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

    /// The first message at or after `offset` and before `end`, as
    /// `(offset, timestamp_ms)`, or `None` when `[offset, end)` holds none.
    fn probe(&self, partition: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>>;
}

/// How a scan planned its ranges, for `EXPLAIN`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeekReport {
    /// Broker answers that were checked and held.
    pub broker_answers_used: usize,
    /// Broker answers that were wrong, replaced by a search.
    pub broker_answers_rejected: usize,
    /// Searches of the log.
    pub searches: usize,
    /// Single messages fetched to check answers and to search.
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
            report: SeekReport::default(),
        }
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
        let (broker_t, search_t) = match edge {
            Edge::Lower => (t_ms, t_ms.saturating_sub(self.disorder_ms)),
            Edge::Upper => (
                t_ms.saturating_add(self.disorder_ms),
                t_ms.saturating_add(self.disorder_ms),
            ),
        };
        if self.mode != TimestampLookup::Search {
            let answer = self.index.broker_offset_for_time(partition, broker_t)?;
            if self.mode == TimestampLookup::Broker {
                self.report.broker_answers_used += 1;
                return Ok(if answer < 0 {
                    wm.high
                } else {
                    answer.clamp(wm.low, wm.high)
                });
            }
            if let Some(offset) = self.check_broker_answer(partition, wm, broker_t, answer)? {
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
        if answer < 0 || answer >= wm.high {
            // "No message at or after t": with disorder up to d, every message
            // is at most d after the last one, so the last must be before t - d.
            return Ok(match self.probe(partition, wm.high - 1, wm.high)? {
                Some((_, ts)) if ts.saturating_add(self.disorder_ms) < t_ms => Some(wm.high),
                _ => None,
            });
        }
        if answer < wm.low {
            return Ok(None);
        }
        // The message at the answer is at or after t...
        match self.probe(partition, answer, wm.high)? {
            Some((_, ts)) if ts >= t_ms => {}
            _ => return Ok(None),
        }
        // ...and the one before it, if any, is before t.
        if answer > wm.low
            && let Some((offset, ts)) = self.probe(partition, answer - 1, answer)?
            && offset == answer - 1
            && ts >= t_ms
        {
            return Ok(None);
        }
        Ok(Some(answer))
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

/// The ranges one scan reads: for every partition the filters allow, the
/// watermarks narrowed by offset bounds and by `time` (message-timestamp
/// bounds in ms), then split into pieces of at most `max_per_split`
/// offsets. Empty ranges are left out.
pub(crate) fn plan_ranges(
    seeker: &mut Seeker<'_>,
    partitions: &[(i32, Watermarks)],
    bounds: &ScanBounds,
    time: Bounds,
    max_per_split: u64,
) -> Result<Vec<OffsetRange>> {
    let mut ranges = Vec::new();
    if time.is_empty() || bounds.offsets.is_empty() {
        return Ok(ranges);
    }
    for &(partition, wm) in partitions {
        if !bounds.allows_partition(partition) {
            continue;
        }
        let mut start = wm.low.max(bounds.offsets.lo.unwrap_or(i64::MIN));
        let mut end = wm.high.min(bounds.offsets.hi.unwrap_or(i64::MAX));
        if let Some(t) = time.lo
            && start < end
        {
            start = start.max(seeker.seek(partition, wm, Edge::Lower, t)?);
        }
        if let Some(t) = time.hi
            && start < end
        {
            end = end.min(seeker.seek(partition, wm, Edge::Upper, t)?);
        }
        if start < end {
            ranges.push(OffsetRange { partition, start, end });
        }
    }
    Ok(split(&ranges, max_per_split))
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

    #[test]
    fn ranges_combine_partition_offset_and_time_bounds_then_split() {
        let log = FakeLog::new(&monotonic(100), |_| -1);
        let parts = [(0, log.wm()), (1, log.wm()), (2, Watermarks { low: 5, high: 5 })];
        let bounds = ScanBounds {
            offsets: Bounds::new(Some(10), None),
            partitions: Bounds::new(Some(0), Some(2)),
            ..Default::default()
        };
        let time = Bounds::new(Some(1_000 + 10 * 30), Some(1_000 + 10 * 90));
        let mut seeker = Seeker::new(&log, 0, TimestampLookup::Auto);
        let ranges = plan_ranges(&mut seeker, &parts, &bounds, time, 25).unwrap();
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "0:[30..55)",
                "0:[55..80)",
                "0:[80..90)",
                "1:[30..55)",
                "1:[55..80)",
                "1:[80..90)"
            ]
        );
        // an empty partition, an empty time range and a contradiction read nothing
        let none = plan_ranges(&mut seeker, &parts[2..], &ScanBounds::default(), Bounds::default(), 25).unwrap();
        assert!(none.is_empty());
        let empty = Bounds::new(Some(5), Some(5));
        assert!(
            plan_ranges(&mut seeker, &parts, &ScanBounds::default(), empty, 25)
                .unwrap()
                .is_empty()
        );
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
