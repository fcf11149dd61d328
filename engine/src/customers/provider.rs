//! [`CustomersTable`], the `TableProvider` over customer batches.
//!
//! Planning lists the location's objects, groups them into batches
//! ([`super::listing`]), prunes the batches a filter rules out, and hands
//! the rest to a [`CustomersExec`].
//!
//! What must stay true: pruning only drops batches that cannot hold a
//! matching row. A filter `batch_id >= x` (or `>`, `=`, `BETWEEN x AND …`)
//! drops batches older than `x`: for `customers` a customer's row comes from
//! its newest batch, which is then at or after `x` anyway, and for
//! `customers_history` the `valid_to` of a kept row comes from newer batches,
//! which are kept too. Pruning is `Inexact`; DataFusion applies the filter.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use futures::TryStreamExt;

use super::config::{CustomerBatchesConfig, CustomersView};
use super::dedup::{BATCH_ID, table_schema};
use super::exec::CustomersExec;
use super::listing::{Batch, group_batches};
use crate::error::{PulseError, Result};
use crate::storage::{self, Location};

/// Customer batches as a deduplicated table.
#[derive(Debug)]
pub struct CustomersTable {
    location: Location,
    view: CustomersView,
    schema: SchemaRef,
}

impl CustomersTable {
    /// Resolves the location (registering a new S3 store in `runtime`).
    pub fn try_new(cfg: CustomerBatchesConfig, runtime: &RuntimeEnv) -> Result<Self> {
        let location = storage::resolve(runtime, &cfg.location, &cfg.aws)?;
        Ok(Self {
            location,
            view: cfg.view,
            schema: table_schema(cfg.view),
        })
    }

    /// The table over an opened location (a cluster process reopening a
    /// shipped table).
    pub fn from_location(location: Location, view: CustomersView) -> Self {
        Self {
            location,
            view,
            schema: table_schema(view),
        }
    }

    /// Which view of the batches this table is.
    pub fn view(&self) -> CustomersView {
        self.view
    }

    /// Where the batches are.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The batches under the location now, oldest first.
    pub async fn list_batches(&self) -> Result<Vec<Batch>> {
        let loc = &self.location;
        let objects: Vec<_> =
            loc.store
                .list(Some(&loc.prefix))
                .try_collect()
                .await
                .map_err(|e| PulseError::InvalidLocation {
                    location: loc.display.clone(),
                    reason: format!("cannot list the batches: {e}"),
                })?;
        group_batches(&loc.display, &loc.prefix, objects)
    }
}

/// The smallest `batch_id` a filter allows, if it bounds one from below.
pub fn batch_id_floor(filter: &Expr) -> Option<String> {
    let text = |e: &Expr| match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    };
    let is_batch_id = |e: &Expr| matches!(e, Expr::Column(c) if c.name == BATCH_ID);
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => match (batch_id_floor(left), batch_id_floor(right)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            Operator::Eq | Operator::Gt | Operator::GtEq if is_batch_id(left) => text(right),
            Operator::Eq | Operator::Lt | Operator::LtEq if is_batch_id(right) => text(left),
            _ => None,
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            ..
        }) if is_batch_id(expr) => text(low),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for CustomersTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match batch_id_floor(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let mut batches = self.list_batches().await.map_err(DataFusionError::from)?;
        let floor = filters.iter().filter_map(batch_id_floor).max();
        let before = batches.len();
        if let Some(floor) = floor {
            batches.retain(|b| b.id >= floor);
        }
        let pruned = before - batches.len();
        let scan: Arc<dyn ExecutionPlan> = Arc::new(CustomersExec::new(
            self.location.clone(),
            self.view,
            batches,
            pruned,
            projection.cloned(),
        )?);
        #[cfg(feature = "distributed")]
        let scan = crate::distributed::slice::for_tasks(state, scan)?;
        #[cfg(not(feature = "distributed"))]
        let _ = state;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn batch_id_lower_bounds() {
        assert_eq!(batch_id_floor(&col("batch_id").gt_eq(lit("b2"))), Some("b2".into()));
        assert_eq!(batch_id_floor(&col("batch_id").gt(lit("b2"))), Some("b2".into()));
        assert_eq!(batch_id_floor(&col("batch_id").eq(lit("b2"))), Some("b2".into()));
        assert_eq!(batch_id_floor(&lit("b2").lt_eq(col("batch_id"))), Some("b2".into()));
        assert_eq!(
            batch_id_floor(&col("batch_id").between(lit("b1"), lit("b3"))),
            Some("b1".into())
        );
        let both = col("batch_id").gt_eq(lit("b1")).and(col("batch_id").gt_eq(lit("b4")));
        assert_eq!(batch_id_floor(&both), Some("b4".into()));
        // upper bounds and other columns do not prune
        assert_eq!(batch_id_floor(&col("batch_id").lt(lit("b2"))), None);
        assert_eq!(batch_id_floor(&col("customer_id").gt_eq(lit("b2"))), None);
        assert_eq!(
            batch_id_floor(&col("batch_id").gt_eq(lit("b2")).or(col("batch_id").eq(lit("a")))),
            None
        );
    }
}
