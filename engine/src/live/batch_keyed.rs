//! [`BatchKeyedView`]: a view that reads nothing but the customer batches
//! (`customer_industries`), served from its last result while the batches
//! are the ones it was computed from.
//!
//! Customer batches arrive now and then; a live session asks for the answer
//! every few seconds. Each scan lists the batches (one listing of the
//! location, as every read of the customers table starts with) and compares
//! them, object by object (path, size, modification time), with the listing
//! its held rows were computed after; when they differ, it runs the view's
//! own plan again and holds the new rows.
//!
//! What must stay true: the view reads no table but the customers table
//! given here, and nothing that changes without its batches changing (not
//! `T`, not the topic); then its rows are the view's rows. A batch that
//! lands while the view runs is at worst in rows held under the listing
//! before it, and the next scan, seeing a new listing, runs the view again.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{ExecutionPlan, collect};

use crate::customers::CustomersTable;
use crate::customers::listing::Batch;

/// See the module documentation.
#[derive(Debug)]
pub struct BatchKeyedView {
    view: Arc<dyn TableProvider>,
    customers: Arc<CustomersTable>,
    held: tokio::sync::Mutex<Option<(Vec<Batch>, Vec<RecordBatch>)>>,
}

impl BatchKeyedView {
    /// The view `view` (its table as the session made it), which reads the
    /// batches of `customers` only.
    pub fn new(view: Arc<dyn TableProvider>, customers: Arc<CustomersTable>) -> Self {
        Self {
            view,
            customers,
            held: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl TableProvider for BatchKeyedView {
    fn schema(&self) -> SchemaRef {
        self.view.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let listed = self.customers.list_batches().await.map_err(DataFusionError::from)?;
        let mut held = self.held.lock().await;
        let rows = match held.as_ref() {
            Some((batches, rows)) if *batches == listed => rows.clone(),
            _ => {
                *held = None;
                let plan = self.view.scan(state, None, &[], None).await?;
                let rows = collect(plan, state.task_ctx()).await?;
                *held = Some((listed, rows.clone()));
                rows
            }
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[rows],
            self.schema(),
            projection.cloned(),
        )?)
    }
}
