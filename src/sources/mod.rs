//! Where `pulse answer` and `pulse sql` get their data: a Kafka topic or a
//! file of orders (JSON lines or Parquet), and a location of customer batches; or,
//! without either, the embedded default (an in-process Kafka broker and a
//! local folder, filled by the generator).
//!
//! What must stay true: whatever the sources, the session ends with the
//! tables `orders`, `customers` and `customers_history` and every view, so
//! the same SQL answers on each; and it says what it ran on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DurationRound, Utc};
use clap::Args;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use pulse::engine::jsonl::JsonLinesTable;
use pulse::engine::kafka::{MalformedPolicy, orders_schema};
use pulse::engine::views::load_views;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::CliError;
use crate::batches_out::write_batches;
use crate::generate::{Generator, GeneratorConfig};
use crate::kafka_out::TopicWriter;

/// The source options shared by `answer` and `sql`.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// Kafka bootstrap servers (host:port[,host:port]) of the orders topic.
    #[arg(long, value_name = "HOST:PORT", env = "PULSE_BROKERS")]
    pub brokers: Option<String>,
    /// The orders topic.
    #[arg(long, default_value = "orders", env = "PULSE_TOPIC")]
    pub topic: String,
    /// A table option of the orders topic, e.g. kafka.lateness=15m or
    /// kafka.client.security.protocol=SASL_SSL (repeatable).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", requires = "brokers")]
    pub kafka_options: Vec<String>,
    /// A file of orders instead of a topic: JSON lines (partition 0, offset = the line's byte position),
    /// or Parquet with `_partition` and `_offset` columns (`.parquet`).
    #[arg(long, value_name = "PATH", conflicts_with = "brokers")]
    pub orders: Option<PathBuf>,
    /// Customer batches: an S3 prefix (s3://bucket/prefix/), a local folder or a file:// URL.
    #[arg(long, value_name = "URL", env = "PULSE_CUSTOMERS")]
    pub customers: Option<String>,
}

impl SourceArgs {
    fn is_empty(&self) -> bool {
        self.brokers.is_none() && self.orders.is_none() && self.customers.is_none()
    }
}

/// What a loaded session runs on. Dropping it stops the embedded broker and
/// removes the embedded data.
pub struct Loaded {
    /// What the session runs on, for the user.
    pub description: String,
    _cluster: Option<MockCluster<'static, DefaultProducerContext>>,
    _dir: Option<tempfile::TempDir>,
}

/// Registers the sources in `ctx` and loads the views.
pub async fn load(ctx: &SessionContext, args: &SourceArgs) -> Result<Loaded, CliError> {
    if args.is_empty() {
        return embedded_default(ctx).await;
    }
    let Some(customers) = &args.customers else {
        return Err(CliError("give --customers URL with --brokers or --orders".into()));
    };
    let orders = match (&args.brokers, &args.orders) {
        (Some(brokers), _) => {
            register_orders(ctx, brokers, &args.topic, &args.kafka_options).await?;
            format!("Kafka topic '{}' on {brokers}", args.topic)
        }
        (None, Some(path)) => register_orders_file(ctx, path).await?,
        (None, None) => {
            return Err(CliError(
                "give --brokers HOST:PORT --topic NAME, or --orders PATH".into(),
            ));
        }
    };
    register_customers(ctx, customers).await?;
    load_views(ctx).await.map_err(|e| CliError(e.to_string()))?;
    Ok(Loaded {
        description: format!("orders from {orders}; customers from {customers}"),
        _cluster: None,
        _dir: None,
    })
}

async fn sql(ctx: &SessionContext, statement: &str) -> Result<(), CliError> {
    let df = ctx.sql(statement).await.map_err(|e| CliError(e.to_string()))?;
    df.collect().await.map_err(|e| CliError(e.to_string()))?;
    Ok(())
}

async fn register_orders(ctx: &SessionContext, brokers: &str, topic: &str, options: &[String]) -> Result<(), CliError> {
    // Malformed messages become rows with `_error`, so the answer goes on and
    // the data-quality views show them; --kafka-option can say otherwise.
    let mut pairs = vec![("kafka.malformed".to_string(), "dead_letter".to_string())];
    for option in options {
        let (key, value) = option.split_once('=').ok_or_else(|| {
            CliError(format!(
                "--kafka-option '{option}': use KEY=VALUE, e.g. kafka.lateness=15m"
            ))
        })?;
        pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(key.trim()));
        pairs.push((key.trim().to_string(), value.to_string()));
    }
    let quote = |s: &str| s.replace('\'', "''");
    let options: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("'{}' '{}'", quote(k), quote(v)))
        .collect();
    sql(
        ctx,
        &format!(
            "CREATE EXTERNAL TABLE orders STORED AS KAFKA LOCATION 'kafka://{brokers}/{topic}' OPTIONS ({})",
            options.join(", ")
        ),
    )
    .await
}

/// Registers a file of orders as `orders`, with the columns of the Kafka
/// table: a JSON-lines file through [`JsonLinesTable`], a Parquet file (an
/// export of a topic) through a view that adds what Parquet cannot hold.
async fn register_orders_file(ctx: &SessionContext, path: &Path) -> Result<String, CliError> {
    let is_parquet = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        let table = JsonLinesTable::try_new(path, MalformedPolicy::DeadLetter).map_err(|e| CliError(e.to_string()))?;
        ctx.register_table("orders", Arc::new(table))
            .map_err(|e| CliError(e.to_string()))?;
        return Ok(format!("the JSON-lines file {}", path.display()));
    }
    let name = path.display().to_string();
    if !path.exists() {
        return Err(CliError(format!("cannot open {name}: no such file")));
    }
    // the file's own extension, so that ORDERS.PARQUET is read too
    let extension = format!(".{}", path.extension().and_then(|e| e.to_str()).unwrap_or("parquet"));
    let options = ParquetReadOptions {
        file_extension: &extension,
        ..Default::default()
    };
    ctx.register_parquet("orders_parquet", &name, options)
        .await
        .map_err(|e| CliError(format!("cannot read {name}: {e}")))?;
    let schema = ctx
        .table("orders_parquet")
        .await
        .map_err(|e| CliError(e.to_string()))?
        .schema()
        .clone();
    let expected = orders_schema();
    let wanted = expected
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .chain(["_partition", "_offset"]);
    let missing: Vec<&str> = wanted
        .filter(|c| schema.field_with_unqualified_name(c).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(CliError(format!(
            "{name} has no column {}: a Parquet file of orders needs the order columns and the Kafka \
             position of each order (_partition, _offset), which decides between duplicates",
            missing.join(", ")
        )));
    }
    // Parquet holds typed rows only: nothing is malformed, and the log time
    // is the event time.
    sql(
        ctx,
        "CREATE VIEW orders AS SELECT order_id, customer_id, order_line, amount, \"timestamp\", \
         CAST(_partition AS INT) AS _partition, CAST(_offset AS BIGINT) AS _offset, \
         \"timestamp\" AS _timestamp, CAST(NULL AS VARCHAR) AS _key, CAST(NULL AS VARCHAR) AS _error \
         FROM orders_parquet",
    )
    .await?;
    Ok(format!("the Parquet file {name}"))
}

async fn register_customers(ctx: &SessionContext, location: &str) -> Result<(), CliError> {
    for (name, view) in [("customers", "latest"), ("customers_history", "history")] {
        sql(
            ctx,
            &format!(
                "CREATE EXTERNAL TABLE {name} STORED AS CUSTOMER_BATCHES LOCATION '{location}' \
                 OPTIONS ('customers.view' '{view}')"
            ),
        )
        .await?;
    }
    Ok(())
}

/// The embedded default's generator settings: 32 days ending now.
pub fn embedded_config() -> GeneratorConfig {
    let end = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    GeneratorConfig {
        seed: 42,
        customers: 1_000,
        days: 32,
        orders_per_day: 3_000.0,
        end,
        batch_every_hours: 12,
        shocks: GeneratorConfig::default_shocks(),
    }
}

async fn embedded_default(ctx: &SessionContext) -> Result<Loaded, CliError> {
    let config = embedded_config();
    let generator = Generator::new(config.clone());
    let dir = tempfile::Builder::new()
        .prefix("pulse-embedded-")
        .tempdir()
        .map_err(|e| CliError(format!("cannot create a scratch folder: {e}")))?;
    let folder = dir.path().join("customers").display().to_string();
    let rows = write_batches(ctx.runtime_env().as_ref(), &folder, generator.batches()).await?;
    let cluster = MockCluster::new(1).map_err(|e| CliError(format!("cannot start the embedded broker: {e}")))?;
    cluster
        .create_topic("orders", 3, 1)
        .map_err(|e| CliError(e.to_string()))?;
    let bootstrap = cluster.bootstrap_servers();
    let writer = TopicWriter::new(&bootstrap, "orders")?;
    let messages = generator
        .orders(|m| writer.send(&m).map_err(|e| std::io::Error::other(e.0)))
        .map_err(|e| CliError(e.to_string()))?;
    writer.flush()?;
    register_orders(ctx, &bootstrap, "orders", &[]).await?;
    register_customers(ctx, &folder).await?;
    load_views(ctx).await.map_err(|e| CliError(e.to_string()))?;
    let description = format!(
        "the embedded default: {messages} generated order messages over {} days up to {} in an in-process Kafka \
         topic 'orders' (librdkafka's mock broker, 3 partitions), and {} customer batches ({rows} rows) in {folder}; \
         seed {}, with shocks {}",
        config.days,
        config.end.format("%Y-%m-%dT%H:%MZ"),
        generator.batches().len(),
        config.seed,
        config
            .shocks
            .iter()
            .map(|(i, f)| format!("{i} x{f}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Loaded {
        description,
        _cluster: Some(cluster),
        _dir: Some(dir),
    })
}
