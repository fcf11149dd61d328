//! `pulse_live`: what a live session keeps for its views, one row per kept
//! view (`SELECT * FROM pulse_live`), as `pulse_cache` shows the
//! decoded-log cache.
//!
//! Columns: the view; `as_of`, the `T` its state was last moved to (NULL
//! before the first query); `orders` and `copies` held; `bytes`, an
//! estimate of the memory they take; and what the last query did:
//! `rebuilt` (the state was built again from the window), `read` (messages
//! read from the topic) and `recomputed` (orders whose kept copy was
//! computed again).
//!
//! What must stay true: it reads the state, never moves it (asking what is
//! kept does not read the topic).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::MaintainedWindowSums;

/// The table `pulse_live`.
#[derive(Debug)]
pub struct LiveTable {
    sums: Arc<MaintainedWindowSums>,
    schema: SchemaRef,
}

impl LiveTable {
    /// The status of `sums`.
    pub fn new(sums: Arc<MaintainedWindowSums>) -> Self {
        let schema = Arc::new(Schema::new(vec![
            Field::new("view", DataType::Utf8, false),
            Field::new(
                "as_of",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("orders", DataType::Int64, false),
            Field::new("copies", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("rebuilt", DataType::Boolean, false),
            Field::new("read", DataType::Int64, false),
            Field::new("recomputed", DataType::Int64, false),
        ]));
        Self { sums, schema }
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let held = self.sums.held().await;
        let last = self.sums.last_refresh();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let batch = RecordBatch::try_new(
            Arc::clone(&self.schema),
            vec![
                Arc::new(StringArray::from(vec![super::maintained::VIEW])),
                Arc::new(TimestampNanosecondArray::from(vec![held.as_of]).with_timezone("UTC")),
                Arc::new(Int64Array::from(vec![count(held.orders)])),
                Arc::new(Int64Array::from(vec![count(held.copies)])),
                Arc::new(Int64Array::from(vec![count(held.bytes)])),
                Arc::new(BooleanArray::from(vec![last.rebuilt])),
                Arc::new(Int64Array::from(vec![i64::try_from(last.read).unwrap_or(i64::MAX)])),
                Arc::new(Int64Array::from(vec![count(last.recomputed)])),
            ],
        )?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}
