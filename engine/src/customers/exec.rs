//! [`CustomersExec`]: reads the planned batches newest first and
//! deduplicates them in one pass.
//!
//! What must stay true: one output partition, because deduplication is one
//! ordered pass (see [`super::dedup`]); objects are read one at a time, so
//! memory holds one object's rows plus one entry per distinct customer.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};

use super::config::CustomersView;
use super::dedup::{Deduplicator, table_schema};
use super::listing::Batch;
use super::object_reader::read_object;
use crate::storage::Location;

/// Reads and deduplicates planned customer batches.
#[derive(Debug)]
pub struct CustomersExec {
    location: Location,
    view: CustomersView,
    batches: Arc<Vec<Batch>>,
    pruned: usize,
    projection: Option<Vec<usize>>,
    projected: SchemaRef,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl CustomersExec {
    pub(crate) fn new(
        location: Location,
        view: CustomersView,
        batches: Vec<Batch>,
        pruned: usize,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let schema = table_schema(view);
        let projected = match &projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            location,
            view,
            batches: Arc::new(batches),
            pruned,
            projection,
            projected,
            metrics: ExecutionPlanMetricsSet::new(),
            properties: Arc::new(properties),
        })
    }

    /// The batches this plan reads, oldest first.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }
}

/// A [`CustomersExec`] as it travels to a Ballista executor: the location
/// (without credentials) and the exact batches planned, so every executor
/// reads the same objects the scheduler listed.
#[cfg(feature = "distributed")]
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CustomersScanWire {
    location: crate::storage::SharedLocation,
    view: CustomersView,
    batches: Vec<Batch>,
    pruned: usize,
    projection: Option<Vec<usize>>,
}

#[cfg(feature = "distributed")]
impl CustomersExec {
    /// The scan to ship.
    pub(crate) fn to_wire(&self) -> CustomersScanWire {
        CustomersScanWire {
            location: self.location.shared(),
            view: self.view,
            batches: self.batches.as_ref().clone(),
            pruned: self.pruned,
            projection: self.projection.clone(),
        }
    }

    /// The shipped scan, its location opened in `runtime`
    /// ([`crate::storage::reopen`]).
    pub(crate) fn from_wire(
        wire: CustomersScanWire,
        runtime: &datafusion::execution::runtime_env::RuntimeEnv,
    ) -> Result<Self> {
        let location = crate::storage::reopen(runtime, &wire.location)?;
        Self::new(location, wire.view, wire.batches, wire.pruned, wire.projection)
    }
}

impl DisplayAs for CustomersExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.batches.iter().map(|b| b.files.len()).sum();
        let view = match self.view {
            CustomersView::Latest => "latest",
            CustomersView::History => "history",
        };
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(
                f,
                "CustomersExec: location={}, view={view}, batches={}, batches_pruned={}, files={files}",
                self.location.display,
                self.batches.len(),
                self.pruned
            ),
            DisplayFormatType::TreeRender => write!(f, "batches={}\nfiles={files}", self.batches.len()),
        }
    }
}

impl ExecutionPlan for CustomersExec {
    fn name(&self) -> &str {
        "CustomersExec"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.projected)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.projected), 2);
        let tx = builder.tx();
        let (location, view, batches) = (self.location.clone(), self.view, Arc::clone(&self.batches));
        let projection = self.projection.clone();
        let batch_size = context.session_config().batch_size();
        let metric = |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let (batches_read, files_read, rows_read) = (metric("batches_read"), metric("files_read"), metric("rows_read"));
        let (in_batch, superseded, no_id) = (
            metric("duplicate_rows_in_batch"),
            metric("superseded_rows"),
            metric("rows_without_customer_id"),
        );
        metric("batches_pruned").add(self.pruned);
        builder.spawn(async move {
            let mut dedup = Deduplicator::new(view);
            for batch in batches.iter().rev() {
                dedup.begin_batch(batch);
                batches_read.add(1);
                for file in batch.files.iter().rev() {
                    let rows = read_object(&location, batch, file, batch_size).await?;
                    files_read.add(1);
                    for r in rows.iter().rev() {
                        let mut out = dedup.process(r)?;
                        if let Some(p) = &projection {
                            out = out.project(p)?;
                        }
                        if out.num_rows() > 0 && tx.send(Ok(out)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            dedup.end_batch();
            let counts = dedup.counts();
            rows_read.add(counts.rows_read);
            in_batch.add(counts.duplicates_in_batch);
            superseded.add(counts.superseded);
            no_id.add(counts.without_customer_id);
            Ok(())
        });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
