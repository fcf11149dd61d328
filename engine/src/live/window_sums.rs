//! The state behind the maintained `customer_window_sums` view: every
//! clean copy of every order in the 31-day window, the copy each order
//! keeps, and each customer's sums, moved forward by what is new instead
//! of computed again.
//!
//! The view (`sql/views/customer_window_sums_v1.sql`, over
//! `orders_clean_v3`) says, as of `T`: among the well-formed messages
//! whose event time is in `[T - 31d, T)`, an order keeps its copy earliest
//! by (partition, offset); each customer's row sums the kept copies'
//! amounts and counts them, apart for the current day `[T - 24h, T)` and
//! the 30 days before it. [`WindowSums`] holds the same in a form that
//! changes by little when little happens:
//! - each order's copies (its messages), by order id;
//! - each copy's event time in a minute *bucket*, so that the orders a
//!   move of `T` can change are found in the buckets the window's three
//!   edges (`T - 31d`, `T - 24h`, `T`) crossed;
//! - each order's kept copy and which day range it counts in, and each
//!   customer's exact sums and counts of what its orders keep.
//!
//! [`WindowSums::add`] takes new messages (any order, any partition),
//! [`WindowSums::move_to`] brings the sums to a `T`: it recomputes only
//! the orders that got a copy or that have a copy in a bucket an edge
//! crossed, and takes each one's old contribution off its customer before
//! adding the new one. After a move, copies more than an hour (rounded to
//! the minute) below the window are dropped and the floor rises to there.
//! Customers are never dropped (a name and four numbers each), and copies
//! with event times after `T` are held until the window reaches them.
//!
//! What must stay true: after `move_to(T)` the sums are the view's at `T`
//! over every message added, provided every clean message with event time
//! at or above [`WindowSums::floor`] was added (the caller reads from
//! there); a `T` whose window starts below the floor is refused
//! ([`Moved::BelowFloor`]) rather than answered from copies already
//! dropped. Amounts are `DECIMAL(38, 18)` and summed exactly in 256 bits,
//! as the view's `DECIMAL(76, 18)` sums are: 2^255 holds more than 10^38
//! times any count of orders memory allows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Decimal256Builder, Int64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, i256};
use datafusion::error::Result as DFResult;

/// A day, in nanoseconds.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// The window: the current day and the 30 days before it.
pub const WINDOW_NS: i64 = 31 * DAY_NS;

/// The width of a time bucket.
const BUCKET_NS: i64 = 60 * 1_000_000_000;

/// How far below the window's start copies are kept after a move.
const SLACK_NS: i64 = 3_600 * 1_000_000_000;

/// Partition and offset as one sortable position, as the views form it:
/// offsets stay below 2^40.
pub fn position(partition: i32, offset: i64) -> i64 {
    i64::from(partition) * (1 << 40) + offset
}

/// The type of the view's sums (`sum` over `DECIMAL(76, 18)`).
pub const SUM_TYPE: DataType = DataType::Decimal256(76, 18);

/// The view's columns, in its order.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("current_sum", SUM_TYPE, true),
        Field::new("baseline_sum", SUM_TYPE, true),
        Field::new("current_count", DataType::Int64, false),
        Field::new("baseline_count", DataType::Int64, false),
    ]))
}

/// One message of an order: where it is, its event time (ns), its amount
/// (`DECIMAL(38, 18)` units) and its customer (an index into the names).
#[derive(Debug, Clone, Copy)]
struct OrderCopy {
    position: i64,
    time: i64,
    amount: Amount,
    customer: u32,
}

/// An `i128` aligned to 8 bytes, not 16: a copy takes 40 bytes, not 48.
#[derive(Debug, Clone, Copy)]
struct Amount([u64; 2]);

impl Amount {
    fn new(value: i128) -> Self {
        let bits = value as u128;
        Self([bits as u64, (bits >> 64) as u64])
    }

    fn get(self) -> i128 {
        (u128::from(self.0[0]) | (u128::from(self.0[1]) << 64)) as i128
    }
}

/// The copy an order keeps at the current `T`, and whether it is in the
/// current day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    position: i64,
    current: bool,
}

/// One order: its first copy inline (most orders have one), further
/// copies in [`WindowSums::more`]. An empty slot has `first.position < 0`.
#[derive(Debug, Clone)]
struct Slot {
    first: OrderCopy,
    kept: Option<Kept>,
}

const EMPTY: OrderCopy = OrderCopy {
    position: -1,
    time: 0,
    amount: Amount([0, 0]),
    customer: 0,
};

/// One customer's sums and counts of the copies its orders keep.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    current: i256,
    baseline: i256,
    current_count: i64,
    baseline_count: i64,
}

/// The outcome of [`WindowSums::move_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The sums are `T`'s; this many orders were recomputed.
    To {
        /// Orders whose kept copy was computed again.
        recomputed: usize,
    },
    /// `T - 31d` is below the floor: the copies there were dropped (or
    /// never read), so the caller must build again from `T`.
    BelowFloor,
}

/// See the module documentation.
#[derive(Debug)]
pub struct WindowSums {
    t: Option<i64>,
    floor: i64,
    index: HashMap<Box<str>, u32>,
    slots: Vec<Slot>,
    more: HashMap<u32, Vec<OrderCopy>>,
    free: Vec<u32>,
    /// Slots emptied by drops but still in the index.
    empty: usize,
    buckets: BTreeMap<i64, Vec<u32>>,
    customers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    sums: Vec<Sums>,
    /// Slots that got a copy since the last move.
    touched: Vec<u32>,
    copies: usize,
}

impl WindowSums {
    /// An empty state that will hold every copy with event time at or
    /// above `floor`.
    pub fn new(floor: i64) -> Self {
        Self {
            t: None,
            floor,
            index: HashMap::new(),
            slots: Vec::new(),
            more: HashMap::new(),
            free: Vec::new(),
            empty: 0,
            buckets: BTreeMap::new(),
            customers: HashMap::new(),
            names: Vec::new(),
            sums: Vec::new(),
            touched: Vec::new(),
            copies: 0,
        }
    }

    /// The lowest event time held whole: a move to a `T` with
    /// `T - 31d` below it is refused.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// The `T` the sums are for, if moved yet.
    pub fn as_of(&self) -> Option<i64> {
        self.t
    }

    /// Orders held (with at least one copy) and copies held.
    pub fn counts(&self) -> (usize, usize) {
        (self.index.len() - self.empty, self.copies)
    }

    /// Takes one clean message. A copy below the floor is ignored (it can
    /// never be in a window this state answers for); returns whether it
    /// was kept.
    pub fn add(&mut self, order_id: &str, customer_id: &str, amount: i128, time: i64, position: i64) -> bool {
        if time < self.floor {
            return false;
        }
        let customer = match self.customers.get(customer_id) {
            Some(&c) => c,
            None => {
                let c = u32::try_from(self.names.len()).expect("fewer than 2^32 customers");
                self.customers.insert(customer_id.into(), c);
                self.names.push(customer_id.into());
                self.sums.push(Sums::default());
                c
            }
        };
        let copy = OrderCopy {
            position,
            time,
            amount: Amount::new(amount),
            customer,
        };
        let (slot, known) = match self.index.get(order_id) {
            Some(&s) => (s, true),
            None => {
                let s = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.slots.push(Slot {
                            first: EMPTY,
                            kept: None,
                        });
                        u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 orders")
                    }
                };
                self.index.insert(order_id.into(), s);
                (s, false)
            }
        };
        let entry = &mut self.slots[slot as usize];
        if entry.first.position < 0 {
            if known {
                self.empty -= 1; // an order whose copies were dropped, seen again
            }
            entry.first = copy;
        } else {
            self.more.entry(slot).or_default().push(copy);
        }
        self.copies += 1;
        self.buckets.entry(time.div_euclid(BUCKET_NS)).or_default().push(slot);
        self.touched.push(slot);
        true
    }

    /// Brings the sums to `t`: see the module documentation.
    pub fn move_to(&mut self, t: i64) -> Moved {
        if t.saturating_sub(WINDOW_NS) < self.floor {
            return Moved::BelowFloor;
        }
        let mut dirty = std::mem::take(&mut self.touched);
        match self.t {
            Some(before) if before != t => {
                for edge in [WINDOW_NS, DAY_NS, 0] {
                    let lo = before.min(t) - edge;
                    let hi = before.max(t) - edge;
                    let range = lo.div_euclid(BUCKET_NS)..=(hi - 1).div_euclid(BUCKET_NS);
                    for slots in self.buckets.range(range).map(|(_, s)| s) {
                        dirty.extend_from_slice(slots);
                    }
                }
            }
            Some(_) => {}
            None => dirty = (0..self.slots.len() as u32).collect(),
        }
        self.t = Some(t);
        dirty.sort_unstable();
        dirty.dedup();
        for &slot in &dirty {
            self.recompute(slot, t);
        }
        let recomputed = dirty.len();
        self.drop_below(t - WINDOW_NS);
        Moved::To { recomputed }
    }

    /// The copies of `slot`, the first one first.
    fn copies_of(&self, slot: u32) -> impl Iterator<Item = &OrderCopy> {
        let s = &self.slots[slot as usize];
        let first = (s.first.position >= 0).then_some(&s.first);
        let more = self.more.get(&slot).map(|v| v.as_slice()).unwrap_or_default();
        first.into_iter().chain(more)
    }

    fn copy_at(&self, slot: u32, position: i64) -> OrderCopy {
        *self
            .copies_of(slot)
            .find(|c| c.position == position)
            .expect("an order's kept copy is held until the window has left it")
    }

    /// Sets the kept copy of `slot` for `t`, and moves its customer's sums.
    fn recompute(&mut self, slot: u32, t: i64) {
        let (start, current_from) = (t - WINDOW_NS, t - DAY_NS);
        let kept = self
            .copies_of(slot)
            .filter(|c| c.time >= start && c.time < t)
            .min_by_key(|c| c.position)
            .map(|c| Kept {
                position: c.position,
                current: c.time >= current_from,
            });
        let before = self.slots[slot as usize].kept;
        if before == kept {
            return;
        }
        if let Some(k) = before {
            let copy = self.copy_at(slot, k.position);
            self.count(copy, k.current, -1);
        }
        if let Some(k) = kept {
            let copy = self.copy_at(slot, k.position);
            self.count(copy, k.current, 1);
        }
        self.slots[slot as usize].kept = kept;
    }

    fn count(&mut self, copy: OrderCopy, current: bool, sign: i64) {
        let sums = &mut self.sums[copy.customer as usize];
        let amount = i256::from_i128(copy.amount.get());
        let (sum, count) = match current {
            true => (&mut sums.current, &mut sums.current_count),
            false => (&mut sums.baseline, &mut sums.baseline_count),
        };
        *sum = match sign > 0 {
            true => sum.wrapping_add(amount),
            false => sum.wrapping_sub(amount),
        };
        *count += sign;
    }

    /// Drops the copies with event time below the minute an hour before
    /// `start` (the window's start after a move), which becomes the floor.
    fn drop_below(&mut self, start: i64) {
        // an hour below the window's start is kept: T moving back by less
        // (statements planned out of order) moves the state, not rebuilds it
        let first_kept = (start - SLACK_NS).div_euclid(BUCKET_NS);
        let floor = first_kept * BUCKET_NS;
        if floor <= self.floor {
            return;
        }
        let below: Vec<i64> = self.buckets.range(..first_kept).map(|(&b, _)| b).collect();
        for bucket in below {
            for slot in self.buckets.remove(&bucket).unwrap_or_default() {
                // only below the new floor: a copy at or above it stays
                // wherever its order was found
                self.drop_copies(slot, floor);
            }
        }
        self.floor = floor;
        if self.empty > 1024 && self.empty * 4 > self.index.len() {
            self.reclaim();
        }
    }

    fn drop_copies(&mut self, slot: u32, start: i64) {
        let s = &self.slots[slot as usize];
        if s.first.position < 0 || (s.first.time >= start && !self.more.contains_key(&slot)) {
            return; // a slot reused or emptied since, or nothing to drop
        }
        let mut all: Vec<OrderCopy> = self.copies_of(slot).copied().collect();
        let held = all.len();
        all.retain(|c| c.time >= start);
        self.copies -= held - all.len();
        self.more.remove(&slot);
        let s = &mut self.slots[slot as usize];
        debug_assert!(
            s.kept.is_none_or(|k| all.iter().any(|c| c.position == k.position)),
            "a kept copy is never below the window"
        );
        let mut rest = all.into_iter();
        s.first = rest.next().unwrap_or(EMPTY);
        let rest: Vec<OrderCopy> = rest.collect();
        if !rest.is_empty() {
            self.more.insert(slot, rest);
        }
        if s.first.position < 0 {
            self.empty += 1;
        }
    }

    /// Frees the slots of orders without copies.
    fn reclaim(&mut self) {
        let slots = &self.slots;
        let free = &mut self.free;
        self.index.retain(|_, &mut s| {
            let keep = slots[s as usize].first.position >= 0;
            if !keep {
                free.push(s);
            }
            keep
        });
        self.empty = 0;
    }

    /// The view's rows at the current `T`: one per customer with a kept
    /// order, sums NULL where a range has none (as `sum` of no rows is).
    pub fn batch(&self, schema: &SchemaRef) -> DFResult<RecordBatch> {
        let rows = self
            .sums
            .iter()
            .filter(|s| s.current_count + s.baseline_count > 0)
            .count();
        let mut ids = StringBuilder::with_capacity(rows, rows * 8);
        let mut current = Decimal256Builder::with_capacity(rows);
        let mut baseline = Decimal256Builder::with_capacity(rows);
        let mut current_count = Int64Builder::with_capacity(rows);
        let mut baseline_count = Int64Builder::with_capacity(rows);
        for (name, s) in self.names.iter().zip(&self.sums) {
            if s.current_count + s.baseline_count == 0 {
                continue;
            }
            ids.append_value(name);
            current.append_option((s.current_count > 0).then_some(s.current));
            baseline.append_option((s.baseline_count > 0).then_some(s.baseline));
            current_count.append_value(s.current_count);
            baseline_count.append_value(s.baseline_count);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(current.finish().with_data_type(SUM_TYPE)),
            Arc::new(baseline.finish().with_data_type(SUM_TYPE)),
            Arc::new(current_count.finish()),
            Arc::new(baseline_count.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }

    /// An estimate of the memory held, in bytes.
    pub fn bytes(&self) -> usize {
        let key = size_of::<Box<str>>() + size_of::<u32>() + 1;
        self.index.capacity() * key
            + self.index.keys().map(|k| k.len()).sum::<usize>()
            + self.slots.capacity() * size_of::<Slot>()
            + self
                .more
                .values()
                .map(|v| v.capacity() * size_of::<OrderCopy>() + 32)
                .sum::<usize>()
            + self.buckets.values().map(|v| v.capacity() * 4 + 48).sum::<usize>()
            + self.names.iter().map(|n| n.len() + 2 * key).sum::<usize>()
            + self.sums.capacity() * size_of::<Sums>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};
    use datafusion::arrow::datatypes::Decimal256Type;

    /// A message: order, customer, amount, event time, position.
    type Msg = (String, String, i128, i64, i64);

    /// The view's rows computed from every message, the slow way.
    fn by_the_definition(msgs: &[Msg], t: i64) -> BTreeMap<String, (Option<i256>, Option<i256>, i64, i64)> {
        let mut kept: BTreeMap<&str, &Msg> = BTreeMap::new();
        for m in msgs.iter().filter(|m| m.3 >= t - WINDOW_NS && m.3 < t) {
            let k = kept.entry(&m.0).or_insert(m);
            if m.4 < k.4 {
                *k = m;
            }
        }
        let mut rows: BTreeMap<String, (Option<i256>, Option<i256>, i64, i64)> = BTreeMap::new();
        for m in kept.values() {
            let row = rows.entry(m.1.clone()).or_default();
            let amount = i256::from_i128(m.2);
            if m.3 >= t - DAY_NS {
                row.0 = Some(row.0.unwrap_or_default().wrapping_add(amount));
                row.2 += 1;
            } else {
                row.1 = Some(row.1.unwrap_or_default().wrapping_add(amount));
                row.3 += 1;
            }
        }
        rows
    }

    fn rows(sums: &WindowSums) -> BTreeMap<String, (Option<i256>, Option<i256>, i64, i64)> {
        let batch = sums.batch(&schema()).unwrap();
        let ids = batch.column(0).as_string::<i32>();
        let current = batch.column(1).as_primitive::<Decimal256Type>();
        let baseline = batch.column(2).as_primitive::<Decimal256Type>();
        let counts = |i: usize| batch.column(i).as_any().downcast_ref::<Int64Array>().unwrap().clone();
        let (cc, bc) = (counts(3), counts(4));
        (0..batch.num_rows())
            .map(|r| {
                let opt = |a: &datafusion::arrow::array::Decimal256Array| (!a.is_null(r)).then(|| a.value(r));
                (
                    ids.value(r).to_string(),
                    (opt(current), opt(baseline), cc.value(r), bc.value(r)),
                )
            })
            .collect()
    }

    #[test]
    fn moved_sums_equal_the_definition_while_messages_arrive_and_t_moves() {
        for seed in 1..40u64 {
            let mut rng = Rng(0x9e37_79b9 ^ seed);
            let t0 = 1_800_000_000_000_000_000i64;
            let mut msgs: Vec<Msg> = Vec::new();
            let mut next_offset = [0i64; 3];
            let mut t = t0;
            let mut sums = WindowSums::new(t - WINDOW_NS);
            for step in 0..30 {
                // new messages: fresh orders, duplicates, late and future times
                for _ in 0..rng.below(40) {
                    let p = rng.below(3) as usize;
                    let mut time = t + (rng.below(40 * DAY_NS as u64 / 1_000_000) as i64) * 1_000_000 - 35 * DAY_NS;
                    let order = match rng.below(4) {
                        0 if !msgs.is_empty() => msgs[rng.below(msgs.len() as u64) as usize].0.clone(),
                        // a copy seconds from another, at the window's start
                        1 if !msgs.is_empty() => {
                            let other = &msgs[rng.below(msgs.len() as u64) as usize];
                            time = t - WINDOW_NS - SLACK_NS + rng.below(3 * 3_600) as i64 * 1_000_000_000;
                            other.0.clone()
                        }
                        _ => format!("o{}", rng.below(500)),
                    };
                    let msg = (
                        order,
                        format!("c{}", rng.below(7)),
                        rng.below(1 << 62) as i128 * 1_000_003,
                        time,
                        position(p as i32, next_offset[p]),
                    );
                    next_offset[p] += 1 + rng.below(2) as i64; // offsets with gaps
                    if sums.add(&msg.0, &msg.1, msg.2, msg.3, msg.4) {
                        assert!(msg.3 >= sums.floor());
                    } else {
                        assert!(msg.3 < sums.floor());
                    }
                    msgs.push(msg);
                }
                // T moves by a second, an hour or days, mostly forward
                let by = match rng.below(7) {
                    0 => 0,
                    1 => 1_000_000_000,
                    2 => 3_600 * 1_000_000_000,
                    3 => (rng.below(3) as i64 + 1) * DAY_NS + 7,
                    4 => -(rng.below(2 * 3_600) as i64) * 1_000_000_000,
                    5 => -(rng.below(120) as i64) * 1_000_000_000 - 1,
                    _ => rng.below(60) as i64 * 60 * 1_000_000_000 + 1,
                };
                t += by;
                if sums.move_to(t) == Moved::BelowFloor {
                    // what a caller does: build again from every message
                    sums = WindowSums::new(t - WINDOW_NS);
                    for m in &msgs {
                        sums.add(&m.0, &m.1, m.2, m.3, m.4);
                    }
                    assert_ne!(sums.move_to(t), Moved::BelowFloor);
                }
                assert_eq!(
                    rows(&sums),
                    by_the_definition(&msgs, t),
                    "seed {seed}, step {step}, T {t}"
                );
            }
            let (orders, copies) = sums.counts();
            assert!(orders <= copies);
        }
    }

    #[test]
    fn a_move_back_above_the_floor_finds_every_copy_there() {
        // the copies of one order a minute apart around the window's start:
        // a move forward drops neither the copy at or above the new floor
        // nor its order, so a move back by seconds counts it again
        let t = 1_800_000_000_000_000_000i64;
        let mut sums = WindowSums::new(t - WINDOW_NS - 2 * SLACK_NS);
        let at = t - WINDOW_NS + 80 * 1_000_000_000;
        assert!(sums.add("o", "c", 7, at - 70 * 1_000_000_000, 0));
        assert!(sums.add("o", "c", 9, at, 1));
        let mut msgs = 0;
        for moved in [
            SLACK_NS + 90 * 1_000_000_000,
            SLACK_NS + 70 * 1_000_000_000,
            70 * 1_000_000_000,
            0,
        ] {
            if sums.move_to(t + moved) == Moved::BelowFloor {
                msgs += 1;
                continue;
            }
            let want = by_the_definition(
                &[
                    ("o".into(), "c".into(), 7, at - 70 * 1_000_000_000, 0),
                    ("o".into(), "c".into(), 9, at, 1),
                ],
                t + moved,
            );
            assert_eq!(rows(&sums), want, "T + {moved}");
        }
        assert_eq!(msgs, 1, "only the move back below the floor is refused");
    }

    #[test]
    fn emptied_orders_are_reclaimed_and_their_slots_reused() {
        let t = 1_800_000_000_000_000_000i64;
        let mut sums = WindowSums::new(t - WINDOW_NS);
        for i in 0..5000 {
            assert!(sums.add(&format!("old{i}"), "c", 1, t - WINDOW_NS + i, i));
        }
        sums.move_to(t);
        sums.move_to(t + 2 * SLACK_NS);
        assert_eq!(sums.counts(), (0, 0), "every copy left the window");
        let slots = sums.slots.len();
        for i in 0..5000 {
            assert!(sums.add(&format!("new{i}"), "d", 2, t + SLACK_NS, 10_000 + i));
        }
        sums.move_to(t + 2 * SLACK_NS);
        assert_eq!(sums.slots.len(), slots, "the slots were reused");
        assert_eq!(rows(&sums)["d"], (Some(i256::from_i128(10_000)), None, 5000, 0));
        assert!(!rows(&sums).contains_key("c"));
    }

    #[test]
    fn an_amount_keeps_every_bit() {
        for v in [
            0i128,
            1,
            -1,
            i128::MAX,
            i128::MIN,
            10i128.pow(38) - 1,
            -(10i128.pow(38) - 1),
        ] {
            assert_eq!(Amount::new(v).get(), v);
        }
        assert_eq!(size_of::<OrderCopy>(), 40);
    }

    #[test]
    fn a_window_starting_below_the_floor_is_refused() {
        let t = 1_800_000_000_000_000_000i64;
        let mut sums = WindowSums::new(t - WINDOW_NS);
        assert!(sums.add("o1", "c1", 5, t - DAY_NS / 2, 0));
        assert!(!sums.add("o2", "c1", 5, t - WINDOW_NS - 1, 1), "below the floor");
        assert!(matches!(sums.move_to(t), Moved::To { .. }));
        assert_eq!(sums.move_to(t - 1), Moved::BelowFloor);
        assert!(matches!(sums.move_to(t + DAY_NS), Moved::To { .. }));
        assert_eq!(rows(&sums)["c1"], (None, Some(i256::from_i128(5)), 0, 1));
    }
}
