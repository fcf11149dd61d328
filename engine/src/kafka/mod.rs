//! A Kafka topic of JSON messages as a DataFusion table.
//!
//! The pieces, in the order a query meets them:
//! - [`config`]: the typed configuration and the `OPTIONS` parser;
//! - [`factory`]: `CREATE EXTERNAL TABLE … STORED AS KAFKA`;
//! - [`schema`]: data columns, then `_partition`, `_offset`, `_timestamp`,
//!   `_key`, and `_error` (filled under `dead_letter`);
//! - [`provider`]: the `TableProvider`, which plans a scan;
//! - [`pushdown`]: filters to bounds, a pure function;
//! - [`offsets`]: bounds to offset ranges over one snapshot of watermarks,
//!   with the broker's timestamp answers checked and searched around;
//! - [`exec`]: the `ExecutionPlan`, one DataFusion partition per range;
//! - `stream`: reading one range on a blocking thread;
//! - `decode`: JSON payloads to Arrow, with the malformed-message policy;
//! - `client`: the librdkafka calls.
//!
//! What must stay true across them: a query reads one bounded snapshot, a
//! wrong broker answer never changes a result, and no message is lost
//! without an error or a count.

mod client;
pub mod config;
pub(crate) mod decode;
pub mod exec;
pub mod factory;
pub mod offsets;
pub mod provider;
pub mod pushdown;
pub mod schema;
pub(crate) mod stream;

pub use client::scan_client_config;
pub use config::{DataLossPolicy, KafkaTableConfig, MalformedPolicy, TimestampLookup};
pub use exec::KafkaScanExec;
pub use factory::{KAFKA_FORMAT, KafkaTableFactory};
pub use offsets::OffsetRange;
pub use provider::KafkaTable;
pub use schema::{decode_schema, orders_schema};
