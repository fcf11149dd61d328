//! The librdkafka side of a Kafka table: client settings, topic metadata,
//! watermarks, and the lookups of single messages (and of a few messages of
//! every partition at once) that [`super::offsets`] uses to check and
//! search timestamps.
//!
//! What must stay true: every call here is blocking and bounded by the
//! table's timeout, so callers run it on a blocking thread
//! (`spawn_blocking`), never on an async worker; and every error names the
//! topic, and the partition and offset where there is one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::config::KafkaTableConfig;
use super::offsets::{LogIndex, Look, Watermarks, look_by_probes};
use crate::error::{PulseError, Result};

/// The client settings of a scan: reading by explicit assignment, no group
/// membership, no commits, end-of-partition events on, and an error rather
/// than a silent jump when an offset is out of range; then the table's
/// `kafka.client.*` settings. The benchmarks' consume floor uses the same.
pub fn scan_client_config(cfg: &KafkaTableConfig) -> ClientConfig {
    let timeout_ms = cfg.timeout.as_millis().clamp(1_000, i32::MAX as u128).to_string();
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &cfg.brokers)
        .set("group.id", "pulse-scan")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("allow.auto.create.topics", "false")
        .set("socket.connection.setup.timeout.ms", &timeout_ms)
        .set("fetch.wait.max.ms", "10")
        // Prefetch 10k messages a partition rather than 100k: the scan
        // decodes as it reads, and a smaller queue stays in cache (SF1
        // scan about 15% faster, bench/RESULTS.md).
        .set("queued.min.messages", "10000")
        .set("client.id", "pulse");
    for (key, value) in &cfg.client {
        client.set(key, value);
    }
    client
}

/// A consumer with [`scan_client_config`].
pub(crate) fn consumer(cfg: &KafkaTableConfig) -> Result<ScanConsumer> {
    create(cfg, scan_client_config(cfg))
}

/// A consumer for the seeks of planning, which fetch a message or two of a
/// partition at a time: it asks each partition for 64 KiB rather than 1
/// MiB (a broker that caps its responses, such as Tansu, then reads a few
/// batches instead of a megabyte a partition; a batch larger than that
/// still comes whole). Its queue is not made smaller: a look whose two
/// messages straddle a batch boundary would then wait for
/// `fetch.queue.backoff.ms` (a second) before its next fetch. The table's
/// own `kafka.client.*` settings win.
pub(crate) fn seek_consumer(cfg: &KafkaTableConfig) -> Result<ScanConsumer> {
    let mut client = scan_client_config(cfg);
    // librdkafka's two names for one setting
    if !["max.partition.fetch.bytes", "fetch.message.max.bytes"]
        .iter()
        .any(|key| cfg.client.contains_key(*key))
    {
        client.set("max.partition.fetch.bytes", "65536");
    }
    create(cfg, client)
}

fn create(cfg: &KafkaTableConfig, client: ClientConfig) -> Result<ScanConsumer> {
    let consumer = client.create().map_err(|e| PulseError::Kafka {
        topic: cfg.topic.clone(),
        brokers: cfg.brokers.clone(),
        message: format!("could not create a client: {e}"),
    })?;
    Ok(ScanConsumer(Some(consumer)))
}

/// A scan's consumer, closed off the caller's thread when dropped.
///
/// A consumer with a `group.id` (librdkafka's `assign` wants one) waits for
/// its group to close in polls of 100 ms when it is dropped. Every
/// statement drops a few (its cut's, its seeks', one a partition read), so
/// waiting there put 100-200 ms on every query, and on every tick of a
/// live answer. The close itself still runs, on a thread of its own.
pub(crate) struct ScanConsumer(Option<BaseConsumer>);

impl std::ops::Deref for ScanConsumer {
    type Target = BaseConsumer;

    fn deref(&self) -> &BaseConsumer {
        self.0.as_ref().expect("a consumer is taken only when dropped")
    }
}

/// Consumers closing on threads of their own now; beyond
/// [`CLOSING_AT_MOST`], a consumer closes on the dropping thread, as
/// before, so a broker that never lets them close costs waits, not threads.
static CLOSING: AtomicUsize = AtomicUsize::new(0);

/// See [`CLOSING`].
const CLOSING_AT_MOST: usize = 64;

impl Drop for ScanConsumer {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        if CLOSING.fetch_add(1, Ordering::Relaxed) >= CLOSING_AT_MOST {
            CLOSING.fetch_sub(1, Ordering::Relaxed);
            return drop(consumer);
        }
        // where no thread can be started, the closure and with it the
        // consumer are dropped here, waiting as before
        let spawned = std::thread::Builder::new()
            .name("pulse-consumer-close".into())
            .spawn(move || {
                drop(consumer);
                CLOSING.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            CLOSING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn kafka_err(cfg: &KafkaTableConfig, message: String) -> PulseError {
    PulseError::Kafka {
        topic: cfg.topic.clone(),
        brokers: cfg.brokers.clone(),
        message,
    }
}

fn partition_err(cfg: &KafkaTableConfig, partition: i32, message: String) -> PulseError {
    PulseError::KafkaPartition {
        topic: cfg.topic.clone(),
        partition,
        message,
    }
}

/// The topic's partition ids, in order. A missing topic and an unreachable
/// broker are errors within the table's timeout.
pub(crate) fn partitions(consumer: &BaseConsumer, cfg: &KafkaTableConfig) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(&cfg.topic), cfg.timeout)
        .map_err(|e| match e {
            KafkaError::MetadataFetch(code) => kafka_err(
                cfg,
                format!(
                    "could not reach any broker within {:?} ({code}); check the address and that the broker is up",
                    cfg.timeout
                ),
            ),
            e => kafka_err(cfg, format!("could not fetch metadata: {e}")),
        })?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == cfg.topic)
        .ok_or_else(|| kafka_err(cfg, "the broker returned no metadata for the topic".into()))?;
    if let Some(err) = topic.error() {
        let code = RDKafkaErrorCode::from(err);
        return Err(kafka_err(
            cfg,
            match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    "the topic does not exist".to_string()
                }
                code => format!("the broker refused the topic: {code}"),
            },
        ));
    }
    let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    if ids.is_empty() {
        return Err(kafka_err(cfg, "the topic does not exist (it has no partitions)".into()));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// A partition's watermarks.
pub(crate) fn watermarks(consumer: &BaseConsumer, cfg: &KafkaTableConfig, partition: i32) -> Result<Watermarks> {
    consumer
        .fetch_watermarks(&cfg.topic, partition, cfg.timeout)
        .map(|(low, high)| Watermarks { low, high })
        .map_err(|e| partition_err(cfg, partition, format!("could not fetch watermarks: {e}")))
}

/// The watermarks of every partition in `partitions`, in order, in two
/// round trips (a `ListOffsets` of each partition's leader for the earliest
/// offsets, one for the latest) instead of two a partition. The same
/// request as [`watermarks`] (librdkafka's `query_watermark_offsets`, with
/// the client's isolation level), read the same way: a start the broker
/// does not give (an empty partition, on some brokers) is the end. It
/// differs in failing as a whole: one partition's error fails the cut.
pub(crate) fn all_watermarks(
    consumer: &BaseConsumer,
    cfg: &KafkaTableConfig,
    partitions: &[i32],
) -> Result<Vec<(i32, Watermarks)>> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    // ListOffsets asks for the earliest offset with -2 (Beginning) and for
    // the latest with -1 (End)
    let low = list_offsets(consumer, cfg, partitions, Offset::Beginning)?;
    let high = list_offsets(consumer, cfg, partitions, Offset::End)?;
    partitions
        .iter()
        .zip(low.into_iter().zip(high))
        .map(|(&p, (low, high))| {
            let high = high.ok_or_else(|| {
                partition_err(
                    cfg,
                    p,
                    "could not fetch watermarks: the broker gave no end offset".into(),
                )
            })?;
            let low = low.filter(|&low| low <= high).unwrap_or(high);
            Ok((p, Watermarks { low, high }))
        })
        .collect()
}

/// Each partition's offset for `which` (its start or its end), in order;
/// `None` where the broker gave none (librdkafka then leaves the question
/// as it was asked).
fn list_offsets(
    consumer: &BaseConsumer,
    cfg: &KafkaTableConfig,
    partitions: &[i32],
    which: Offset,
) -> Result<Vec<Option<i64>>> {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(&cfg.topic, p, which)
            .map_err(|e| partition_err(cfg, p, format!("could not fetch watermarks: {e}")))?;
    }
    let answer = consumer.offsets_for_times(tpl, cfg.timeout).map_err(|e| {
        kafka_err(
            cfg,
            format!("could not fetch the watermarks of partitions {partitions:?}: {e}"),
        )
    })?;
    partitions
        .iter()
        .map(|&p| {
            let Some(e) = answer.find_partition(&cfg.topic, p) else {
                return Ok(None);
            };
            e.error()
                .map_err(|err| partition_err(cfg, p, format!("could not fetch watermarks: {err}")))?;
            Ok(match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            })
        })
        .collect()
}

/// Assigns `consumer` to one partition, starting at `offset`.
pub(crate) fn assign(consumer: &BaseConsumer, cfg: &KafkaTableConfig, partition: i32, offset: i64) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&cfg.topic, partition, Offset::Offset(offset))
        .and_then(|()| consumer.assign(&tpl))
        .map_err(|e| {
            partition_err(
                cfg,
                partition,
                format!("could not start reading at offset {offset}: {e}"),
            )
        })
}

/// Runs `run` on `items` split into rounds that name each partition once
/// (a partition's k-th item goes to round k): the first round on this
/// thread, the others on threads of their own at the same time (`run` is
/// told which round it runs; a round with no thread to be had runs here
/// after the first), and gives the results back in the items' order. A
/// request to a broker names a partition once, and a consumer reads a
/// partition from one place.
fn in_rounds<T: Copy + Sync, R: Send>(
    cfg: &KafkaTableConfig,
    items: &[T],
    partition: impl Fn(&T) -> i32,
    run: impl Fn(usize, &[T]) -> Result<Vec<R>> + Sync,
) -> Result<Vec<R>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut mentions = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let k: &mut usize = mentions.entry(partition(item)).or_default();
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(i);
        *k += 1;
    }
    let results: Vec<Result<Vec<R>>> = if rounds.len() <= 1 {
        // one round (none for no items) is the items in their order: no
        // copy, no thread, and its answers counted like any round's
        rounds.resize_with(1, Vec::new);
        vec![run(0, items)]
    } else {
        let round_items: Vec<Vec<T>> = rounds.iter().map(|r| r.iter().map(|&i| items[i]).collect()).collect();
        std::thread::scope(|scope| {
            let run = &run;
            let others: Vec<_> = round_items
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, r)| {
                    let thread = std::thread::Builder::new().name(format!("pulse-seek-round-{k}"));
                    (k, thread.spawn_scoped(scope, move || run(k, r)).ok())
                })
                .collect();
            let mut results = vec![run(0, &round_items[0])];
            for (k, handle) in others {
                results.push(match handle {
                    Some(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    None => run(k, &round_items[k]),
                });
            }
            results
        })
    };
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (k, (round, result)) in rounds.iter().zip(results).enumerate() {
        let result = result?;
        if result.len() != round.len() {
            return Err(kafka_err(
                cfg,
                format!(
                    "round {k} of a look-up gave {} answers for {} questions",
                    result.len(),
                    round.len()
                ),
            ));
        }
        for (&i, r) in round.iter().zip(result) {
            out[i] = Some(r);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Timestamp lookups on one topic through one consumer (and, for a
/// partition looked at in a second place, one more a round).
pub(crate) struct BrokerIndex<'a> {
    pub consumer: &'a BaseConsumer,
    pub cfg: &'a KafkaTableConfig,
}

impl LogIndex for BrokerIndex<'_> {
    fn broker_offset_for_time(&self, partition: i32, t_ms: i64) -> Result<i64> {
        Ok(self.broker_offsets_for_times(&[(partition, t_ms)])?[0])
    }

    /// One `ListOffsets` request a round of questions that names each
    /// partition once, the rounds sent together through this consumer (a
    /// broker serves one connection's requests in order, so only the
    /// waiting overlaps).
    fn broker_offsets_for_times(&self, questions: &[(i32, i64)]) -> Result<Vec<i64>> {
        in_rounds(
            self.cfg,
            questions,
            |q| q.0,
            |_, questions| self.ask_together(questions),
        )
    }

    fn probe(&self, partition: i32, offset: i64, end: i64) -> Result<Option<(i64, i64)>> {
        assign(self.consumer, self.cfg, partition, offset)?;
        let deadline = Instant::now() + self.cfg.timeout;
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Ok(m)) if m.partition() != partition || m.offset() < offset => continue,
                Some(Ok(m)) if m.offset() >= end => return Ok(None),
                Some(Ok(m)) => return Ok(Some((m.offset(), self.message_time(&m)?))),
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(None),
                Some(Err(e)) if is_offset_out_of_range(&e) => return Ok(None),
                Some(Err(e)) => {
                    log::debug!("probe of {}:{partition}@{offset}: {e}", self.cfg.topic);
                }
            }
        }
        Err(partition_err(
            self.cfg,
            partition,
            format!(
                "no message arrived within {:?} when fetching offset {offset}",
                self.cfg.timeout
            ),
        ))
    }

    /// Every partition's look through one assignment, so that librdkafka
    /// fetches them together; looks at a second place in a partition go
    /// through a consumer of their own, in parallel.
    fn look(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
        in_rounds(
            self.cfg,
            looks,
            |l| l.partition,
            |round, looks| {
                if round == 0 {
                    return self.look_together(looks);
                }
                let consumer = seek_consumer(self.cfg)?;
                BrokerIndex {
                    consumer: &consumer,
                    cfg: self.cfg,
                }
                .look_together(looks)
            },
        )
    }
}

impl BrokerIndex<'_> {
    /// The answers to questions that name each partition once, in one
    /// round trip.
    fn ask_together(&self, questions: &[(i32, i64)]) -> Result<Vec<i64>> {
        let mut tpl = TopicPartitionList::new();
        for &(partition, t_ms) in questions {
            tpl.add_partition_offset(&self.cfg.topic, partition, Offset::Offset(t_ms))
                .map_err(|e| partition_err(self.cfg, partition, e.to_string()))?;
        }
        // librdkafka asks each partition's leader once, all leaders at once
        let answer = self.consumer.offsets_for_times(tpl, self.cfg.timeout).map_err(|e| {
            let partitions: Vec<i32> = questions.iter().map(|&(p, _)| p).collect();
            kafka_err(
                self.cfg,
                format!("offsets_for_times for partitions {partitions:?} failed: {e}"),
            )
        })?;
        questions
            .iter()
            .map(|&(partition, t_ms)| {
                let Some(e) = answer.find_partition(&self.cfg.topic, partition) else {
                    return Ok(-1);
                };
                e.error().map_err(|err| {
                    partition_err(self.cfg, partition, format!("offsets_for_times({t_ms}) failed: {err}"))
                })?;
                Ok(match e.offset() {
                    Offset::Offset(o) => o,
                    _ => -1,
                })
            })
            .collect()
    }

    /// Looks that name each partition once, through one assignment. An
    /// offset out of range (the log's start moved since the watermarks
    /// were read) does not say which partition it was, so the looks are
    /// then taken again one probe at a time.
    fn look_together(&self, looks: &[Look]) -> Result<Vec<Vec<(i64, i64)>>> {
        let by_probes = || looks.iter().map(|l| look_by_probes(self, l)).collect();
        if looks.is_empty() {
            return Ok(Vec::new());
        }
        let mut slot = std::collections::HashMap::with_capacity(looks.len());
        let mut tpl = TopicPartitionList::new();
        for (i, l) in looks.iter().enumerate() {
            if slot.insert(l.partition, i).is_some() {
                return Err(partition_err(
                    self.cfg,
                    l.partition,
                    "two looks at one partition in one assignment".to_string(),
                ));
            }
            tpl.add_partition_offset(&self.cfg.topic, l.partition, Offset::Offset(l.offset))
                .map_err(|e| partition_err(self.cfg, l.partition, e.to_string()))?;
        }
        // partition@offset of every look, in order, for errors
        let named = || {
            looks
                .iter()
                .map(|l| format!("{}@{}", l.partition, l.offset))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.consumer
            .assign(&tpl)
            .map_err(|e| kafka_err(self.cfg, format!("could not start reading partitions {}: {e}", named())))?;
        let mut seen = vec![Vec::new(); looks.len()];
        let mut done = vec![false; looks.len()];
        let mut pending = looks.len();
        let mut last_error = None;
        let deadline = Instant::now() + self.cfg.timeout;
        while pending > 0 && Instant::now() < deadline {
            let finished = match self.consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Ok(m)) => match slot.get(&m.partition()) {
                    // each look sees rising offsets from its own on
                    Some(&i)
                        if !done[i]
                            && m.offset() >= looks[i].offset
                            && seen[i].last().is_none_or(|&(last, _)| m.offset() > last) =>
                    {
                        if m.offset() < looks[i].end {
                            seen[i].push((m.offset(), self.message_time(&m)?));
                        }
                        (m.offset() >= looks[i].end || looks[i].is_done(&seen[i])).then_some(i)
                    }
                    _ => None,
                },
                Some(Err(KafkaError::PartitionEOF(p))) => slot.get(&p).copied().filter(|&i| !done[i]),
                Some(Err(e)) if is_offset_out_of_range(&e) => return by_probes(),
                Some(Err(e)) => {
                    log::debug!("look at {} partitions {}: {e}", self.cfg.topic, named());
                    last_error = Some(e);
                    None
                }
            };
            if let Some(i) = finished {
                done[i] = true;
                pending -= 1;
            }
        }
        if let Some(i) = done.iter().position(|d| !d) {
            let l = looks[i];
            let cause = last_error
                .map(|e| format!(" (the last error: {e})"))
                .unwrap_or_default();
            return Err(partition_err(
                self.cfg,
                l.partition,
                format!(
                    "no message arrived within {:?} when fetching offset {}{cause}",
                    self.cfg.timeout, l.offset
                ),
            ));
        }
        Ok(seen)
    }

    /// A fetched message's timestamp, which pushdown cannot do without.
    fn message_time(&self, m: &BorrowedMessage<'_>) -> Result<i64> {
        m.timestamp().to_millis().ok_or_else(|| {
            partition_err(
                self.cfg,
                m.partition(),
                format!(
                    "offset {} has no timestamp, so time filters cannot be pushed down; \
                     set 'kafka.pushdown' to 'false'",
                    m.offset()
                ),
            )
        })
    }
}

/// The offset `consumer` will fetch next in `partition`, if it knows one.
pub(crate) fn position(consumer: &BaseConsumer, cfg: &KafkaTableConfig, partition: i32) -> Option<i64> {
    let list = consumer.position().ok()?;
    match list.find_partition(&cfg.topic, partition)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// True for the error librdkafka raises when a fetch offset is no longer
/// (or not yet) in the log and `auto.offset.reset` is `error`.
pub(crate) fn is_offset_out_of_range(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> KafkaTableConfig {
        KafkaTableConfig::new("b:1", "t")
    }

    #[test]
    fn rounds_name_each_partition_once_and_results_come_back_in_order() {
        // (partition, value): partition 1 three times, partition 2 twice
        let items = [(1, 10), (2, 20), (1, 11), (3, 30), (1, 12), (2, 21)];
        let here = std::thread::current().id();
        let seen = std::sync::Mutex::new(Vec::new());
        let got = in_rounds(
            &cfg(),
            &items,
            |i| i.0,
            |round, items| {
                let mut partitions: Vec<i32> = items.iter().map(|i| i.0).collect();
                partitions.sort();
                let on_caller = std::thread::current().id() == here;
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((round, partitions, on_caller));
                Ok(items.iter().map(|i| i.1 * 2).collect())
            },
        );
        assert_eq!(got.expect("no round fails"), [20, 40, 22, 60, 24, 42]);
        let mut seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
        seen.sort();
        // the first round on the caller's thread, the others on their own
        assert_eq!(
            seen,
            [(0, vec![1, 2, 3], true), (1, vec![1, 2], false), (2, vec![1], false)]
        );
    }

    #[test]
    fn a_round_that_fails_or_miscounts_fails_the_whole_and_one_round_runs_on_this_thread() {
        let items = [(0, 1), (0, 2)];
        let failed = in_rounds(
            &cfg(),
            &items,
            |i| i.0,
            |round, _| {
                if round == 1 {
                    Err(PulseError::KafkaPartition {
                        topic: "t".into(),
                        partition: 0,
                        message: "round 1 failed".into(),
                    })
                } else {
                    Ok(vec![0])
                }
            },
        );
        assert!(failed.is_err_and(|e| e.to_string().contains("round 1 failed")));
        let miscounted = in_rounds(&cfg(), &items, |i| i.0, |round, _| Ok(vec![0; round + 1]));
        assert!(miscounted.is_err_and(|e| e.to_string().contains("round 1 of a look-up gave 2 answers for 1")));
        let here = std::thread::current().id();
        let one = in_rounds(
            &cfg(),
            &[(0, 1), (1, 2)],
            |i| i.0,
            |round, items| {
                assert_eq!((round, std::thread::current().id()), (0, here));
                Ok(items.iter().map(|i| i.1).collect())
            },
        );
        assert_eq!(one.expect("one round"), [1, 2]);
        let one_miscounted = in_rounds(&cfg(), &[(0, 1)], |i| i.0, |_, _| Ok(vec![0, 0]));
        assert!(one_miscounted.is_err_and(|e| e.to_string().contains("round 0 of a look-up gave 2 answers for 1")));
        let none_failed = in_rounds(
            &cfg(),
            &[] as &[(i32, i32)],
            |i| i.0,
            |_, _| -> Result<Vec<i32>> { Err(kafka_err(&cfg(), "no items, still asked".into())) },
        );
        assert!(none_failed.is_err_and(|e| e.to_string().contains("no items, still asked")));
    }
}
