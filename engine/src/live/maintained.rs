//! [`MaintainedWindowSums`]: the `customer_window_sums` view served from
//! state a live session keeps, so that a query of the answer reads only
//! the offsets that are new since the last one.
//!
//! Planning a scan of it takes the statement's cut of the `orders` topic
//! (the same cut every other scan of the statement reads) and its `T`
//! (`pulse.as_of`, or the statement's start, as `pulse_as_of()` takes it),
//! reads the messages of the cut the state does not hold yet, moves the
//! state to `T` ([`super::window_sums`]) and answers with its rows. The
//! first scan, and any scan the state cannot serve, builds the state again
//! from the cut with the window's time bound pushed down, as the view's
//! own scan is.
//!
//! What must stay true: the rows are the view's for the same `T` and cut,
//! whatever came before. So the state is built again, rather than moved,
//! when the cut does not extend what it holds: a `T` whose window starts
//! below what it keeps, a partition whose log ends below what it read or
//! is gone (the topic was made again, or a pinned cut is older), a
//! partition whose log now starts above an offset it holds (retention
//! deleted a message the view would no longer see), a partition whose log
//! now starts below where the state started reading it (it was built from
//! a pinned cut's start). A read that fails, or a statement dropped while
//! it reads, leaves no state behind. Scans wait for each other, and take
//! their cut while they hold the state: one statement moves it at a time,
//! in the order of their cuts.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Int32Type, Int64Type, SchemaRef, TimeUnit, TimestampNanosecondType,
};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableType, col, lit};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use pulse_udfs::PulseAsOf;

use super::window_sums::{self, Moved, WINDOW_NS, WindowSums};
use crate::kafka::offsets::Watermarks;
use crate::kafka::{Cut, KafkaTable};
use crate::messages::schema::{ERROR_COLUMN, OFFSET_COLUMN, PARTITION_COLUMN};

/// The columns the state reads, in this order.
const READ: [&str; 7] = [
    "order_id",
    "customer_id",
    "amount",
    "timestamp",
    PARTITION_COLUMN,
    OFFSET_COLUMN,
    ERROR_COLUMN,
];

/// The types of [`READ`] the state reads them as (the orders schema's).
const READ_TYPES: [DataType; 7] = [
    DataType::Utf8,
    DataType::Utf8,
    DataType::Decimal128(38, 18),
    DataType::Timestamp(TimeUnit::Nanosecond, None),
    DataType::Int32,
    DataType::Int64,
    DataType::Utf8,
];

/// What the state holds beyond the sums: how far it read each partition.
#[derive(Debug)]
struct Held {
    sums: WindowSums,
    /// Per partition, the next offset to read.
    ends: BTreeMap<i32, i64>,
    /// Per partition, where the state started accounting for it (the
    /// cut's start when it was first read, a seek being exact).
    starts: BTreeMap<i32, i64>,
    /// Per partition, the lowest offset of a copy it took.
    lowest: BTreeMap<i32, i64>,
}

impl Held {
    /// An empty state that will hold the copies from `floor` on.
    fn new(floor: i64) -> Self {
        Self {
            sums: WindowSums::new(floor),
            ends: BTreeMap::new(),
            starts: BTreeMap::new(),
            lowest: BTreeMap::new(),
        }
    }

    /// Whether moving this state to `t` over `cut` gives the view's rows.
    fn extends_to(&self, cut: &Cut, t: i64) -> bool {
        self.sums.as_of().is_some()
            && t.saturating_sub(WINDOW_NS) >= self.sums.floor()
            && self.ends.iter().all(|(p, &end)| {
                cut.partitions.iter().find(|(q, _)| q == p).is_some_and(|(_, wm)| {
                    wm.high >= end
                        && self.starts.get(p).is_some_and(|&start| wm.low >= start)
                        && self.lowest.get(p).is_none_or(|&low| wm.low <= low)
                })
            })
    }
}

/// A read of the state: what it took and from how many messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Whether the state was built again from the whole window.
    pub rebuilt: bool,
    /// Messages read from the topic.
    pub read: u64,
    /// Orders recomputed by the move to `T`.
    pub recomputed: usize,
}

/// What the state holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    /// The `T` it was last moved to.
    pub as_of: Option<i64>,
    /// Orders with at least one copy held.
    pub orders: usize,
    /// Copies (messages) held.
    pub copies: usize,
    /// An estimate of the memory they take, in bytes.
    pub bytes: usize,
}

/// The view this state serves.
pub const VIEW: &str = "customer_window_sums_v1";

/// See the module documentation.
#[derive(Debug)]
pub struct MaintainedWindowSums {
    orders: Arc<KafkaTable>,
    schema: SchemaRef,
    held: tokio::sync::Mutex<Option<Held>>,
    last: std::sync::Mutex<Refresh>,
}

impl MaintainedWindowSums {
    /// The view over the topic `orders` (the session's `orders` table).
    pub fn new(orders: Arc<KafkaTable>) -> DFResult<Self> {
        let table = orders.schema();
        for (name, want) in READ.iter().zip(READ_TYPES) {
            if *name == ERROR_COLUMN {
                continue; // only under the dead_letter policy
            }
            let got = table.field_with_name(name)?.data_type();
            let fits = match (&want, got) {
                (DataType::Timestamp(unit, _), DataType::Timestamp(got_unit, _)) => unit == got_unit,
                _ => want == *got,
            };
            if !fits {
                return Err(DataFusionError::Plan(format!(
                    "customer_window_sums cannot be kept over this orders table: its column {name} is {got}, not {want}"
                )));
            }
        }
        Ok(Self {
            orders,
            schema: window_sums::schema(),
            held: tokio::sync::Mutex::new(None),
            last: std::sync::Mutex::new(Refresh::default()),
        })
    }

    /// What the last scan read.
    pub fn last_refresh(&self) -> Refresh {
        self.last.lock().map(|l| *l).unwrap_or_default()
    }

    /// What the state holds now.
    pub async fn held(&self) -> Holding {
        match &*self.held.lock().await {
            Some(h) => {
                let (orders, copies) = h.sums.counts();
                Holding {
                    as_of: h.sums.as_of(),
                    orders,
                    copies,
                    bytes: h.sums.bytes(),
                }
            }
            None => Holding::default(),
        }
    }

    /// Brings the state to the statement's cut and `T`; returns its rows.
    async fn refresh(&self, state: &dyn Session) -> DFResult<RecordBatch> {
        let t = as_of(state)?;
        let mut held = self.held.lock().await;
        // the cut is taken under the lock, so statements move the state in
        // the order of their cuts
        let cut = self.orders.cut(state).await.map_err(DataFusionError::from)?;
        // taken out while it moves: a statement dropped half-way (a client
        // gone) leaves no half-read state behind, only a rebuild
        let (h, refresh) = self.bring(held.take(), state, &cut, t).await?;
        if let Ok(mut last) = self.last.lock() {
            *last = refresh;
        }
        let batch = h.sums.batch(&self.schema);
        *held = Some(h);
        batch
    }

    /// `held` moved to `cut` and `t`, or built again from them.
    async fn bring(&self, held: Option<Held>, state: &dyn Session, cut: &Cut, t: i64) -> DFResult<(Held, Refresh)> {
        let (mut h, filters) = match held {
            Some(h) if h.extends_to(cut, t) => (h, vec![]),
            _ => {
                let start = t - WINDOW_NS;
                let bound = ScalarValue::TimestampNanosecond(Some(start), Some("UTC".into()));
                (Held::new(start), vec![col("timestamp").gt_eq(lit(bound))])
            }
        };
        let rebuilt = !filters.is_empty();
        // what the state has not read of each partition
        let unread = Cut {
            topic: cut.topic.clone(),
            partitions: cut
                .partitions
                .iter()
                .map(|&(p, wm)| {
                    let from = h.ends.get(&p).copied().unwrap_or(wm.low).max(wm.low);
                    (
                        p,
                        Watermarks {
                            low: from.min(wm.high),
                            high: wm.high,
                        },
                    )
                })
                .collect(),
            pinned: cut.pinned,
        };
        let read = match unread.partitions.iter().any(|(_, wm)| wm.high > wm.low) {
            true => self.read(&mut h, state, &unread, &filters).await?,
            false => 0,
        };
        for &(p, wm) in &unread.partitions {
            h.starts.entry(p).or_insert(wm.low);
        }
        h.ends = cut.partitions.iter().map(|&(p, wm)| (p, wm.high)).collect();
        match h.sums.move_to(t) {
            Moved::To { recomputed } => Ok((
                h,
                Refresh {
                    rebuilt,
                    read,
                    recomputed,
                },
            )),
            Moved::BelowFloor => Err(DataFusionError::Internal(format!(
                "the window sums hold event times from {} only, below T - 31 days = {}",
                h.sums.floor(),
                t - WINDOW_NS
            ))),
        }
    }

    /// Reads `cut` of the topic into the state; returns the messages read.
    async fn read(&self, h: &mut Held, state: &dyn Session, cut: &Cut, filters: &[Expr]) -> DFResult<u64> {
        let table = self.orders.schema();
        let projection: Vec<usize> = READ.iter().filter_map(|name| table.index_of(name).ok()).collect();
        let has_error = projection.len() == READ.len();
        let plan = self
            .orders
            .scan_cut(state, cut, Some(&projection), filters, None)
            .await?;
        let mut stream = execute_stream(plan, state.task_ctx())?;
        let mut read = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            read += batch.num_rows() as u64;
            take(h, &batch, has_error)?;
        }
        Ok(read)
    }
}

/// Adds the clean rows of `batch` (the [`READ`] columns) to the state.
fn take(h: &mut Held, batch: &RecordBatch, has_error: bool) -> DFResult<()> {
    let strings = |i: usize| {
        batch
            .column(i)
            .as_string_opt::<i32>()
            .ok_or_else(|| DataFusionError::Internal(format!("column {} of orders is not Utf8", READ[i])))
    };
    let (order_id, customer_id) = (strings(0)?, strings(1)?);
    let amount = batch.column(2).as_primitive::<Decimal128Type>();
    let time = batch.column(3).as_primitive::<TimestampNanosecondType>();
    let partition = batch.column(4).as_primitive::<Int32Type>();
    let offset = batch.column(5).as_primitive::<Int64Type>();
    let error = has_error.then(|| batch.column(6));
    for row in 0..batch.num_rows() {
        let clean = error.is_none_or(|e| e.is_null(row))
            && !order_id.is_null(row)
            && !customer_id.is_null(row)
            && !amount.is_null(row)
            && !time.is_null(row);
        if !clean {
            continue;
        }
        let (p, o) = (partition.value(row), offset.value(row));
        let position = window_sums::position(p, o);
        if h.sums.add(
            order_id.value(row),
            customer_id.value(row),
            amount.value(row),
            time.value(row),
            position,
        ) {
            let low = h.lowest.entry(p).or_insert(o);
            *low = (*low).min(o);
        }
    }
    Ok(())
}

/// The statement's `T`, as `pulse_as_of()` folds it.
fn as_of(state: &dyn Session) -> DFResult<i64> {
    let started = state.execution_props().query_execution_start_time;
    let t = PulseAsOf::of_statement(state.config_options(), started)
        .ok_or_else(|| DataFusionError::Plan("customer_window_sums: the statement has no start time for T".into()))?;
    match t.checked_sub(WINDOW_NS) {
        Some(_) => Ok(t),
        None => Err(DataFusionError::Plan(format!(
            "customer_window_sums: T = {t} ns is too early for a 31-day window"
        ))),
    }
}

#[async_trait]
impl TableProvider for MaintainedWindowSums {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
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
        let batch = self.refresh(state).await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::window_sums::DAY_NS;

    const T: i64 = 1_800_000_000_000_000_000;

    fn cut(partitions: &[(i32, i64, i64)]) -> Cut {
        Cut {
            topic: "orders".into(),
            partitions: partitions
                .iter()
                .map(|&(p, low, high)| (p, Watermarks { low, high }))
                .collect(),
            pinned: false,
        }
    }

    /// A state at `T` that read partitions 0 and 1 up to 100 and 50, and
    /// holds a copy at offset 10 of partition 0.
    fn held() -> Held {
        let mut sums = WindowSums::new(T - WINDOW_NS);
        assert!(sums.add("o1", "c1", 1, T - DAY_NS, window_sums::position(0, 10)));
        assert!(matches!(sums.move_to(T), Moved::To { .. }));
        Held {
            sums,
            ends: BTreeMap::from([(0, 100), (1, 50)]),
            starts: BTreeMap::from([(0, 0), (1, 0)]),
            lowest: BTreeMap::from([(0, 10)]),
        }
    }

    #[test]
    fn a_state_is_moved_only_over_a_cut_that_extends_what_it_read() {
        let h = held();
        assert!(h.extends_to(&cut(&[(0, 0, 100), (1, 0, 50)]), T), "nothing new");
        assert!(
            h.extends_to(&cut(&[(0, 5, 120), (1, 0, 60), (2, 0, 9)]), T + DAY_NS),
            "new offsets, a new partition, T on"
        );
        assert!(
            !h.extends_to(&cut(&[(0, 0, 100), (1, 0, 50)]), T - 1),
            "T's window starts below the floor"
        );
        assert!(!h.extends_to(&cut(&[(0, 0, 100)]), T), "a partition it read is gone");
        assert!(
            !h.extends_to(&cut(&[(0, 0, 99), (1, 0, 50)]), T),
            "a log ends below what it read"
        );
        assert!(
            !h.extends_to(&cut(&[(0, 11, 100), (1, 0, 50)]), T),
            "retention deleted a copy it holds"
        );
        assert!(
            h.extends_to(&cut(&[(0, 10, 100), (1, 40, 50)]), T),
            "retention below every copy it holds"
        );
        let mut pinned = held();
        pinned.starts.insert(1, 20);
        assert!(
            !pinned.extends_to(&cut(&[(0, 0, 100), (1, 0, 50)]), T),
            "built from a pinned start: 0..20 never read"
        );
        let fresh = Held::new(T - WINDOW_NS);
        assert!(!fresh.extends_to(&cut(&[(0, 0, 100)]), T), "never moved: built first");
    }
}
