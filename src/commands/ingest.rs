//! `pulse ingest`: follows the orders topic and appends it to the lake's
//! Delta tables, exactly once ([`pulse::engine::lake::ingest`] says how).
//!
//! It reads what is new, commits it (at most `--commit-messages` messages
//! a commit), prints the commit, the rate and each partition's lag, waits
//! `--commit-interval` when nothing new arrived, and goes on until Ctrl-C
//! (or, with `--until-caught-up`, until it reaches the high watermarks of
//! its start).
//!
//! With `--customers`, it also lists the customer batches (at the start and
//! every 10 s) and ingests the new ones ([`pulse::engine::lake::customers`]).
//!
//! What must stay true: Ctrl-C never interrupts a commit: the round under
//! way commits or is abandoned whole, and the next run resumes from the
//! lake's committed offsets either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use datafusion::prelude::SessionContext;
use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable};
use pulse::engine::kafka::config::parse_duration;
use pulse::engine::lake::{CustomersIngest, CustomersRound, Ingest, IngestConfig, Round};

use crate::error::CliError;
use crate::sources::{open_lake, topic_config};

/// `pulse ingest`.
#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Kafka bootstrap servers of the orders topic.
    #[arg(long, value_name = "HOST:PORT", env = "PULSE_BROKERS")]
    brokers: String,
    /// The orders topic.
    #[arg(long, default_value = "orders", env = "PULSE_TOPIC")]
    topic: String,
    /// A table option of the orders topic (client settings, timeouts; repeatable).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_options: Vec<String>,
    /// The lake: an s3:// prefix, a folder (created if missing) or a file:// URL.
    #[arg(long, value_name = "URL", env = "PULSE_LAKE")]
    lake: String,
    /// Customer batches to ingest too (an s3:// prefix, a folder or a file:// URL): every batch into
    /// dal.pulse.customer_batches once, and dal.pulse.customers kept current.
    #[arg(long, value_name = "URL", env = "PULSE_CUSTOMERS")]
    customers: Option<String>,
    /// Ingest a customer batch once its files have not changed for this long (a batch caught
    /// mid-upload would land in part).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    customers_settle: Duration,
    /// Ingest up to the high watermarks at start, then exit.
    #[arg(long)]
    until_caught_up: bool,
    /// The most messages one commit holds.
    #[arg(long, default_value_t = 500_000, value_name = "N")]
    commit_messages: u64,
    /// While following, wait this long after a round that found nothing new.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    commit_interval: Duration,
    /// Compact the orders table's small files every N commits (0: never).
    #[arg(long, default_value_t = 50, value_name = "N")]
    compact_every: u64,
}

/// Runs `pulse ingest`.
pub async fn run(args: IngestArgs) -> Result<(), CliError> {
    let ctx = SessionContext::new();
    let lake = open_lake(&ctx, &args.lake)?;
    let kafka = topic_config(&args.brokers, &args.topic, &args.kafka_options)?;
    let config = IngestConfig {
        kafka,
        commit_messages: args.commit_messages,
        compact_every: args.compact_every,
    };
    let mut customers = match &args.customers {
        Some(location) => {
            let source = CustomersTable::try_new(CustomerBatchesConfig::new(location), ctx.runtime_env().as_ref())?;
            Some(
                CustomersIngest::open(lake.clone(), source)
                    .await?
                    .with_settle(args.customers_settle),
            )
        }
        None => None,
    };
    let mut ingest = Ingest::open(lake, config).await?;
    eprintln!(
        "pulse ingest: topic '{}' on {} into the lake {} (dal.pulse.orders, dal.pulse.orders_dead_letter)",
        args.topic, args.brokers, args.lake
    );
    let started = Instant::now();
    if args.until_caught_up {
        if let Some(customers) = &mut customers {
            print_customers(&customers.round().await?);
        }
        let total = ingest.until_caught_up(print_round).await?;
        print_total(&total, started.elapsed());
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let notify = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, notify) = (Arc::clone(&stop), Arc::clone(&notify));
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("pulse ingest: stopping after the round under way");
                stop.store(true, Ordering::SeqCst);
                notify.notify_one();
            }
        });
    }
    let mut total = Round::default();
    let mut customers_read: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if let Some(customers) = &mut customers
            && customers_read.is_none_or(|t| t.elapsed() >= CUSTOMERS_EVERY)
        {
            // the orders go on when the customers cannot (a location with
            // no batch yet, a bad object): said on every attempt
            match customers.round().await {
                Ok(round) => print_customers(&round),
                Err(e) => eprintln!("pulse ingest: customer batches not ingested this time: {e}"),
            }
            customers_read = Some(Instant::now());
        }
        let round = ingest.round(None).await?;
        print_round(&round);
        total.messages += round.messages;
        total.orders += round.orders;
        total.dead_letters += round.dead_letters;
        total.committed = round.committed.clone();
        total.version = round.version;
        if round.messages == 0 {
            tokio::select! {
                () = tokio::time::sleep(args.commit_interval) => {}
                () = notify.notified() => {}
            }
        }
    }
    print_total(&total, started.elapsed());
    Ok(())
}

/// How often a following ingest lists the customer batches.
const CUSTOMERS_EVERY: Duration = Duration::from_secs(10);

fn print_customers(round: &CustomersRound) {
    if round.unsettled > 0 {
        eprintln!(
            "pulse ingest: {} customer batches still changing; they are ingested once they settle",
            round.unsettled
        );
    }
    if round.batches > 0 || round.customers.is_some() {
        eprintln!(
            "pulse ingest: {} customer batches ({} rows) into customer_batches{}",
            round.batches,
            round.rows,
            round
                .customers
                .map_or(String::new(), |n| format!("; customers rewritten: {n} customers"))
        );
    }
}

fn print_round(round: &Round) {
    if round.messages == 0 {
        return;
    }
    let rate = round.messages as f64 / round.elapsed.as_secs_f64().max(1e-9);
    let lag: Vec<String> = round.lag.iter().map(|(p, lag)| format!("{p}:{lag}")).collect();
    eprintln!(
        "pulse ingest: version {}: {} messages ({} orders, {} dead letters) in {:.2} s, {rate:.0} messages/s; \
         lag by partition {}{}",
        round.version.map_or("-".to_string(), |v| v.to_string()),
        round.messages,
        round.orders,
        round.dead_letters,
        round.elapsed.as_secs_f64(),
        lag.join(" "),
        if round.compacted { "; compacted" } else { "" }
    );
}

fn print_total(total: &Round, elapsed: Duration) {
    let next: Vec<String> = total.committed.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    eprintln!(
        "pulse ingest: {} messages ({} orders, {} dead letters) in {:.1} s; the lake holds every offset below {}",
        total.messages,
        total.orders,
        total.dead_letters,
        elapsed.as_secs_f64(),
        next.join(" ")
    );
}
