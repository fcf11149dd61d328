//! [`JsonLinesScanExec`]: reads a JSON-lines file, one DataFusion partition
//! per byte range, each on a blocking thread, decoding batch-sized chunks of
//! lines with the message decoder that every source shares
//! ([`crate::messages`]).
//!
//! What must stay true: a range reads exactly the lines that start inside
//! it; every non-blank line is one message whose `_offset` is its byte
//! position, so file order is offset order; a malformed line is an error
//! naming the file, line and byte, or counted, as the policy says.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DFResult;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use tokio::sync::mpsc::Sender;

use super::split::ByteRange;
use crate::error::{PulseError, Result};
use crate::messages::MalformedPolicy;
use crate::messages::decode::{ChunkDecoder, DecodeError, MessageChunk};
use crate::messages::metrics::ScanMetrics;
use crate::messages::schema::{TIMESTAMP_COLUMN, TableSchema, utc_millis};

/// How much of the file one read call asks for.
const READ_BLOCK: usize = 4 << 20;

/// What a scan of a JSON-lines file needs, shared by its partitions.
#[derive(Debug)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct FileScan {
    pub path: PathBuf,
    pub schema: Arc<TableSchema>,
    pub policy: MalformedPolicy,
    /// The data column whose value becomes `_timestamp`, if any.
    pub event_time: Option<usize>,
}

/// Reads byte ranges of one JSON-lines file.
#[derive(Debug)]
pub struct JsonLinesScanExec {
    scan: Arc<FileScan>,
    projection: Option<Vec<usize>>,
    projected: SchemaRef,
    ranges: Vec<ByteRange>,
    limit: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl JsonLinesScanExec {
    pub(crate) fn new(
        scan: Arc<FileScan>,
        projection: Option<Vec<usize>>,
        ranges: Vec<ByteRange>,
        limit: Option<usize>,
    ) -> DFResult<Self> {
        let projected = match &projection {
            Some(p) => Arc::new(scan.schema.table.project(p)?),
            None => Arc::clone(&scan.schema.table),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected)),
            Partitioning::UnknownPartitioning(ranges.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            scan,
            projection,
            projected,
            ranges,
            limit,
            metrics: ExecutionPlanMetricsSet::new(),
            properties: Arc::new(properties),
        })
    }

    /// The byte ranges this plan reads, one per output partition.
    pub fn ranges(&self) -> &[ByteRange] {
        &self.ranges
    }
}

/// A [`JsonLinesScanExec`] as it travels to a Ballista executor. The file
/// is read by its path, so every executor must see it at the same path (a
/// shared volume).
#[cfg(feature = "distributed")]
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct JsonLinesScanWire {
    scan: FileScan,
    projection: Option<Vec<usize>>,
    ranges: Vec<ByteRange>,
    limit: Option<usize>,
}

#[cfg(feature = "distributed")]
impl JsonLinesScanExec {
    /// The scan to ship.
    pub(crate) fn to_wire(&self) -> JsonLinesScanWire {
        JsonLinesScanWire {
            scan: FileScan {
                // absolute: executors run in other directories
                path: std::fs::canonicalize(&self.scan.path).unwrap_or_else(|_| self.scan.path.clone()),
                schema: Arc::clone(&self.scan.schema),
                policy: self.scan.policy,
                event_time: self.scan.event_time,
            },
            projection: self.projection.clone(),
            ranges: self.ranges.clone(),
            limit: self.limit,
        }
    }

    /// The shipped scan.
    pub(crate) fn from_wire(wire: JsonLinesScanWire) -> DFResult<Self> {
        Self::new(Arc::new(wire.scan), wire.projection, wire.ranges, wire.limit)
    }
}

impl DisplayAs for JsonLinesScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let bytes: u64 = self.ranges.iter().map(ByteRange::len).sum();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "JsonLinesScanExec: file={}, bytes={bytes}, ranges=[",
                    self.scan.path.display()
                )?;
                for (i, r) in self.ranges.iter().enumerate() {
                    write!(f, "{}{r}", if i == 0 { "" } else { ", " })?;
                }
                write!(f, "]")?;
                if let Some(limit) = self.limit {
                    write!(f, ", limit={limit}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "file={}", self.scan.path.display())?;
                write!(f, "ranges={}", self.ranges.len())
            }
        }
    }
}

impl ExecutionPlan for JsonLinesScanExec {
    fn name(&self) -> &str {
        "JsonLinesScanExec"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.projected)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DFResult<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.projected), 2);
        let Some(range) = self.ranges.get(partition).copied() else {
            return Ok(builder.build());
        };
        let read = RangeRead {
            scan: Arc::clone(&self.scan),
            range,
            projection: self.projection.clone(),
            batch_size: context.session_config().batch_size().max(1),
            limit: self.limit,
            metrics: ScanMetrics::new(&self.metrics, partition, self.scan.policy),
        };
        let tx = builder.tx();
        builder.spawn_blocking(move || read.run(tx).map_err(Into::into));
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One partition's read.
struct RangeRead {
    scan: Arc<FileScan>,
    range: ByteRange,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    limit: Option<usize>,
    metrics: ScanMetrics,
}

impl RangeRead {
    fn io_error(&self, at: u64, e: std::io::Error) -> PulseError {
        PulseError::File {
            file: self.scan.path.display().to_string(),
            message: format!("cannot read at byte {at}: {e}"),
        }
    }

    /// Reads the range and sends its batches to `tx`.
    fn run(self, tx: Sender<DFResult<RecordBatch>>) -> Result<()> {
        let mut file = File::open(&self.scan.path).map_err(|e| self.io_error(self.range.start, e))?;
        file.seek(SeekFrom::Start(self.range.start))
            .map_err(|e| self.io_error(self.range.start, e))?;
        let mut decoder = ChunkDecoder::new(0, Arc::clone(&self.scan.schema), self.scan.policy)
            .map_err(|e| self.name_line(e))?
            .for_projection(self.projection.as_deref(), self.scan.event_time);
        let mut chunk = MessageChunk::with_capacity(self.batch_size);
        let mut state = SendState {
            rows_sent: 0,
            last_time: None,
        };
        // `buf[..filled]` holds bytes from file position `base` on; lines
        // before `pos` have been taken.
        let mut buf = vec![0u8; READ_BLOCK];
        let (mut base, mut filled, mut pos) = (self.range.start, 0usize, 0usize);
        let mut at_eof = false;
        loop {
            let line_start = base + pos as u64;
            if line_start >= self.range.end {
                break;
            }
            match memchr::memchr(b'\n', &buf[pos..filled]) {
                Some(i) => {
                    take_line(&mut chunk, &buf[pos..pos + i], line_start);
                    pos += i + 1;
                }
                None if at_eof => {
                    // the last line, without a final newline
                    take_line(&mut chunk, &buf[pos..filled], line_start);
                    break;
                }
                None => {
                    // keep the partial line, then read more
                    buf.copy_within(pos..filled, 0);
                    base += pos as u64;
                    filled -= pos;
                    pos = 0;
                    if filled == buf.len() {
                        buf.resize(buf.len() * 2, 0);
                    }
                    let n = file.read(&mut buf[filled..]).map_err(|e| self.io_error(base, e))?;
                    filled += n;
                    at_eof = n == 0;
                    continue;
                }
            }
            if chunk.len() >= self.batch_size && !self.send(&mut decoder, &mut chunk, &mut state, &tx)? {
                return Ok(());
            }
        }
        if !chunk.is_empty() {
            self.send(&mut decoder, &mut chunk, &mut state, &tx)?;
        }
        Ok(())
    }

    /// Decodes the chunk and sends it; false when the scan should stop.
    fn send(
        &self,
        decoder: &mut ChunkDecoder,
        chunk: &mut MessageChunk,
        state: &mut SendState,
        tx: &Sender<DFResult<RecordBatch>>,
    ) -> Result<bool> {
        let decoded = self.metrics.decode(decoder, chunk).map_err(|e| self.name_line(e))?;
        let mut batch = self.with_event_time(decoded.batch, &mut state.last_time)?;
        if let Some(limit) = self.limit {
            batch = batch.slice(0, batch.num_rows().min(limit - state.rows_sent));
        }
        state.rows_sent += batch.num_rows();
        if let Some(p) = &self.projection {
            batch = batch.project(p).map_err(|e| self.internal(e))?;
        }
        if batch.num_rows() > 0 && tx.blocking_send(Ok(batch)).is_err() {
            return Ok(false);
        }
        Ok(self.limit.is_none_or(|l| state.rows_sent < l))
    }

    /// `_timestamp` is the line's event time, in milliseconds like a Kafka
    /// message time; a malformed line takes the time of the well-formed
    /// line before it in its range or, at the start of a range, of the
    /// first one after it, so the data-quality views find it in the window
    /// where it arrived.
    fn with_event_time(&self, batch: RecordBatch, last: &mut Option<i64>) -> Result<RecordBatch> {
        let Some(event) = self.scan.event_time else {
            return Ok(batch);
        };
        let millis = cast(batch.column(event), &utc_millis()).map_err(|e| self.internal(e))?;
        let times = millis.as_primitive::<TimestampMillisecondType>();
        let first_known = times.iter().flatten().next();
        let filled: TimestampMillisecondArray = times
            .iter()
            .map(|t| {
                if t.is_some() {
                    *last = t;
                }
                last.or(first_known)
            })
            .collect::<TimestampMillisecondArray>()
            .with_timezone("UTC");
        let mut columns = batch.columns().to_vec();
        let at = batch
            .schema()
            .index_of(TIMESTAMP_COLUMN)
            .map_err(|e| self.internal(e))?;
        columns[at] = Arc::new(filled) as ArrayRef;
        RecordBatch::try_new(batch.schema(), columns).map_err(|e| self.internal(e))
    }

    /// The decoder names a message by its offset; for a file, the line and
    /// byte say where.
    fn name_line(&self, e: DecodeError) -> PulseError {
        match e {
            DecodeError::Malformed { offset, reason } => PulseError::MalformedLine {
                file: self.scan.path.display().to_string(),
                line: line_number(&self.scan.path, offset as u64).unwrap_or(0),
                byte: offset,
                reason,
            },
            DecodeError::Schema(message) => self.internal(message),
        }
    }

    fn internal(&self, e: impl fmt::Display) -> PulseError {
        PulseError::File {
            file: self.scan.path.display().to_string(),
            message: format!("could not build a record batch: {e}"),
        }
    }
}

struct SendState {
    rows_sent: usize,
    last_time: Option<i64>,
}

/// Adds the line at byte `at` to `chunk`, unless it is blank (a blank line
/// is no message); a CR before the newline is not part of it, and neither
/// is a UTF-8 byte-order mark at the start of the file.
fn take_line(chunk: &mut MessageChunk, line: &[u8], at: u64) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = if at == 0 {
        line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
    } else {
        line
    };
    // blank is JSON's whitespace only: a line of form feeds is a message
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return; // a blank line is no message
    }
    chunk.push(Some(line), at as i64, None, None);
}

/// The 1-based number of the line starting at `byte` (read only on errors).
fn line_number(path: &std::path::Path, byte: u64) -> std::io::Result<u64> {
    let mut file = File::open(path)?.take(byte);
    let mut buf = vec![0u8; 1 << 20];
    let mut newlines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(newlines + 1);
        }
        newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
