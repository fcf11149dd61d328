//! The simulated orders: the backfill over the configured days, with daily
//! and weekly cycles, per-industry levels and shocks, a few duplicates and
//! a few malformed messages; and the live stream after it.
//!
//! What must stay true: the same seed gives the same messages, in time
//! order; `amount` is the sum of the lines' volume × price, to the cent.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use pulse::udfs::Industry;

use super::{Generator, OrderMessage};

impl Generator {
    /// Every order message of the history, in time order, to `sink`.
    /// Returns how many messages were made.
    pub fn orders<E>(&self, mut sink: impl FnMut(OrderMessage) -> Result<(), E>) -> Result<u64, E> {
        let config = &self.config;
        let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed_0f0d_e125);
        let weights = |shocked: bool| -> Vec<f64> {
            let mut acc = 0.0;
            self.customers
                .iter()
                .map(|(_, industries)| {
                    let mut w = industries.iter().map(|i| level(*i)).fold(0.0, f64::max);
                    if shocked {
                        for (i, factor) in &config.shocks {
                            if industries.contains(i) {
                                w *= factor;
                            }
                        }
                    }
                    acc += w;
                    acc
                })
                .collect()
        };
        let (normal, shocked) = (weights(false), weights(true));
        let shock_from = config.end - Duration::hours(24);
        let mut seq = 0u64;
        let mut made = 0u64;
        let mut hour = config.start();
        let mut payload = String::with_capacity(512);
        while hour < config.end {
            let in_shock = hour >= shock_from;
            let table = if in_shock { &shocked } else { &normal };
            let total = *table.last().unwrap_or(&0.0);
            let base = *normal.last().unwrap_or(&1.0);
            let cycle = daily(hour.hour()) * weekly(hour.weekday().num_days_from_monday());
            let lambda = config.orders_per_day / 24.0 * cycle * (total / base.max(f64::MIN_POSITIVE));
            let count = lambda.floor() as u64 + u64::from(rng.random::<f64>() < lambda.fract());
            let mut offsets: Vec<i64> = (0..count).map(|_| rng.random_range(0..3_600_000)).collect();
            offsets.sort_unstable();
            for offset in offsets {
                let ts = hour.timestamp_millis() + offset;
                let pick = rng.random::<f64>() * total;
                let c = table
                    .partition_point(|w| *w <= pick)
                    .min(self.customers.len().saturating_sub(1));
                let Some((customer, _)) = self.customers.get(c) else {
                    break;
                };
                seq += 1;
                payload.clear();
                write_order(&mut rng, &mut payload, seq, customer, ts);
                let message = OrderMessage {
                    key: customer.clone(),
                    timestamp_ms: ts,
                    payload: payload.clone(),
                };
                // about 1 in 500 is delivered twice (a producer retry)
                if rng.random_range(0..500) == 0 {
                    sink(message.clone())?;
                    made += 1;
                }
                sink(message)?;
                made += 1;
                // about 1 in 2000 is followed by a malformed message
                if rng.random_range(0..2000) == 0 {
                    sink(OrderMessage {
                        key: customer.clone(),
                        timestamp_ms: ts,
                        payload: format!("{{\"order_id\":\"O{seq:09}-bad\",\"amount\":\"n/a\"}}"),
                    })?;
                    made += 1;
                }
            }
            hour += Duration::hours(1);
        }
        Ok(made)
    }
}

/// Live orders, at the current time, after a backfill.
pub struct LiveOrders<'a> {
    generator: &'a Generator,
    weights: Vec<f64>,
    rng: StdRng,
    seq: u64,
}

impl Generator {
    /// Live orders; their ids continue after `after` (the backfill's count).
    pub fn live(&self, after: u64) -> LiveOrders<'_> {
        let mut acc = 0.0;
        let weights = self
            .customers
            .iter()
            .map(|(_, industries)| {
                acc += industries.iter().map(|i| level(*i)).fold(0.0, f64::max);
                acc
            })
            .collect();
        LiveOrders {
            generator: self,
            weights,
            rng: StdRng::seed_from_u64(self.config.seed ^ 0x11fe),
            seq: after + 1_000_000_000,
        }
    }
}

impl LiveOrders<'_> {
    /// The next order, at `ts` (epoch milliseconds).
    pub fn next_at(&mut self, ts: i64) -> OrderMessage {
        let total = *self.weights.last().unwrap_or(&0.0);
        let pick = self.rng.random::<f64>() * total;
        let c = self
            .weights
            .partition_point(|w| *w <= pick)
            .min(self.generator.customers.len().saturating_sub(1));
        let customer = self
            .generator
            .customers
            .get(c)
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        self.seq += 1;
        let mut payload = String::new();
        write_order(&mut self.rng, &mut payload, self.seq, &customer, ts);
        OrderMessage {
            key: customer,
            timestamp_ms: ts,
            payload,
        }
    }
}

/// A level per industry: how much business it does (orders are drawn by it).
fn level(i: Industry) -> f64 {
    match i {
        Industry::Food => 1.6,
        Industry::Construction => 1.3,
        Industry::Pharmaceuticals => 1.2,
        Industry::OilAndGas => 1.1,
        Industry::Cleaning => 1.0,
        Industry::Agriculture => 0.9,
        Industry::Polymer => 0.8,
        Industry::Cosmetics => 0.7,
        Industry::Colours => 0.6,
        Industry::Lubricants => 0.5,
    }
}

/// Orders by hour of day: quiet at night, peaks mid-morning and afternoon.
fn daily(hour: u32) -> f64 {
    const SHAPE: [f64; 24] = [
        0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.9, 1.7, 1.4, 1.5, 1.7, 1.8, 1.6, 1.3, 1.0, 0.8, 0.6, 0.5,
        0.4, 0.3,
    ];
    // the shape averages 1.0 over a day
    SHAPE[hour as usize % 24] * 24.0 / SHAPE.iter().sum::<f64>()
}

/// Orders by day of week (Monday = 0): weekends are slow.
fn weekly(day: u32) -> f64 {
    const SHAPE: [f64; 7] = [1.1, 1.15, 1.15, 1.1, 1.0, 0.45, 0.35];
    SHAPE[day as usize % 7] * 7.0 / SHAPE.iter().sum::<f64>()
}

fn write_order(rng: &mut StdRng, out: &mut String, seq: u64, customer: &str, ts: i64) {
    let lines = rng.random_range(1..=4);
    let mut amount_cents: i64 = 0;
    let mut line_text = String::new();
    for k in 0..lines {
        let volume = rng.random_range(1..=20);
        let price_cents = rng.random_range(100..=20_000);
        amount_cents += volume * price_cents;
        if k > 0 {
            line_text.push(',');
        }
        let _ = write!(
            line_text,
            r#"{{"product_id":"P{:04}","volume":{volume},"price":{}.{:02}}}"#,
            rng.random_range(1..=500),
            price_cents / 100,
            price_cents % 100
        );
    }
    // most timestamps are RFC 3339 text, one in ten epoch milliseconds
    let time = if rng.random_range(0..10) == 0 {
        ts.to_string()
    } else {
        let t = DateTime::<Utc>::from_timestamp_millis(ts).unwrap_or_default();
        format!("\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    };
    let _ = write!(
        out,
        r#"{{"order_id":"O{seq:09}","customer_id":"{customer}","order_line":[{line_text}],"amount":{}.{:02},"timestamp":{time}}}"#,
        amount_cents / 100,
        amount_cents % 100
    );
}
