//! Reading one offset range of one partition into record batches.
//!
//! [`read_range`] runs on a blocking thread: it assigns a consumer to the
//! range's partition at its start offset, polls until the range's end,
//! decodes every batch-sized chunk of messages with [`ChunkDecoder`], and
//! sends the batches to the query through a bounded channel, so a slow
//! consumer of the results holds back the fetching. A range of a time cut
//! also watches each message's time and event time for what would
//! contradict the cut ([`super::cut_check`]).
//!
//! What must stay true: the range is read exactly, from `start` up to but
//! not including `end`, whatever the broker has received since planning
//! (that is the bounded snapshot); a read that makes no progress for the
//! table's timeout is an error naming the partition and offset, never a
//! hang; offsets deleted by retention mid-scan are an error or, when the
//! table opts in, a logged warning and a count, never a silent jump.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};
use datafusion::error::Result as DFResult;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use tokio::sync::mpsc::Sender;

use super::cache::{Piece, TableCache};
use super::client::{self, ScanConsumer};
use super::config::{DataLossPolicy, KafkaTableConfig};
use super::cut_check::{Contradiction, CutCheck, OrderWatch};
use super::offsets::OffsetRange;
use crate::error::{PulseError, Result};
use crate::messages::MalformedPolicy;
use crate::messages::decode::{ChunkDecoder, DecodeError, MessageChunk};
use crate::messages::metrics::ScanMetrics;
use crate::messages::schema::{OFFSET_COLUMN, TIMESTAMP_COLUMN, TableSchema, utc_millis};

/// What one scan partition reads and how.
pub(crate) struct RangeRead {
    pub cfg: Arc<KafkaTableConfig>,
    pub schema: Arc<TableSchema>,
    pub range: OffsetRange,
    pub projection: Option<Vec<usize>>,
    pub batch_size: usize,
    pub limit: Option<usize>,
    pub metrics: ScanMetrics,
    /// The check of the cut this range is part of, if a time bound cut its
    /// partition; `None` for an uncut partition and for a cut's rest.
    pub check: Option<Arc<CutCheck>>,
    /// The table column of event time, whose distance from message time
    /// the check watches.
    pub event_time: Option<usize>,
}

/// A consumer kept between reads of one partition (the lake's ingest reads
/// a partition round after round), and the offset of the next message it
/// will deliver. Reusing it spares a new consumer, a new fetch session and
/// the re-fetch of what it had prefetched.
pub(crate) struct Follower {
    consumer: ScanConsumer,
    next: i64,
}

/// Reads `read.range` and sends its batches to `tx`. Returns when the range
/// is done, the limit is reached, or the receiver has gone away, with the
/// offset it reached: every message below it was read. That is the range's
/// end, or less when the log ends before it for this reader (a transaction
/// still open at the last stable offset, under `read_committed`).
pub(crate) fn read_range(read: RangeRead, tx: Sender<DFResult<RecordBatch>>) -> Result<i64> {
    read_range_from(read, tx, None).map(|(reached, _)| reached)
}

/// [`read_range`] with the consumer a previous read of the same partition
/// left (used when it stands where this range starts), returning the
/// consumer for the next read when it stands exactly where this one
/// stopped.
pub(crate) fn read_range_from(
    read: RangeRead,
    tx: Sender<DFResult<RecordBatch>>,
    follower: Option<Follower>,
) -> Result<(i64, Option<Follower>)> {
    read_range_watched(read, tx, follower, &mut OrderWatch::default(), None)
}

/// What a read hands to the decoded-log cache besides the query: every
/// batch as read (in the read's projection, the cache's columns), before
/// `project` narrows it to the query's, in steps of about `step` bytes.
struct Tee<'a> {
    cache: &'a TableCache,
    columns: &'a [usize],
    project: &'a [usize],
    partition: i32,
    /// Where the rows in `kept` start: every offset from here up to the
    /// last kept row was read.
    start: i64,
    kept: Vec<RecordBatch>,
    kept_bytes: usize,
    step: usize,
    /// Offsets were jumped over (retention): nothing more is kept.
    broken: bool,
}

impl Tee<'_> {
    fn keep(&mut self, batch: &RecordBatch) {
        if self.broken {
            return;
        }
        self.kept_bytes += batch.get_array_memory_size();
        self.kept.push(batch.clone());
        if self.kept_bytes >= self.step
            && let Some(last) = batch.column_by_name(OFFSET_COLUMN).and_then(|c| {
                let c = c.as_primitive::<Int64Type>();
                (!c.is_empty()).then(|| c.value(c.len() - 1))
            })
        {
            self.hand_over(last + 1);
        }
    }

    /// Gives the cache the rows kept, as the read of `[start, upto)`.
    fn hand_over(&mut self, upto: i64) {
        if self.broken {
            return;
        }
        let range = OffsetRange {
            partition: self.partition,
            start: self.start,
            end: upto,
        };
        self.cache.insert(range, self.columns, std::mem::take(&mut self.kept));
        self.start = upto;
        self.kept_bytes = 0;
    }
}

/// [`read_range_from`] continuing `order`, the order watch of the ranges
/// before it in the partition, and handing what it reads to `tee`.
fn read_range_watched(
    read: RangeRead,
    tx: Sender<DFResult<RecordBatch>>,
    follower: Option<Follower>,
    order: &mut OrderWatch,
    tee: Option<&mut Tee<'_>>,
) -> Result<(i64, Option<Follower>)> {
    let RangeRead {
        cfg,
        schema,
        range,
        projection,
        batch_size,
        limit,
        metrics,
        check,
        event_time,
    } = read;
    // shared by the closure that sends batches and the loop that meets holes
    let tee = tee.map(std::cell::RefCell::new);
    let batch_size = batch_size.max(1);
    let consumer = match follower {
        Some(f) if f.next == range.start => f.consumer,
        Some(f) => {
            client::assign(&f.consumer, &cfg, range.partition, range.start)?;
            f.consumer
        }
        None => {
            let consumer = client::consumer(&cfg)?;
            client::assign(&consumer, &cfg, range.partition, range.start)?;
            consumer
        }
    };
    // whether the consumer's next message is the one at `next` (false once
    // a message past the range was taken from its queue)
    let mut resumable = true;
    let mut decoder = ChunkDecoder::new(range.partition, Arc::clone(&schema), cfg.malformed)
        .map_err(|e| decode_error(&cfg, range.partition, e))?
        .for_projection(projection.as_deref(), event_time);
    let mut chunk = MessageChunk::with_capacity(batch_size.min(range.len() as usize).max(1));
    let mut next = range.start;
    let mut rows_sent = 0usize;
    // When the last message arrived, if none has since: reading the clock
    // for every message would cost more than decoding some of them.
    let mut idle_since: Option<Instant> = None;

    // Decodes the chunk and sends it; false when the scan should stop.
    let mut send = |chunk: &mut MessageChunk, rows_sent: &mut usize| -> Result<bool> {
        let mut batch = metrics
            .decode(&mut decoder, chunk)
            .map_err(|e| decode_error(&cfg, range.partition, e))?
            .batch;
        if let (Some(check), Some(column)) = (&check, event_time)
            && !check.is_contradicted()
            && let Some(what) = skew_beyond(&batch, column, check.margin_ms())
        {
            check.contradict(what);
        }
        if let Some(limit) = limit {
            batch = batch.slice(0, batch.num_rows().min(limit - *rows_sent));
        }
        *rows_sent += batch.num_rows();
        if let Some(p) = &projection {
            batch = batch
                .project(p)
                .map_err(|e| projection_failed(&cfg, range.partition, e))?;
        }
        if let Some(tee) = &tee {
            let mut tee = tee.borrow_mut();
            tee.keep(&batch);
            batch = batch
                .project(tee.project)
                .map_err(|e| projection_failed(&cfg, range.partition, e))?;
        }
        if batch.num_rows() > 0 && tx.blocking_send(Ok(batch)).is_err() {
            return Ok(false); // the query no longer wants rows
        }
        Ok(limit.is_none_or(|l| *rows_sent < l))
    };

    let mut reached = range.end;
    while next < range.end {
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if idle_since.get_or_insert_with(Instant::now).elapsed() > cfg.timeout {
                    return Err(stalled(&cfg, range, next));
                }
                continue;
            }
            Some(Ok(m)) => {
                if m.partition() != range.partition || m.offset() < next {
                    continue;
                }
                if m.offset() >= range.end {
                    resumable = false;
                    break;
                }
                let ts = m.timestamp().to_millis();
                if let (Some(check), Some(ts)) = (&check, ts)
                    && let Some(what) = order.see(m.offset(), ts, check.margin_ms())
                {
                    check.contradict(what);
                }
                chunk.push(m.payload(), m.offset(), ts, m.key());
                next = m.offset() + 1;
                idle_since = None;
                if chunk.len() >= batch_size && !send(&mut chunk, &mut rows_sent)? {
                    return Ok((next, None));
                }
            }
            // Caught up with the log: any offsets left in the range hold no
            // message this reader may see (transaction markers, aborted or
            // compacted records, or a transaction still open); the
            // consumer's position says how far that is.
            Some(Err(KafkaError::PartitionEOF(p))) if p == range.partition => {
                reached = client::position(&consumer, &cfg, range.partition)
                    .unwrap_or(next)
                    .clamp(next, range.end);
                break;
            }
            Some(Err(e)) if client::is_offset_out_of_range(&e) => {
                if let Some(tee) = &tee {
                    // what was read before the hole is whole; what follows it is not kept
                    if !chunk.is_empty() && !send(&mut chunk, &mut rows_sent)? {
                        return Ok((next, None));
                    }
                    let mut tee = tee.borrow_mut();
                    tee.hand_over(next);
                    tee.broken = true;
                }
                next = recover_lost_offsets(&consumer, &cfg, range, next, &metrics)?;
                idle_since = None;
                // the consumer may have stopped fetching at the reset; the
                // next read of this partition starts a new one
                resumable = false;
            }
            Some(Err(e)) => {
                // librdkafka retries transport errors itself; the progress
                // timeout turns a lasting failure into an error.
                log::debug!("{}:{} at offset {next}: {e}", cfg.topic, range.partition);
                if idle_since.get_or_insert_with(Instant::now).elapsed() > cfg.timeout {
                    return Err(PulseError::KafkaPartition {
                        topic: cfg.topic.clone(),
                        partition: range.partition,
                        message: format!("reading stopped at offset {next}: {e}"),
                    });
                }
            }
        }
    }
    if !chunk.is_empty() && !send(&mut chunk, &mut rows_sent)? {
        return Ok((next, None));
    }
    let follower = resumable.then_some(Follower {
        consumer,
        next: reached,
    });
    Ok((reached, follower))
}

/// [`read_range`] through the decoded-log cache: the parts of the range
/// the cache holds are served from memory (checked against the cut like a
/// read), the rest is read from the broker and kept. A read with a row
/// limit, or of a table whose malformed messages are not all rows, reads
/// the broker only.
pub(crate) fn read_range_cached(read: RangeRead, tx: Sender<DFResult<RecordBatch>>, cache: &TableCache) -> Result<i64> {
    if read.limit.is_some() || read.cfg.malformed != MalformedPolicy::DeadLetter {
        return read_range(read, tx);
    }
    let table = &read.schema.table;
    let wanted: Vec<usize> = read
        .projection
        .clone()
        .unwrap_or_else(|| (0..table.fields().len()).collect());
    // the columns kept: those asked for, and those the cache and the checks read
    let mut columns = wanted.clone();
    for name in [OFFSET_COLUMN, TIMESTAMP_COLUMN] {
        columns.extend(table.index_of(name).ok());
    }
    columns.extend(read.event_time);
    columns.sort_unstable();
    columns.dedup();
    let position = |c: &usize| columns.binary_search(c).unwrap_or_else(|_| unreachable!("kept above"));
    let project: Vec<usize> = wanted.iter().map(position).collect();
    let event = read.event_time.as_ref().map(position);
    let names: Vec<&str> = columns.iter().map(|&c| table.field(c).name().as_str()).collect();
    let range = read.range;
    let mut order = OrderWatch::default();
    let mut follower = None;
    for piece in cache.plan(range, &columns, &names.join(", ")) {
        if tx.is_closed() {
            break; // the query no longer wants rows
        }
        match piece {
            Piece::Held(batches) => {
                read.metrics.add_cached(batches.iter().map(RecordBatch::num_rows).sum());
                for batch in batches {
                    if let Some(check) = &read.check {
                        check_held(&batch, check, &mut order, event);
                    }
                    let out = batch
                        .project(&project)
                        .map_err(|e| projection_failed(&read.cfg, range.partition, e))?;
                    if out.num_rows() > 0 && tx.blocking_send(Ok(out)).is_err() {
                        return Ok(range.start); // the query no longer wants rows
                    }
                }
            }
            Piece::Fetch(gap) => {
                let part = RangeRead {
                    cfg: Arc::clone(&read.cfg),
                    schema: Arc::clone(&read.schema),
                    range: gap,
                    projection: Some(columns.clone()),
                    batch_size: read.batch_size,
                    limit: None,
                    metrics: read.metrics.clone(),
                    check: read.check.clone(),
                    event_time: read.event_time,
                };
                let mut tee = Tee {
                    cache,
                    columns: &columns,
                    project: &project,
                    partition: range.partition,
                    start: gap.start,
                    kept: Vec::new(),
                    kept_bytes: 0,
                    step: cache.step_bytes(),
                    broken: false,
                };
                let (upto, next) = read_range_watched(part, tx.clone(), follower.take(), &mut order, Some(&mut tee))?;
                follower = next;
                // every offset below `upto` was read and is kept
                tee.hand_over(upto);
                if upto < gap.end {
                    return Ok(upto);
                }
            }
        }
    }
    Ok(range.end)
}

fn projection_failed(cfg: &KafkaTableConfig, partition: i32, e: impl std::fmt::Display) -> PulseError {
    PulseError::KafkaPartition {
        topic: cfg.topic.clone(),
        partition,
        message: format!("projection failed: {e}"),
    }
}

/// The checks a read makes of each message (its time against those before
/// it) and of each batch (event time against message time), made of rows
/// served from the cache, whose `event` column (if any) is at that index.
fn check_held(batch: &RecordBatch, check: &CutCheck, order: &mut OrderWatch, event: Option<usize>) {
    let (Some(offsets), Some(times)) = (
        batch.column_by_name(OFFSET_COLUMN),
        batch.column_by_name(TIMESTAMP_COLUMN),
    ) else {
        return;
    };
    let offsets = offsets.as_primitive::<Int64Type>();
    let times = times.as_primitive::<TimestampMillisecondType>();
    for i in 0..batch.num_rows() {
        if times.is_valid(i)
            && let Some(what) = order.see(offsets.value(i), times.value(i), check.margin_ms())
        {
            check.contradict(what);
        }
    }
    if let Some(column) = event
        && !check.is_contradicted()
        && let Some(what) = skew_beyond(batch, column, check.margin_ms())
    {
        check.contradict(what);
    }
}

/// The first row of `batch` whose event time (column `event`) is further
/// from its message time than `margin_ms`.
fn skew_beyond(batch: &RecordBatch, event: usize, margin_ms: i64) -> Option<Contradiction> {
    let event = cast(batch.column(event), &utc_millis()).ok()?;
    let event = event.as_primitive::<TimestampMillisecondType>();
    let message = batch
        .column_by_name(TIMESTAMP_COLUMN)?
        .as_primitive::<TimestampMillisecondType>();
    let offsets = batch.column_by_name(OFFSET_COLUMN)?.as_primitive::<Int64Type>();
    (0..batch.num_rows()).find_map(|i| {
        if event.is_null(i) || message.is_null(i) {
            return None;
        }
        let skew = message.value(i).saturating_sub(event.value(i));
        (skew.saturating_abs() > margin_ms).then(|| Contradiction::Skew {
            offset: offsets.value(i),
            skew_ms: skew,
        })
    })
}

/// A decode error as the Kafka table reports it: with the topic and
/// partition of the message's offset.
fn decode_error(cfg: &KafkaTableConfig, partition: i32, e: DecodeError) -> PulseError {
    match e {
        DecodeError::Malformed { offset, reason } => PulseError::Malformed {
            topic: cfg.topic.clone(),
            partition,
            offset,
            reason,
        },
        DecodeError::Schema(message) => PulseError::KafkaPartition {
            topic: cfg.topic.clone(),
            partition,
            message,
        },
    }
}

fn stalled(cfg: &KafkaTableConfig, range: OffsetRange, next: i64) -> PulseError {
    PulseError::KafkaPartition {
        topic: cfg.topic.clone(),
        partition: range.partition,
        message: format!(
            "no message arrived for {:?} while reading offsets {next}..{} (is the broker down, \
             or a transaction open past the snapshot?)",
            cfg.timeout, range.end
        ),
    }
}

/// Retention deleted offsets from `next` on: fail, or warn and resume at the
/// new start of the log. Returns the offset to read next.
fn recover_lost_offsets(
    consumer: &BaseConsumer,
    cfg: &KafkaTableConfig,
    range: OffsetRange,
    next: i64,
    metrics: &ScanMetrics,
) -> Result<i64> {
    let wm = client::watermarks(consumer, cfg, range.partition)?;
    let resume = wm.low.min(range.end);
    if resume <= next {
        return Err(PulseError::KafkaPartition {
            topic: cfg.topic.clone(),
            partition: range.partition,
            message: format!(
                "offset {next} is out of range, but the log holds {}..{}",
                wm.low, wm.high
            ),
        });
    }
    match cfg.on_data_loss {
        DataLossPolicy::Fail => Err(PulseError::DataLoss {
            topic: cfg.topic.clone(),
            partition: range.partition,
            from: next,
            to: resume,
        }),
        DataLossPolicy::Warn => {
            log::warn!(
                "Kafka topic '{}' partition {}: offsets {next}..{resume} were deleted by retention before \
                 they could be read; reading on from {resume}",
                cfg.topic,
                range.partition
            );
            metrics.add_offsets_lost(usize::try_from(resume - next).unwrap_or(usize::MAX));
            if resume < range.end {
                client::assign(consumer, cfg, range.partition, resume)?;
            }
            Ok(resume)
        }
    }
}
