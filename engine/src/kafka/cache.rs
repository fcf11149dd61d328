//! The decoded-log cache: the rows a session has already decoded from a
//! topic, kept in memory by partition and offset so that a repeated query
//! fetches and decodes only the offsets above them.
//!
//! A Kafka log never changes below its high watermark: the message at an
//! offset is the same whenever it is read, so the row it decodes to is too.
//! The cache keeps, for each table, partition and set of columns, disjoint
//! *segments*: the rows decoded from offsets `[start, end)`, in offset
//! order, with every offset of the range accounted for (an offset without a
//! row held no message this reader may see). A scan asks for a range; the
//! cache answers with the pieces it holds and the gaps to fetch
//! (`DecodedLogCache::plan`), and the gaps, once read whole, become
//! segments (`DecodedLogCache::insert`). Adjacent segments are joined and
//! their small batches merged, so a cache fed a tick at a time still serves
//! batches of a normal size.
//!
//! It keeps what recent scans asked for: a partition's rows below the
//! lowest offset any scan of it planned in the last [`KEEP_STARTS_FOR`] are
//! dropped (the window has moved past them), and beyond the memory budget
//! the oldest batches of the least recently used segments go first. A read
//! hands its rows over in steps of an eighth of the budget, so a first
//! read bigger than the budget streams through it rather than piling up.
//! `SELECT * FROM pulse_cache` shows what it holds ([`CacheTable`]).
//!
//! What must stay true: a range served from the cache is exactly the rows
//! a read of the log would decode, in the same order, so a result never
//! depends on what was cached; a segment claims only offsets that were
//! read (a read that fails keeps the steps it finished; one that stops
//! early keeps what it read; one that jumps over offsets deleted by
//! retention keeps nothing past the hole, so the hole is read, and
//! reported, again); a partition whose log is shorter than what the cache
//! holds (the topic was deleted and made again) is forgotten before it is
//! served; and the rows held never stay above the budget. It serves tables
//! whose every message is a row (the `dead_letter` policy), so a cut's
//! order checks see the same messages as a read would. A compacted topic
//! is the exception to "a log never changes": rows the cleaner removed
//! after they were cached are still served (as by a read made before the
//! cleaning).
//!
//! The cache also remembers the answers of timestamp *probes* (the first
//! message at or after an offset, and its timestamp) that plan a scan's
//! time seeks ([`super::offsets`]). For the same reason they never change,
//! so a tick whose window start moved by a second re-checks its seek from
//! memory instead of fetching the messages either side of it again. They
//! are forgotten with their partition when its log turns out shorter. A
//! probe inside a held segment is answered from its rows (which always keep
//! `_offset` and `_timestamp`): a segment accounts for every offset in it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, Int32Builder, Int64Builder, RecordBatch, StringBuilder, UInt64Builder};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimestampMillisecondType};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::config::KafkaTableConfig;
use super::offsets::OffsetRange;
use crate::messages::schema::{OFFSET_COLUMN, TIMESTAMP_COLUMN};

/// How long a scan's start keeps the rows above it.
pub const KEEP_STARTS_FOR: Duration = Duration::from_secs(600);

/// The most probe answers kept per table and partition (the lowest offsets
/// go first beyond it): a few per tick are asked.
const PROBES_KEPT: usize = 1024;

/// Batches below this many rows are merged with their neighbours.
const SMALL_BATCH: usize = 4096;

/// What a cache entry is decoded from and into: one table's partition,
/// read into one set of its columns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    table: u64,
    partition: i32,
    columns: Vec<usize>,
}

/// A run of offsets read whole: its rows, in offset order.
#[derive(Debug)]
struct Segment {
    end: i64,
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    /// The request count when it was last served or filled.
    used: u64,
}

/// One partition's segments for one set of columns.
#[derive(Debug, Default)]
struct Entry {
    topic: String,
    names: String,
    segments: BTreeMap<i64, Segment>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Per table and partition, the lowest offsets scans planned lately,
    /// and when: each lower than every start after it (a later, lower start
    /// makes an earlier one moot), so the first is the lowest.
    starts: HashMap<(u64, i32), VecDeque<(i64, Instant)>>,
    /// Per table and partition, probe answers: from an offset, the first
    /// message at or after it and its timestamp.
    probes: HashMap<(u64, i32), BTreeMap<i64, (i64, i64)>>,
    bytes: usize,
    requests: u64,
    /// Rows served from memory and rows decoded into it, since the start.
    served: u64,
    filled: u64,
}

/// A part of a requested range: rows held, or offsets to fetch.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Rows the cache holds, already sliced to the range.
    Held(Vec<RecordBatch>),
    /// Offsets to read from the broker.
    Fetch(OffsetRange),
}

/// The decoded-log cache of a session (or of a server: every session of
/// `pulse serve` shares one), bounded by a memory budget in bytes.
#[derive(Debug)]
pub struct DecodedLogCache {
    budget: usize,
    inner: Mutex<Inner>,
}

/// A cache as one table uses it: the cache and the table's identity.
#[derive(Debug, Clone)]
pub(crate) struct TableCache {
    pub cache: Arc<DecodedLogCache>,
    table: u64,
    topic: String,
}

impl TableCache {
    /// The cache as used by the table of `cfg`: tables read from the same
    /// log into the same rows (brokers, topic, columns, malformed policy
    /// and client options alike) share entries.
    pub fn new(cache: Arc<DecodedLogCache>, cfg: &KafkaTableConfig, table_schema: &Schema) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cfg.brokers.hash(&mut h);
        cfg.topic.hash(&mut h);
        format!("{:?}", table_schema.fields()).hash(&mut h);
        format!("{:?} {:?}", cfg.malformed, cfg.on_data_loss).hash(&mut h);
        cfg.client.hash(&mut h);
        Self {
            cache,
            table: h.finish(),
            topic: cfg.topic.clone(),
        }
    }

    fn key(&self, partition: i32, columns: &[usize]) -> Key {
        Key {
            table: self.table,
            partition,
            columns: columns.to_vec(),
        }
    }

    /// See [`DecodedLogCache::plan`].
    pub fn plan(&self, range: OffsetRange, columns: &[usize], names: &str) -> Vec<Piece> {
        self.cache
            .plan(self.key(range.partition, columns), &self.topic, names, range)
    }

    /// See [`DecodedLogCache::insert`].
    pub fn insert(&self, range: OffsetRange, columns: &[usize], batches: Vec<RecordBatch>) {
        self.cache.insert(self.key(range.partition, columns), range, batches);
    }

    /// Records that a scan planned now reads `partition` from `start` at
    /// the lowest; rows below every such start of the last
    /// [`KEEP_STARTS_FOR`] are dropped.
    pub fn note_scan(&self, partition: i32, start: i64) {
        self.cache.note_start(self.table, partition, start);
    }

    /// The bytes a read keeps before handing them to the cache.
    pub fn step_bytes(&self) -> usize {
        (self.cache.budget / 8).max(1 << 20)
    }

    /// Forgets every segment of `partition` that reaches above `high`, the
    /// partition's high watermark now: the log was made again and its
    /// offsets hold other messages.
    pub fn check_high_watermark(&self, partition: i32, high: i64) {
        let mut inner = self.cache.lock();
        if let Some(probes) = inner.probes.get_mut(&(self.table, partition))
            && probes.values().any(|&(offset, _)| offset >= high)
        {
            probes.clear();
        }
        let Inner { entries, bytes, .. } = &mut *inner;
        for (key, entry) in entries.iter_mut() {
            if key.table != self.table || key.partition != partition {
                continue;
            }
            if entry.segments.values().any(|s| s.end > high) {
                log::warn!(
                    "Kafka topic '{}' partition {partition}: the log ends at {high}, below what the cache \
                     holds; the topic was made again, so the cache forgets this partition",
                    self.topic
                );
                *bytes = bytes.saturating_sub(entry.segments.values().map(|s| s.bytes).sum::<usize>());
                entry.segments.clear();
            }
        }
    }
}

#[cfg(test)]
impl TableCache {
    /// A 1 MiB cache of a table of offsets alone (topic `t`), for tests of
    /// what it remembers of probes.
    pub(crate) fn of_offsets() -> Self {
        let cfg = KafkaTableConfig::new("b:1", "t");
        let schema = Schema::new(vec![Field::new(OFFSET_COLUMN, DataType::Int64, false)]);
        TableCache::new(Arc::new(DecodedLogCache::new(1 << 20)), &cfg, &schema)
    }
}

impl TableCache {
    /// A probe's answer from memory: `Some(answer)` when known, where the
    /// answer is the first message in `[offset, end)` as `(offset,
    /// timestamp)`, or `None` for none.
    pub fn known_probe(&self, partition: i32, offset: i64, end: i64) -> Option<Option<(i64, i64)>> {
        let inner = self.cache.lock();
        if let Some(&(found, timestamp)) = inner.probes.get(&(self.table, partition)).and_then(|p| p.get(&offset)) {
            // no message in [offset, found): the first in [offset, end) is
            // `found` if it is below `end`, and there is none otherwise
            return Some((found < end).then_some((found, timestamp)));
        }
        inner
            .entries
            .iter()
            .filter(|(key, _)| key.table == self.table && key.partition == partition)
            .find_map(|(_, entry)| held_probe(entry, offset, end))
    }

    /// Remembers that the first message at or after `offset` is `found`
    /// (offset, timestamp).
    pub fn remember_probe(&self, partition: i32, offset: i64, found: (i64, i64)) {
        let mut inner = self.cache.lock();
        let probes = inner.probes.entry((self.table, partition)).or_default();
        probes.insert(offset, found);
        if probes.len() > PROBES_KEPT {
            probes.pop_first();
        }
    }
}

/// A probe answered from the rows `entry` holds: the segment that covers
/// `offset` accounts for every offset in it, and its rows carry their
/// offset and message timestamp. `None` when the rows cannot tell (no
/// segment covers `offset`, the answer lies past the segment, or the
/// message has no timestamp: the broker then says what is wrong).
fn held_probe(entry: &Entry, offset: i64, end: i64) -> Option<Option<(i64, i64)>> {
    let (_, segment) = entry.segments.range(..=offset).next_back()?;
    if segment.end <= offset {
        return None;
    }
    for batch in &segment.batches {
        let offsets = batch
            .column(batch.schema().index_of(OFFSET_COLUMN).ok()?)
            .as_primitive::<Int64Type>();
        if offsets.is_empty() || offsets.value(offsets.len() - 1) < offset {
            continue;
        }
        let row = offsets.values().partition_point(|&o| o < offset);
        let found = offsets.value(row);
        if found >= end {
            return Some(None);
        }
        let times = batch.column(batch.schema().index_of(TIMESTAMP_COLUMN).ok()?);
        let times = times.as_primitive_opt::<TimestampMillisecondType>()?;
        return times.is_valid(row).then(|| Some((found, times.value(row))));
    }
    // no row from `offset` to the segment's end
    (segment.end >= end).then_some(None)
}

impl DecodedLogCache {
    /// A cache that holds at most `budget` bytes of decoded rows.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The memory budget, in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes of decoded rows held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Rows held now.
    pub fn rows(&self) -> usize {
        self.lock()
            .entries
            .values()
            .flat_map(|e| e.segments.values())
            .map(|s| s.rows)
            .sum()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves whole segments behind
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a scan of `table`'s `partition` from `start`, and drops the
    /// rows of that partition below the lowest start of the last
    /// [`KEEP_STARTS_FOR`].
    fn note_start(&self, table: u64, partition: i32, start: i64) {
        let mut inner = self.lock();
        let now = Instant::now();
        let starts = inner.starts.entry((table, partition)).or_default();
        while starts.back().is_some_and(|(s, _)| *s >= start) {
            starts.pop_back();
        }
        starts.push_back((start, now));
        while starts
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) >= KEEP_STARTS_FOR)
        {
            starts.pop_front();
        }
        let floor = starts.front().map_or(start, |(s, _)| *s);
        let Inner { entries, bytes, .. } = &mut *inner;
        for (key, entry) in entries.iter_mut() {
            if key.table == table && key.partition == partition {
                *bytes = bytes.saturating_sub(entry.forget_below(floor));
            }
        }
    }

    /// What of `range` the cache holds, as pieces in offset order that
    /// together cover the range exactly: held rows, and gaps to fetch.
    fn plan(&self, key: Key, topic: &str, names: &str, range: OffsetRange) -> Vec<Piece> {
        let mut inner = self.lock();
        inner.requests += 1;
        let now = inner.requests;
        let Inner { entries, served, .. } = &mut *inner;
        let entry = entries.entry(key).or_insert_with(|| Entry {
            topic: topic.to_string(),
            names: names.to_string(),
            ..Entry::default()
        });
        let mut pieces = Vec::new();
        let mut next = range.start;
        // the segment that may hold `next`, then those after it
        let first = entry
            .segments
            .range(..=range.start)
            .next_back()
            .map_or(range.start, |(s, _)| *s);
        for (&start, segment) in entry.segments.range_mut(first..range.end) {
            if segment.end <= next {
                continue;
            }
            if start > next {
                pieces.push(Piece::Fetch(OffsetRange {
                    partition: range.partition,
                    start: next,
                    end: start,
                }));
                next = start;
            }
            let upto = segment.end.min(range.end);
            let held = slice(&segment.batches, next, upto);
            *served += held.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            segment.used = now;
            pieces.push(Piece::Held(held));
            next = upto;
        }
        if next < range.end {
            pieces.push(Piece::Fetch(OffsetRange {
                partition: range.partition,
                start: next,
                end: range.end,
            }));
        }
        pieces
    }

    /// Keeps the rows decoded from all of `range`. A range that overlaps
    /// what the cache holds (another scan read it meanwhile) is not kept.
    fn insert(&self, key: Key, range: OffsetRange, batches: Vec<RecordBatch>) {
        if range.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let now = inner.requests;
        let Inner {
            entries, bytes, filled, ..
        } = &mut *inner;
        let Some(entry) = entries.get_mut(&key) else {
            return; // forgotten meanwhile
        };
        let overlaps = entry
            .segments
            .range(..range.end)
            .next_back()
            .is_some_and(|(_, s)| s.end > range.start);
        if overlaps {
            return;
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        *filled += rows as u64;
        // join the segment ending where this one starts
        let joins = entry
            .segments
            .range(..range.start)
            .next_back()
            .filter(|(_, prev)| prev.end == range.start)
            .map(|(s, _)| *s);
        let (start, mut segment) = match joins.and_then(|s| entry.segments.remove(&s).map(|seg| (s, seg))) {
            Some(joined) => joined,
            None => (
                range.start,
                Segment {
                    end: range.start,
                    batches: Vec::new(),
                    rows: 0,
                    bytes: 0,
                    used: now,
                },
            ),
        };
        *bytes = bytes.saturating_sub(segment.bytes);
        segment.end = range.end;
        segment.rows += rows;
        segment.used = now;
        segment.batches.extend(batches.into_iter().filter(|b| b.num_rows() > 0));
        merge_small_tail(&mut segment.batches);
        segment.bytes = segment.batches.iter().map(RecordBatch::get_array_memory_size).sum();
        *bytes += segment.bytes;
        // and the one starting where this one ends
        if let Some(next) = entry.segments.remove(&range.end) {
            *bytes = bytes.saturating_sub(segment.bytes + next.bytes);
            segment.end = next.end;
            segment.rows += next.rows;
            segment.batches.extend(next.batches);
            merge_small_tail(&mut segment.batches);
            segment.bytes = segment.batches.iter().map(RecordBatch::get_array_memory_size).sum();
            *bytes += segment.bytes;
        }
        entry.segments.insert(start, segment);
        inner.evict_to(self.budget);
    }

    /// One row per cached segment, for `pulse_cache`.
    fn snapshot(&self) -> DFResult<RecordBatch> {
        let inner = self.lock();
        let mut topic = StringBuilder::new();
        let mut partition = Int32Builder::new();
        let mut columns = StringBuilder::new();
        let mut first = Int64Builder::new();
        let mut next = Int64Builder::new();
        let mut rows = UInt64Builder::new();
        let mut bytes = UInt64Builder::new();
        let mut batches = UInt64Builder::new();
        let mut held: Vec<(&Key, &Entry)> = inner.entries.iter().collect();
        held.sort_by(|a, b| (&a.1.topic, a.0.partition, &a.1.names).cmp(&(&b.1.topic, b.0.partition, &b.1.names)));
        for (key, entry) in held {
            for (start, s) in &entry.segments {
                topic.append_value(&entry.topic);
                partition.append_value(key.partition);
                columns.append_value(&entry.names);
                first.append_value(*start);
                next.append_value(s.end);
                rows.append_value(s.rows as u64);
                bytes.append_value(s.bytes as u64);
                batches.append_value(s.batches.len() as u64);
            }
        }
        Ok(RecordBatch::try_new(
            cache_schema(),
            vec![
                Arc::new(topic.finish()),
                Arc::new(partition.finish()),
                Arc::new(columns.finish()),
                Arc::new(first.finish()),
                Arc::new(next.finish()),
                Arc::new(rows.finish()),
                Arc::new(bytes.finish()),
                Arc::new(batches.finish()),
            ],
        )?)
    }

    /// Rows served from memory and rows decoded into it so far.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.served, inner.filled)
    }
}

impl Inner {
    /// Drops the oldest batches of the least recently used segments (the
    /// lowest offsets first among equals) until the cache fits `budget`.
    fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let victim = self
                .entries
                .iter()
                .flat_map(|(k, e)| e.segments.iter().map(move |(start, s)| (s.used, *start, k)))
                .min_by_key(|(used, start, _)| (*used, *start))
                .map(|(_, start, k)| (k.clone(), start));
            let Some((key, start)) = victim else { break };
            let Some(entry) = self.entries.get_mut(&key) else { break };
            let Some(mut segment) = entry.segments.remove(&start) else {
                break;
            };
            if segment.batches.len() <= 1 {
                self.bytes = self.bytes.saturating_sub(segment.bytes);
                continue;
            }
            let oldest = segment.batches.remove(0);
            let freed = oldest.get_array_memory_size();
            segment.bytes = segment.bytes.saturating_sub(freed);
            segment.rows -= oldest.num_rows();
            self.bytes = self.bytes.saturating_sub(freed);
            // the segment now starts at its first row left
            let from = segment.batches.first().and_then(first_offset).unwrap_or(segment.end);
            entry.segments.insert(from, segment);
        }
        // entries left empty stay: a read planned on one may be about to fill it
    }
}

impl Entry {
    /// Drops the rows below `floor` (in whole batches: a batch that reaches
    /// the floor is kept whole). Returns the bytes freed.
    fn forget_below(&mut self, floor: i64) -> usize {
        let mut freed = 0;
        let below: Vec<i64> = self.segments.range(..floor).map(|(s, _)| *s).collect();
        for s in below {
            let Some(mut segment) = self.segments.remove(&s) else {
                continue;
            };
            if segment.end <= floor {
                freed += segment.bytes;
                continue;
            }
            // keep the batches that reach the floor, from the first of them
            let keep_from = segment
                .batches
                .iter()
                .position(|b| last_offset(b).is_some_and(|o| o >= floor))
                .unwrap_or(segment.batches.len());
            let dropped: Vec<RecordBatch> = segment.batches.drain(..keep_from).collect();
            let first = segment
                .batches
                .first()
                .and_then(first_offset)
                .unwrap_or(floor)
                .min(floor);
            let dropped_bytes: usize = dropped.iter().map(RecordBatch::get_array_memory_size).sum();
            segment.rows -= dropped.iter().map(RecordBatch::num_rows).sum::<usize>();
            segment.bytes = segment.bytes.saturating_sub(dropped_bytes);
            freed += dropped_bytes;
            // offsets below the first kept row and at or above the floor held no row
            self.segments.insert(first.max(s), segment);
        }
        freed
    }
}

/// The offsets column of a cached batch.
fn offsets(batch: &RecordBatch) -> &[i64] {
    batch
        .column_by_name(OFFSET_COLUMN)
        .map(|c| c.as_primitive::<Int64Type>().values().as_ref())
        .unwrap_or_default()
}

fn first_offset(batch: &RecordBatch) -> Option<i64> {
    offsets(batch).first().copied()
}

fn last_offset(batch: &RecordBatch) -> Option<i64> {
    offsets(batch).last().copied()
}

/// The rows of `batches` (in offset order) at offsets in `[from, to)`.
fn slice(batches: &[RecordBatch], from: i64, to: i64) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for b in batches {
        let o = offsets(b);
        if o.last().is_none_or(|&l| l < from) {
            continue;
        }
        if o.first().is_some_and(|&f| f >= to) {
            break;
        }
        let lo = o.partition_point(|&x| x < from);
        let hi = o.partition_point(|&x| x < to);
        if hi > lo {
            out.push(if lo == 0 && hi == o.len() {
                b.clone()
            } else {
                b.slice(lo, hi - lo)
            });
        }
    }
    out
}

/// Merges the trailing batches of `batches` that are small, so a segment
/// fed a few rows at a time keeps batches of a useful size.
fn merge_small_tail(batches: &mut Vec<RecordBatch>) {
    let mut from = batches.len();
    let mut rows = 0;
    while from > 0
        && batches[from - 1].num_rows() < SMALL_BATCH
        && rows + batches[from - 1].num_rows() <= 2 * SMALL_BATCH
    {
        from -= 1;
        rows += batches[from].num_rows();
    }
    if batches.len() - from < 2 {
        return;
    }
    let schema = batches[from].schema();
    let tail: Vec<RecordBatch> = batches.drain(from..).collect();
    match concat_batches(&schema, &tail) {
        Ok(merged) => batches.push(merged),
        Err(_) => batches.extend(tail), // same schema: cannot happen; keep them apart
    }
}

/// The columns of `pulse_cache`.
fn cache_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("columns", DataType::Utf8, false),
        Field::new("first_offset", DataType::Int64, false),
        Field::new("next_offset", DataType::Int64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("batches", DataType::UInt64, false),
    ]))
}

/// `pulse_cache`: one row per cached segment (topic, partition, the
/// columns kept, the offsets `[first_offset, next_offset)` it covers, its
/// rows, bytes and batches), read when queried.
#[derive(Debug)]
pub struct CacheTable {
    cache: Arc<DecodedLogCache>,
}

impl CacheTable {
    /// The table of `cache`.
    pub fn new(cache: Arc<DecodedLogCache>) -> Self {
        Self { cache }
    }
}

#[async_trait]
impl TableProvider for CacheTable {
    fn schema(&self) -> SchemaRef {
        cache_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let batch = self.cache.snapshot()?;
        MemTable::try_new(cache_schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    fn batch(offsets: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(OFFSET_COLUMN, DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(offsets))]).unwrap()
    }

    fn range(start: i64, end: i64) -> OffsetRange {
        OffsetRange {
            partition: 0,
            start,
            end,
        }
    }

    fn key() -> Key {
        Key {
            table: 1,
            partition: 0,
            columns: vec![0],
        }
    }

    /// The pieces as (held offsets) or (fetch range).
    fn describe(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Held(b) => {
                    let o: Vec<i64> = b.iter().flat_map(|b| offsets(b).to_vec()).collect();
                    format!("held {}..={}", o.first().unwrap(), o.last().unwrap())
                }
                Piece::Fetch(r) => format!("fetch {}..{}", r.start, r.end),
            })
            .collect()
    }

    #[test]
    fn probes_are_answered_from_memory_until_the_log_ends_below_them() {
        let table = TableCache::of_offsets();
        assert_eq!(table.known_probe(0, 10, 100), None, "nothing asked yet");
        // offsets 10 and 11 hold no message; 12 has timestamp 5000
        table.remember_probe(0, 10, (12, 5000));
        assert_eq!(table.known_probe(0, 10, 100), Some(Some((12, 5000))));
        assert_eq!(table.known_probe(0, 10, 12), Some(None), "[10, 12) holds no message");
        assert_eq!(table.known_probe(0, 11, 100), None, "only the offsets asked are known");
        assert_eq!(table.known_probe(1, 10, 100), None, "per partition");
        table.check_high_watermark(0, 13);
        assert_eq!(
            table.known_probe(0, 10, 100),
            Some(Some((12, 5000))),
            "the log still holds 12"
        );
        // the topic was made again: its log ends at 12, below the message remembered
        table.check_high_watermark(0, 12);
        assert_eq!(table.known_probe(0, 10, 100), None);
    }

    #[test]
    fn probes_inside_held_rows_are_answered_from_them() {
        use datafusion::arrow::array::TimestampMillisecondArray;
        let cfg = KafkaTableConfig::new("b:1", "t");
        let schema = Schema::new(vec![
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
            Field::new(TIMESTAMP_COLUMN, crate::messages::schema::utc_millis(), true),
        ]);
        let table = TableCache::new(Arc::new(DecodedLogCache::new(1 << 20)), &cfg, &schema);
        let rows = |offsets: Vec<i64>, times: Vec<Option<i64>>| {
            RecordBatch::try_new(
                Arc::new(schema.clone()),
                vec![
                    Arc::new(Int64Array::from(offsets)),
                    Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
                ],
            )
            .unwrap()
        };
        // offsets [10, 20) read whole: messages at 10, 12 and 13 (13 without a
        // timestamp), nothing else
        let columns = [0, 1];
        table.plan(range(10, 20), &columns, "c");
        table.insert(
            range(10, 20),
            &columns,
            vec![
                rows(vec![10, 12], vec![Some(100), Some(120)]),
                rows(vec![13], vec![None]),
            ],
        );
        assert_eq!(table.known_probe(0, 10, 20), Some(Some((10, 100))));
        assert_eq!(
            table.known_probe(0, 11, 20),
            Some(Some((12, 120))),
            "11 held no message"
        );
        assert_eq!(table.known_probe(0, 11, 12), Some(None), "[11, 12) holds none");
        assert_eq!(table.known_probe(0, 13, 20), None, "no timestamp: the broker says so");
        assert_eq!(
            table.known_probe(0, 14, 20),
            Some(None),
            "nothing from 14 to the segment's end"
        );
        assert_eq!(table.known_probe(0, 14, 25), None, "past the segment: unknown");
        assert_eq!(table.known_probe(0, 5, 20), None, "below the segment: unknown");
        assert_eq!(table.known_probe(1, 10, 20), None, "another partition");
    }

    #[test]
    fn a_range_is_served_from_what_is_held_and_the_gaps_are_fetched() {
        let cache = DecodedLogCache::new(1 << 30);
        assert_eq!(describe(&cache.plan(key(), "t", "c", range(0, 100))), ["fetch 0..100"]);
        cache.insert(key(), range(0, 100), vec![batch(0..100)]);
        cache.insert(key(), range(150, 200), vec![batch(150..200)]);
        assert_eq!(
            describe(&cache.plan(key(), "t", "c", range(10, 300))),
            ["held 10..=99", "fetch 100..150", "held 150..=199", "fetch 200..300"]
        );
        // joining the gap joins the segments
        cache.insert(key(), range(100, 150), vec![batch(100..150)]);
        assert_eq!(
            describe(&cache.plan(key(), "t", "c", range(10, 120))),
            ["held 10..=119"]
        );
        assert_eq!(cache.snapshot().unwrap().num_rows(), 1, "one segment");
        // a range that overlaps what is held is not kept twice
        cache.insert(key(), range(190, 250), vec![batch(190..250)]);
        assert_eq!(cache.rows(), 200);
    }

    #[test]
    fn offsets_without_a_row_are_held_as_read() {
        let cache = DecodedLogCache::new(1 << 30);
        cache.plan(key(), "t", "c", range(0, 10));
        // offsets 5..10 held transaction markers: no rows, but read
        cache.insert(key(), range(0, 10), vec![batch(0..5)]);
        assert_eq!(
            describe(&cache.plan(key(), "t", "c", range(0, 12))),
            ["held 0..=4", "fetch 10..12"]
        );
        let pieces = cache.plan(key(), "t", "c", range(6, 10));
        assert!(matches!(&pieces[..], [Piece::Held(b)] if b.is_empty()), "{pieces:?}");
    }

    #[test]
    fn rows_below_every_recent_start_are_dropped() {
        let cache = DecodedLogCache::new(1 << 30);
        cache.note_start(1, 0, 0);
        cache.plan(key(), "t", "c", range(0, 100_000));
        cache.insert(
            key(),
            range(0, 100_000),
            (0..10).map(|i| batch(i * 10_000..(i + 1) * 10_000)).collect(),
        );
        assert_eq!(cache.rows(), 100_000);
        // a scan from 0 a moment ago keeps everything
        cache.note_start(1, 0, 35_000);
        assert_eq!(cache.rows(), 100_000);
        {
            let mut inner = cache.lock();
            let long_ago = Instant::now() - KEEP_STARTS_FOR - Duration::from_secs(1);
            let starts = VecDeque::from([(0, long_ago), (35_000, long_ago + Duration::from_secs(2))]);
            inner.starts.insert((1, 0), starts);
        }
        cache.note_start(1, 0, 40_000);
        let pieces = cache.plan(key(), "t", "c", range(40_000, 100_000));
        assert_eq!(describe(&pieces), ["held 40000..=99999"]);
        assert_eq!(cache.rows(), 70_000, "whole batches below 35,000 dropped");
        // the batch reaching the floor is kept whole: its segment starts at 30,000
        assert_eq!(
            describe(&cache.plan(key(), "t", "c", range(20_000, 40_000))),
            ["fetch 20000..30000", "held 30000..=39999"]
        );
    }

    #[test]
    fn the_budget_evicts_the_oldest_rows_of_the_least_recently_used_first() {
        let one = batch(0..10_000).get_array_memory_size();
        let cache = DecodedLogCache::new(one * 5 + one / 2);
        for p in [0, 1] {
            let key = Key { partition: p, ..key() };
            let r = OffsetRange {
                partition: p,
                ..range(0, 30_000)
            };
            cache.plan(key.clone(), "t", "c", r);
            cache.insert(key, r, (0..3).map(|i| batch(i * 10_000..(i + 1) * 10_000)).collect());
        }
        assert!(cache.bytes() <= cache.budget());
        assert_eq!(
            cache.rows(),
            50_000,
            "one batch of partition 0, the least recently used, went"
        );
        assert_eq!(
            describe(&cache.plan(key(), "t", "c", range(0, 30_000))),
            ["fetch 0..10000", "held 10000..=29999"],
            "its oldest rows, not the whole partition"
        );
        // a read bigger than the budget, handed over in steps, keeps its newest rows
        let big = OffsetRange {
            partition: 2,
            ..range(0, 100_000)
        };
        let key2 = Key { partition: 2, ..key() };
        cache.plan(key2.clone(), "t", "c", big);
        for i in 0..10 {
            let r = OffsetRange {
                partition: 2,
                ..range(i * 10_000, (i + 1) * 10_000)
            };
            cache.insert(key2.clone(), r, vec![batch(r.start..r.end)]);
            assert!(cache.bytes() <= cache.budget(), "after step {i}");
        }
        let pieces = describe(&cache.plan(key2, "t", "c", big));
        assert!(pieces.first().is_some_and(|p| p.starts_with("fetch 0..")), "{pieces:?}");
        assert!(
            pieces
                .last()
                .is_some_and(|p| p.starts_with("held ") && p.ends_with("..=99999")),
            "{pieces:?}"
        );
    }

    #[test]
    fn small_batches_fed_a_tick_at_a_time_are_merged() {
        let cache = DecodedLogCache::new(1 << 30);
        for t in 0..100 {
            let r = range(t * 10, (t + 1) * 10);
            cache.plan(key(), "t", "c", range(0, (t + 1) * 10));
            cache.insert(key(), r, vec![batch(r.start..r.end)]);
        }
        let snapshot = cache.snapshot().unwrap();
        assert_eq!(snapshot.num_rows(), 1, "one segment");
        let batches = snapshot
            .column(7)
            .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
            .value(0);
        assert!(batches <= 2, "{batches} batches for 1,000 rows");
        assert_eq!(describe(&cache.plan(key(), "t", "c", range(0, 1000))), ["held 0..=999"]);
    }
}
