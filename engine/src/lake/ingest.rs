//! `pulse ingest`: the orders topic into the lake, exactly once.
//!
//! A round reads, for each partition, from the offset the lake has
//! committed up to the high watermark fixed when the round began (at most
//! [`IngestConfig::commit_messages`] messages in all), decodes every
//! message with [`crate::messages`] (the Kafka table's decoder, with the
//! `dead_letter` policy and each malformed message's bytes), and commits:
//! first the malformed messages to `orders_dead_letter`, then the orders to
//! `orders`. Each commit carries, for every partition the round read, a
//! Delta transaction action whose version is the next offset to read
//! ([`super::store::app_id`]).
//!
//! A partition's committed offset is where its reading got to, which is
//! short of the round's end when a transaction is still open there (the
//! reader uses `read_committed`): the open transaction's messages are read
//! by a later round, once it ends.
//!
//! What must stay true: every message of the topic ends up as exactly one
//! row of `orders` or of `orders_dead_letter`, whatever moment the process
//! dies at. The rows and the offsets they reach are one commit, so a crash
//! before it leaves neither and the next run reads the same messages
//! again; a crash between the two tables' commits leaves one table ahead,
//! and each table drops the rows it already holds (offsets below its own
//! committed offset). A commit is conditional on the table version the
//! offsets were read from (no retries), so two ingests of one topic into
//! one lake cannot both land the same messages: the loser stops with an
//! error. Messages deleted by retention before they were ingested are an
//! error naming the partition and offsets (or, with
//! `kafka.on_data_loss=warn`, a warning and a count), never a silent gap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Int32Type, Int64Type};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference, TransactionError};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};

use super::store::{Lake, app_id};
use super::tables::{LakeRows, LakeTable, lake_rows};
use crate::error::{PulseError, Result};
use crate::kafka::offsets::{OffsetRange, Watermarks};
use crate::kafka::provider::run_blocking;
use crate::kafka::stream::{Follower, RangeRead, read_range_from};
use crate::kafka::{KafkaTableConfig, client};
use crate::messages::metrics::ScanMetrics;
use crate::messages::schema::{OFFSET_COLUMN, PARTITION_COLUMN};
use crate::messages::{MalformedPolicy, TableSchema, orders_schema};

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The topic, its brokers and client settings (its schema and
    /// malformed policy are the lake's: the orders, `dead_letter`).
    pub kafka: KafkaTableConfig,
    /// The most messages one commit holds, over all partitions.
    pub commit_messages: u64,
    /// Compact the `orders` table's small files every this many commits
    /// (0: never).
    pub compact_every: u64,
}

impl IngestConfig {
    /// Defaults: 500,000 messages a commit, compaction every 50 commits.
    pub fn new(kafka: KafkaTableConfig) -> Self {
        Self {
            kafka,
            commit_messages: 500_000,
            compact_every: 50,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// Messages read (rows of either table).
    pub messages: u64,
    /// Rows added to `orders`.
    pub orders: u64,
    /// Rows added to `orders_dead_letter`.
    pub dead_letters: u64,
    /// The next offset to ingest of every partition, after the round.
    pub committed: BTreeMap<i32, i64>,
    /// Messages each partition still had to ingest after the round, by the
    /// high watermarks the round began with.
    pub lag: BTreeMap<i32, i64>,
    /// The `orders` table's version after the round.
    pub version: Option<u64>,
    /// How long the round took.
    pub elapsed: Duration,
    /// Whether the round compacted `orders`.
    pub compacted: bool,
}

/// The followers, whether or not a reader panicked while holding them (the
/// map stays consistent: a reader takes its follower out before reading).
fn lock(followers: &Mutex<BTreeMap<i32, Follower>>) -> std::sync::MutexGuard<'_, BTreeMap<i32, Follower>> {
    followers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An ingest of one topic into one lake.
pub struct Ingest {
    lake: Lake,
    cfg: Arc<KafkaTableConfig>,
    commit_messages: u64,
    compact_every: u64,
    schema: Arc<TableSchema>,
    orders: DeltaTable,
    dead_letters: DeltaTable,
    commits: u64,
    /// Each partition's consumer, kept from round to round: a new one per
    /// round would fetch again what the last one had prefetched.
    followers: Arc<Mutex<BTreeMap<i32, Follower>>>,
}

impl Ingest {
    /// Opens (creating if missing) the lake's orders tables.
    pub async fn open(lake: Lake, config: IngestConfig) -> Result<Self> {
        let kafka = config
            .kafka
            .with_schema(orders_schema())
            .with_malformed_policy(MalformedPolicy::DeadLetter);
        let schema = TableSchema::try_new(
            &format!("Kafka topic '{}'", kafka.topic()),
            &orders_schema(),
            MalformedPolicy::DeadLetter,
        )?
        .with_dead_letter_bytes();
        let orders = lake.open_or_create_for_topic(LakeTable::Orders, kafka.topic()).await?;
        let dead_letters = lake
            .open_or_create_for_topic(LakeTable::OrdersDeadLetter, kafka.topic())
            .await?;
        Ok(Self {
            lake,
            cfg: Arc::new(kafka),
            commit_messages: config.commit_messages.max(1),
            compact_every: config.compact_every,
            schema: Arc::new(schema),
            orders,
            dead_letters,
            commits: 0,
            followers: Arc::default(),
        })
    }

    /// The topic's partitions and their watermarks now.
    pub async fn watermarks(&self) -> Result<BTreeMap<i32, Watermarks>> {
        let cfg = Arc::clone(&self.cfg);
        run_blocking(&self.cfg, move || {
            let consumer = client::consumer(&cfg)?;
            let partitions = client::partitions(&consumer, &cfg)?;
            Ok(client::all_watermarks(&consumer, &cfg, &partitions)?
                .into_iter()
                .collect())
        })
        .await
    }

    /// The next offset to ingest of each partition: where both tables have
    /// got to (the lower, when a crash left one ahead).
    pub async fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>> {
        let (orders, dead) = self.committed_by_table(partitions).await?;
        Ok(orders
            .into_iter()
            .map(|(p, o)| (p, o.min(dead.get(&p).copied().unwrap_or(0))))
            .collect())
    }

    async fn committed_by_table(&self, partitions: &[i32]) -> Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
        let topic = self.cfg.topic();
        let orders = self
            .lake
            .committed(LakeTable::Orders, &self.orders, topic, partitions.iter().copied())
            .await?;
        let dead = self
            .lake
            .committed(
                LakeTable::OrdersDeadLetter,
                &self.dead_letters,
                topic,
                partitions.iter().copied(),
            )
            .await?;
        Ok((orders, dead))
    }

    /// Reads what is new up to `until` (by default the high watermarks now),
    /// at most the commit size, and commits it.
    pub async fn round(&mut self, until: Option<&BTreeMap<i32, i64>>) -> Result<Round> {
        let started = Instant::now();
        let watermarks = self.watermarks().await?;
        let partitions: Vec<i32> = watermarks.keys().copied().collect();
        let (orders_at, dead_at) = self.committed_by_table(&partitions).await?;
        let end_of = |p: i32, wm: &Watermarks| until.and_then(|u| u.get(&p).copied()).unwrap_or(wm.high).min(wm.high);
        let mut ranges = Vec::new();
        let wanting = watermarks
            .iter()
            .filter(|(p, wm)| orders_at[p].min(dead_at[p]) < end_of(**p, wm))
            .count()
            .max(1);
        let budget = i64::try_from(self.commit_messages.div_ceil(wanting as u64)).unwrap_or(i64::MAX);
        for (&p, wm) in &watermarks {
            let start = orders_at[&p].min(dead_at[&p]);
            let end = end_of(p, wm).min(start.saturating_add(budget));
            if start < end {
                ranges.push(OffsetRange {
                    partition: p,
                    start,
                    end,
                });
            }
        }
        let mut round = Round::default();
        if !ranges.is_empty() {
            let (batches, reached) = self.read(&ranges).await?;
            // a range ends where its reading did: short of the round's end
            // when a transaction is still open there (read_committed)
            for (range, reached) in ranges.iter_mut().zip(reached) {
                range.end = reached;
            }
            let mut orders = Vec::new();
            let mut dead = Vec::new();
            for batch in &batches {
                let LakeRows {
                    orders: o,
                    dead_letters: d,
                } = lake_rows(batch)?;
                round.messages += batch.num_rows() as u64;
                orders.push(not_before(&o, &orders_at)?);
                dead.push(not_before(&d, &dead_at)?);
            }
            round.orders = orders.iter().map(|b| b.num_rows() as u64).sum();
            round.dead_letters = dead.iter().map(|b| b.num_rows() as u64).sum();
            // dead letters first: `committed` takes the lower of the two
            let dead_ranges: Vec<OffsetRange> = ranges
                .iter()
                .copied()
                .filter(|r| dead_at[&r.partition] < r.end)
                .collect();
            self.dead_letters = self
                .commit(
                    LakeTable::OrdersDeadLetter,
                    self.dead_letters.clone(),
                    dead,
                    &dead_ranges,
                )
                .await?;
            let order_ranges: Vec<OffsetRange> = ranges
                .iter()
                .copied()
                .filter(|r| orders_at[&r.partition] < r.end)
                .collect();
            self.orders = self
                .commit(LakeTable::Orders, self.orders.clone(), orders, &order_ranges)
                .await?;
            self.commits += 1;
            if self.compact_every > 0 && self.commits.is_multiple_of(self.compact_every) {
                self.compact().await?;
                round.compacted = true;
            }
        }
        // where both tables now stand: the round's ends, else where it began
        let mut orders_now = orders_at;
        let mut dead_now = dead_at;
        for r in &ranges {
            for now in [&mut orders_now, &mut dead_now] {
                let at = now.entry(r.partition).or_insert(0);
                *at = (*at).max(r.end);
            }
        }
        round.committed = orders_now
            .iter()
            .map(|(p, o)| (*p, (*o).min(dead_now.get(p).copied().unwrap_or(0))))
            .collect();
        round.lag = watermarks
            .iter()
            .map(|(p, wm)| (*p, (wm.high - round.committed.get(p).copied().unwrap_or(0)).max(0)))
            .collect();
        round.version = self.orders.version();
        round.elapsed = started.elapsed();
        Ok(round)
    }

    /// Ingests up to the high watermarks of now, then returns the rounds'
    /// totals (for tests, backfills and CI).
    pub async fn until_caught_up(&mut self, mut progress: impl FnMut(&Round)) -> Result<Round> {
        let until: BTreeMap<i32, i64> = self
            .watermarks()
            .await?
            .into_iter()
            .map(|(p, wm)| (p, wm.high))
            .collect();
        let mut total = Round::default();
        loop {
            let round = self.round(Some(&until)).await?;
            progress(&round);
            total.messages += round.messages;
            total.orders += round.orders;
            total.dead_letters += round.dead_letters;
            total.elapsed += round.elapsed;
            total.committed = round.committed.clone();
            total.lag = round.lag.clone();
            total.version = round.version;
            let behind: Vec<i32> = until
                .iter()
                .filter(|(p, end)| round.committed.get(p).is_none_or(|c| c < *end))
                .map(|(p, _)| *p)
                .collect();
            if behind.is_empty() {
                return Ok(total);
            }
            if round.messages == 0 {
                return Err(PulseError::Kafka {
                    topic: self.cfg.topic().to_string(),
                    brokers: self.cfg.brokers().to_string(),
                    message: format!(
                        "the ingest made no progress on partitions {behind:?}, which are behind the high \
                         watermarks it started with ({until:?}): is a producer's transaction open there? \
                         (messages of an open transaction are not read until it ends)"
                    ),
                });
            }
        }
    }

    /// Reads `ranges`, partitions in parallel, into decoded batches, and the
    /// offset each range's reading reached.
    async fn read(&self, ranges: &[OffsetRange]) -> Result<(Vec<RecordBatch>, Vec<i64>)> {
        let metrics = ExecutionPlanMetricsSet::new();
        let mut readers = Vec::new();
        for (i, range) in ranges.iter().enumerate() {
            let (tx, mut rx) = tokio::sync::mpsc::channel(4);
            let topic = self.cfg.topic().to_string();
            let read = RangeRead {
                cfg: Arc::clone(&self.cfg),
                schema: Arc::clone(&self.schema),
                range: *range,
                projection: None,
                batch_size: 8192,
                limit: None,
                metrics: ScanMetrics::new(&metrics, i, MalformedPolicy::DeadLetter),
                check: None,
                event_time: None,
            };
            let followers = Arc::clone(&self.followers);
            let reader = tokio::task::spawn_blocking(move || {
                let partition = read.range.partition;
                let follower = lock(&followers).remove(&partition);
                let (reached, follower) = read_range_from(read, tx, follower)?;
                if let Some(f) = follower {
                    lock(&followers).insert(partition, f);
                }
                Ok::<_, PulseError>(reached)
            });
            let collect = async move {
                let mut batches = Vec::new();
                while let Some(batch) = rx.recv().await {
                    batches.push(batch.map_err(|e| PulseError::KafkaPartition {
                        topic: topic.clone(),
                        partition: range.partition,
                        message: e.to_string(),
                    })?);
                }
                Ok::<_, PulseError>(batches)
            };
            readers.push(async move {
                let batches = collect.await?;
                let reached = reader.await.map_err(|e| PulseError::KafkaPartition {
                    topic: self.cfg.topic().to_string(),
                    partition: range.partition,
                    message: format!("the reader stopped: {e}"),
                })??;
                Ok::<_, PulseError>((batches, reached))
            });
        }
        let mut all = Vec::new();
        let mut reached = Vec::new();
        for (batches, end) in futures::future::try_join_all(readers).await? {
            all.extend(batches);
            reached.push(end);
        }
        Ok((all, reached))
    }

    /// Appends `batches` to `table` with the offsets `ranges` reach, in one
    /// commit that lands only on the version the offsets were read from.
    async fn commit(
        &self,
        table: LakeTable,
        delta: DeltaTable,
        batches: Vec<RecordBatch>,
        ranges: &[OffsetRange],
    ) -> Result<DeltaTable> {
        if ranges.is_empty() {
            return Ok(delta);
        }
        let txns: Vec<Transaction> = ranges
            .iter()
            .map(|r| Transaction::new(app_id(self.cfg.topic(), r.partition), r.end))
            .collect();
        let properties = CommitProperties::default()
            .with_application_transactions(txns)
            .with_max_retries(0);
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            // offsets move on without rows: a commit of the transactions alone
            let snapshot = delta.snapshot().map_err(|e| self.lake.error(table, e))?;
            CommitBuilder::from(properties)
                .build(
                    Some(snapshot as &dyn TableReference),
                    delta.log_store(),
                    DeltaOperation::Write {
                        mode: SaveMode::Append,
                        partition_by: None,
                        predicate: None,
                    },
                )
                .await
                .map_err(|e| self.conflict(table, e))?;
            let mut delta = delta;
            delta.update_state().await.map_err(|e| self.lake.error(table, e))?;
            return Ok(delta);
        }
        delta
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(table.partition_columns().iter().copied())
            .with_commit_properties(properties)
            .await
            .map_err(|e| self.conflict(table, e))
    }

    fn conflict(&self, table: LakeTable, e: DeltaTableError) -> PulseError {
        let text = e.to_string();
        let lost_race = matches!(
            &e,
            DeltaTableError::VersionAlreadyExists(_)
                | DeltaTableError::Transaction {
                    source: TransactionError::MaxCommitAttempts(_) | TransactionError::VersionAlreadyExists(_),
                }
        );
        if lost_race {
            return PulseError::Lake {
                table: self.lake.table_url(table).to_string(),
                message: format!(
                    "another writer committed to the table since this round read its offsets ({text}); is a second `pulse ingest` of topic '{}' \
                     running into this lake? This table's part of the round was not committed (the lake stays \
                     consistent: each table holds whole rounds); restart to resume",
                    self.cfg.topic()
                ),
            };
        }
        self.lake.error(table, e)
    }

    /// Rewrites `orders`' small files into large ones (a Delta `OPTIMIZE`);
    /// the rows and the committed offsets stay as they are.
    pub async fn compact(&mut self) -> Result<()> {
        let (table, _metrics) = self
            .orders
            .clone()
            .optimize()
            .await
            .map_err(|e| self.lake.error(LakeTable::Orders, e))?;
        self.orders = table;
        Ok(())
    }
}

/// The rows of `batch` at or above each partition's `committed` offset: what
/// a table does not hold yet.
fn not_before(batch: &RecordBatch, committed: &BTreeMap<i32, i64>) -> Result<RecordBatch> {
    let (Some(partitions), Some(offsets)) = (
        batch.column_by_name(PARTITION_COLUMN),
        batch.column_by_name(OFFSET_COLUMN),
    ) else {
        return Ok(batch.clone());
    };
    let partitions = partitions.as_primitive::<Int32Type>();
    let offsets = offsets.as_primitive::<Int64Type>();
    let keep: BooleanArray = partitions
        .values()
        .iter()
        .zip(offsets.values().iter())
        .map(|(p, o)| Some(*o >= committed.get(p).copied().unwrap_or(0)))
        .collect();
    filter_record_batch(batch, &keep).map_err(|e| PulseError::InvalidSchema {
        table: "the lake's orders".into(),
        reason: e.to_string(),
    })
}
