//! `CREATE EXTERNAL TABLE … STORED AS KAFKA`: the [`KafkaTableFactory`].
//!
//! What must stay true: the factory accepts exactly one `kafka://` location,
//! namespaced `kafka.*` options (see [`super::config::ACCEPTED_OPTIONS`]),
//! and an optional column list; it rejects clauses a Kafka table cannot
//! honour (`PARTITIONED BY`, `WITH ORDER`) rather than ignoring them, and it
//! fails at `CREATE` time, not at the first query, when the broker does not
//! answer or the topic does not exist.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::CreateExternalTable;

use super::config::KafkaTableConfig;
use super::provider::KafkaTable;

/// The `STORED AS` name the factory is registered under.
pub const KAFKA_FORMAT: &str = "KAFKA";

/// Creates [`KafkaTable`]s from SQL.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> datafusion::error::Result<()> {
/// use pulse_engine::session::pulse_context;
/// use rdkafka::mocking::MockCluster;
///
/// // An in-process broker with an empty 3-partition topic.
/// let cluster = MockCluster::new(1).unwrap();
/// cluster.create_topic("orders", 3, 1).unwrap();
///
/// let ctx = pulse_context();
/// ctx.sql(&format!(
///     "CREATE EXTERNAL TABLE orders STORED AS KAFKA \
///      LOCATION 'kafka://{}/orders' \
///      OPTIONS ('kafka.malformed' 'skip', 'kafka.lateness' '30m')",
///     cluster.bootstrap_servers()
/// ))
/// .await?;
/// let batches = ctx.sql("SELECT count(*) AS n FROM orders").await?.collect().await?;
/// assert_eq!(batches[0].num_rows(), 1);
///
/// // An unknown option is refused, naming it and the accepted ones.
/// let err = ctx
///     .sql("CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://x:1/t' OPTIONS ('kafka.lag' '1')")
///     .await
///     .unwrap_err();
/// assert!(err.to_string().contains("unknown table option 'kafka.lag'"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct KafkaTableFactory;

#[async_trait]
impl TableProviderFactory for KafkaTableFactory {
    async fn create(&self, _state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let name = &cmd.name;
        if !cmd.table_partition_cols.is_empty() {
            return plan_err!("Kafka table {name}: PARTITIONED BY is not supported; every table has _partition");
        }
        if !cmd.order_exprs.is_empty() {
            return plan_err!("Kafka table {name}: WITH ORDER is not supported; a topic has no declared order");
        }
        let [location] = cmd.locations.as_slice() else {
            return plan_err!(
                "Kafka table {name}: give exactly one LOCATION 'kafka://host:port/topic', not {}",
                cmd.locations.len()
            );
        };
        let mut cfg = KafkaTableConfig::from_location(location)?.with_options(&cmd.options)?;
        if !cmd.schema.fields().is_empty() {
            cfg = cfg.with_schema(Arc::new(cmd.schema.as_arrow().clone()));
        }
        Ok(Arc::new(KafkaTable::try_new(cfg).await?))
    }
}
