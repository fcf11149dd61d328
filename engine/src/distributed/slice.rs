//! [`SlicedScanExec`]: a Pulse scan in a form Ballista can give each task
//! its share of, and `for_tasks`, which every Pulse table's scan goes
//! through so that a scheduler's session ([`SliceForTasks`]) plans it in
//! that form.
//!
//! Ballista 55 sends each task its stage's plan restricted to the task's
//! partitions, and the executor runs every partition of the plan it gets.
//! It restricts only the leaves it knows (file and in-memory scans,
//! shuffle readers): a task runs every partition of any other leaf, so a
//! Pulse scan of N partitions would be read whole by every task of its
//! stage (measured: each Kafka message counted twice with two tasks). So
//! each scan travels under a [`SlicedScanExec`] whose only child is an
//! in-memory table with one row per partition, holding the partition's
//! number; Ballista restricts that child like any in-memory scan, and
//! partition `j` of the wrapper reads the scan partition that row `j`
//! names. The tables wrap their scans themselves, when the session is a
//! scheduler's, rather than a physical optimizer rule: Ballista's adaptive
//! planner replaces a session's rules, and a scan must be sliced whichever
//! planner a session uses.
//!
//! What must stay true: the wrapper has exactly as many partitions as its
//! child, and partition `j` reads exactly the one scan partition named by
//! the child's partition `j`, so over all tasks each scan partition is
//! read once.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

/// The selector's one column: the scan partition a wrapper partition reads.
const SCAN_PARTITION: &str = "scan_partition";

/// A Pulse scan whose partitions are chosen by its child, a table of
/// partition numbers that Ballista restricts to each task's share.
#[derive(Debug)]
pub struct SlicedScanExec {
    scan: Arc<dyn ExecutionPlan>,
    selector: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl SlicedScanExec {
    /// `scan` with a selector of all its partitions.
    pub fn new(scan: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let schema = Arc::new(Schema::new(vec![Field::new(SCAN_PARTITION, DataType::UInt32, false)]));
        let count = scan.output_partitioning().partition_count();
        let mut partitions = Vec::with_capacity(count);
        for i in 0..count {
            let number = u32::try_from(i).unwrap_or(u32::MAX);
            let row = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(UInt32Array::from(vec![number]))])?;
            partitions.push(vec![row]);
        }
        let selector: Arc<dyn ExecutionPlan> = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Self::with_selector(scan, selector)
    }

    /// `scan` read through `selector` (a shipped or restricted one).
    pub fn with_selector(scan: Arc<dyn ExecutionPlan>, selector: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let count = selector.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            scan.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(count),
            scan.pipeline_behavior(),
            scan.boundedness(),
        );
        Ok(Self {
            scan,
            selector,
            properties: Arc::new(properties),
        })
    }

    /// The scan this reads.
    pub fn scan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.scan
    }

    /// The scan partition that partition `partition` reads.
    fn scan_partition(&self, partition: usize) -> Result<usize> {
        let Some(exec) = self.selector.downcast_ref::<DataSourceExec>() else {
            return internal_err!("the selector of a sliced {} is not an in-memory scan", self.scan.name());
        };
        let source: &dyn std::any::Any = exec.data_source().as_ref();
        let Some(memory) = source.downcast_ref::<MemorySourceConfig>() else {
            return internal_err!("the selector of a sliced {} is not an in-memory scan", self.scan.name());
        };
        let number = memory
            .partitions()
            .get(partition)
            .and_then(|rows| rows.first())
            .and_then(|row| row.column(0).as_primitive_opt::<UInt32Type>())
            .filter(|numbers| numbers.len() == 1)
            .map(|numbers| numbers.value(0) as usize);
        let scans = self.scan.output_partitioning().partition_count();
        match number {
            Some(n) if n < scans => Ok(n),
            Some(n) => internal_err!(
                "a sliced {} names its partition {n}, but it has {scans}",
                self.scan.name()
            ),
            None => internal_err!(
                "a sliced {} has no scan partition for its partition {partition}",
                self.scan.name()
            ),
        }
    }
}

impl DisplayAs for SlicedScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SlicedScanExec: partitions={}, scan=",
            self.properties.partitioning.partition_count()
        )?;
        self.scan.fmt_as(t, f)
    }
}

impl ExecutionPlan for SlicedScanExec {
    fn name(&self) -> &str {
        "SlicedScanExec"
    }

    fn schema(&self) -> SchemaRef {
        self.scan.schema()
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.selector]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([selector]) => Ok(Arc::new(Self::with_selector(Arc::clone(&self.scan), selector)?)),
            Err(children) => internal_err!("SlicedScanExec takes one child, not {}", children.len()),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.scan.execute(self.scan_partition(partition)?, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        self.scan.metrics()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
}

/// Marks a scheduler's session: scans planned in it are for Ballista tasks.
#[derive(Debug, Default)]
pub struct SliceForTasks;

/// Whether `session` is a scheduler's ([`SliceForTasks`]).
pub(crate) fn is_for_tasks(session: &dyn Session) -> bool {
    session.config().get_extension::<SliceForTasks>().is_some()
}

/// `scan` as a session plans it: wrapped in a [`SlicedScanExec`] in a
/// scheduler's session ([`SliceForTasks`]), as it is anywhere else.
pub(crate) fn for_tasks(session: &dyn Session, scan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if is_for_tasks(session) {
        Ok(Arc::new(SlicedScanExec::new(scan)?))
    } else {
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::repartition::RepartitionExec;

    #[test]
    fn each_partition_reads_the_scan_partition_its_selector_row_names() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, true)]));
        let scan: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema));
        let scan = Arc::new(RepartitionExec::try_new(scan, Partitioning::RoundRobinBatch(5)).unwrap());
        let sliced = SlicedScanExec::new(scan).unwrap();
        assert_eq!(sliced.properties().partitioning.partition_count(), 5);
        assert_eq!(
            (0..5).map(|j| sliced.scan_partition(j).unwrap()).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        // a task's share: the selector restricted to partitions 3 and 1
        let memory = sliced.selector.downcast_ref::<DataSourceExec>().unwrap();
        let source: &dyn std::any::Any = memory.data_source().as_ref();
        let all = source.downcast_ref::<MemorySourceConfig>().unwrap();
        let kept = vec![all.partitions()[3].clone(), all.partitions()[1].clone()];
        let restricted = MemorySourceConfig::try_new_exec(&kept, all.original_schema(), None).unwrap();
        let sliced: Arc<dyn ExecutionPlan> = Arc::new(sliced);
        let share = datafusion::physical_plan::replace_children_if_necessary(sliced, vec![restricted]).unwrap();
        assert_eq!(share.output_partitioning().partition_count(), 2);
        let share = share.downcast_ref::<SlicedScanExec>().unwrap();
        assert_eq!(share.scan_partition(0).unwrap(), 3);
        assert_eq!(share.scan_partition(1).unwrap(), 1);
        assert!(share.scan_partition(2).is_err());
    }
}
