//! Pulse's engine: DataFusion table providers for live SQL over Kafka
//! topics joined with batch data on object storage.
//!
//! - [`kafka`]: a topic of JSON messages as a table (`STORED AS KAFKA`),
//!   with bounded-snapshot, partition-parallel scans and
//!   timestamp-to-offset pushdown.
//! - [`session`]: sessions with every Pulse factory registered.
//! - [`error`]: the engine's error type.
//!
//! What must stay true: inside DataFusion traits the engine returns
//! DataFusion's `Result`, and its own errors name what went wrong and where.

pub mod error;
pub mod kafka;
pub mod session;

pub use error::{PulseError, Result};
