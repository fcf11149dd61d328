//! [`KafkaTable`], the `TableProvider` that makes a topic a SQL table.
//!
//! Planning a scan takes the statement's cut of the topic (every
//! partition's watermarks, fixed by the statement's first scan, or pinned
//! by `pulse.offsets`: [`super::snapshot`]), turns the pushed-down filters
//! into offset ranges within it ([`super::pushdown`], [`super::offsets`]),
//! and hands the ranges to a [`KafkaScanExec`]. All broker calls run on a
//! blocking thread.
//!
//! What must stay true: a statement reads one cut, however many times it
//! scans the topic, and the ranges a scan reads depend only on that cut and
//! the filters; filter pushdown is always `Inexact`, so DataFusion applies
//! every filter again.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::cache::{DecodedLogCache, TableCache};
use super::client::{self, BrokerIndex};
use super::config::{DataLossPolicy, EventTimeColumn, KafkaTableConfig};
use super::exec::{KafkaScanExec, ScanPlan};
use super::offsets::{
    CutPolicy, LogIndex, Look, OffsetRange, PartitionCut, SeekReport, Seeker, Watermarks, fill_partitions, plan_cuts,
    split,
};
use super::pushdown;
use super::snapshot::{Cut, CutLog, Statement, StatementCuts, pinned_cut};
use crate::error::{PulseError, Result};
use crate::messages::schema::{TableSchema, orders_schema};
use pulse_udfs::PulseOptions;

/// A Kafka topic of JSON messages as a table.
#[derive(Debug)]
pub struct KafkaTable {
    cfg: Arc<KafkaTableConfig>,
    schema: Arc<TableSchema>,
    event_time: Option<String>,
    cuts: StatementCuts,
    cache: Option<TableCache>,
}

impl KafkaTable {
    /// Builds the table and checks, within the configured timeout, that the
    /// broker answers and the topic exists.
    pub async fn try_new(cfg: KafkaTableConfig) -> Result<Self> {
        let table = Self::new_unchecked(cfg)?;
        let cfg = Arc::clone(&table.cfg);
        run_blocking(&table.cfg, move || {
            let consumer = client::consumer(&cfg)?;
            client::partitions(&consumer, &cfg).map(|_| ())
        })
        .await?;
        Ok(table)
    }

    /// Builds the table without contacting the broker.
    pub fn new_unchecked(cfg: KafkaTableConfig) -> Result<Self> {
        let data = cfg.schema.clone().unwrap_or_else(orders_schema);
        let schema = TableSchema::try_new(&format!("Kafka topic '{}'", cfg.topic), &data, cfg.malformed)?;
        let event_time = match &cfg.event_time_column {
            EventTimeColumn::None => None,
            EventTimeColumn::Default => data
                .field_with_name("timestamp")
                .ok()
                .filter(|f| matches!(f.data_type(), DataType::Timestamp(_, _)))
                .map(|f| f.name().clone()),
            EventTimeColumn::Named(name) => match data.field_with_name(name) {
                Ok(f) if matches!(f.data_type(), DataType::Timestamp(_, _)) => Some(name.clone()),
                Ok(f) => {
                    return Err(PulseError::InvalidOption {
                        key: "kafka.event_time_column".into(),
                        reason: format!("column '{name}' is {}, not a timestamp", f.data_type()),
                    });
                }
                Err(_) => {
                    return Err(PulseError::InvalidOption {
                        key: "kafka.event_time_column".into(),
                        reason: format!("the table has no column '{name}'"),
                    });
                }
            },
        };
        Ok(Self {
            cfg: cfg.into_arc(),
            schema: Arc::new(schema),
            event_time,
            cuts: StatementCuts::default(),
            cache: None,
        })
    }

    /// Reads the topic through `cache`, which keeps the rows its scans
    /// decode so that a later scan of the same offsets reads them from
    /// memory ([`super::cache`]). It serves a table whose malformed messages
    /// are rows (`kafka.malformed = 'dead_letter'`); other tables read the
    /// broker every time.
    pub fn with_cache(mut self, cache: Arc<DecodedLogCache>) -> Self {
        self.cache = Some(TableCache::new(cache, &self.cfg, &self.schema.table));
        self
    }

    /// The table's configuration.
    pub fn config(&self) -> &KafkaTableConfig {
        &self.cfg
    }

    /// The event-time column whose filters are pushed down, if any.
    pub fn event_time_column(&self) -> Option<&str> {
        self.event_time.as_deref()
    }

    /// The topic's partitions, as the broker says now.
    pub async fn partitions(&self) -> Result<Vec<i32>> {
        let cfg = Arc::clone(&self.cfg);
        run_blocking(&self.cfg, move || {
            let consumer = client::consumer(&cfg)?;
            client::partitions(&consumer, &cfg)
        })
        .await
    }

    /// The cut `state`'s statement reads: the one its first scan fixed,
    /// or, for the first, the watermarks now (or the `pulse.offsets` pin),
    /// recorded in the session's [`CutLog`].
    pub async fn cut(&self, state: &dyn Session) -> Result<Arc<Cut>> {
        self.cut_above(state, None).await
    }

    /// [`Self::cut`] for a read of the topic above `floors`, the next offset
    /// of each partition that another store (the lake) holds everything
    /// below: each partition's cut starts at its floor, a pinned start is
    /// the other store's to honour, and a floor below the log's start (the
    /// messages between were deleted before the other store got them) is
    /// data loss, as the table's `kafka.on_data_loss` says.
    pub async fn cut_above(&self, state: &dyn Session, floors: Option<&BTreeMap<i32, i64>>) -> Result<Arc<Cut>> {
        let pinned = state
            .config()
            .options()
            .extensions
            .get::<PulseOptions>()
            .and_then(|o| o.offsets.get(&self.cfg.topic).cloned());
        let cfg = Arc::clone(&self.cfg);
        let floors = floors.cloned();
        let fetch = run_blocking(&self.cfg, move || {
            let consumer = client::consumer(&cfg)?;
            let mut current = client::all_watermarks(&consumer, &cfg, &client::partitions(&consumer, &cfg)?)?;
            let mut pinned = pinned;
            if let Some(floors) = &floors {
                current = above_floors(&cfg, current, floors)?;
                for range in pinned.iter_mut().flat_map(|p| p.values_mut()) {
                    range.start = None;
                }
            }
            match &pinned {
                Some(pinned) => pinned_cut(&cfg, pinned, &current),
                None => Ok(Cut {
                    topic: cfg.topic.clone(),
                    partitions: current,
                    pinned: false,
                }),
            }
        });
        let cut = self.cuts.get_or_fetch(Statement::of(state), fetch).await?;
        if let Some(log) = state.config().get_extension::<CutLog>() {
            log.record(&cut);
        }
        Ok(cut)
    }

    /// What a scan of `cut` reads of each partition for `filters`, and how
    /// the timestamp seeks went.
    pub async fn plan_cuts(&self, cut: &Cut, filters: &[Expr]) -> Result<(Vec<PartitionCut>, SeekReport)> {
        let bounds = if self.cfg.pushdown {
            pushdown::translate(filters, self.event_time.as_deref())
        } else {
            pushdown::ScanBounds::default()
        };
        let lateness_ms = i64::try_from(self.cfg.lateness.as_millis()).unwrap_or(i64::MAX);
        let time = bounds.message_time_range(lateness_ms);
        let cfg = Arc::clone(&self.cfg);
        let cache = self.cache.clone();
        let partitions: Vec<(i32, Watermarks)> = cut
            .partitions
            .iter()
            .copied()
            .filter(|(p, _)| bounds.allows_partition(*p))
            .collect();
        run_blocking(&self.cfg, move || {
            let consumer = client::seek_consumer(&cfg)?;
            let broker = BrokerIndex {
                consumer: &consumer,
                cfg: &cfg,
            };
            let index = MemoIndex {
                index: &broker,
                cache: cache.as_ref(),
            };
            let mut seeker = Seeker::new(&index, lateness_ms, cfg.timestamp_lookup);
            let policy = CutPolicy {
                guard: i64::try_from(cfg.cut_guard).unwrap_or(i64::MAX),
                upper: cfg.cut_upper,
            };
            let cuts = plan_cuts(&mut seeker, &partitions, &bounds, time, policy)?;
            Ok((cuts, seeker.report))
        })
        .await
    }
}

/// A log index whose probes are remembered in the decoded-log cache, when
/// the table has one: a message's offset and timestamp never change, so a
/// probe asked again (each tick's seek checks the messages around a window
/// start that moved a little) is answered from memory.
struct MemoIndex<'a> {
    index: &'a dyn LogIndex,
    cache: Option<&'a TableCache>,
}

impl LogIndex for MemoIndex<'_> {
    fn broker_offset_for_time(&self, partition: i32, t_ms: i64) -> Result<i64> {
        self.index.broker_offset_for_time(partition, t_ms)
    }

    fn broker_offsets_for_times(&self, questions: &[(i32, i64)]) -> Result<Vec<i64>> {
        self.index.broker_offsets_for_times(questions)
    }

    fn probe(&self, partition: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
        let Some(cache) = self.cache else {
            return self.index.probe(partition, offset, end);
        };
        if let Some(known) = cache.known_probe(partition, offset, end) {
            return Ok(known);
        }
        let found = self.index.probe(partition, offset, end)?;
        if let Some(found) = found {
            cache.remember_probe(partition, offset, found);
        }
        Ok(found)
    }

    /// The looks the cache can answer from memory, and the others asked
    /// together; what they saw is remembered as the probes it answers.
    fn look(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
        let Some(cache) = self.cache else {
            return self.index.look(looks);
        };
        let mut seen: Vec<Option<Vec<(i64, i64)>>> = looks.iter().map(|l| known_look(cache, l)).collect();
        let unknown: Vec<Look> = looks
            .iter()
            .zip(&seen)
            .filter(|(_, s)| s.is_none())
            .map(|(l, _)| *l)
            .collect();
        let fetched = if unknown.is_empty() {
            Vec::new()
        } else {
            self.index.look(&unknown)?
        };
        debug_assert_eq!(fetched.len(), unknown.len(), "a look's answers, one a look");
        let mut fetched = fetched.into_iter();
        for (l, s) in looks.iter().zip(&mut seen) {
            if s.is_some() {
                continue;
            }
            let got = fetched.next().unwrap_or_default();
            let mut from = l.offset;
            for &found in &got {
                cache.remember_probe(l.partition, from, found);
                from = found.0 + 1;
            }
            *s = Some(got);
        }
        Ok(seen.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// A look answered from the cache's probes and rows, when they know every
/// message it would see.
fn known_look(cache: &TableCache, look: &Look) -> Option<Vec<(i64, i64)>> {
    look.walk(|from| cache.known_probe(look.partition, from, look.end).ok_or(()))
        .ok()
}

/// The partitions' watermarks with each log starting at its floor: what is
/// left to read above what another store holds.
fn above_floors(
    cfg: &KafkaTableConfig,
    current: Vec<(i32, Watermarks)>,
    floors: &BTreeMap<i32, i64>,
) -> Result<Vec<(i32, Watermarks)>> {
    current
        .into_iter()
        .map(|(p, wm)| {
            let Some(&floor) = floors.get(&p) else {
                return Ok((p, wm));
            };
            if floor > wm.high {
                return Err(PulseError::KafkaPartition {
                    topic: cfg.topic.clone(),
                    partition: p,
                    message: format!(
                        "the lake holds offsets up to {floor}, past the log's end {}: was the topic deleted and \
                         made again? The lake belongs to the old topic",
                        wm.high
                    ),
                });
            }
            if floor < wm.low {
                match cfg.on_data_loss {
                    DataLossPolicy::Fail => {
                        return Err(PulseError::DataLoss {
                            topic: cfg.topic.clone(),
                            partition: p,
                            from: floor,
                            to: wm.low,
                        });
                    }
                    DataLossPolicy::Warn => log::warn!(
                        "Kafka topic '{}' partition {p}: offsets {floor}..{} were deleted by retention before \
                         the lake ingested them",
                        cfg.topic,
                        wm.low
                    ),
                }
            }
            Ok((
                p,
                Watermarks {
                    low: wm.low.max(floor),
                    high: wm.high,
                },
            ))
        })
        .collect()
}

/// Runs blocking librdkafka work off the async workers.
pub(crate) async fn run_blocking<T: Send + 'static>(
    cfg: &KafkaTableConfig,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PulseError::Kafka {
        topic: cfg.topic.clone(),
        brokers: cfg.brokers.clone(),
        message: format!("the broker request was cancelled: {e}"),
    })?
}

#[async_trait]
impl TableProvider for KafkaTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema.table)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.cfg.pushdown && pushdown::is_pushable(f, self.event_time.as_deref()) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let cut = self.cut(state).await.map_err(DataFusionError::from)?;
        self.scan_cut(state, &cut, projection, filters, limit).await
    }
}

impl KafkaTable {
    /// A scan of `cut` (the statement's, or a part of it) for `filters`.
    pub async fn scan_cut(
        &self,
        state: &dyn Session,
        cut: &Cut,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // a pinned cut's ends are the pin's, not the log's; the check comes
        // before planning, which may answer probes from the cache
        if let Some(cache) = &self.cache
            && !cut.pinned
        {
            for (partition, wm) in &cut.partitions {
                cache.check_high_watermark(*partition, wm.high);
            }
        }
        let (cuts, seeks) = self.plan_cuts(cut, filters).await.map_err(DataFusionError::from)?;
        let target_partitions = state.config().target_partitions();
        let firsts: Vec<OffsetRange> = cuts.iter().map(|c| c.first).filter(|r| !r.is_empty()).collect();
        let ranges = match self.cfg.max_messages_per_split {
            Some(max) => split(&firsts, max),
            None => fill_partitions(firsts, target_partitions),
        };
        let event_time = self
            .event_time
            .as_deref()
            .and_then(|name| self.schema.table.index_of(name).ok());
        if let Some(cache) = &self.cache {
            // the lowest offset this scan may read of each partition (the
            // whole of a cut's limit, if the cut is contradicted)
            for c in &cuts {
                cache.note_scan(c.partition, c.limit.start.min(c.first.start));
            }
        }
        let scan: Arc<dyn ExecutionPlan> = Arc::new(
            KafkaScanExec::new(
                Arc::clone(&self.cfg),
                Arc::clone(&self.schema),
                projection.cloned(),
                ScanPlan { ranges, cuts, seeks },
                event_time,
                limit,
                target_partitions,
            )?
            .with_cache(self.cache.clone()),
        );
        #[cfg(feature = "distributed")]
        let scan = crate::distributed::slice::for_tasks(state, scan)?;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::kafka::offsets::look_by_probes;

    /// Partitions' logs (offset -> timestamp), the looks that reach them
    /// recorded.
    struct Logs {
        logs: Vec<BTreeMap<i64, i64>>,
        asked: RefCell<Vec<Look>>,
    }

    impl LogIndex for Logs {
        fn broker_offset_for_time(&self, _: i32, _: i64) -> Result<i64> {
            Ok(-1)
        }
        fn probe(&self, p: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
            Ok(self.logs[p as usize].range(offset..end).next().map(|(o, t)| (*o, *t)))
        }
        fn look(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
            self.asked.borrow_mut().extend_from_slice(looks);
            looks.iter().map(|l| look_by_probes(self, l)).collect()
        }
    }

    #[test]
    fn looks_are_answered_from_the_cache_when_it_knows_and_remembered_when_fetched() {
        let table = TableCache::of_offsets();
        // partition 0: offsets 10 and 11 hold no message; partition 1: every offset
        let logs = Logs {
            logs: vec![
                [(12, 5_000), (13, 5_010), (20, 5_100)].into(),
                (5..20).map(|o| (o, 100 * o)).collect(),
            ],
            asked: RefCell::default(),
        };
        let memo = MemoIndex {
            index: &logs,
            cache: Some(&table),
        };
        let look = |partition, offset, until, end| Look {
            partition,
            offset,
            until,
            end,
        };
        let first = [look(0, 11, 12, 21), look(1, 7, 8, 20)];
        let seen = memo.look(&first).unwrap();
        assert_eq!(seen, [vec![(12, 5_000)], vec![(7, 700), (8, 800)]]);
        assert_eq!(*logs.asked.borrow(), first, "nothing known yet: both fetched");
        // asked again beside a new look: only the new one reaches the log
        logs.asked.borrow_mut().clear();
        let again = memo.look(&[first[0], look(1, 15, 15, 20)]).unwrap();
        assert_eq!(again, [vec![(12, 5_000)], vec![(15, 1_500)]]);
        assert_eq!(*logs.asked.borrow(), [look(1, 15, 15, 20)]);
        let known = memo.look(&[first[1]]).unwrap();
        assert_eq!(known, [vec![(7, 700), (8, 800)]]);
        assert_eq!(logs.asked.borrow().len(), 1, "answered from the cache");
        // every probe the cache now answers is what the log says
        for (p, log) in logs.logs.iter().enumerate() {
            for offset in 0..25 {
                if let Some(answer) = table.known_probe(p as i32, offset, 25) {
                    assert_eq!(
                        answer,
                        log.range(offset..25).next().map(|(o, t)| (*o, *t)),
                        "{p}@{offset}"
                    );
                }
            }
        }
    }
}
