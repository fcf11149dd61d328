//! `pulse produce`: a JSON-lines file of orders into a topic, creating the
//! topic if it is missing. Each message's key is the order's `customer_id`
//! and its CreateTime the order's `timestamp`.
//!
//! What must stay true: every line of the file but a blank one becomes one
//! message, bytes unchanged (not UTF-8, or no order at all: the reading
//! table's malformed-message policy decides about it), as the JSON-lines
//! table reads the same file; a topic it creates keeps its messages
//! (`retention.ms=-1`) unless `--retention` says otherwise.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;

use crate::error::{CliError, Context};
use crate::sinks::topic::{TopicWriter, ensure_topic};

/// `pulse produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Kafka bootstrap servers.
    #[arg(long, value_name = "HOST:PORT")]
    brokers: String,
    /// The topic.
    #[arg(long, default_value = "orders")]
    topic: String,
    /// The JSON-lines file of orders.
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
    /// Partitions of the topic, if it is created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// retention.ms of the topic, if it is created (-1: keep forever).
    #[arg(long, default_value = "-1")]
    retention: String,
}

/// Runs `pulse produce`.
pub async fn run(args: ProduceArgs) -> Result<(), CliError> {
    if !args.file.exists() {
        return Err(CliError::usage(format!("no such file: {}", args.file.display())));
    }
    if ensure_topic(&args.brokers, &args.topic, args.partitions, &args.retention).await? {
        eprintln!(
            "pulse: created topic '{}' ({} partitions, retention.ms={})",
            args.topic, args.partitions, args.retention
        );
    }
    let writer = TopicWriter::new(&args.brokers, &args.topic)?;
    let n = read_orders_file(&args.file, |key, time, payload| writer.send_raw(key, time, payload))?;
    writer.flush()?;
    eprintln!(
        "pulse: produced {n} messages from {} to topic '{}' on {}",
        args.file.display(),
        args.topic,
        args.brokers
    );
    Ok(())
}

/// The fields of an order line that its message needs: the key and the
/// time, each read on its own (a field of another type is `Other`); the
/// other fields are skipped unparsed. A line that is not a JSON object has
/// neither.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    customer_id: Option<Field<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Field<'a>>,
}

/// A JSON field as a message needs it: text, an integer, or anything else.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Field<'a> {
    Text(#[serde(borrow)] std::borrow::Cow<'a, str>),
    Integer(i64),
    Other(serde::de::IgnoredAny),
}

/// Reads a JSON-lines file of order messages, handing each to `each` as
/// its key, its time and its bytes. Each message's time is its `timestamp`
/// field (RFC 3339 text or epoch milliseconds) and its key its
/// `customer_id`; a line without a readable time takes the previous line's.
/// Every line but a blank one is a message, bytes unchanged (a UTF-8
/// byte-order mark at the start of the file is no part of the first), even
/// when it is no order: the reading table's malformed-message policy
/// decides about it. Returns how many messages there were.
fn read_orders_file(
    path: &std::path::Path,
    mut each: impl FnMut(&str, i64, &[u8]) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let file = std::fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let (mut sent, mut last_time, mut first) = (0u64, 0i64, true);
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        let mut bytes = line.strip_suffix(b"\n").unwrap_or(&line);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if std::mem::take(&mut first) {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        // blank is JSON's whitespace only: a form feed is a (malformed) message
        if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        // only the two fields a message needs, borrowed from the line
        let probe: Option<Probe> = serde_json::from_slice(bytes).ok();
        let time = match probe.as_ref().and_then(|p| p.timestamp.as_ref()) {
            Some(Field::Integer(ms)) => Some(*ms),
            Some(Field::Text(s)) => pulse::udfs::rfc3339::parse_nanos(s)
                .ok()
                .map(|ns| ns.div_euclid(1_000_000)),
            _ => None,
        };
        last_time = time.unwrap_or(last_time);
        let key = match probe.as_ref().and_then(|p| p.customer_id.as_ref()) {
            Some(Field::Text(id)) => id.as_ref(),
            _ => "",
        };
        each(key, last_time, bytes)?;
        sent += 1;
    }
    Ok(sent)
}
