//! Where `pulse answer` and `pulse sql` get their data: a Kafka topic or a
//! file of orders (JSON lines or Parquet), and a location of customer
//! batches; or, without any of them, the embedded default ([`embedded`]).
//!
//! Each source stands alone: orders without customers, or customers
//! without orders, register what was given, and the missing tables are
//! [`MissingSource`]s whose scans name the option that supplies them.
//! Tables are registered through the engine's typed API, never through SQL
//! text, so a `'` in a topic or a path is just a character.
//!
//! What must stay true: whatever the sources, the session ends with the
//! tables `orders`, `customers` and `customers_history` and every view, so
//! the same SQL answers on each; and it says what it ran on.

mod embedded;
mod missing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext, cast, col, ident, lit};
use datafusion::scalar::ScalarValue;
use pulse::engine::customers::dedup::table_schema;
use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable, CustomersView};
use pulse::engine::jsonl::JsonLinesTable;
use pulse::engine::kafka::{CacheTable, DecodedLogCache, KafkaTable, KafkaTableConfig};
use pulse::engine::lake::{Lake, LakeOrdersTable, register_lake_catalog};
use pulse::engine::live::LiveViews;
use pulse::engine::messages::schema::utc_millis;
use pulse::engine::messages::{
    ERROR_COLUMN, KEY_COLUMN, MalformedPolicy, OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN, TableSchema,
    WARNING_COLUMN, money, orders_schema, utc_nanos,
};
use pulse::engine::views::{load_views, load_views_maintained};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use missing::MissingSource;

use crate::error::{CliError, Context};

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
    /// Read the topic at a cut printed before (`pulse answer` prints it;
    /// `SELECT replay FROM pulse_cut()` in the shell): topic=partition:start-end,…
    #[arg(long, value_name = "CUT", requires = "brokers")]
    pub at_offsets: Option<String>,
    /// A file of orders instead of a topic: JSON lines (partition 0, offset = the line's byte position),
    /// or Parquet with `_partition` and `_offset` columns (`.parquet`).
    #[arg(long, value_name = "PATH", conflicts_with = "brokers")]
    pub orders: Option<PathBuf>,
    /// The lake (an s3:// prefix, a folder or a file:// URL) that `pulse ingest` fills from the topic:
    /// `orders` is then the lake's orders and the topic above the offsets the lake holds, and the
    /// lake's tables are the catalog `dal` (dal.pulse.orders, …).
    #[arg(long, value_name = "URL", env = "PULSE_LAKE", requires = "brokers")]
    pub lake: Option<String>,
    /// Customer batches: an S3 prefix (s3://bucket/prefix/), a local folder or a file:// URL.
    #[arg(long, value_name = "URL", env = "PULSE_CUSTOMERS")]
    pub customers: Option<String>,
    /// The decoded-log cache the topic is read through, set by the commands
    /// whose session lives on (`--watch`, the shell, `pulse serve`).
    #[arg(skip)]
    pub cache: Option<Arc<DecodedLogCache>>,
    /// Whether `customer_window_sums` is kept up to date between queries
    /// ([`pulse::engine::live`]) rather than run in full: set with the cache.
    #[arg(skip)]
    pub maintain: bool,
}

/// `--cache-memory`: the decoded-log cache of a session that lives on.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Memory for the decoded rows of the topic kept between queries, so a
    /// query reads only offsets above them (see `SELECT * FROM pulse_cache`), e.g. 512M or 2G;
    /// 0 turns the cache off.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub cache_memory: String,
    /// Run every view in full on each query. By default a session that lives on keeps each
    /// customer's sums over the window (`customer_window_sums`, which the answer reads) between
    /// queries and moves them by the new messages only (a topic without --lake).
    #[arg(long)]
    pub no_incremental: bool,
}

impl CacheArgs {
    /// The cache, or none if `--cache-memory 0`.
    pub fn cache(&self) -> Result<Option<Arc<DecodedLogCache>>, CliError> {
        let size = parse_size("--cache-memory", &self.cache_memory)?;
        Ok((size > 0).then(|| Arc::new(DecodedLogCache::new(size))))
    }

    /// Sets `sources` up for a session that lives on: the cache, and
    /// whether views are maintained.
    pub fn apply(&self, sources: &mut SourceArgs) -> Result<(), CliError> {
        sources.cache = self.cache()?;
        sources.maintain = !self.no_incremental;
        Ok(())
    }
}

/// A size such as 512M, 2G or 1048576 (bytes), given to `option`.
pub fn parse_size(option: &str, text: &str) -> Result<usize, CliError> {
    let bad = || CliError::usage(format!("{option} '{text}' is not a size such as 512M or 2G"));
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: usize = digits.parse().map_err(|_| bad())?;
    let unit = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).ok_or_else(bad)
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

/// What to say when the orders are queried without an orders source.
const NO_ORDERS: &str = "give --brokers HOST:PORT (and --topic NAME), or --orders FILE";
/// What to say when the customers are queried without a customers source.
const NO_CUSTOMERS: &str = "give --customers URL (an s3:// prefix, a folder or a file:// URL)";

/// Checks an `--as-of` time, before any source is read.
pub fn check_as_of(as_of: Option<&str>) -> Result<(), CliError> {
    if let Some(t) = as_of {
        pulse::udfs::rfc3339::parse_nanos(t)
            .map_err(|e| CliError::usage(format!("--as-of {e}; give e.g. 2026-11-20T00:00:00Z")))?;
    }
    Ok(())
}

/// Pins `T` (`pulse.as_of`) in `ctx` to `--as-of`, if given.
pub fn set_as_of(ctx: &SessionContext, as_of: Option<&str>) -> Result<(), CliError> {
    if let Some(t) = as_of {
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .set("pulse.as_of", t)
            .context(|| format!("--as-of '{t}'"))?;
    }
    Ok(())
}

/// Registers the sources in `ctx` and loads the views.
pub async fn load(ctx: &SessionContext, args: &SourceArgs) -> Result<Loaded, CliError> {
    if let Some(cache) = &args.cache {
        ctx.register_table("pulse_cache", Arc::new(CacheTable::new(Arc::clone(cache))))?;
    }
    if args.is_empty() {
        return embedded::load(ctx, args.cache.clone()).await;
    }
    if let Some(cut) = &args.at_offsets {
        let pinned = pulse::udfs::PulseOptions::parse_offsets(cut).context(|| format!("--at-offsets '{cut}'"))?;
        if !pinned.contains_key(&args.topic) {
            return Err(CliError::usage(format!(
                "--at-offsets '{cut}' pins no offsets of topic '{}', the one read; give {}=partition:start-end,…",
                args.topic, args.topic
            )));
        }
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .set("pulse.offsets", cut)
            .context(|| format!("--at-offsets '{cut}'"))?;
    }
    let mut topic = None;
    let orders = match (&args.brokers, &args.orders) {
        (Some(brokers), _) => {
            let cache = args.cache.clone();
            topic = register_topic(
                ctx,
                brokers,
                &args.topic,
                &args.kafka_options,
                args.lake.as_deref(),
                cache,
            )
            .await?;
            match &args.lake {
                Some(lake) => format!("the lake {lake} and Kafka topic '{}' on {brokers} above it", args.topic),
                None => format!("Kafka topic '{}' on {brokers}", args.topic),
            }
        }
        (None, Some(path)) => register_orders_file(ctx, path).await?,
        (None, None) => {
            ctx.register_table("orders", Arc::new(missing_orders()?))?;
            format!("nowhere ({NO_ORDERS})")
        }
    };
    let mut latest_customers = None;
    let customers = match &args.customers {
        Some(location) => {
            latest_customers = Some(register_customers(ctx, location)?);
            location.clone()
        }
        None => {
            for (name, view) in [
                ("customers", CustomersView::Latest),
                ("customers_history", CustomersView::History),
            ] {
                ctx.register_table(
                    name,
                    Arc::new(MissingSource::new(name, table_schema(view), NO_CUSTOMERS)),
                )?;
            }
            format!("nowhere ({NO_CUSTOMERS})")
        }
    };
    match topic.filter(|_| args.maintain) {
        Some(topic) => match LiveViews::new(topic, latest_customers) {
            Ok(live) => {
                ctx.register_table("pulse_live", live.status())?;
                load_views_maintained(ctx, &live.maintainers()).await?
            }
            Err(e) => {
                log::warn!("the views run in full on every query: {e}");
                load_views(ctx).await?
            }
        },
        None => load_views(ctx).await?,
    }
    Ok(Loaded {
        description: format!("orders from {orders}; customers from {customers}"),
        _cluster: None,
        _dir: None,
    })
}

/// The orders table's stand-in: the columns of a topic read under the
/// `dead_letter` policy, as [`register_topic`] reads it.
fn missing_orders() -> Result<MissingSource, CliError> {
    let schema = TableSchema::try_new("orders", &orders_schema(), MalformedPolicy::DeadLetter)?;
    Ok(MissingSource::new("orders", schema.table, NO_ORDERS))
}

/// The orders topic's table configuration: malformed messages become rows
/// with `_error`, so the answer goes on and the data-quality views show
/// them; `--kafka-option kafka.…=…` (`options`) can say otherwise.
pub fn topic_config(brokers: &str, topic: &str, options: &[String]) -> Result<KafkaTableConfig, CliError> {
    let mut given = HashMap::new();
    for option in options {
        let (key, value) = option.split_once('=').ok_or_else(|| {
            CliError::usage(format!(
                "--kafka-option '{option}': use KEY=VALUE, e.g. kafka.lateness=15m"
            ))
        })?;
        given.insert(key.trim().to_ascii_lowercase(), value.to_string());
    }
    Ok(KafkaTableConfig::new(brokers, topic)
        .with_malformed_policy(MalformedPolicy::DeadLetter)
        .with_options(&given)?)
}

/// Registers the topic as `orders`, read through `cache` if given; with a
/// lake, `orders` is the lake's orders and the topic above the offsets the
/// lake holds, and the lake's tables are the catalog `dal`. Returns the
/// topic's table when it is `orders` (no lake).
pub async fn register_topic(
    ctx: &SessionContext,
    brokers: &str,
    topic: &str,
    options: &[String],
    lake: Option<&str>,
    cache: Option<Arc<DecodedLogCache>>,
) -> Result<Option<Arc<KafkaTable>>, CliError> {
    let mut table = KafkaTable::try_new(topic_config(brokers, topic, options)?).await?;
    if let Some(cache) = cache {
        table = table.with_cache(cache);
    }
    match lake {
        None => {
            let table = Arc::new(table);
            ctx.register_table("orders", Arc::clone(&table) as Arc<dyn TableProvider>)?;
            Ok(Some(table))
        }
        Some(location) => {
            let lake = open_lake(ctx, location)?;
            register_lake_catalog(ctx, lake.clone())?;
            ctx.register_table("orders", Arc::new(LakeOrdersTable::try_new(lake, table)?))?;
            Ok(None)
        }
    }
}

/// Opens the lake at `location` with the session's stores.
pub fn open_lake(ctx: &SessionContext, location: &str) -> Result<Lake, CliError> {
    Ok(Lake::open(ctx.runtime_env().as_ref(), location, &Default::default())?)
}

/// Registers a file of orders as `orders`, with the columns of the Kafka
/// table: a JSON-lines file through [`JsonLinesTable`], a Parquet file (an
/// export of a topic) through a view that adds what Parquet cannot hold.
async fn register_orders_file(ctx: &SessionContext, path: &Path) -> Result<String, CliError> {
    let is_parquet = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        let table = JsonLinesTable::try_new(path, MalformedPolicy::DeadLetter)?;
        ctx.register_table("orders", Arc::new(table))?;
        return Ok(format!("the JSON-lines file {}", path.display()));
    }
    let name = path.display().to_string();
    if !path.exists() {
        return Err(CliError::usage(format!("cannot open {name}: no such file")));
    }
    // the file's own extension, so that ORDERS.PARQUET is read too
    let extension = format!(".{}", path.extension().and_then(|e| e.to_str()).unwrap_or("parquet"));
    let options = ParquetReadOptions {
        file_extension: &extension,
        ..Default::default()
    };
    let file = ctx
        .read_parquet(name.as_str(), options)
        .await
        .context(|| format!("cannot read {name}"))?;
    let schema = file.schema().clone();
    let expected = orders_schema();
    let wanted = expected
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .chain([PARTITION_COLUMN, OFFSET_COLUMN]);
    let missing: Vec<&str> = wanted
        .filter(|c| schema.field_with_unqualified_name(c).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(CliError::usage(format!(
            "{name} has no column {}: a Parquet file of orders needs the order columns and the Kafka \
             position of each order (_partition, _offset), which decides between duplicates",
            missing.join(", ")
        )));
    }
    // Parquet holds typed rows only: nothing is malformed or set aside, the
    // log time is the event time, and the columns take the topic's types
    // (an export written before amounts were decimals has doubles).
    let orders = file.select(vec![
        col("order_id"),
        col("customer_id"),
        col("order_line"),
        cast(col("amount"), money()).alias("amount"),
        cast(ident("timestamp"), utc_nanos()).alias("timestamp"),
        cast(col(PARTITION_COLUMN), DataType::Int32).alias(PARTITION_COLUMN),
        cast(col(OFFSET_COLUMN), DataType::Int64).alias(OFFSET_COLUMN),
        cast(ident("timestamp"), utc_millis()).alias(TIMESTAMP_COLUMN),
        lit(ScalarValue::Utf8(None)).alias(KEY_COLUMN),
        lit(ScalarValue::Utf8(None)).alias(ERROR_COLUMN),
        lit(ScalarValue::Utf8(None)).alias(WARNING_COLUMN),
    ])?;
    // a view of the plan (not of the DataFrame), which a cluster can ship
    let view = ViewTable::new(orders.into_unoptimized_plan(), None);
    ctx.register_table("orders", Arc::new(view))?;
    Ok(format!("the Parquet file {name}"))
}

/// Registers the batches at `location` as `customers` (the latest version
/// of each customer) and `customers_history` (every version).
pub fn register_customers(ctx: &SessionContext, location: &str) -> Result<Arc<CustomersTable>, CliError> {
    let open = |view| {
        let config = CustomerBatchesConfig::new(location).with_view(view);
        CustomersTable::try_new(config, &ctx.runtime_env()).map(Arc::new)
    };
    let latest = open(CustomersView::Latest)?;
    ctx.register_table("customers", Arc::clone(&latest) as Arc<dyn TableProvider>)?;
    ctx.register_table("customers_history", open(CustomersView::History)?)?;
    Ok(latest)
}
