//! `pulse-bench`: the two physical floors that Pulse's scan is measured
//! against (see `bench/README.md`).
//!
//! - `consume`: reads every message of a topic with librdkafka, one thread
//!   and one consumer per partition with Pulse's client settings, and only
//!   counts messages and bytes: the rate no Kafka scan can beat.
//! - `decode`: loads a JSON-lines file into memory, then decodes it into
//!   Arrow with arrow-json and the orders schema Pulse decodes with, on as
//!   many threads as asked: the rate no JSON scan can beat.
//!
//! What must stay true: each prints one JSON object on stdout with
//! `messages`, `bytes` and `seconds`, timing only the work it names (not
//! connecting, not loading the file); and neither decodes nor reads less
//! than the whole input, so the rates are floors, not samples.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use arrow_json::reader::ReaderBuilder;
use clap::{Parser, Subcommand};
use datafusion::arrow::datatypes::SchemaRef;
use pulse_engine::kafka::{KafkaTableConfig, scan_client_config};
use pulse_engine::messages::{decode_schema, orders_schema};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[derive(Parser)]
#[command(about = "Physical floors for Pulse's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume a whole topic without decoding.
    Consume {
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
        /// Extra librdkafka settings, KEY=VALUE (to try what Pulse could set).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Decode a JSON-lines file from memory into Arrow.
    Decode {
        #[arg(long)]
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 8192)]
        batch_size: usize,
    },
}

fn main() {
    let result = match Cli::parse().command {
        Command::Consume { brokers, topic, set } => consume(&brokers, &topic, &set),
        Command::Decode {
            file,
            threads,
            batch_size,
        } => decode(&file, threads, batch_size),
    };
    if let Err(e) = result {
        eprintln!("pulse-bench: error: {e}");
        std::process::exit(1);
    }
}

/// A consumer with Pulse's scan settings, then the `-X` settings.
fn consumer(brokers: &str, set: &[String]) -> Result<BaseConsumer, String> {
    let mut cfg = KafkaTableConfig::new(brokers, "");
    for kv in set {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("-X {kv}: use KEY=VALUE"))?;
        cfg = cfg.with_client_property(k, v);
    }
    scan_client_config(&cfg)
        .create()
        .map_err(|e| format!("cannot create a consumer for {brokers}: {e}"))
}

fn consume(brokers: &str, topic: &str, set: &[String]) -> Result<(), String> {
    let timeout = Duration::from_secs(10);
    let meta_consumer = consumer(brokers, set)?;
    let metadata = meta_consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("topic '{topic}' on {brokers}: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic '{topic}' on {brokers} has no partitions"));
    }
    let mut work = Vec::new();
    for &p in &partitions {
        let (low, high) = meta_consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| format!("topic '{topic}' partition {p}: {e}"))?;
        work.push((p, low, high, consumer(brokers, set)?));
    }
    let started = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .map(|(p, low, high, c)| {
            let topic = topic.to_string();
            thread::spawn(move || read_partition(&c, &topic, p, low, high))
        })
        .collect();
    let (mut messages, mut bytes) = (0u64, 0u64);
    for h in handles {
        let (m, b) = h.join().map_err(|_| "a consumer thread panicked".to_string())??;
        messages += m;
        bytes += b;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        r#"{{"messages":{messages},"bytes":{bytes},"seconds":{seconds:.4},"partitions":{}}}"#,
        partitions.len()
    );
    Ok(())
}

fn read_partition(c: &BaseConsumer, topic: &str, p: i32, low: i64, high: i64) -> Result<(u64, u64), String> {
    let where_ = |e: KafkaError| format!("topic '{topic}' partition {p}: {e}");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Offset(low))
        .map_err(where_)?;
    c.assign(&tpl).map_err(where_)?;
    let (mut messages, mut bytes, mut next) = (0u64, 0u64, low);
    let mut idle = Instant::now();
    while next < high {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                messages += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
                next = m.offset() + 1;
                idle = Instant::now();
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(where_(e)),
            None if idle.elapsed() > Duration::from_secs(30) => {
                return Err(format!(
                    "topic '{topic}' partition {p}: no message for 30 s at offset {next}"
                ));
            }
            None => {}
        }
    }
    Ok((messages, bytes))
}

/// Decodes `buf` (whole lines) in batches; returns rows, or the error.
fn decode_all(schema: &SchemaRef, buf: &[u8], batch_size: usize) -> Result<u64, String> {
    let mut decoder = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(batch_size)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let (mut rows, mut at) = (0u64, 0usize);
    loop {
        let used = decoder.decode(&buf[at..]).map_err(|e| e.to_string())?;
        at += used;
        match decoder.flush().map_err(|e| e.to_string())? {
            Some(batch) => rows += batch.num_rows() as u64,
            None if used == 0 => return Ok(rows),
            None => {}
        }
    }
}

fn decode(path: &std::path::Path, threads: usize, batch_size: usize) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let schema = decode_schema(&orders_schema());
    // Untimed: keep the lines that decode alone, so the timed run measures
    // decoding, not recovering from bad input (Pulse's scan pays for that).
    let mut good = Vec::with_capacity(text.len());
    let mut left_out = 0u64;
    for group in text.split_inclusive(|&b| b == b'\n').collect::<Vec<_>>().chunks(4096) {
        let joined = group.concat();
        if decode_all(&schema, &joined, batch_size).is_ok() {
            good.extend_from_slice(&joined);
            continue;
        }
        for line in group {
            if decode_all(&schema, line, 2).is_ok() {
                good.extend_from_slice(line);
            } else {
                left_out += 1;
            }
        }
    }
    drop(text);
    // Split at line starts, one part a thread.
    let threads = threads.max(1);
    let mut parts = Vec::new();
    let mut start = 0;
    for k in 1..=threads {
        let mut end = good.len() * k / threads;
        while end < good.len() && good[end - 1] != b'\n' {
            end += 1;
        }
        parts.push(&good[start..end.max(start)]);
        start = end.max(start);
    }
    let started = Instant::now();
    let rows: u64 = thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                let schema = Arc::clone(&schema);
                s.spawn(move || decode_all(&schema, part, batch_size))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a decode thread panicked".into())))
            .sum::<Result<u64, String>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        r#"{{"messages":{rows},"bytes":{},"seconds":{seconds:.4},"threads":{threads},"malformed_left_out":{left_out}}}"#,
        good.len()
    );
    Ok(())
}
