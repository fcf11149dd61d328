//! A Kafka topic of JSON messages as a DataFusion table.
//!
//! The pieces, in the order a query meets them:
//! - [`config`]: the typed configuration and the `OPTIONS` parser;
//! - [`factory`]: `CREATE EXTERNAL TABLE … STORED AS KAFKA`;
//! - [`provider`]: the `TableProvider`, which plans a scan;
//! - [`pushdown`]: filters to bounds, a pure function;
//! - [`snapshot`]: one cut of the topic per statement, printed and pinned
//!   through `pulse.offsets`; [`pulse_cut`]: `pulse_cut()`, the cuts read;
//! - [`offsets`]: bounds to offset ranges over one snapshot of watermarks,
//!   with the broker's timestamp answers checked and searched around;
//! - [`exec`]: the `ExecutionPlan`, one DataFusion partition per range;
//! - `cut_check`: checking a time cut against the messages it read, and
//!   reading the rest of a partition whose messages contradict it;
//! - [`cache`]: the decoded-log cache, which serves a range's rows from
//!   memory when a scan of the session decoded them before;
//! - `stream`: reading one range on a blocking thread, decoding its
//!   messages with [`crate::messages`];
//! - `client`: the librdkafka calls.
//!
//! The table's columns and the decoding of its messages are
//! [`crate::messages`]'; this module only says which bytes to decode.
//!
//! What must stay true across them: a query reads one bounded snapshot, a
//! wrong broker answer never changes a result, and no message is lost
//! without an error or a count.

pub mod cache;
pub(crate) mod client;
pub mod config;
pub(crate) mod cut_check;
pub mod exec;
pub mod factory;
pub mod offsets;
pub mod provider;
pub mod pulse_cut;
pub mod pushdown;
pub mod snapshot;
pub(crate) mod stream;

pub use cache::{CacheTable, DecodedLogCache};
pub use client::scan_client_config;
pub use config::{DataLossPolicy, KafkaTableConfig, TimestampLookup};
pub use exec::KafkaScanExec;
pub use factory::{KAFKA_FORMAT, KafkaTableFactory};
pub use offsets::{OffsetRange, PartitionCut};
pub use provider::KafkaTable;
pub use pulse_cut::PulseCutFunction;
pub use snapshot::{Cut, CutLog};
