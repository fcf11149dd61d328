//! Pulse's engine: DataFusion table providers for live SQL over Kafka
//! topics joined with batch data on object storage.
//!
//! - [`messages`]: message bytes to order rows, shared by every source:
//!   the table schema and metadata columns, the decoder, the
//!   malformed-message policy and the scan metrics.
//! - [`kafka`]: a topic of JSON messages as a table (`STORED AS KAFKA`),
//!   with bounded-snapshot, partition-parallel scans and
//!   timestamp-to-offset pushdown.
//! - [`jsonl`]: a JSON-lines file of messages as a one-partition log with
//!   the Kafka table's columns (`pulse answer --orders FILE`).
//! - [`customers`]: customer batches as deduplicated tables (`STORED AS
//!   CUSTOMER_BATCHES`).
//! - [`lake`]: the `dal` lake of Delta tables, `pulse ingest` (exactly
//!   once from Kafka), and `orders` = lake ∪ Kafka tail.
//! - [`live`]: views a live session keeps up to date by what is new
//!   (`customer_window_sums`), instead of computing them again.
//! - `distributed` (feature `distributed`): Pulse on Ballista, the codecs
//!   that ship its tables and scans and the cluster's roles.
//! - [`storage`]: object-store locations (S3, MinIO, local folders).
//! - [`session`]: sessions with every Pulse factory and function registered.
//! - [`views`]: the versioned SQL views of the answer and their loader.
//! - [`error`]: the engine's error type.
//!
//! What must stay true: inside DataFusion traits the engine returns
//! DataFusion's `Result`, and its own errors name what went wrong and where.

pub mod customers;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
pub mod jsonl;
pub mod kafka;
pub mod lake;
pub mod live;
pub mod messages;
pub mod session;
pub mod storage;
#[cfg(test)]
mod test_rng;
pub mod views;

pub use error::{PulseError, Result};
