//! [`KafkaScanExec`], the physical plan of a Kafka scan: the planned offset
//! ranges, dealt into groups of about equal size, as many as the larger of
//! `target_partitions` and the number of Kafka partitions read; each
//! DataFusion partition reads its group's ranges one after the other with
//! one consumer at a time. Kafka partitions are read side by side (a
//! consumer fetches one partition; more of them keep the broker busy), but a
//! partition split into many ranges does not open a consumer per range at
//! once (measured in bench/RESULTS.md).
//!
//! What must stay true: the ranges are fixed when the plan is built (the
//! bounded snapshot), so executing the plan twice reads the same offsets;
//! every range is in exactly one group; `PlanProperties` are computed once
//! and cached; and `EXPLAIN` shows every range, so pushdown can be checked
//! by reading the plan.

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

use super::cache::TableCache;
use super::config::KafkaTableConfig;
use super::cut_check::{Checks, CutCheck, Executions};
use super::offsets::{OffsetRange, PartitionCut, SeekReport};
use super::stream::{RangeRead, read_range, read_range_cached};
use crate::messages::MalformedPolicy;
use crate::messages::metrics::ScanMetrics;
use crate::messages::schema::TableSchema;

/// Reads planned offset ranges of one topic.
#[derive(Debug)]
pub struct KafkaScanExec {
    cfg: Arc<KafkaTableConfig>,
    schema: Arc<TableSchema>,
    projection: Option<Vec<usize>>,
    projected: SchemaRef,
    ranges: Vec<OffsetRange>,
    /// Indices into `ranges`, one group per output partition.
    groups: Vec<Vec<usize>>,
    /// The partitions a time bound cut, whose ranges are checked.
    cuts: Vec<PartitionCut>,
    /// The table column of event time, if any.
    event_time: Option<usize>,
    limit: Option<usize>,
    seeks: SeekReport,
    executions: Executions,
    metrics: ExecutionPlanMetricsSet,
    properties: Arc<PlanProperties>,
    /// The decoded-log cache the ranges are read through, if any.
    cache: Option<TableCache>,
}

/// What a Kafka scan reads: the ranges of the first reads, and the cuts
/// they came from.
#[derive(Debug, Clone)]
pub(crate) struct ScanPlan {
    /// The first reads, split into ranges.
    pub ranges: Vec<OffsetRange>,
    /// Every partition's cut.
    pub cuts: Vec<PartitionCut>,
    /// How the seeks went.
    pub seeks: SeekReport,
}

impl KafkaScanExec {
    pub(crate) fn new(
        cfg: Arc<KafkaTableConfig>,
        schema: Arc<TableSchema>,
        projection: Option<Vec<usize>>,
        plan: ScanPlan,
        event_time: Option<usize>,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Result<Self> {
        let ScanPlan { ranges, cuts, seeks } = plan;
        let cuts: Vec<PartitionCut> = cuts.into_iter().filter(PartitionCut::is_cut).collect();
        let mut kafka_partitions: Vec<i32> = ranges.iter().map(|r| r.partition).collect();
        kafka_partitions.sort_unstable();
        kafka_partitions.dedup();
        let groups = group_ranges(&ranges, target_partitions.max(kafka_partitions.len()));
        let projected = match &projection {
            Some(p) => Arc::new(schema.table.project(p)?),
            None => Arc::clone(&schema.table),
        };
        let properties = plan_properties(&projected, groups.len());
        Ok(Self {
            cfg,
            schema,
            projection,
            projected,
            ranges,
            groups,
            cuts,
            event_time,
            limit,
            seeks,
            executions: Executions::default(),
            metrics: ExecutionPlanMetricsSet::new(),
            properties,
            cache: None,
        })
    }

    /// Reads the ranges through `cache`.
    pub(crate) fn with_cache(mut self, cache: Option<TableCache>) -> Self {
        self.cache = cache;
        self
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

/// The properties of a scan with `groups` output partitions.
fn plan_properties(projected: &SchemaRef, groups: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(Arc::clone(projected)),
        // An empty snapshot still has one (empty) partition.
        Partitioning::UnknownPartitioning(groups.max(1)),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

/// A [`KafkaScanExec`] as it travels to a Ballista executor: the fixed cut
/// (every range, every cut) and how the ranges are grouped into tasks.
/// Executors read exactly these ranges; none of them asks the broker where
/// to start.
#[cfg(feature = "distributed")]
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct KafkaScanWire {
    cfg: KafkaTableConfig,
    schema: TableSchema,
    projection: Option<Vec<usize>>,
    ranges: Vec<OffsetRange>,
    groups: Vec<Vec<usize>>,
    cuts: Vec<PartitionCut>,
    event_time: Option<usize>,
    limit: Option<usize>,
    seeks: SeekReport,
}

#[cfg(feature = "distributed")]
impl KafkaScanWire {
    /// The shipped configuration (without secrets).
    pub(crate) fn config(&self) -> &KafkaTableConfig {
        &self.cfg
    }

    /// Leaves out client properties `local` holds: the encoding process
    /// added them for itself, and the decoding one adds its own.
    pub(crate) fn drop_local(&mut self, local: &std::collections::BTreeMap<String, String>) {
        self.cfg.client.retain(|k, _| !local.contains_key(k));
    }
}

#[cfg(feature = "distributed")]
impl KafkaScanExec {
    /// The scan to ship, its secret client properties left out. Ranges are
    /// regrouped so that each cut partition's ranges are in one group: a
    /// Ballista task runs one output partition with a context of its own,
    /// so only a task that reads every range of a cut partition can see
    /// that the cut was contradicted and read the rest (see
    /// [`super::cut_check`]). The number of groups stays the same.
    pub(crate) fn to_wire(&self) -> KafkaScanWire {
        KafkaScanWire {
            cfg: self.cfg.without_secrets(),
            schema: (*self.schema).clone(),
            projection: self.projection.clone(),
            ranges: self.ranges.clone(),
            groups: task_groups(&self.ranges, &self.cuts, self.groups.len().max(1)),
            cuts: self.cuts.clone(),
            event_time: self.event_time,
            limit: self.limit,
            seeks: self.seeks.clone(),
        }
    }

    /// The shipped scan, read with `cfg` (the shipped one with this
    /// process's own client properties added).
    pub(crate) fn from_wire(wire: KafkaScanWire, cfg: KafkaTableConfig) -> Result<Self> {
        let plan = ScanPlan {
            ranges: wire.ranges,
            cuts: wire.cuts,
            seeks: wire.seeks,
        };
        let mut scan = Self::new(
            Arc::new(cfg),
            Arc::new(wire.schema),
            wire.projection,
            plan,
            wire.event_time,
            wire.limit,
            1,
        )?;
        let in_range = |g: &Vec<usize>| g.iter().all(|&i| i < scan.ranges.len());
        if !wire.groups.iter().all(in_range) {
            return datafusion::common::internal_err!(
                "a shipped Kafka scan of topic '{}' groups ranges it does not have",
                scan.cfg.topic
            );
        }
        scan.properties = plan_properties(&scan.projected, wire.groups.len());
        scan.groups = wire.groups;
        Ok(scan)
    }
}

/// Deals `ranges` into `parts` groups like [`group_ranges`], but keeps all
/// ranges of a cut partition together, as one unit; some groups may be
/// empty. Returns indices into `ranges`.
#[cfg(feature = "distributed")]
fn task_groups(ranges: &[OffsetRange], cuts: &[PartitionCut], parts: usize) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    for cut in cuts {
        let unit: Vec<usize> = (0..ranges.len())
            .filter(|&i| ranges[i].partition == cut.partition)
            .collect();
        if !unit.is_empty() {
            units.push(unit);
        }
    }
    let is_cut = |p: i32| cuts.iter().any(|c| c.partition == p);
    units.extend(
        (0..ranges.len())
            .filter(|&i| !is_cut(ranges[i].partition))
            .map(|i| vec![i]),
    );
    let load = |unit: &Vec<usize>| unit.iter().map(|&i| ranges[i].len()).sum::<u64>();
    units.sort_by_key(|u| std::cmp::Reverse(load(u)));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); parts.max(1)];
    for unit in units {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(l, _)| *l) {
            lightest.0 += load(&unit);
            lightest.1.extend(unit);
        }
    }
    groups
        .into_iter()
        .map(|(_, mut g)| {
            g.sort_unstable();
            g
        })
        .collect()
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
                write!(f, "], partitions={}", self.groups.len().max(1))?;
                if self.cache.is_some() && self.limit.is_none() && self.cfg.malformed == MalformedPolicy::DeadLetter {
                    write!(f, ", cached")?;
                }
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
                // what is read too if the messages contradict the cut
                let rest: Vec<OffsetRange> = self.cuts.iter().flat_map(PartitionCut::rest).collect();
                if !rest.is_empty() {
                    write!(f, ", if_contradicted=[")?;
                    for (i, r) in rest.iter().enumerate() {
                        write!(f, "{}{r}", if i == 0 { "" } else { ", " })?;
                    }
                    write!(f, "]")?;
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
        let Some(group) = self.groups.get(partition) else {
            // The one partition of an empty snapshot.
            return Ok(builder.build());
        };
        let contradicted = MetricBuilder::new(&self.metrics).counter("cuts_contradicted", partition);
        let checks = self
            .executions
            .checks_for(&context, partition, self.groups.len(), || self.new_checks());
        let reader = Reader {
            cfg: Arc::clone(&self.cfg),
            schema: Arc::clone(&self.schema),
            projection: self.projection.clone(),
            batch_size: context.session_config().batch_size(),
            limit: self.limit,
            metrics: ScanMetrics::new(&self.metrics, partition, self.cfg.malformed),
            event_time: self.event_time,
            cache: self.cache.clone(),
        };
        let ranges: Vec<OffsetRange> = group.iter().map(|&i| self.ranges[i]).collect();
        let tx = builder.tx();
        builder.spawn_blocking(move || {
            for range in ranges {
                if tx.is_closed() {
                    break; // the query no longer wants rows
                }
                let check = checks.get(&range.partition).cloned();
                reader.run(range, check.clone(), &tx)?;
                let Some(check) = check else { continue };
                let Some((what, rest)) = check.finish_range() else {
                    continue;
                };
                let cut = check.cut();
                log::warn!(
                    "Kafka topic '{}' partition {}: {what}, beyond the lateness margin ({} ms) that the \
                     timestamp seek assumed; reading offsets {}..{} whole instead of {}..{} (raise \
                     'kafka.lateness' if such disorder is normal for this topic)",
                    reader.cfg.topic,
                    cut.partition,
                    check.margin_ms(),
                    cut.limit.start,
                    cut.limit.end,
                    cut.first.start,
                    cut.first.end,
                );
                contradicted.add(1);
                for range in rest {
                    reader.run(range, None, &tx)?;
                }
            }
            Ok(())
        });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// What every range read by one output partition shares.
struct Reader {
    cfg: Arc<KafkaTableConfig>,
    schema: Arc<TableSchema>,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    limit: Option<usize>,
    metrics: ScanMetrics,
    event_time: Option<usize>,
    cache: Option<TableCache>,
}

impl Reader {
    /// Reads `range` into `tx`, through the cache if there is one.
    fn run(
        &self,
        range: OffsetRange,
        check: Option<Arc<CutCheck>>,
        tx: &tokio::sync::mpsc::Sender<Result<datafusion::arrow::array::RecordBatch>>,
    ) -> crate::error::Result<i64> {
        let read = self.read(range, check);
        match &self.cache {
            Some(cache) => read_range_cached(read, tx.clone(), cache),
            None => read_range(read, tx.clone()),
        }
    }

    fn read(&self, range: OffsetRange, check: Option<Arc<CutCheck>>) -> RangeRead {
        RangeRead {
            cfg: Arc::clone(&self.cfg),
            schema: Arc::clone(&self.schema),
            range,
            projection: self.projection.clone(),
            batch_size: self.batch_size,
            limit: self.limit,
            metrics: self.metrics.clone(),
            check,
            event_time: self.event_time,
        }
    }
}

impl KafkaScanExec {
    /// Fresh checks for one execution: one per cut partition, expecting
    /// as many finished ranges as that partition's first read has.
    fn new_checks(&self) -> Checks {
        let margin_ms = i64::try_from(self.cfg.lateness.as_millis()).unwrap_or(i64::MAX);
        self.cuts
            .iter()
            .map(|cut| {
                let ranges = self.ranges.iter().filter(|r| r.partition == cut.partition).count();
                (cut.partition, Arc::new(CutCheck::new(*cut, margin_ms, ranges)))
            })
            .collect()
    }
}

/// Deals `ranges` into at most `parts` groups of about equal message counts
/// (largest range first, each to the lightest group), each group in offset
/// order. Returns indices into `ranges`.
fn group_ranges(ranges: &[OffsetRange], parts: usize) -> Vec<Vec<usize>> {
    let parts = parts.clamp(1, ranges.len().max(1));
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ranges[i].len()));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); parts];
    for i in order {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(load, _)| *load) {
            lightest.0 += ranges[i].len();
            lightest.1.push(i);
        }
    }
    groups
        .into_iter()
        .filter(|(_, g)| !g.is_empty())
        .map(|(_, mut g)| {
            g.sort_unstable();
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(partition: i32, start: i64, end: i64) -> OffsetRange {
        OffsetRange { partition, start, end }
    }

    #[cfg(feature = "distributed")]
    #[test]
    fn task_groups_keep_a_cut_partition_in_one_group() {
        let ranges = vec![
            range(0, 0, 100),
            range(0, 100, 200),
            range(0, 200, 300),
            range(1, 0, 100),
            range(1, 100, 200),
        ];
        let cut = PartitionCut {
            partition: 0,
            limit: range(0, 0, 400),
            first: range(0, 0, 300),
        };
        let groups = task_groups(&ranges, &[cut], 4);
        assert_eq!(groups.len(), 4, "as many groups as output partitions");
        let holding = |i: usize| groups.iter().position(|g| g.contains(&i));
        assert_eq!(holding(0), holding(1));
        assert_eq!(holding(1), holding(2));
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..5).collect::<Vec<_>>(), "every range exactly once");
        assert_ne!(holding(3), holding(0), "uncut ranges spread to lighter groups");
    }

    #[test]
    fn ranges_are_dealt_into_balanced_groups_each_range_once() {
        let ranges: Vec<OffsetRange> = (0..6).map(|p| range(p, 0, 100 + i64::from(p) * 10)).collect();
        let groups = group_ranges(&ranges, 2);
        assert_eq!(groups.len(), 2);
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        let load = |g: &Vec<usize>| g.iter().map(|&i| ranges[i].len()).sum::<u64>();
        assert!(load(&groups[0]).abs_diff(load(&groups[1])) <= 50, "{groups:?}");
        assert_eq!(group_ranges(&ranges, 16).len(), 6, "no more groups than ranges");
        assert_eq!(group_ranges(&ranges, 0).len(), 1);
        assert!(group_ranges(&[], 4).is_empty());
    }
}
