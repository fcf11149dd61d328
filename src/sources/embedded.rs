//! The embedded default: what `pulse answer` and `pulse sql` run on when no
//! source is given. The generator fills an in-process Kafka broker
//! (librdkafka's mock) with 32 days of orders up to now, and a scratch
//! folder with customer batches; `pulse ingest`'s engine lands all but the
//! newest messages of each partition, and the batches, in a scratch lake;
//! the session reads `orders` as the lake plus the Kafka tail above it, as
//! it would a real topic, prefix and lake.
//!
//! What must stay true: the embedded data is read through the same tables
//! and views as real sources, and it lives as long as the returned
//! [`Loaded`]: dropping it stops the broker and removes the folder.

use chrono::{DurationRound, Utc};
use datafusion::prelude::SessionContext;
use pulse::engine::views::load_views;
use rdkafka::mocking::MockCluster;

use std::collections::BTreeMap;
use std::sync::Arc;

use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable};
use pulse::engine::kafka::DecodedLogCache;
use pulse::engine::lake::{CustomersIngest, Ingest, IngestConfig};

use super::{Loaded, open_lake, register_customers, register_topic, topic_config};
use crate::error::{CliError, Context};
use crate::generator::{Generator, GeneratorConfig};
use crate::sinks::customer_batches::write_batches;
use crate::sinks::topic::TopicWriter;

/// Messages of each partition left out of the embedded lake: the tail that
/// `orders` reads from Kafka.
const TAIL: i64 = 500;

/// The embedded default's generator settings: 32 days ending now.
fn embedded_config() -> GeneratorConfig {
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

/// Generates the embedded data and registers it in `ctx`, with the views.
pub async fn load(ctx: &SessionContext, cache: Option<Arc<DecodedLogCache>>) -> Result<Loaded, CliError> {
    let config = embedded_config();
    let generator = Generator::new(config.clone());
    let dir = tempfile::Builder::new()
        .prefix("pulse-embedded-")
        .tempdir()
        .context(|| "cannot create a scratch folder")?;
    let folder = dir.path().join("customers").display().to_string();
    let rows = write_batches(ctx.runtime_env().as_ref(), &folder, generator.batches()).await?;
    let cluster = MockCluster::new(1).context(|| "cannot start the embedded broker")?;
    cluster
        .create_topic("orders", 3, 1)
        .context(|| "cannot create the embedded topic 'orders'")?;
    let bootstrap = cluster.bootstrap_servers();
    let writer = TopicWriter::new(&bootstrap, "orders")?;
    let messages = generator.orders(|m| writer.send(&m))?;
    writer.flush()?;
    let lake_folder = dir.path().join("lake").display().to_string();
    let lake = open_lake(ctx, &lake_folder)?;
    let source = CustomersTable::try_new(CustomerBatchesConfig::new(&folder), ctx.runtime_env().as_ref())?;
    // the batches were written whole just now: no need to let them settle
    CustomersIngest::open(lake.clone(), source)
        .await?
        .with_settle(std::time::Duration::ZERO)
        .round()
        .await?;
    let mut ingest = Ingest::open(lake, IngestConfig::new(topic_config(&bootstrap, "orders", &[])?)).await?;
    let until: BTreeMap<i32, i64> = ingest
        .watermarks()
        .await?
        .into_iter()
        .map(|(p, wm)| (p, (wm.high - TAIL).max(wm.low)))
        .collect();
    let ingested = ingest.round(Some(&until)).await?;
    register_topic(ctx, &bootstrap, "orders", &[], Some(&lake_folder), cache).await?;
    register_customers(ctx, &folder)?;
    load_views(ctx).await?;
    let description = format!(
        "the embedded default: {messages} generated order messages over {} days up to {} in an in-process Kafka \
         topic 'orders' (librdkafka's mock broker, 3 partitions), {} of them ingested into the lake {lake_folder} \
         and the newest {TAIL} of each partition left as the Kafka tail; {} customer batches ({rows} rows) in \
         {folder}; seed {}, with shocks {}",
        config.days,
        config.end.format("%Y-%m-%dT%H:%MZ"),
        ingested.messages,
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
