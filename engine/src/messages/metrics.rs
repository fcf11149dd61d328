//! The counters every message scan reports to `EXPLAIN ANALYZE`, whatever
//! the bytes come from (a Kafka offset range, a byte range of a JSON-lines
//! file): `messages_read`, `bytes_read`, `malformed_skipped` or
//! `malformed_dead_lettered`, `offsets_lost`, and `messages_cached` (rows
//! served from the Kafka table's decoded-log cache instead of read).
//!
//! What must stay true: messages, bytes and malformed messages are counted
//! once per decoded chunk, in [`ScanMetrics::decode`], so no source counts
//! them twice or forgets them; `offsets_lost` counts offsets a source could
//! not read (Kafka retention) and stays 0 for a file.

use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};

use super::decode::{ChunkDecoder, DecodeError, Decoded, MessageChunk};
use super::policy::MalformedPolicy;

/// The counters of one scan partition.
#[derive(Debug, Clone)]
pub(crate) struct ScanMetrics {
    messages: Count,
    bytes: Count,
    malformed: Count,
    offsets_lost: Count,
    cached: Count,
}

impl ScanMetrics {
    /// The counters of output partition `partition`; the malformed counter
    /// is named after what `policy` does with a malformed message.
    pub fn new(metrics: &ExecutionPlanMetricsSet, partition: usize, policy: MalformedPolicy) -> Self {
        let malformed_name = match policy {
            MalformedPolicy::DeadLetter => "malformed_dead_lettered",
            _ => "malformed_skipped",
        };
        Self {
            messages: MetricBuilder::new(metrics).counter("messages_read", partition),
            bytes: MetricBuilder::new(metrics).counter("bytes_read", partition),
            malformed: MetricBuilder::new(metrics).counter(malformed_name, partition),
            offsets_lost: MetricBuilder::new(metrics).counter("offsets_lost", partition),
            cached: MetricBuilder::new(metrics).counter("messages_cached", partition),
        }
    }

    /// Decodes (and empties) `chunk`, counting its messages, bytes and
    /// malformed messages once a chunk rather than once a message.
    pub fn decode(&self, decoder: &mut ChunkDecoder, chunk: &mut MessageChunk) -> Result<Decoded, DecodeError> {
        self.messages.add(chunk.len());
        self.bytes.add(chunk.payload_bytes());
        let decoded = decoder.decode(chunk)?;
        self.malformed.add(decoded.malformed);
        Ok(decoded)
    }

    /// Counts `n` rows served from memory rather than read and decoded.
    pub fn add_cached(&self, n: usize) {
        self.cached.add(n);
    }

    /// Counts `n` offsets that were deleted before they could be read.
    pub fn add_offsets_lost(&self, n: usize) {
        self.offsets_lost.add(n);
    }
}
