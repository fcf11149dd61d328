//! From message bytes to order rows, whatever the bytes come from: a Kafka
//! partition, a line of a JSON-lines file, and (later) the lake's ingest.
//!
//! - [`schema`]: a table's data columns, then the metadata columns
//!   `_partition`, `_offset`, `_timestamp`, `_key`, `_error` and `_warning`;
//! - [`policy`]: what a malformed message becomes ([`MalformedPolicy`]);
//! - `json`: a strict JSON reader (the syntax); `columns`: typed columns
//!   that read values from it (the field contract); `decimal`: exact
//!   decimals from number text;
//! - `decode`: chunks of message payloads to Arrow record batches, one
//!   message one row, each malformed message found and named by its
//!   position;
//! - `metrics`: the counters every scan reports to `EXPLAIN ANALYZE`.
//!
//! A source (`kafka/`, `jsonl/`) fills a `MessageChunk` with payloads and
//! their positions, asks a `ChunkDecoder` for rows, and turns a decode
//! error into its own (topic, partition and offset; or file, line and
//! byte). No source module imports another.
//!
//! What must stay true: one message is one row or one malformed entry,
//! never two and never a neighbour's; the same bytes decode to the same row
//! whichever source delivered them.

pub(crate) mod columns;
mod decimal;
pub(crate) mod decode;
pub(crate) mod json;
pub(crate) mod metrics;
pub mod policy;
pub mod schema;

pub use decode::DecodeError;
pub use policy::MalformedPolicy;
pub use schema::{
    ERROR_COLUMN, KEY_COLUMN, METADATA_COLUMNS, OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN, TableSchema,
    VALUE_COLUMN, WARNING_COLUMN, decode_schema, money, orders_schema, utc_nanos,
};
