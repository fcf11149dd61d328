//! Shared fixtures: Kafka brokers to test against, producing messages with
//! chosen partitions, keys and timestamps, and running SQL.
//!
//! What must stay true: every fixture cleans up what it started (the mock
//! broker dies with its handle; topics on the external broker have unique
//! names), and a missing external broker is reported, never silently passed.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::arrow::util::display::array_value_to_string;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use pulse::engine::session::pulse_context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The environment variable naming the external test broker.
pub const BROKERS_ENV: &str = "PULSE_TEST_KAFKA_BROKERS";

/// A broker to run a test against.
pub enum Broker {
    /// librdkafka's in-process mock (answers every timestamp lookup with -1).
    Mock(MockCluster<'static, DefaultProducerContext>),
    /// A real Kafka-protocol broker.
    External(String),
}

impl Broker {
    pub fn name(&self) -> &'static str {
        match self {
            Broker::Mock(_) => "mock",
            Broker::External(_) => "external",
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Broker::Mock(m) => m.bootstrap_servers(),
            Broker::External(b) => b.clone(),
        }
    }

    /// Creates a topic with a unique name derived from `base`, and returns it.
    pub async fn topic(&self, base: &str, partitions: i32) -> String {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{base}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        match self {
            Broker::Mock(m) => m.create_topic(&name, partitions, 1).unwrap(),
            Broker::External(b) => {
                let admin: AdminClient<DefaultClientContext> =
                    ClientConfig::new().set("bootstrap.servers", b).create().unwrap();
                // Brokers apply retention to CreateTime: keep old test messages.
                let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
                let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
                for r in admin.create_topics([&topic], &opts).await.unwrap() {
                    r.unwrap();
                }
            }
        }
        name
    }
}

/// The brokers to test against: the mock always, the external one when
/// `scripts/test` (or the user) named it.
pub fn brokers() -> Vec<Broker> {
    let mut out = vec![Broker::Mock(MockCluster::new(1).unwrap())];
    match std::env::var(BROKERS_ENV) {
        Ok(b) if !b.trim().is_empty() => out.push(Broker::External(b)),
        _ => eprintln!(
            "\n*** SKIPPED the external-broker half of this test: {BROKERS_ENV} is not set. \
             Run scripts/test to start noida-db and run it. ***\n"
        ),
    }
    out
}

/// One message to produce.
#[derive(Clone, Debug)]
pub struct Msg {
    pub partition: i32,
    pub timestamp_ms: i64,
    pub key: Option<String>,
    pub payload: Option<String>,
}

impl Msg {
    pub fn new(partition: i32, timestamp_ms: i64, payload: impl Into<String>) -> Self {
        Self {
            partition,
            timestamp_ms,
            key: None,
            payload: Some(payload.into()),
        }
    }

    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }
}

/// An order as JSON, with its event time in epoch milliseconds.
pub fn order(id: &str, customer: &str, amount: f64, ts_ms: i64) -> String {
    format!(
        r#"{{"order_id":"{id}","customer_id":"{customer}","order_line":[{{"product_id":"p1","volume":1,"price":{amount}}}],"amount":{amount},"timestamp":{ts_ms}}}"#
    )
}

/// Produces `msgs` in order and waits until all are acknowledged.
pub fn produce(bootstrap: &str, topic: &str, msgs: &[Msg]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("enable.idempotence", "false")
        .create()
        .unwrap();
    for m in msgs {
        let mut record: BaseRecord<'_, str, str> =
            BaseRecord::to(topic).partition(m.partition).timestamp(m.timestamp_ms);
        if let Some(k) = &m.key {
            record = record.key(k.as_str());
        }
        if let Some(p) = &m.payload {
            record = record.payload(p.as_str());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A Pulse session with `orders` registered over `topic`.
pub async fn orders_table(bootstrap: &str, topic: &str, options: &str) -> SessionContext {
    let ctx = pulse_context();
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(" OPTIONS ({options})")
    };
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE orders STORED AS KAFKA LOCATION 'kafka://{bootstrap}/{topic}'{options}"
    ))
    .await
    .unwrap();
    ctx
}

/// Runs `sql` and returns the result as a pretty table.
pub async fn table(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Runs `sql` and returns each row as its values joined by ", " (NULL as
/// an empty string), so assertions do not depend on column widths.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let values: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        String::new()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect();
            out.push(values.join(", "));
        }
    }
    out
}

/// Runs `sql` and returns the error text.
pub async fn error(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => df
            .collect()
            .await
            .expect_err(&format!("expected {sql} to fail"))
            .to_string(),
    }
}

/// The text of the physical plan of `sql`.
pub async fn physical_plan(ctx: &SessionContext, sql: &str) -> String {
    table(ctx, &format!("EXPLAIN {sql}")).await
}

/// Deletes the records before `before` in `partition`, as retention would.
/// Returns false when the broker does not support DeleteRecords.
pub async fn delete_records(bootstrap: &str, topic: &str, partition: i32, before: i64) -> bool {
    use rdkafka::{Offset, TopicPartitionList};
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(before))
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    match admin.delete_records(&tpl, &opts).await {
        Ok(result) => result.elements().iter().all(|e| e.error().is_ok()),
        Err(e) => {
            eprintln!("DeleteRecords is not supported here: {e}");
            false
        }
    }
}

/// Writes one customer batch folder, `batch_id=<id>`, whole: its file is
/// written elsewhere and the folder renamed into `customers`, as an
/// uploader that finishes a batch before naming it would.
pub fn write_customer_batch(customers: &Path, scratch: &Path, id: &str, ids: &[String]) {
    use datafusion::arrow::array::{ListBuilder, RecordBatch, StringArray, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "specialised_industries",
            DataType::List(std::sync::Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
    ]));
    let mut industries = ListBuilder::new(StringBuilder::new());
    for i in 0..ids.len() {
        industries
            .values()
            .append_value(["Cosmetics", "Technology", "Retail"][i % 3]);
        industries.append(true);
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(StringArray::from(ids.to_vec())),
            std::sync::Arc::new(industries.finish()),
        ],
    )
    .unwrap();
    let staged = scratch.join(format!("staged-{id}"));
    std::fs::create_dir_all(&staged).unwrap();
    let file = std::fs::File::create(staged.join("part-0.parquet")).unwrap();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::rename(&staged, customers.join(format!("batch_id={id}"))).unwrap();
}
