//! [`KafkaScanExec`], the physical plan of a Kafka scan: one DataFusion
//! partition per planned offset range.
//!
//! What must stay true: the ranges are fixed when the plan is built (the
//! bounded snapshot), so executing the plan twice reads the same offsets;
//! `PlanProperties` are computed once and cached; and `EXPLAIN` shows every
//! range, so pushdown can be checked by reading the plan.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};

use super::config::KafkaTableConfig;
use super::offsets::{OffsetRange, SeekReport};
use super::schema::TableSchema;
use super::stream::{RangeRead, ScanMetrics, read_range};

/// Reads planned offset ranges of one topic.
#[derive(Debug)]
pub struct KafkaScanExec {
    cfg: Arc<KafkaTableConfig>,
    schema: Arc<TableSchema>,
    projection: Option<Vec<usize>>,
    projected: SchemaRef,
    ranges: Vec<OffsetRange>,
    limit: Option<usize>,
    seeks: SeekReport,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
}

impl KafkaScanExec {
    pub(crate) fn new(
        cfg: Arc<KafkaTableConfig>,
        schema: Arc<TableSchema>,
        projection: Option<Vec<usize>>,
        ranges: Vec<OffsetRange>,
        limit: Option<usize>,
        seeks: SeekReport,
    ) -> Result<Self> {
        let projected = match &projection {
            Some(p) => Arc::new(schema.table.project(p)?),
            None => Arc::clone(&schema.table),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected)),
            // An empty snapshot still has one (empty) partition.
            Partitioning::UnknownPartitioning(ranges.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            cfg,
            schema,
            projection,
            projected,
            ranges,
            limit,
            seeks,
            metrics: ExecutionPlanMetricsSet::new(),
            properties: Arc::new(properties),
        })
    }

    /// The offset ranges this plan reads, one per output partition.
    pub fn ranges(&self) -> &[OffsetRange] {
        &self.ranges
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.cfg.topic
    }
}

impl DisplayAs for KafkaScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let messages: u64 = self.ranges.iter().map(OffsetRange::len).sum();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "KafkaScanExec: topic={}, messages={messages}, ranges=[",
                    self.cfg.topic
                )?;
                for (i, r) in self.ranges.iter().enumerate() {
                    write!(f, "{}{r}", if i == 0 { "" } else { ", " })?;
                }
                write!(f, "]")?;
                if let Some(limit) = self.limit {
                    write!(f, ", limit={limit}")?;
                }
                let s = &self.seeks;
                if s.broker_answers_used + s.broker_answers_rejected + s.searches > 0 {
                    write!(
                        f,
                        ", timestamp_seeks=[broker={}, broker_rejected={}, searched={}]",
                        s.broker_answers_used, s.broker_answers_rejected, s.searches
                    )?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "topic={}", self.cfg.topic)?;
                writeln!(f, "messages={messages}")?;
                write!(f, "ranges={}", self.ranges.len())
            }
        }
    }
}

impl ExecutionPlan for KafkaScanExec {
    fn name(&self) -> &str {
        "KafkaScanExec"
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
        let Some(range) = self.ranges.get(partition).copied() else {
            // The one partition of an empty snapshot.
            return Ok(builder.build());
        };
        let read = RangeRead {
            cfg: Arc::clone(&self.cfg),
            schema: Arc::clone(&self.schema),
            range,
            projection: self.projection.clone(),
            batch_size: context.session_config().batch_size(),
            limit: self.limit,
            metrics: ScanMetrics::new(&self.metrics, partition, self.cfg.malformed),
        };
        let tx = builder.tx();
        builder.spawn_blocking(move || read_range(read, tx).map_err(Into::into));
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
