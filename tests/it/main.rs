//! Pulse's integration tests: one binary (link time on two cores matters),
//! one module per feature.
//!
//! Tests that need a broker run against librdkafka's in-process mock
//! always, and against the Kafka-protocol broker that `scripts/test` starts
//! (its address in `PULSE_TEST_KAFKA_BROKERS`) when there is one; without
//! it they say loudly that that half was skipped.

#![allow(clippy::unwrap_used, missing_docs)]

mod cli;
#[cfg(feature = "distributed")]
mod cluster;
mod customers;
mod kafka;
mod lake;
mod live;
mod serve;
mod support;
mod views;
