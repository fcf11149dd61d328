//! The engine's error type.
//!
//! Every error names what went wrong and where: the option key, the topic,
//! the partition and offset, the object key. Inside DataFusion traits the
//! engine returns `datafusion::error::Result`; a [`PulseError`] crosses that
//! boundary through `From<PulseError> for DataFusionError`, which keeps the
//! message intact as an external error.
//!
//! Its `Debug` form is its message: a Ballista executor reports a failed
//! task with `{:?}`, and the user should still read what and where.

use std::fmt;

use datafusion::error::DataFusionError;

impl fmt::Debug for PulseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An error raised by a Pulse table provider.
#[derive(thiserror::Error)]
pub enum PulseError {
    /// A table option has a value that cannot be used.
    #[error("invalid value for table option '{key}': {reason}")]
    InvalidOption {
        /// The option key as written.
        key: String,
        /// Why the value was refused, and what would be accepted.
        reason: String,
    },

    /// A table option that no Pulse table accepts.
    #[error("unknown table option '{key}'; accepted options are: {accepted}")]
    UnknownOption {
        /// The option key as written.
        key: String,
        /// The accepted keys, comma-separated.
        accepted: String,
    },

    /// A Delta table of the lake could not be read or written.
    #[error("lake table {table}: {message}")]
    Lake {
        /// The table's URL.
        table: String,
        /// What failed, with what delta-rs said.
        message: String,
    },

    /// A `LOCATION` that cannot be parsed.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation {
        /// The location as written.
        location: String,
        /// What is wrong with it and the expected form.
        reason: String,
    },

    /// A declared schema that the table cannot serve.
    #[error("invalid schema for {table}: {reason}")]
    InvalidSchema {
        /// The table (topic) the schema was declared for.
        table: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The broker could not be reached, or refused a request for a topic.
    #[error("Kafka topic '{topic}' on {brokers}: {message}")]
    Kafka {
        /// The topic the request was for.
        topic: String,
        /// The bootstrap servers that were asked.
        brokers: String,
        /// What the client or broker said.
        message: String,
    },

    /// A request about one partition failed.
    #[error("Kafka topic '{topic}' partition {partition}: {message}")]
    KafkaPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What the client or broker said, with the offset where one applies.
        message: String,
    },

    /// A message that the table's `fail` policy refuses.
    #[error(
        "malformed message in Kafka topic '{topic}' partition {partition} offset {offset}: {reason} \
         (set 'kafka.malformed' to 'skip' or 'dead_letter' to read past it)"
    )]
    Malformed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The message's offset.
        offset: i64,
        /// What is wrong with the message.
        reason: String,
    },

    /// Offsets that a query's snapshot promised were deleted by retention
    /// before they were read.
    #[error(
        "Kafka topic '{topic}' partition {partition}: offsets {from}..{to} were deleted by retention \
         before they could be read (set 'kafka.on_data_loss' to 'warn' to read what is left)"
    )]
    DataLoss {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The first lost offset.
        from: i64,
        /// One past the last lost offset.
        to: i64,
    },

    /// A JSON-lines file that could not be read.
    #[error("file {file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What went wrong, with the byte position where one applies.
        message: String,
    },

    /// A line of a JSON-lines file that the table's `fail` policy refuses.
    #[error(
        "malformed line {line} (byte {byte}) in {file}: {reason} \
         (set the malformed-message policy to 'skip' or 'dead_letter' to read past it)"
    )]
    MalformedLine {
        /// The file.
        file: String,
        /// The line number, from 1.
        line: u64,
        /// The line's byte position, its `_offset`.
        byte: i64,
        /// What is wrong with the line.
        reason: String,
    },

    /// A versioned SQL view that could not be created.
    #[error("view file {file}: {message}")]
    View {
        /// The view's file, e.g. `sql/views/industry_change_v1.sql`.
        file: String,
        /// What DataFusion said.
        message: String,
    },
}

/// The engine's result type.
pub type Result<T, E = PulseError> = std::result::Result<T, E>;

impl From<PulseError> for DataFusionError {
    fn from(e: PulseError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
