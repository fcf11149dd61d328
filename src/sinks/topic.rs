//! Writing order messages to Kafka: creating the topic, and producing with
//! each message's CreateTime and key.
//!
//! What must stay true: every message's CreateTime is its order's event time
//! (the `timestamp` field), so that a topic's time index matches its orders;
//! topics Pulse creates keep their messages (`retention.ms=-1`) unless told
//! otherwise, because brokers apply retention to CreateTime and backfilled
//! history would otherwise be deleted at once.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{CliError, Context};
use crate::generator::OrderMessage;

/// A producer to one topic.
pub struct TopicWriter {
    producer: BaseProducer,
    topic: String,
}

impl TopicWriter {
    /// A producer for `topic` on `brokers`.
    pub fn new(brokers: &str, topic: &str) -> Result<Self, CliError> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000")
            .create()
            .context(|| format!("cannot create a producer for {brokers}"))?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Queues one generated message, waiting while the local queue is full.
    pub fn send(&self, m: &OrderMessage) -> Result<(), CliError> {
        self.send_raw(&m.key, m.timestamp_ms, m.payload.as_bytes())
    }

    /// Queues one message of any bytes, with its key and CreateTime.
    pub fn send_raw(&self, key: &str, timestamp_ms: i64, payload: &[u8]) -> Result<(), CliError> {
        let mut record = BaseRecord::to(&self.topic)
            .payload(payload)
            .key(key)
            .timestamp(timestamp_ms);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = r;
                }
                Err((e, _)) => return Err(e).context(|| format!("cannot send to topic '{}'", self.topic)),
            }
        }
    }

    /// Waits until every queued message is acknowledged.
    pub fn flush(&self) -> Result<(), CliError> {
        self.producer
            .flush(Duration::from_secs(120))
            .context(|| format!("topic '{}': not every message was acknowledged", self.topic))
    }
}

/// Creates `topic` with `partitions` unless it exists; returns true if it
/// created it. `retention` is `retention.ms` (`-1` keeps messages forever).
/// The librdkafka calls block, so it runs on a blocking thread.
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32, retention: &str) -> Result<bool, CliError> {
    let (b, t, r) = (brokers.to_string(), topic.to_string(), retention.to_string());
    tokio::task::spawn_blocking(move || ensure_topic_blocking(&b, &t, partitions, &r))
        .await
        .context(|| format!("creating topic '{topic}' was cancelled"))?
}

fn ensure_topic_blocking(brokers: &str, topic: &str, partitions: i32, retention: &str) -> Result<bool, CliError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()
        .context(|| format!("cannot create a client for {brokers}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context(|| format!("cannot reach the Kafka broker at {brokers}"))?;
    let exists = metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    if exists {
        return Ok(false);
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context(|| format!("cannot create an admin client for {brokers}"))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1)).set("retention.ms", retention);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&new], &opts))
        .context(|| format!("cannot create topic '{topic}' on {brokers}"))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => return Ok(false),
            Err((t, e)) => {
                return Err(KafkaError::AdminOp(e)).context(|| format!("cannot create topic '{t}' on {brokers}"));
            }
        }
    }
    Ok(true)
}
