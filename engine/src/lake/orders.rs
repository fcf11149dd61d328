//! `orders` = the lake's rows ∪ the topic's tail: [`LakeOrdersTable`].
//!
//! A statement's first scan fixes, once for the statement, a snapshot of
//! the lake's `orders` and `orders_dead_letter` tables and the next offset
//! each has committed per partition (the floors), and then the Kafka cut
//! above those floors ([`KafkaTable::cut_above`]). The scan is the union of
//! - the lake's orders, with `timestamp` put back together in nanoseconds
//!   and `_error` NULL, pruned by `order_date` from the time filters;
//! - the lake's dead letters as `_error` rows (under the table's
//!   `dead_letter` policy; left out under `skip`);
//! - the topic from each floor up to the cut's end.
//!
//! The columns are the Kafka table's, so every view reads this table as it
//! reads the topic.
//!
//! What must stay true: every offset below a partition's cut end is read
//! from exactly one side: the lake below the floor, Kafka from it. A cut
//! pinned by `pulse.offsets` bounds both sides by its ends (its starts are
//! the lake's: a printed cut starts at the floors it was read above), so a
//! replay gives the same rows after more orders were ingested.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, TableProviderFilterPushDown, TableType, cast, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{and, or};
use deltalake::DeltaTable;

use super::store::Lake;
use super::tables::{LakeTable, ORDER_DATE, TIMESTAMP_NANOS};
use crate::error::{PulseError, Result};
use crate::kafka::snapshot::{Cut, Statement, StatementCuts};
use crate::kafka::{KafkaTable, pushdown};
use crate::messages::MalformedPolicy;
use crate::messages::schema::{ERROR_COLUMN, OFFSET_COLUMN, PARTITION_COLUMN};

/// What one statement reads of the lake.
#[derive(Debug)]
struct LakeSnapshot {
    /// `None` when no ingest has created the lake's tables yet.
    orders: Option<DeltaTable>,
    dead_letters: Option<DeltaTable>,
    /// The next offset of each partition that both tables hold everything
    /// below.
    floors: BTreeMap<i32, i64>,
}

/// The orders of a lake and the tail of its topic, as one table with the
/// Kafka table's columns.
#[derive(Debug)]
pub struct LakeOrdersTable {
    lake: Lake,
    kafka: Arc<KafkaTable>,
    snapshots: StatementCuts<LakeSnapshot>,
}

impl LakeOrdersTable {
    /// The union of `lake`'s orders and `kafka` above the lake's offsets.
    /// `kafka`'s malformed policy decides what the lake's dead letters are:
    /// `_error` rows (`dead_letter`) or nothing (`skip`); `fail` cannot be
    /// honoured, since the lake accepted them already.
    pub fn try_new(lake: Lake, kafka: KafkaTable) -> Result<Self> {
        if kafka.config().malformed_policy() == MalformedPolicy::Fail {
            return Err(PulseError::InvalidOption {
                key: "kafka.malformed".into(),
                reason: format!(
                    "the lake {} keeps malformed messages in orders_dead_letter; read them as rows with \
                     'dead_letter' or leave them out with 'skip'",
                    lake.display()
                ),
            });
        }
        Ok(Self {
            lake,
            kafka: Arc::new(kafka),
            snapshots: StatementCuts::default(),
        })
    }

    /// The lake.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    async fn snapshot(&self, state: &dyn Session) -> Result<Arc<LakeSnapshot>> {
        let fetch = async {
            let partitions = self.kafka.partitions().await?;
            let topic = self.kafka.config().topic();
            // a lake no ingest has created yet holds nothing: read from
            // Kafka alone (a reader never creates the lake's tables)
            let (Some(orders), Some(dead)) = (
                self.lake.load(LakeTable::Orders).await?,
                self.lake.load(LakeTable::OrdersDeadLetter).await?,
            ) else {
                log::warn!(
                    "the lake {} has no orders tables yet (`pulse ingest` creates them): reading Kafka topic '{topic}' \
                     alone",
                    self.lake.display()
                );
                return Ok(LakeSnapshot {
                    orders: None,
                    dead_letters: None,
                    floors: BTreeMap::new(),
                });
            };
            self.lake.check_topic(LakeTable::Orders, &orders, topic)?;
            self.lake.check_topic(LakeTable::OrdersDeadLetter, &dead, topic)?;
            let mut floors = self
                .lake
                .committed(LakeTable::Orders, &orders, topic, partitions.iter().copied())
                .await?;
            let dead_floors = self
                .lake
                .committed(LakeTable::OrdersDeadLetter, &dead, topic, partitions.iter().copied())
                .await?;
            for (p, floor) in &mut floors {
                // an ingest that died between its two commits left the dead
                // letters ahead: read from the lower floor, and drop the
                // dead letters at or above it (Kafka gives them again)
                *floor = (*floor).min(dead_floors.get(p).copied().unwrap_or(0));
            }
            // a partition the lake never ingested has no floor: Kafka reads
            // it whole, from wherever its log starts
            floors.retain(|_, floor| *floor > 0);
            let keep_dead = self.kafka.config().malformed_policy() == MalformedPolicy::DeadLetter;
            Ok(LakeSnapshot {
                orders: Some(orders),
                dead_letters: if keep_dead { Some(dead) } else { None },
                floors,
            })
        };
        self.snapshots.get_or_fetch(Statement::of(state), fetch).await
    }

    /// The lake's side of the scan: its orders and dead letters in the
    /// Kafka table's columns, below each partition's floor and cut end.
    async fn lake_plan(
        &self,
        state: &dyn Session,
        snapshot: &LakeSnapshot,
        cut: &Cut,
        filters: &[Expr],
    ) -> DFResult<Option<LogicalPlanBuilder>> {
        let schema = self.kafka.schema();
        let (Some(below), Some(orders)) = (below_floors(&snapshot.floors, cut), &snapshot.orders) else {
            return Ok(None);
        };
        let mut sides = Vec::new();
        let orders = self.provider(state, LakeTable::Orders, orders).await?;
        let mut exprs = Vec::new();
        for field in schema.fields() {
            let name = field.name().as_str();
            let expr = match name {
                "timestamp" => cast(
                    cast(col("timestamp"), DataType::Int64) * lit(1000i64)
                        + cast(col(TIMESTAMP_NANOS), DataType::Int64),
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                ),
                ERROR_COLUMN => lit(ScalarValue::Utf8(None)),
                _ => col(name),
            };
            exprs.push(cast(expr, field.data_type().clone()).alias(name));
        }
        let mut filter = below.clone();
        if let Some(days) = order_dates(filters) {
            filter = and(filter, days);
        }
        sides.push(
            LogicalPlanBuilder::scan("lake_orders", provider_as_source(orders), None)?
                .filter(filter)?
                .project(exprs)?,
        );
        if let Some(dead) = &snapshot.dead_letters {
            let provider = self.provider(state, LakeTable::OrdersDeadLetter, dead).await?;
            let dead_columns = LakeTable::OrdersDeadLetter.schema();
            let exprs: Vec<Expr> = schema
                .fields()
                .iter()
                .map(|field| {
                    let name = field.name().as_str();
                    let expr = if dead_columns.field_with_name(name).is_ok() {
                        col(name)
                    } else {
                        lit(ScalarValue::try_from(field.data_type())?)
                    };
                    Ok(cast(expr, field.data_type().clone()).alias(name))
                })
                .collect::<DFResult<_>>()?;
            sides.push(
                LogicalPlanBuilder::scan("lake_orders_dead_letter", provider_as_source(provider), None)?
                    .filter(below)?
                    .project(exprs)?,
            );
        }
        let mut sides = sides.into_iter();
        let Some(mut plan) = sides.next() else {
            return Ok(None);
        };
        for side in sides {
            plan = plan.union(side.build()?)?;
        }
        Ok(Some(plan))
    }

    async fn provider(
        &self,
        state: &dyn Session,
        table: LakeTable,
        delta: &DeltaTable,
    ) -> DFResult<Arc<dyn TableProvider>> {
        let lake_error = |e: &dyn std::fmt::Display| DataFusionError::from(self.lake.error(table, e));
        delta.update_datafusion_session(state).map_err(|e| lake_error(&e))?;
        let provider = delta.table_provider().await.map_err(|e| lake_error(&e))?;
        // a scheduler's session plans the snapshot's files as Parquet,
        // which Ballista can ship ([`super::files`])
        #[cfg(feature = "distributed")]
        if crate::distributed::slice::is_for_tasks(state) {
            let files = super::files::LakeFiles::try_new(&self.lake, table, delta, provider.schema())?;
            return Ok(Arc::new(files));
        }
        Ok(provider)
    }

    /// The topic above the lake.
    pub fn kafka(&self) -> &KafkaTable {
        &self.kafka
    }
}

/// `_offset` below each partition's floor and (for a pinned cut) its end,
/// on the partitions the cut reads; `None` when the lake has nothing to
/// give.
fn below_floors(floors: &BTreeMap<i32, i64>, cut: &Cut) -> Option<Expr> {
    let mut any: Option<Expr> = None;
    for (p, wm) in &cut.partitions {
        let floor = floors.get(p).copied().unwrap_or(0);
        let end = if cut.pinned { floor.min(wm.high) } else { floor };
        if end <= 0 {
            continue;
        }
        let this = and(col(PARTITION_COLUMN).eq(lit(*p)), col(OFFSET_COLUMN).lt(lit(end)));
        any = Some(match any {
            Some(a) => or(a, this),
            None => this,
        });
    }
    any
}

/// The `order_date` range the time filters allow, if they bound it.
fn order_dates(filters: &[Expr]) -> Option<Expr> {
    const DAY_MS: i64 = 86_400_000;
    let bounds = pushdown::translate(filters, Some("timestamp")).event_time;
    let date = |ms: i64| lit(ScalarValue::Date32(i32::try_from(ms.div_euclid(DAY_MS)).ok()));
    // the bounds are in milliseconds, rounded; event times are nanoseconds:
    // a millisecond of slack either side keeps a row near midnight
    let lo = bounds.lo.map(|lo| col(ORDER_DATE).gt_eq(date(lo.saturating_sub(1))));
    let hi = bounds.hi.map(|hi| col(ORDER_DATE).lt_eq(date(hi.saturating_add(1))));
    match (lo, hi) {
        (Some(lo), Some(hi)) => Some(and(lo, hi)),
        (one, other) => one.or(other),
    }
}

/// `expr` with its columns unqualified (the scan's filters name the outer
/// table).
fn unqualified(expr: &Expr) -> DFResult<Expr> {
    expr.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
}

#[async_trait]
impl TableProvider for LakeOrdersTable {
    fn schema(&self) -> SchemaRef {
        self.kafka.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        self.kafka.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let snapshot = self.snapshot(state).await?;
        let cut = self.kafka.cut_above(state, Some(&snapshot.floors)).await?;
        let filters = filters.iter().map(unqualified).collect::<DFResult<Vec<_>>>()?;
        let tail = Arc::new(KafkaTail {
            kafka: Arc::clone(&self.kafka),
            cut: Arc::clone(&cut),
        });
        let mut plan = LogicalPlanBuilder::scan("kafka_tail", provider_as_source(tail), None)?;
        if let Some(lake) = self.lake_plan(state, &snapshot, &cut, &filters).await? {
            plan = lake.union(plan.build()?)?;
        }
        if let Some(filter) = filters.into_iter().reduce(and) {
            plan = plan.filter(filter)?;
        }
        let schema = self.kafka.schema();
        let columns: Vec<Expr> = match projection {
            Some(p) => p.iter().map(|i| col(schema.field(*i).name())).collect(),
            None => schema.fields().iter().map(|f| col(f.name())).collect(),
        };
        let plan = plan.project(columns)?.build()?;
        state.create_physical_plan(&plan).await
    }
}

/// The topic above the lake's floors: a [`KafkaTable`] scan of a fixed cut.
#[derive(Debug)]
struct KafkaTail {
    kafka: Arc<KafkaTable>,
    cut: Arc<Cut>,
}

#[async_trait]
impl TableProvider for KafkaTail {
    fn schema(&self) -> SchemaRef {
        self.kafka.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        self.kafka.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        self.kafka.scan_cut(state, &self.cut, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::offsets::Watermarks;

    fn cut(pinned: bool, parts: &[(i32, i64, i64)]) -> Cut {
        Cut {
            topic: "t".into(),
            partitions: parts
                .iter()
                .map(|&(p, low, high)| (p, Watermarks { low, high }))
                .collect(),
            pinned,
        }
    }

    #[test]
    fn the_lake_gives_what_is_below_each_floor_and_a_pinned_end() {
        let floors = BTreeMap::from([(0, 10), (1, 0), (2, 50)]);
        let e = below_floors(&floors, &cut(false, &[(0, 10, 20), (1, 0, 5), (2, 50, 60)])).unwrap();
        assert_eq!(
            e.to_string(),
            "_partition = Int32(0) AND _offset < Int64(10) OR _partition = Int32(2) AND _offset < Int64(50)"
        );
        let e = below_floors(&floors, &cut(true, &[(0, 10, 20), (2, 30, 30)])).unwrap();
        assert_eq!(
            e.to_string(),
            "_partition = Int32(0) AND _offset < Int64(10) OR _partition = Int32(2) AND _offset < Int64(30)"
        );
        assert!(below_floors(&BTreeMap::new(), &cut(false, &[(0, 0, 9)])).is_none());
    }
}
