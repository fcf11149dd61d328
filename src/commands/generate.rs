//! `pulse generate`: the simulated business ([`crate::generator`]) to a
//! customers prefix, and to a topic or a JSON-lines file, with progress on
//! stderr; then, on a topic, live orders until Ctrl-C.
//!
//! What must stay true: a topic that it creates keeps its messages
//! (`retention.ms=-1`) unless `--retention` says otherwise, and every
//! message's CreateTime is its order's event time.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use datafusion::execution::runtime_env::RuntimeEnv;
use pulse::udfs::Industry;

use crate::error::{CliError, Context};
use crate::generator::{Generator, GeneratorConfig, OrderMessage};
use crate::sinks::customer_batches::write_batches;
use crate::sinks::topic::{TopicWriter, ensure_topic};

/// `pulse generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Seed of every random choice: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Customers in the first batch.
    #[arg(long, default_value_t = 1_000)]
    customers: usize,
    /// Days of order history to backfill.
    #[arg(long, default_value_t = 31)]
    days: u32,
    /// Average orders a day.
    #[arg(long, default_value_t = 3_000.0)]
    orders_per_day: f64,
    /// End of the history (RFC 3339); by default, now.
    #[arg(long, value_name = "RFC3339")]
    end: Option<String>,
    /// Hours of simulated time between customer batches.
    #[arg(long, default_value_t = 12)]
    batch_every_hours: u32,
    /// Multiply an industry's orders in the last 24 hours, e.g. Cosmetics=3 (repeatable).
    #[arg(long = "shock", value_name = "INDUSTRY=FACTOR")]
    shocks: Vec<String>,
    /// No shocks (by default Cosmetics=3 and Lubricants=0.4).
    #[arg(long)]
    no_shocks: bool,
    /// Where to write the customer batches: s3://bucket/prefix/, a folder or file:// URL.
    #[arg(long, value_name = "URL")]
    customers_out: Option<String>,
    /// Write the orders as a JSON-lines file instead of a topic.
    #[arg(long, value_name = "PATH", conflicts_with = "brokers")]
    orders_out: Option<PathBuf>,
    /// Kafka bootstrap servers to write the orders to.
    #[arg(long, value_name = "HOST:PORT")]
    brokers: Option<String>,
    /// The orders topic.
    #[arg(long, default_value = "orders")]
    topic: String,
    /// Partitions of the topic, if it is created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// retention.ms of the topic, if it is created (-1: keep forever).
    #[arg(long, default_value = "-1")]
    retention: String,
    /// After the backfill, keep producing live orders at this rate a second until stopped (Ctrl-C).
    #[arg(long, value_name = "ORDERS_PER_SECOND", requires = "brokers")]
    live_rate: Option<f64>,
    /// Stop the live stream after this many seconds.
    #[arg(long, value_name = "SECONDS", requires = "live_rate")]
    live_for: Option<u64>,
}

fn parse_shock(text: &str) -> Result<(Industry, f64), CliError> {
    let bad = || {
        CliError::usage(format!(
            "--shock '{text}': use INDUSTRY=FACTOR, e.g. Cosmetics=3 or \"Oil&Gas=0.5\""
        ))
    };
    let (name, factor) = text.split_once('=').ok_or_else(bad)?;
    let industry = Industry::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Industry::ALL.iter().map(|i| i.name()).collect();
        CliError::usage(format!("--shock '{text}': '{name}' is not one of {}", names.join(", ")))
    })?;
    let factor: f64 = factor.trim().parse().map_err(|_| bad())?;
    if !(factor >= 0.0 && factor.is_finite()) {
        return Err(bad());
    }
    Ok((industry, factor))
}

/// A progress bar on stderr, redrawn at most ten times a second.
struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Self {
        Self {
            what,
            total: total.max(1),
            done: 0,
            last: Instant::now(),
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        if self.last.elapsed() > Duration::from_millis(100) {
            self.draw();
            self.last = Instant::now();
        }
    }

    fn draw(&self) {
        let fraction = (self.done as f64 / self.total as f64).min(1.0);
        let filled = (fraction * 30.0) as usize;
        eprint!(
            "\r[{}{}] {:>3.0}% {} {}",
            "#".repeat(filled),
            " ".repeat(30 - filled),
            fraction * 100.0,
            self.done,
            self.what
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        self.draw();
        eprintln!();
    }
}

/// Runs `pulse generate`.
pub async fn run(args: GenerateArgs) -> Result<(), CliError> {
    let end = match &args.end {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map_err(|e| CliError::usage(format!("--end '{t}' is not an RFC 3339 time: {e}")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let shocks = if args.no_shocks {
        Vec::new()
    } else if args.shocks.is_empty() {
        GeneratorConfig::default_shocks()
    } else {
        args.shocks.iter().map(|s| parse_shock(s)).collect::<Result<_, _>>()?
    };
    if !(args.orders_per_day.is_finite() && (0.0..=1e9).contains(&args.orders_per_day)) {
        return Err(CliError::usage(format!(
            "--orders-per-day {}: give a number of orders from 0 to 1e9",
            args.orders_per_day
        )));
    }
    if args.days > 36_500
        || end
            .checked_sub_signed(chrono::Duration::days(i64::from(args.days)))
            .is_none()
    {
        return Err(CliError::usage(format!(
            "--days {}: give at most 36500 days of history",
            args.days
        )));
    }
    if args.customers_out.is_none() && args.orders_out.is_none() && args.brokers.is_none() {
        return Err(CliError::usage(
            "nothing to write: give --customers-out, and --brokers or --orders-out",
        ));
    }
    let config = GeneratorConfig {
        seed: args.seed,
        customers: args.customers,
        days: args.days,
        orders_per_day: args.orders_per_day,
        end,
        batch_every_hours: args.batch_every_hours,
        shocks,
    };
    let generator = Generator::new(config);
    if let Some(location) = &args.customers_out {
        let rows = write_batches(&RuntimeEnv::default(), location, generator.batches()).await?;
        eprintln!(
            "pulse: wrote {} customer batches ({rows} rows) to {location}",
            generator.batches().len()
        );
    }
    let mut progress = Progress::new("order messages", generator.expected_orders());
    if let Some(path) = &args.orders_out {
        let file = std::fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let made = generator
            .orders(|m| {
                progress.tick();
                writeln!(out, "{}", m.payload)
            })
            .context(|| format!("cannot write {}", path.display()))?;
        out.flush().context(|| format!("cannot write {}", path.display()))?;
        progress.finish();
        eprintln!("pulse: wrote {made} order messages to {}", path.display());
    } else if let Some(brokers) = &args.brokers {
        if ensure_topic(brokers, &args.topic, args.partitions, &args.retention).await? {
            eprintln!(
                "pulse: created topic '{}' ({} partitions, retention.ms={})",
                args.topic, args.partitions, args.retention
            );
        }
        let writer = TopicWriter::new(brokers, &args.topic)?;
        let made = generator.orders(|m| {
            progress.tick();
            writer.send(&m)
        })?;
        writer.flush()?;
        progress.finish();
        eprintln!(
            "pulse: produced {made} order messages to topic '{}' on {brokers}",
            args.topic
        );
        if let Some(rate) = args.live_rate {
            stream_live(&generator, made, &writer, rate, args.live_for).await?;
        }
    }
    Ok(())
}

/// Produces live orders at `rate` a second until Ctrl-C or `limit` seconds.
async fn stream_live(
    generator: &Generator,
    after: u64,
    writer: &TopicWriter,
    rate: f64,
    limit: Option<u64>,
) -> Result<(), CliError> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(CliError::usage(format!(
            "--live-rate {rate}: use a positive number of orders a second"
        )));
    }
    eprintln!("pulse: streaming live orders at {rate}/s; Ctrl-C stops");
    let mut live = generator.live(after);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {}
        }
        let elapsed = started.elapsed().as_secs_f64();
        if limit.is_some_and(|l| elapsed >= l as f64) {
            break;
        }
        let due = (elapsed * rate) as u64;
        while sent < due {
            let m: OrderMessage = live.next_at(Utc::now().timestamp_millis());
            writer.send(&m)?;
            sent += 1;
        }
    }
    writer.flush()?;
    eprintln!("pulse: streamed {sent} live orders");
    Ok(())
}
