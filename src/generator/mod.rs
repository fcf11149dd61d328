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
//! The pieces: [`customers`] (the customers and their batches) and
//! [`orders`] (the backfill and the live stream). Writing them to a topic,
//! a file or a prefix is [`crate::sinks`]' job, not this module's.
//!
//! What must stay true: the same seed and settings give the same customers
//! and the same orders, message for message; every order's `timestamp` is
//! its event time, which producers use as the message's CreateTime.

use chrono::{DateTime, Duration, Utc};

use pulse::udfs::Industry;

mod customers;
mod orders;

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

impl Generator {
    /// The customer batches, oldest first.
    pub fn batches(&self) -> &[CustomerBatch] {
        &self.batches
    }

    /// The expected number of orders (for progress reporting).
    pub fn expected_orders(&self) -> u64 {
        (self.config.orders_per_day * f64::from(self.config.days)) as u64
    }
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
            Ok::<(), std::convert::Infallible>(())
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
