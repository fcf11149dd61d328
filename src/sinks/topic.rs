//! Writing order messages to Kafka: creating the topic, producing with the
//! message's CreateTime and key, and reading a JSON-lines file of orders.
//!
//! What must stay true: every message's CreateTime is its order's event time
//! (the `timestamp` field), so that a topic's time index matches its orders;
//! topics Pulse creates keep their messages (`retention.ms=-1`) unless told
//! otherwise, because brokers apply retention to CreateTime and backfilled
//! history would otherwise be deleted at once.

use std::io::BufRead;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::CliError;
use crate::generate::OrderMessage;

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
            .map_err(|e| CliError(format!("cannot create a producer for {brokers}: {e}")))?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Queues one message, waiting while the local queue is full.
    pub fn send(&self, m: &OrderMessage) -> Result<(), CliError> {
        let mut record = BaseRecord::to(&self.topic)
            .payload(m.payload.as_str())
            .key(m.key.as_str())
            .timestamp(m.timestamp_ms);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = r;
                }
                Err((e, _)) => return Err(CliError(format!("cannot send to topic '{}': {e}", self.topic))),
            }
        }
    }

    /// Waits until every queued message is acknowledged.
    pub fn flush(&self) -> Result<(), CliError> {
        self.producer.flush(Duration::from_secs(120)).map_err(|e| {
            CliError(format!(
                "topic '{}': not every message was acknowledged: {e}",
                self.topic
            ))
        })
    }
}

/// Creates `topic` with `partitions` unless it exists; returns true if it
/// created it. `retention` is `retention.ms` (`-1` keeps messages forever).
/// The librdkafka calls block, so it runs on a blocking thread.
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32, retention: &str) -> Result<bool, CliError> {
    let (brokers, topic, retention) = (brokers.to_string(), topic.to_string(), retention.to_string());
    tokio::task::spawn_blocking(move || ensure_topic_blocking(&brokers, &topic, partitions, &retention))
        .await
        .map_err(|e| CliError(format!("topic creation was cancelled: {e}")))?
}

fn ensure_topic_blocking(brokers: &str, topic: &str, partitions: i32, retention: &str) -> Result<bool, CliError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()
        .map_err(|e| CliError(format!("cannot create a client for {brokers}: {e}")))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| CliError(format!("cannot reach the Kafka broker at {brokers}: {e}")))?;
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
        .map_err(|e| CliError(format!("cannot create an admin client for {brokers}: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1)).set("retention.ms", retention);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&new], &opts))
        .map_err(|e| CliError(format!("cannot create topic '{topic}' on {brokers}: {e}")))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => return Ok(false),
            Err((t, e)) => return Err(CliError(format!("cannot create topic '{t}' on {brokers}: {e}"))),
        }
    }
    Ok(true)
}

/// The fields of an order line that its message needs: the key and the
/// time, each read on its own (a field of another type is `Other`); the
/// other fields are skipped unparsed. A line that is not a JSON object has
/// neither.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    customer_id: Option<Field<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Field<'a>>,
}

/// A JSON field as a message needs it: text, an integer, or anything else.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Field<'a> {
    Text(#[serde(borrow)] std::borrow::Cow<'a, str>),
    Integer(i64),
    Other(serde::de::IgnoredAny),
}

/// Reads a JSON-lines file of order messages. Each message's time is its
/// `timestamp` field (RFC 3339 text or epoch milliseconds) and its key its
/// `customer_id`; a line without a readable time takes the previous line's.
/// Lines that are not orders are kept: the table's malformed-message policy
/// decides about them.
pub fn read_orders_file(
    path: &std::path::Path,
    mut each: impl FnMut(OrderMessage) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let (mut n, mut last_time) = (0u64, 0i64);
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = std::str::from_utf8(&line)
            .map_err(|_| CliError(format!("{} line {n}: not UTF-8 text", path.display())))?
            .trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        // only the two fields a message needs, borrowed from the line
        let probe: Option<Probe> = serde_json::from_str(text).ok();
        let time = match probe.as_ref().and_then(|p| p.timestamp.as_ref()) {
            Some(Field::Integer(ms)) => Some(*ms),
            Some(Field::Text(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_millis()),
            _ => None,
        };
        last_time = time.unwrap_or(last_time);
        let key = match probe.and_then(|p| p.customer_id) {
            Some(Field::Text(id)) => id.into_owned(),
            _ => String::new(),
        };
        each(OrderMessage {
            key,
            timestamp_ms: last_time,
            payload: text.to_string(),
        })?;
    }
    Ok(n)
}
