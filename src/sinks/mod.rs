//! Where the generator's and the producer's data goes:
//! - [`topic`]: order messages to a Kafka topic, created if missing;
//! - [`customer_batches`]: customer batches as Parquet folders under a
//!   local folder or an S3 prefix.
//!
//! What must stay true: what a sink writes is read back by Pulse's own
//! sources as it was generated: a message's CreateTime is its order's
//! event time, and a batch is written whole before the next.

pub mod customer_batches;
pub mod topic;
