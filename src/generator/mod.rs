//! The order and customer generator (the assignment's `order-generator`).
//!
//! It simulates a business over a span of days ending at `end`:
//! - customers, each with 1 to 3 industries written the messy ways real
//!   data writes them ("oil and gas", "Colors", "Cosmetics & Pharmaceuticals",
//!   an occasional name outside the 10), delivered as a batch every 12 hours
//!   of simulated time, each later batch restating some customers, changing
//!   a few, adding new ones, and repeating a few rows;
//! - orders with daily and weekly cycles and per-industry levels, 1 to 4
//!   lines each, `amount` = Σ volume × price, and optional shocks (an
//!   industry's orders multiplied by a factor in the last 24 hours) so that
//!   the answer has something to find; a few orders are delivered twice and
//!   a few messages are malformed, as in real streams.
//!
//! What must stay true: the same seed and settings give the same customers
//! and the same orders, message for message; every order's `timestamp` is
//! its event time, which producers use as the message's CreateTime.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use pulse::udfs::Industry;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Customers in the first batch.
    pub customers: usize,
    /// Days of order history, ending at `end`.
    pub days: u32,
    /// Average orders a day (before cycles and shocks).
    pub orders_per_day: f64,
    /// The end of the simulated history (exclusive).
    pub end: DateTime<Utc>,
    /// Hours of simulated time between customer batches.
    pub batch_every_hours: u32,
    /// Industries whose orders are multiplied by a factor in the last 24 hours.
    pub shocks: Vec<(Industry, f64)>,
}

impl GeneratorConfig {
    /// The default shocks: Cosmetics triples, Lubricants drops to 40%.
    pub fn default_shocks() -> Vec<(Industry, f64)> {
        vec![(Industry::Cosmetics, 3.0), (Industry::Lubricants, 0.4)]
    }

    /// The start of the history.
    pub fn start(&self) -> DateTime<Utc> {
        self.end - Duration::days(i64::from(self.days))
    }
}

/// One customer row of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    /// `customer_id`.
    pub customer_id: String,
    /// `company_name`.
    pub company_name: String,
    /// `specialised_industries`, as free text.
    pub specialised_industries: String,
}

/// One batch of customers.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerBatch {
    /// The batch time, which names its folder `batch_id=YYYYMMDDTHHMMSSZ`.
    pub time: DateTime<Utc>,
    /// Its rows, in file order.
    pub rows: Vec<CustomerRow>,
}

impl CustomerBatch {
    /// The folder name of the batch.
    pub fn folder(&self) -> String {
        format!("batch_id={}", self.time.format("%Y%m%dT%H%M%SZ"))
    }
}

/// One Kafka message of the orders topic.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderMessage {
    /// The message key (the customer id).
    pub key: String,
    /// The message timestamp (CreateTime), in epoch milliseconds.
    pub timestamp_ms: i64,
    /// The JSON payload.
    pub payload: String,
}

/// The simulated business.
pub struct Generator {
    config: GeneratorConfig,
    /// Each customer's id and industries (as of the latest batch generated).
    customers: Vec<(String, Vec<Industry>)>,
    batches: Vec<CustomerBatch>,
}

const SYLLABLES: &[&str] = &[
    "ac", "me", "bol", "tri", "nor", "vex", "lu", "zen", "qua", "ri", "so", "tan", "vel", "mo",
];
const SUFFIXES: &[&str] = &["Ltd", "GmbH", "BV", "Inc", "& Co", "Group", "SA"];
const UNKNOWN: &[&str] = &["Aerospace", "Mining", "Textiles"];

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

/// The messy ways one industry is written.
fn spelling(rng: &mut StdRng, i: Industry) -> String {
    let variants: &[&str] = match i {
        Industry::OilAndGas => &["Oil&Gas", "oil and gas", "Oil & Gas", "OIL&GAS"],
        Industry::Colours => &["Colours", "Colors", "colours"],
        Industry::Polymer => &["Polymer", "Polymers", "polymer"],
        _ => &[],
    };
    if !variants.is_empty() {
        return variants[rng.random_range(0..variants.len())].to_string();
    }
    match rng.random_range(0..10) {
        0 => i.name().to_lowercase(),
        1 => i.name().to_uppercase(),
        2 => format!(" {} ", i.name()),
        _ => i.name().to_string(),
    }
}

impl Generator {
    /// The customers and their batches; orders are drawn by [`Self::orders`].
    pub fn new(config: GeneratorConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut generator = Self {
            config,
            customers: Vec::new(),
            batches: Vec::new(),
        };
        let mut rows = Vec::new();
        for _ in 0..generator.config.customers {
            rows.push(generator.new_customer(&mut rng));
        }
        let step = Duration::hours(i64::from(generator.config.batch_every_hours.max(1)));
        let mut time = generator.config.start();
        generator.batches.push(CustomerBatch { time, rows });
        time += step;
        while time < generator.config.end {
            let mut rows = Vec::new();
            let n = generator.customers.len();
            // restate about 3% unchanged, change about 1%, add about 0.5%
            for _ in 0..(n / 33).max(1) {
                let c = rng.random_range(0..n);
                rows.push(generator.row(&mut rng, c));
            }
            for _ in 0..(n / 100).max(1) {
                let c = rng.random_range(0..n);
                generator.customers[c].1 = Self::pick_industries(&mut rng);
                rows.push(generator.row(&mut rng, c));
            }
            for _ in 0..(n / 200).max(1) {
                rows.push(generator.new_customer(&mut rng));
            }
            // a repeated row within the batch: an earlier, stale version first
            if let Some(last) = rows.last().cloned() {
                let mut stale = last.clone();
                stale.company_name = format!("{} (stale)", stale.company_name);
                let at = rng.random_range(0..rows.len());
                rows.insert(at, stale);
            }
            generator.batches.push(CustomerBatch { time, rows });
            time += step;
        }
        generator
    }

    fn pick_industries(rng: &mut StdRng) -> Vec<Industry> {
        let n = match rng.random_range(0..10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let mut picked = Vec::new();
        while picked.len() < n {
            let i = Industry::ALL[rng.random_range(0..Industry::ALL.len())];
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked
    }

    fn new_customer(&mut self, rng: &mut StdRng) -> CustomerRow {
        let id = format!("C{:06}", self.customers.len() + 1);
        self.customers.push((id, Self::pick_industries(rng)));
        self.row(rng, self.customers.len() - 1)
    }

    fn row(&self, rng: &mut StdRng, c: usize) -> CustomerRow {
        let (id, industries) = &self.customers[c];
        let mut name = String::new();
        for _ in 0..rng.random_range(2..4) {
            name.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
        }
        let mut chars = name.chars();
        let name = chars
            .next()
            .map(|f| f.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default();
        let separators = [" & ", ", ", "; ", " / ", " and ", "|"];
        let mut text = String::new();
        for (k, i) in industries.iter().enumerate() {
            if k > 0 {
                text.push_str(separators[rng.random_range(0..separators.len())]);
            }
            text.push_str(&spelling(rng, *i));
        }
        if rng.random_range(0..50) == 0 {
            text.push_str(", ");
            text.push_str(UNKNOWN[rng.random_range(0..UNKNOWN.len())]);
        }
        CustomerRow {
            customer_id: id.clone(),
            company_name: format!("{name} {}", SUFFIXES[c % SUFFIXES.len()]),
            specialised_industries: text,
        }
    }

    /// The customer batches, oldest first.
    pub fn batches(&self) -> &[CustomerBatch] {
        &self.batches
    }

    /// The expected number of orders (for progress reporting).
    pub fn expected_orders(&self) -> u64 {
        (self.config.orders_per_day * f64::from(self.config.days)) as u64
    }

    /// Every order message of the history, in time order, to `sink`.
    /// Returns how many messages were made.
    pub fn orders(&self, mut sink: impl FnMut(OrderMessage) -> std::io::Result<()>) -> std::io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            customers: 200,
            days: 3,
            orders_per_day: 500.0,
            end: DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            batch_every_hours: 12,
            shocks: GeneratorConfig::default_shocks(),
        }
    }

    fn all(g: &Generator) -> Vec<OrderMessage> {
        let mut out = Vec::new();
        g.orders(|m| {
            out.push(m);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let (a, b) = (Generator::new(config(7)), Generator::new(config(7)));
        assert_eq!(a.batches(), b.batches());
        assert_eq!(all(&a), all(&b));
        assert_ne!(all(&a), all(&Generator::new(config(8))));
    }

    #[test]
    fn batches_every_12_hours_with_restatements_and_duplicates() {
        let g = Generator::new(config(1));
        assert_eq!(g.batches().len(), 6);
        assert_eq!(g.batches()[0].rows.len(), 200);
        assert_eq!(g.batches()[1].folder(), "batch_id=20261117T120000Z");
        let later = &g.batches()[1].rows;
        let ids: std::collections::HashSet<&str> = later.iter().map(|r| r.customer_id.as_str()).collect();
        assert!(ids.len() < later.len(), "a batch repeats a row");
    }

    #[test]
    fn orders_are_time_ordered_well_formed_and_shocked() {
        let g = Generator::new(config(3));
        let messages = all(&g);
        assert!(messages.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
        // 3 days of 500 a day, on weekdays (up to 1.3 times the weekly average)
        let calm = all(&Generator::new(GeneratorConfig {
            shocks: Vec::new(),
            ..config(3)
        }));
        assert!((1_300..2_100).contains(&calm.len()), "{}", calm.len());
        // the shock (Cosmetics x3 in the last 24 hours) shows in Cosmetics' share
        let cosmetics: std::collections::HashSet<&str> = g
            .customers
            .iter()
            .filter(|(_, industries)| industries.contains(&Industry::Cosmetics))
            .map(|(id, _)| id.as_str())
            .collect();
        let shock_from = (g.config.end - Duration::hours(24)).timestamp_millis();
        let share = |last_day: bool| {
            let window: Vec<&OrderMessage> = messages
                .iter()
                .filter(|m| (m.timestamp_ms >= shock_from) == last_day)
                .collect();
            window.iter().filter(|m| cosmetics.contains(m.key.as_str())).count() as f64 / window.len() as f64
        };
        assert!(share(true) > 1.5 * share(false), "{} vs {}", share(true), share(false));
        let valid = messages
            .iter()
            .filter(|m| serde_json::from_str::<serde_json::Value>(&m.payload).is_ok())
            .count();
        assert_eq!(
            valid,
            messages.len(),
            "malformed messages are valid JSON with wrong types"
        );
        let first: serde_json::Value = serde_json::from_str(&messages[0].payload).unwrap();
        let lines = first["order_line"].as_array().unwrap();
        let total: f64 = lines
            .iter()
            .map(|l| l["volume"].as_f64().unwrap() * l["price"].as_f64().unwrap())
            .sum();
        assert!((total - first["amount"].as_f64().unwrap()).abs() < 0.005);
    }
}
