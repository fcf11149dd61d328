//! Pulse: live SQL over Kafka streams joined with batch data on object
//! storage, as an extension of Apache DataFusion.
//!
//! This crate gathers Pulse's library crates under one name for embedding:
//! [`engine`] holds the table providers and session builders, [`udfs`] the
//! SQL functions.

pub use pulse_engine as engine;
pub use pulse_udfs as udfs;
