//! The `pulse` command's one error type, [`CliError`], and [`Context`], which
//! adds what a bare library error does not say (the topic, the path, the
//! broker) on the way up.
//!
//! What must stay true: every error reaches the user as one line that names
//! what went wrong and where; DataFusion's wrapping of Pulse's own errors
//! ("External error: …") is not shown, because it adds nothing for a user.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;
use pulse::engine::PulseError;
use rdkafka::error::KafkaError;

/// An error of a `pulse` command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments or input that cannot be used; the message says how to
    /// fix them.
    #[error("{0}")]
    Usage(String),
    /// A Pulse table or view refused something.
    #[error("{0}")]
    Engine(#[from] PulseError),
    /// Planning or running a query failed.
    #[error("{}", without_wrapper(.0))]
    DataFusion(#[from] DataFusionError),
    /// Arrow could not build, read or write a batch.
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    /// A Parquet file could not be written.
    #[error("{0}")]
    Parquet(#[from] ParquetError),
    /// The Kafka client or broker refused a request.
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// An object store (S3, MinIO, a folder) refused a request.
    #[error("{0}")]
    ObjectStore(#[from] object_store::Error),
    /// Reading or writing a local file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A task on a blocking thread panicked or was cancelled.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    /// An error with what was being done when it happened.
    #[error("{context}: {source}")]
    Context {
        /// What was being done, naming the thing: "cannot write orders.jsonl".
        context: String,
        /// What went wrong.
        source: Box<CliError>,
    },
}

impl CliError {
    /// A usage error with `message`.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }
}

/// DataFusion's message for `e`, without the "External error: " that it
/// puts before the errors of Pulse's own tables.
fn without_wrapper(e: &DataFusionError) -> String {
    e.to_string().replace("External error: ", "")
}

/// Adds context to an error on its way to the user.
pub trait Context<T> {
    /// On error, says what was being done: `context()` should name the
    /// thing (the path, the topic, the broker).
    fn context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T, CliError>;
}

impl<T, E: Into<CliError>> Context<T> for Result<T, E> {
    fn context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T, CliError> {
        self.map_err(|e| CliError::Context {
            context: context().into(),
            source: Box::new(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_comes_first_and_datafusions_wrapper_is_dropped() {
        let e: Result<(), DataFusionError> = Err(DataFusionError::External(Box::new(PulseError::File {
            file: "orders.jsonl".into(),
            message: "cannot open: denied".into(),
        })));
        let shown = e.context(|| "loading the orders").unwrap_err().to_string();
        assert_eq!(shown, "loading the orders: file orders.jsonl: cannot open: denied");
    }
}
