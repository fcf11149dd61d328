//! `pulse_cut()`: the cut the session's last statements read of each Kafka
//! topic, one row per partition, with the `pulse.offsets` value that
//! replays it.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use pulse_engine::session::pulse_context;
//! use rdkafka::mocking::MockCluster;
//!
//! let cluster = MockCluster::new(1).unwrap();
//! cluster.create_topic("orders", 2, 1).unwrap();
//! let ctx = pulse_context();
//! ctx.sql(&format!(
//!     "CREATE EXTERNAL TABLE orders STORED AS KAFKA LOCATION 'kafka://{}/orders'",
//!     cluster.bootstrap_servers()
//! ))
//! .await?;
//! ctx.sql("SELECT count(*) FROM orders").await?.collect().await?;
//! let cut = ctx.sql("SELECT replay FROM pulse_cut() LIMIT 1").await?.collect().await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&cut)?.to_string();
//! assert!(shown.contains("orders=0:0-0,1:0-0"), "{shown}");
//! # Ok(())
//! # }
//! ```
//!
//! What must stay true: it shows what the scans recorded, without asking a
//! broker; a session without a [`CutLog`] shows no rows.

use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;

use super::snapshot::CutLog;

/// The table function `pulse_cut()`.
#[derive(Debug, Default)]
pub struct PulseCutFunction;

impl PulseCutFunction {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_cut";
}

impl TableFunctionImpl for PulseCutFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return plan_err!("pulse_cut() takes no arguments; call it as SELECT * FROM pulse_cut()");
        }
        let log = args.session().config().get_extension::<CutLog>();
        let cuts = log.as_ref().map(|l| l.cuts()).unwrap_or_default();
        let replay = log.as_ref().map(|l| l.spec()).unwrap_or_default();
        let rows: Vec<(&str, i32, i64, i64, bool)> = cuts
            .iter()
            .flat_map(|c| {
                c.partitions
                    .iter()
                    .map(move |(p, wm)| (c.topic.as_str(), *p, wm.low, wm.high, c.pinned))
            })
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("topic", DataType::Utf8, false),
            Field::new("partition", DataType::Int32, false),
            Field::new("start_offset", DataType::Int64, false),
            Field::new("end_offset", DataType::Int64, false),
            Field::new("pinned", DataType::Boolean, false),
            Field::new("replay", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
                Arc::new(datafusion::arrow::array::BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.4)),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|_| replay.as_str()))),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
