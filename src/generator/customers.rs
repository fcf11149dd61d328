//! The simulated customers: the first batch, then a batch every
//! `batch_every_hours` of simulated time that restates some customers,
//! changes a few, adds new ones and repeats a row, with industries written
//! the messy ways real data writes them.
//!
//! What must stay true: the same seed gives the same batches, row for row.

use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use pulse::udfs::Industry;

use super::{CustomerBatch, CustomerRow, Generator, GeneratorConfig};

const SYLLABLES: &[&str] = &[
    "ac", "me", "bol", "tri", "nor", "vex", "lu", "zen", "qua", "ri", "so", "tan", "vel", "mo",
];
const SUFFIXES: &[&str] = &["Ltd", "GmbH", "BV", "Inc", "& Co", "Group", "SA"];
const UNKNOWN: &[&str] = &["Aerospace", "Mining", "Textiles"];

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
}
