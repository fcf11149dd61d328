//! Filter pushdown: a pure translation from DataFusion filters to the bounds
//! a Kafka scan can seek to.
//!
//! [`translate`] reads `_partition`, `_offset`, `_timestamp` and event-time
//! comparisons (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, and `IN` on
//! `_partition`) against literals, in either operand order and through
//! widening casts, and ignores everything else. It never touches a broker:
//! turning time bounds into offsets happens in [`super::offsets`].
//!
//! What must stay true: every bound is a superset of the rows the filter
//! keeps. Pushdown is reported as `Inexact` because time bounds become
//! offsets through assumptions (message timestamps within the lateness
//! margin of event time, and out of order by no more than it), so DataFusion
//! always applies the filter again; a bound that is too wide costs reads,
//! never rows.

use std::collections::BTreeSet;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

use crate::messages::schema::{OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN};

/// A half-open range `[lo, hi)`; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds {
    /// Inclusive lower bound.
    pub lo: Option<i64>,
    /// Exclusive upper bound.
    pub hi: Option<i64>,
}

impl Bounds {
    /// `[lo, hi)`.
    pub fn new(lo: Option<i64>, hi: Option<i64>) -> Self {
        Self { lo, hi }
    }

    fn at_least(&mut self, v: i64) {
        self.lo = Some(self.lo.map_or(v, |lo| lo.max(v)));
    }

    fn below(&mut self, v: i64) {
        self.hi = Some(self.hi.map_or(v, |hi| hi.min(v)));
    }

    /// The intersection of two ranges.
    pub fn intersect(mut self, other: Bounds) -> Bounds {
        if let Some(lo) = other.lo {
            self.at_least(lo);
        }
        if let Some(hi) = other.hi {
            self.below(hi);
        }
        self
    }

    /// True when no value can be in range.
    pub fn is_empty(&self) -> bool {
        matches!((self.lo, self.hi), (Some(lo), Some(hi)) if lo >= hi)
    }

    /// True when `v` is in range.
    pub fn contains(&self, v: i64) -> bool {
        self.lo.is_none_or(|lo| v >= lo) && self.hi.is_none_or(|hi| v < hi)
    }

    /// Both ends moved outwards by `margin`.
    pub fn widen(&self, margin: i64) -> Bounds {
        Bounds {
            lo: self.lo.map(|lo| lo.saturating_sub(margin)),
            hi: self.hi.map(|hi| hi.saturating_add(margin)),
        }
    }

    /// True when neither end is bounded.
    pub fn is_unbounded(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }
}

/// What a set of filters allows a Kafka scan to skip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanBounds {
    /// Range of partition ids.
    pub partitions: Bounds,
    /// Partition ids from `IN` lists, when there was one.
    pub partition_set: Option<BTreeSet<i32>>,
    /// Range of offsets (in every partition).
    pub offsets: Bounds,
    /// Range of `_timestamp`, in epoch milliseconds.
    pub message_time: Bounds,
    /// Range of the event-time column, in epoch milliseconds.
    pub event_time: Bounds,
}

impl ScanBounds {
    /// True when partition `p` can hold matching rows.
    pub fn allows_partition(&self, p: i32) -> bool {
        self.partitions.contains(i64::from(p)) && self.partition_set.as_ref().is_none_or(|s| s.contains(&p))
    }

    /// The message timestamps a scan must read, in epoch milliseconds: the
    /// `_timestamp` bounds as given, intersected with the event-time bounds
    /// widened by `lateness_ms` (event time is not log time).
    pub fn message_time_range(&self, lateness_ms: i64) -> Bounds {
        if self.event_time.is_unbounded() {
            return self.message_time;
        }
        self.message_time.intersect(self.event_time.widen(lateness_ms))
    }
}

/// True when [`translate`] uses `filter`.
pub fn is_pushable(filter: &Expr, event_time_column: Option<&str>) -> bool {
    apply(filter, event_time_column, &mut ScanBounds::default())
}

/// Translates filters (a conjunction) into scan bounds. Filters it cannot
/// use are ignored, which is always safe: the bounds only get wider.
pub fn translate(filters: &[Expr], event_time_column: Option<&str>) -> ScanBounds {
    let mut bounds = ScanBounds::default();
    for filter in filters {
        apply(filter, event_time_column, &mut bounds);
    }
    bounds
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Partition,
    Offset,
    MessageTime,
    EventTime,
}

impl Target {
    fn is_time(self) -> bool {
        matches!(self, Target::MessageTime | Target::EventTime)
    }
}

fn apply(filter: &Expr, event_time: Option<&str>, bounds: &mut ScanBounds) -> bool {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
            // Both sides narrow; evaluate both even if the first is not pushable.
            let l = apply(left, event_time, bounds);
            let r = apply(right, event_time, bounds);
            l || r
        }
        Expr::InList(_) | Expr::BinaryExpr(BinaryExpr { op: Operator::Or, .. }) => {
            let Some(set) = partition_set(filter, event_time) else {
                return false;
            };
            bounds.partition_set = Some(match bounds.partition_set.take() {
                Some(prev) => prev.intersection(&set).copied().collect(),
                None => set,
            });
            true
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let (Some(target), Some(value)) = (target_of(left, event_time), literal(right)) {
                compare(bounds, target, *op, &value)
            } else if let (Some(value), Some(target)) = (literal(left), target_of(right, event_time)) {
                match op.swap() {
                    Some(op) => compare(bounds, target, op, &value),
                    None => false,
                }
            } else {
                false
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => match (target_of(expr, event_time), literal(low), literal(high)) {
            (Some(target), Some(low), Some(high)) => {
                let a = compare(bounds, target, Operator::GtEq, &low);
                let b = compare(bounds, target, Operator::LtEq, &high);
                a && b
            }
            _ => false,
        },
        _ => false,
    }
}

/// The partitions that `_partition IN (…)`, `_partition = v`, or an `OR` of
/// them (DataFusion rewrites short `IN` lists to `OR`s) allow.
fn partition_set(filter: &Expr, event_time: Option<&str>) -> Option<BTreeSet<i32>> {
    let value = |e: &Expr| literal(e).as_ref().and_then(as_int).map(|v| i32::try_from(v).ok());
    match filter {
        Expr::InList(list) if !list.negated && target_of(&list.expr, event_time) == Some(Target::Partition) => {
            let mut set = BTreeSet::new();
            for item in &list.list {
                // a value outside i32 matches no partition
                set.extend(value(item)?);
            }
            Some(set)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (column, v) = if literal(right).is_some() {
                (left, right)
            } else {
                (right, left)
            };
            (target_of(column, event_time) == Some(Target::Partition)).then_some(())?;
            Some(value(v)?.into_iter().collect())
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut set = partition_set(left, event_time)?;
            set.extend(partition_set(right, event_time)?);
            Some(set)
        }
        _ => None,
    }
}

/// The pushdown target a column expression refers to, through casts that
/// keep order (integer widening, timestamp unit changes).
fn target_of(expr: &Expr, event_time: Option<&str>) -> Option<Target> {
    match expr {
        Expr::Column(c) => match c.name.as_str() {
            PARTITION_COLUMN => Some(Target::Partition),
            OFFSET_COLUMN => Some(Target::Offset),
            TIMESTAMP_COLUMN => Some(Target::MessageTime),
            name if Some(name) == event_time => Some(Target::EventTime),
            _ => None,
        },
        Expr::Cast(c) => cast_target(&c.expr, &c.field.data_type().clone(), event_time),
        Expr::TryCast(c) => cast_target(&c.expr, &c.field.data_type().clone(), event_time),
        _ => None,
    }
}

fn cast_target(inner: &Expr, to: &DataType, event_time: Option<&str>) -> Option<Target> {
    let target = target_of(inner, event_time)?;
    let keeps_order = match to {
        DataType::Timestamp(_, _) => target.is_time(),
        DataType::Int64 => !target.is_time(),
        _ => false,
    };
    keeps_order.then_some(target)
}

/// A comparable literal: an integer, or a point in time in nanoseconds.
enum Literal {
    Int(i64),
    Nanos(i128),
}

fn literal(expr: &Expr) -> Option<Literal> {
    let Expr::Literal(value, _) = expr else { return None };
    Some(match value {
        ScalarValue::Int8(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Literal::Int(*v),
        ScalarValue::UInt8(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Literal::Int(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => Literal::Int(i64::try_from(*v).ok()?),
        ScalarValue::TimestampSecond(Some(v), _) => Literal::Nanos(i128::from(*v) * 1_000_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => Literal::Nanos(i128::from(*v) * 1_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Literal::Nanos(i128::from(*v) * 1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => Literal::Nanos(i128::from(*v)),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
            Literal::Nanos(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
        }
        _ => return None,
    })
}

fn as_int(l: &Literal) -> Option<i64> {
    match l {
        Literal::Int(v) => Some(*v),
        Literal::Nanos(_) => None,
    }
}

/// Narrows `bounds` by `target op value`; false when it cannot.
fn compare(bounds: &mut ScanBounds, target: Target, op: Operator, value: &Literal) -> bool {
    // Each operator as a half-open range over the column's integer domain.
    let range = match (target.is_time(), value) {
        (false, Literal::Int(v)) => {
            let v = *v;
            match op {
                Operator::Eq => Bounds::new(Some(v), Some(v.saturating_add(1))),
                Operator::Gt => Bounds::new(Some(v.saturating_add(1)), None),
                Operator::GtEq => Bounds::new(Some(v), None),
                Operator::Lt => Bounds::new(None, Some(v)),
                Operator::LtEq => Bounds::new(None, Some(v.saturating_add(1))),
                _ => return false,
            }
        }
        (true, Literal::Nanos(t)) => {
            // The columns hold milliseconds; round so that no row is lost.
            let floor = clamp_ms(t.div_euclid(1_000_000));
            let ceil = clamp_ms((t + 999_999).div_euclid(1_000_000));
            match op {
                Operator::Eq => Bounds::new(Some(ceil), Some(floor.saturating_add(1))),
                Operator::Gt => Bounds::new(Some(floor.saturating_add(1)), None),
                Operator::GtEq => Bounds::new(Some(ceil), None),
                Operator::Lt => Bounds::new(None, Some(ceil)),
                Operator::LtEq => Bounds::new(None, Some(floor.saturating_add(1))),
                _ => return false,
            }
        }
        // Integer literals against time columns (epoch ms after coercion) are
        // left to DataFusion rather than guessed.
        _ => return false,
    };
    let slot = match target {
        Target::Partition => &mut bounds.partitions,
        Target::Offset => &mut bounds.offsets,
        Target::MessageTime => &mut bounds.message_time,
        Target::EventTime => &mut bounds.event_time,
    };
    *slot = slot.intersect(range);
    true
}

fn clamp_ms(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::logical_expr::{cast, col, lit};

    const DAY_MS: i64 = 86_400_000;

    fn ts_ms(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())))
    }

    fn ts_ns(ns: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(ns), Some("+00:00".into())))
    }

    fn t(filters: &[Expr]) -> ScanBounds {
        translate(filters, Some("timestamp"))
    }

    #[test]
    fn offset_comparisons_become_half_open_ranges() {
        assert_eq!(
            t(&[col("_offset").gt_eq(lit(10i64))]).offsets,
            Bounds::new(Some(10), None)
        );
        assert_eq!(t(&[col("_offset").gt(lit(10i64))]).offsets, Bounds::new(Some(11), None));
        assert_eq!(t(&[col("_offset").lt(lit(10i64))]).offsets, Bounds::new(None, Some(10)));
        assert_eq!(
            t(&[col("_offset").lt_eq(lit(10i64))]).offsets,
            Bounds::new(None, Some(11))
        );
        assert_eq!(
            t(&[col("_offset").eq(lit(7i64))]).offsets,
            Bounds::new(Some(7), Some(8))
        );
        // literal on the left, operator mirrored
        assert_eq!(t(&[lit(10i64).lt(col("_offset"))]).offsets, Bounds::new(Some(11), None));
        // a conjunction narrows to the intersection
        let b = t(&[
            col("_offset").gt_eq(lit(3i64)).and(col("_offset").lt(lit(9i64))),
            col("_offset").gt(lit(4i64)),
        ]);
        assert_eq!(b.offsets, Bounds::new(Some(5), Some(9)));
        assert_eq!(
            t(&[col("_offset").between(lit(2i64), lit(4i64))]).offsets,
            Bounds::new(Some(2), Some(5))
        );
    }

    #[test]
    fn partition_filters_select_partitions() {
        let b = t(&[col("_partition").eq(lit(1i32))]);
        assert!(!b.allows_partition(0) && b.allows_partition(1) && !b.allows_partition(2));
        let b = t(&[col("_partition").in_list(vec![lit(0i32), lit(2i32)], false)]);
        assert!(b.allows_partition(0) && !b.allows_partition(1) && b.allows_partition(2));
        let b = t(&[
            col("_partition").in_list(vec![lit(0i32), lit(2i32)], false),
            col("_partition").gt(lit(0i32)),
        ]);
        assert!(!b.allows_partition(0) && b.allows_partition(2));
        // DataFusion's rewrite of short IN lists
        let b = t(&[col("_partition").eq(lit(0i32)).or(lit(2i32).eq(col("_partition")))]);
        assert!(b.allows_partition(0) && !b.allows_partition(1) && b.allows_partition(2));
        // an OR that mentions anything else is not pushed
        assert!(!is_pushable(
            &col("_partition").eq(lit(0i32)).or(col("_offset").eq(lit(2i64))),
            None
        ));
        // NOT IN is not pushed
        assert!(!is_pushable(&col("_partition").in_list(vec![lit(0i32)], true), None));
    }

    #[test]
    fn timestamp_literals_round_outwards_to_milliseconds() {
        assert_eq!(
            t(&[col("_timestamp").gt_eq(ts_ms(1000))]).message_time,
            Bounds::new(Some(1000), None)
        );
        assert_eq!(
            t(&[col("_timestamp").gt(ts_ms(1000))]).message_time,
            Bounds::new(Some(1001), None)
        );
        assert_eq!(
            t(&[col("_timestamp").lt(ts_ms(1000))]).message_time,
            Bounds::new(None, Some(1000))
        );
        assert_eq!(
            t(&[col("_timestamp").lt_eq(ts_ms(1000))]).message_time,
            Bounds::new(None, Some(1001))
        );
        // 1.5 ms: >= needs 2 ms, > needs 2 ms, < keeps 1 ms, <= keeps 1 ms
        assert_eq!(
            t(&[col("_timestamp").gt_eq(ts_ns(1_500_000))]).message_time,
            Bounds::new(Some(2), None)
        );
        assert_eq!(
            t(&[col("_timestamp").gt(ts_ns(1_500_000))]).message_time,
            Bounds::new(Some(2), None)
        );
        assert_eq!(
            t(&[col("_timestamp").lt(ts_ns(1_500_000))]).message_time,
            Bounds::new(None, Some(2))
        );
        assert_eq!(
            t(&[col("_timestamp").lt_eq(ts_ns(1_500_000))]).message_time,
            Bounds::new(None, Some(2))
        );
        // negative instants floor correctly
        assert_eq!(
            t(&[col("_timestamp").lt_eq(ts_ns(-1_500_000))]).message_time,
            Bounds::new(None, Some(-1))
        );
        // RFC 3339 text
        let b = t(&[col("_timestamp").gt_eq(lit("1970-01-02T00:00:00Z"))]);
        assert_eq!(b.message_time, Bounds::new(Some(DAY_MS), None));
    }

    #[test]
    fn casts_that_keep_order_are_seen_through() {
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()));
        let b = t(&[cast(col("_timestamp"), ns.clone()).gt_eq(ts_ns(5_000_000))]);
        assert_eq!(b.message_time, Bounds::new(Some(5), None));
        let b = t(&[cast(col("_partition"), DataType::Int64).eq(lit(2i64))]);
        assert!(b.allows_partition(2) && !b.allows_partition(1));
        // a cast to text does not keep order
        assert!(!is_pushable(&cast(col("_offset"), DataType::Utf8).eq(lit("5")), None));
    }

    #[test]
    fn event_time_is_widened_by_lateness() {
        let b = t(&[
            col("timestamp").gt_eq(ts_ms(10 * DAY_MS)),
            col("timestamp").lt(ts_ms(11 * DAY_MS)),
        ]);
        assert_eq!(b.event_time, Bounds::new(Some(10 * DAY_MS), Some(11 * DAY_MS)));
        assert_eq!(
            b.message_time_range(3_600_000),
            Bounds::new(Some(10 * DAY_MS - 3_600_000), Some(11 * DAY_MS + 3_600_000))
        );
        // combined with a _timestamp bound, the narrower end wins
        let b = t(&[
            col("timestamp").gt_eq(ts_ms(10 * DAY_MS)),
            col("_timestamp").gt_eq(ts_ms(10 * DAY_MS + 5)),
        ]);
        assert_eq!(b.message_time_range(1000), Bounds::new(Some(10 * DAY_MS + 5), None));
        // without an event-time column, its filters are not pushed
        assert!(!is_pushable(&col("timestamp").gt_eq(ts_ms(0)), None));
    }

    #[test]
    fn unsupported_filters_are_ignored() {
        for f in [
            col("amount").gt(lit(5.0)),
            col("_offset").gt(lit(1i64)).or(col("_offset").lt(lit(0i64))),
            col("_offset").not_eq(lit(3i64)),
            col("_timestamp").gt_eq(lit(5i64)),
            col("_offset").gt(col("_partition")),
            col("_offset").not_between(lit(1i64), lit(2i64)),
        ] {
            assert!(!is_pushable(&f, Some("timestamp")), "{f}");
            assert_eq!(t(std::slice::from_ref(&f)), ScanBounds::default(), "{f}");
        }
        // an AND with one usable side is pushable, and keeps that side
        let f = col("amount").gt(lit(5.0)).and(col("_offset").gt_eq(lit(4i64)));
        assert!(is_pushable(&f, None));
        assert_eq!(t(&[f]).offsets, Bounds::new(Some(4), None));
    }

    #[test]
    fn contradictions_are_empty() {
        let b = t(&[col("_offset").gt(lit(9i64)), col("_offset").lt(lit(3i64))]);
        assert!(b.offsets.is_empty());
    }
}
