//! The `dal` lake: `pulse ingest` exactly once, `orders` = lake ∪ tail
//! equal to the topic at any split point, the answer after retention, and
//! the tables as an independent Delta reader sees them.
//!
//! Every test runs against librdkafka's mock and, when `scripts/test`
//! started them, noida-db and moto (the lake on S3).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use datafusion::prelude::SessionContext;
use pulse::engine::kafka::{KafkaTable, KafkaTableConfig};
use pulse::engine::lake::{Ingest, IngestConfig, Lake, LakeOrdersTable, register_lake_catalog};
use pulse::engine::messages::MalformedPolicy;
use pulse::engine::session::pulse_context;

use crate::support::{Broker, Msg, brokers, delete_records, produce, rows, write_customer_batch};

const PULSE: &str = env!("CARGO_BIN_EXE_pulse");

/// A small deterministic generator (the tests print their seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Messages as real topics hold them: out of time order, duplicated
/// orders, amounts with more places than the lake keeps, times with
/// nanoseconds and before 1970, malformed messages and tombstones.
fn hostile(first: usize, n: usize, partitions: i32, seed: u64) -> Vec<Msg> {
    let mut rng = Lcg(seed);
    let base_ms: i64 = 1_795_046_400_000; // 2026-11-19T00:00:00Z
    (first..first + n)
        .map(|i| {
            let partition = rng.next(partitions as u64) as i32;
            let message_ms = base_ms - rng.next(3 * 86_400_000) as i64;
            let payload = match i % 29 {
                7 => Some("{\"order_id\":\"broken\",".to_string()),
                13 => None,
                _ => {
                    let id = if i % 11 == 0 && i > 0 { i - 1 } else { i };
                    let event_ns = i128::from(message_ms) * 1_000_000 - i128::from(rng.next(7_200_000_000_000))
                        + i128::from(rng.next(1_000_000));
                    let event_ns = if i % 97 == 5 { -1_234_567_891 } else { event_ns };
                    let secs = event_ns.div_euclid(1_000_000_000) as i64;
                    let nanos = event_ns.rem_euclid(1_000_000_000) as u32;
                    let time = chrono::DateTime::from_timestamp(secs, nanos)
                        .unwrap()
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                    let amount = format!("{}.{:020}", rng.next(500), rng.next(u64::MAX / 2));
                    Some(format!(
                        r#"{{"order_id":"o{id}","customer_id":"c{}","order_line":[{{"product_id":"p{}","volume":2,"price":1.5}}],"amount":{amount},"timestamp":"{time}"}}"#,
                        i % 7,
                        i % 5
                    ))
                }
            };
            Msg {
                partition,
                timestamp_ms: message_ms,
                key: Some(format!("c{}", i % 7)),
                payload,
            }
        })
        .collect()
}

/// Where a test's lake lives: a local folder, and on S3 (moto) when
/// `scripts/test` started it.
fn lake_locations(dir: &Path, name: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = vec![(dir.join(name).display().to_string(), BTreeMap::new())];
    match (
        std::env::var("PULSE_TEST_S3_ENDPOINT"),
        std::env::var("PULSE_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => {
            let aws = BTreeMap::from(
                [
                    ("endpoint", endpoint.as_str()),
                    ("allow_http", "true"),
                    ("region", "us-east-1"),
                    ("access_key_id", "test"),
                    ("secret_access_key", "test"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            let unique = format!(
                "{name}-{}-{}",
                std::process::id(),
                dir.file_name().unwrap().to_string_lossy()
            );
            out.push((format!("s3://{bucket}/lakes/{unique}/"), aws));
        }
        _ => eprintln!(
            "\n*** SKIPPED the S3 half of this lake test: PULSE_TEST_S3_ENDPOINT is not set. \
             Run scripts/test to start moto. ***\n"
        ),
    }
    out
}

fn kafka_config(broker: &Broker, topic: &str) -> KafkaTableConfig {
    KafkaTableConfig::new(broker.bootstrap(), topic).with_malformed_policy(MalformedPolicy::DeadLetter)
}

/// A session with `k`, the topic as a Kafka table, and `orders`, the lake ∪
/// the topic above it, and the catalog `dal`.
async fn lake_and_topic(broker: &Broker, topic: &str, lake: &Lake) -> SessionContext {
    let ctx = pulse_context();
    let kafka = KafkaTable::try_new(kafka_config(broker, topic)).await.unwrap();
    ctx.register_table("k", std::sync::Arc::new(kafka)).unwrap();
    let kafka = KafkaTable::try_new(kafka_config(broker, topic)).await.unwrap();
    let orders = LakeOrdersTable::try_new(lake.clone(), kafka).unwrap();
    ctx.register_table("orders", std::sync::Arc::new(orders)).unwrap();
    register_lake_catalog(&ctx, lake.clone()).unwrap();
    ctx
}

const EVERY_COLUMN: &str = "SELECT _partition, _offset, order_id, customer_id, order_line, amount, \
     arrow_cast(timestamp, 'Int64') AS ns, _timestamp, _key, _error, _warning FROM {t} ORDER BY _partition, _offset";

const ONE_DAY: &str = "SELECT count(*), sum(amount), count(_error), min(timestamp), max(timestamp) FROM {t} \
     WHERE timestamp >= TIMESTAMP '2026-11-17T12:00:00Z' AND timestamp < TIMESTAMP '2026-11-18T12:00:00Z'";

const DEDUPED: &str = "SELECT order_id, first_value(amount ORDER BY _partition, _offset) FROM {t} \
     WHERE _error IS NULL GROUP BY order_id ORDER BY order_id";

/// Asserts that `orders` (lake ∪ tail) and `k` (the topic) give the same
/// rows for every query.
async fn assert_same(ctx: &SessionContext, at: &str) {
    for query in [EVERY_COLUMN, ONE_DAY, DEDUPED] {
        let lake = rows(ctx, &query.replace("{t}", "orders")).await;
        let topic = rows(ctx, &query.replace("{t}", "k")).await;
        assert!(!topic.is_empty());
        assert_eq!(lake, topic, "{at}: {query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_and_tail_equal_the_topic_at_every_split_point() {
    let dir = tempfile::tempdir().unwrap();
    for broker in brokers() {
        for (location, aws) in lake_locations(dir.path(), &format!("split-{}", broker.name())) {
            let topic = broker.topic("lake-split", 3).await;
            let seed = 0x5eed_u64 + topic.len() as u64;
            eprintln!("{} broker, lake {location}, seed {seed}", broker.name());
            produce(&broker.bootstrap(), &topic, &hostile(0, 900, 3, seed));
            let ctx = pulse_context();
            let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &aws).unwrap();
            let ctx = lake_and_topic(&broker, &topic, &lake).await;
            assert_same(&ctx, "before any ingest").await;

            let mut config = IngestConfig::new(kafka_config(&broker, &topic));
            config.commit_messages = 97; // many commits, ends mid-partition
            config.compact_every = 4;
            let mut ingest = Ingest::open(lake.clone(), config).await.unwrap();
            let high: BTreeMap<i32, i64> = ingest
                .watermarks()
                .await
                .unwrap()
                .into_iter()
                .map(|(p, w)| (p, w.high))
                .collect();
            for (step, fraction) in [(1, 0.13), (2, 0.5), (3, 0.77)] {
                let until: BTreeMap<i32, i64> = high
                    .iter()
                    .map(|(p, h)| (*p, (*h as f64 * fraction) as i64 + *p as i64))
                    .collect();
                ingest.round(Some(&until)).await.unwrap();
                assert_same(&ctx, &format!("after round {step}")).await;
            }
            let total = ingest.until_caught_up(|_| {}).await.unwrap();
            assert_eq!(total.lag.values().sum::<i64>(), 0);
            assert_same(&ctx, "caught up").await;
            // the tail grows past the lake
            produce(&broker.bootstrap(), &topic, &hostile(900, 300, 3, seed + 1));
            assert_same(&ctx, "tail past the lake").await;
            let lake_rows = rows(
                &ctx,
                "SELECT (SELECT count(*) FROM dal.pulse.orders) + (SELECT count(*) FROM dal.pulse.orders_dead_letter)",
            )
            .await;
            assert_eq!(lake_rows, vec![high.values().sum::<i64>().to_string()]);
        }
    }
}

/// `pulse ingest` as a process, following the topic.
fn spawn_ingest(bootstrap: &str, topic: &str, lake: &str, extra: &[&str]) -> Child {
    spawn_ingest_with(bootstrap, topic, lake, extra, &[])
}

/// `pulse ingest` as a process, with `env` set (S3 settings, say).
fn spawn_ingest_with(bootstrap: &str, topic: &str, lake: &str, extra: &[&str], env: &[(String, String)]) -> Child {
    Command::new(PULSE)
        .args(["ingest", "--brokers", bootstrap, "--topic", topic, "--lake", lake])
        .args([
            "--commit-messages",
            "150",
            "--commit-interval",
            "50ms",
            "--compact-every",
            "7",
        ])
        .args(extra)
        .envs(env.iter().cloned())
        .env_remove("PULSE_LAKE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lets `child` (a following `pulse ingest`) run for `at_least_ms` plus up
/// to 0.9 s more, then kills it with SIGKILL; it must not have stopped by
/// itself before.
fn kill_after_a_while(mut child: Child, rng: &mut Lcg, at_least_ms: u64) {
    std::thread::sleep(Duration::from_millis(at_least_ms + rng.next(900)));
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        panic!("pulse ingest stopped by itself ({status}): {err}");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// `pulse ingest --until-caught-up` as a process, which must succeed.
fn ingest_until_caught_up(bootstrap: &str, topic: &str, lake: &str, extra: &[&str], env: &[(String, String)]) {
    let out = Command::new(PULSE)
        .args(["ingest", "--brokers", bootstrap, "--topic", topic, "--lake", lake])
        .args(extra)
        .arg("--until-caught-up")
        .envs(env.iter().cloned())
        .env_remove("PULSE_LAKE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_killed_at_random_moments_lands_every_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    for broker in brokers() {
        let topic = broker.topic("lake-crash", 3).await;
        let location = dir
            .path()
            .join(format!("crash-{}", broker.name()))
            .display()
            .to_string();
        let seed = 0xc4a5_u64 + std::process::id() as u64;
        eprintln!("{} broker, seed {seed}", broker.name());
        let mut rng = Lcg(seed);
        let bootstrap = broker.bootstrap();
        // a producer that keeps writing while the ingest is killed
        let producer = {
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            std::thread::spawn(move || {
                for round in 0..24 {
                    produce(&bootstrap, &topic, &hostile(round * 120, 120, 3, seed + round as u64));
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        };
        let kills = 22;
        for _ in 0..kills {
            kill_after_a_while(spawn_ingest(&bootstrap, &topic, &location, &[]), &mut rng, 150);
        }
        producer.join().unwrap();
        ingest_until_caught_up(&bootstrap, &topic, &location, &[], &[]);

        let ctx = pulse_context();
        let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &BTreeMap::new()).unwrap();
        let ctx = lake_and_topic(&broker, &topic, &lake).await;
        let lake_rows = "(SELECT _partition, _offset FROM dal.pulse.orders UNION ALL \
                          SELECT _partition, _offset FROM dal.pulse.orders_dead_letter)";
        let twice = rows(
            &ctx,
            &format!("SELECT _partition, _offset, count(*) FROM {lake_rows} GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5"),
        )
        .await;
        assert!(twice.is_empty(), "messages landed twice after {kills} kills: {twice:?}");
        let missing = rows(
            &ctx,
            &format!(
                "SELECT k._partition, k._offset FROM k LEFT JOIN {lake_rows} l \
                 ON k._partition = l._partition AND k._offset = l._offset WHERE l._offset IS NULL LIMIT 5"
            ),
        )
        .await;
        assert!(missing.is_empty(), "messages missing after {kills} kills: {missing:?}");
        assert_eq!(
            rows(&ctx, &format!("SELECT count(*) FROM {lake_rows}")).await,
            rows(&ctx, "SELECT count(*) FROM k").await
        );
        assert_same(&ctx, "after the crashes").await;
    }
}

/// The `AWS_*` variables that point a `pulse` process at the lake's S3
/// settings (empty for a local lake).
fn aws_env(aws: &BTreeMap<String, String>) -> Vec<(String, String)> {
    aws.iter()
        .map(|(k, v)| match k.as_str() {
            "endpoint" => ("AWS_ENDPOINT_URL".to_string(), v.clone()),
            other => (format!("AWS_{}", other.to_ascii_uppercase()), v.clone()),
        })
        .collect()
}

/// The lake on S3 when moto runs (else a local folder), the external broker
/// when one runs (else the mock), and customer batches arriving while the
/// ingest is killed: every message once, every batch once and whole, and
/// `customers` equal to the dedup of the batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_killed_with_the_lake_on_s3_and_batches_arriving_lands_everything_once() {
    use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable, CustomersView};

    let dir = tempfile::tempdir().unwrap();
    let broker = brokers().pop().unwrap();
    let (location, aws) = lake_locations(dir.path(), "crash-s3").pop().unwrap();
    let env = aws_env(&aws);
    let topic = broker.topic("lake-crash-s3", 2).await;
    let bootstrap = broker.bootstrap();
    let customers = dir.path().join("customers");
    std::fs::create_dir_all(&customers).unwrap();
    let seed = 0x5_3c4a_u64 + std::process::id() as u64;
    eprintln!("{} broker, lake {location}, seed {seed}", broker.name());
    let mut rng = Lcg(seed);
    write_customer_batch(
        &customers,
        dir.path(),
        "20261120T000000Z",
        &(0..40).map(|i| format!("C{i:06}")).collect::<Vec<_>>(),
    );
    // a producer of orders and an uploader of batches, both busy while the
    // ingest is killed
    let producer = {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        std::thread::spawn(move || {
            for round in 0..16 {
                produce(&bootstrap, &topic, &hostile(round * 100, 100, 2, seed + round as u64));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let uploader = {
        let (customers, scratch) = (customers.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            for n in 1..=8usize {
                // each batch renames some customers and brings new ones
                let ids: Vec<String> = (n * 5..n * 5 + 30 + n).map(|i| format!("C{i:06}")).collect();
                write_customer_batch(&customers, &scratch, &format!("20261121T{n:02}0000Z"), &ids);
                std::thread::sleep(Duration::from_millis(400));
            }
        })
    };
    let settle = ["--customers", customers.to_str().unwrap(), "--customers-settle", "0s"];
    for _ in 0..14 {
        let child = spawn_ingest_with(&bootstrap, &topic, &location, &settle, &env);
        kill_after_a_while(child, &mut rng, 200);
    }
    producer.join().unwrap();
    uploader.join().unwrap();
    ingest_until_caught_up(&bootstrap, &topic, &location, &settle, &env);

    let ctx = pulse_context();
    let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &aws).unwrap();
    let ctx = lake_and_topic(&broker, &topic, &lake).await;
    let lake_rows = "(SELECT _partition, _offset FROM dal.pulse.orders UNION ALL \
                      SELECT _partition, _offset FROM dal.pulse.orders_dead_letter)";
    assert_eq!(
        rows(
            &ctx,
            &format!("SELECT count(*), count(DISTINCT (_partition, _offset)) FROM {lake_rows}")
        )
        .await,
        rows(&ctx, "SELECT count(*) AS n, count(*) AS m FROM k").await,
        "every message once"
    );
    assert_same(&ctx, "after the crashes, on S3").await;

    let source = |view| {
        CustomersTable::try_new(
            CustomerBatchesConfig::new(customers.display().to_string()).with_view(view),
            ctx.runtime_env().as_ref(),
        )
        .unwrap()
    };
    ctx.register_table("history", std::sync::Arc::new(source(CustomersView::History)))
        .unwrap();
    ctx.register_table("latest", std::sync::Arc::new(source(CustomersView::Latest)))
        .unwrap();
    let per_batch = "SELECT batch_id, count(*) FROM {t} GROUP BY batch_id ORDER BY batch_id";
    let landed = rows(&ctx, &per_batch.replace("{t}", "dal.pulse.customer_batches")).await;
    assert_eq!(landed.len(), 9, "{landed:?}");
    assert_eq!(
        landed,
        rows(&ctx, &per_batch.replace("{t}", "history")).await,
        "every batch once and whole"
    );
    assert_eq!(
        rows(
            &ctx,
            "SELECT count(*) FROM (SELECT batch_id, row_in_batch FROM dal.pulse.customer_batches \
             GROUP BY 1, 2 HAVING count(*) > 1)"
        )
        .await,
        ["0"]
    );
    let current = "SELECT customer_id, array_to_string(specialised_industries, '|'), batch_id \
                   FROM {t} ORDER BY customer_id";
    assert_eq!(
        rows(&ctx, &current.replace("{t}", "dal.pulse.customers")).await,
        rows(&ctx, &current.replace("{t}", "latest")).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_holds_one_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::Mock(rdkafka::mocking::MockCluster::new(1).unwrap());
    let (first, second) = (broker.topic("one", 1).await, broker.topic("other", 1).await);
    produce(&broker.bootstrap(), &first, &hostile(0, 40, 1, 7));
    produce(&broker.bootstrap(), &second, &hostile(0, 40, 1, 8));
    let location = dir.path().join("lake").display().to_string();
    let ctx = pulse_context();
    let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &BTreeMap::new()).unwrap();
    let config = |topic: &str| IngestConfig {
        kafka: kafka_config(&broker, topic),
        commit_messages: 1000,
        compact_every: 0,
    };
    Ingest::open(lake.clone(), config(&first))
        .await
        .unwrap()
        .until_caught_up(|_| {})
        .await
        .unwrap();
    let Err(err) = Ingest::open(lake.clone(), config(&second)).await else {
        panic!("a second topic was ingested into the lake of '{first}'");
    };
    let err = err.to_string();
    assert!(
        err.contains(&format!("holds the Kafka topic '{first}', not '{second}'")) && err.contains("orders"),
        "{err}"
    );
    // reading the lake with another topic's tail is refused the same way
    let ctx = lake_and_topic(&broker, &second, &lake).await;
    let err = crate::support::error(&ctx, "SELECT count(*) FROM orders").await;
    assert!(err.contains(&format!("holds the Kafka topic '{first}'")), "{err}");
    let ctx = lake_and_topic(&broker, &first, &lake).await;
    assert_eq!(
        rows(&ctx, "SELECT count(*) FROM orders").await,
        rows(&ctx, "SELECT count(*) FROM k").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingests_of_one_topic_never_land_a_message_twice() {
    let dir = tempfile::tempdir().unwrap();
    let broker = brokers().into_iter().next().unwrap();
    let topic = broker.topic("lake-two", 2).await;
    produce(&broker.bootstrap(), &topic, &hostile(0, 2000, 2, 7));
    let location = dir.path().join("two").display().to_string();
    let a = spawn_ingest(&broker.bootstrap(), &topic, &location, &["--until-caught-up"]);
    let b = spawn_ingest(&broker.bootstrap(), &topic, &location, &["--until-caught-up"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    // one may lose a race and say so; whatever happened, a last run
    // completes the lake and nothing is there twice
    for out in [&a, &b] {
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("another writer committed to the table"), "{err}");
        }
    }
    let out = spawn_ingest(&broker.bootstrap(), &topic, &location, &["--until-caught-up"])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ctx = pulse_context();
    let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &BTreeMap::new()).unwrap();
    let ctx = lake_and_topic(&broker, &topic, &lake).await;
    assert_eq!(
        rows(
            &ctx,
            "SELECT count(*), count(DISTINCT (_partition, _offset)) FROM (SELECT _partition, _offset FROM dal.pulse.orders \
             UNION ALL SELECT _partition, _offset FROM dal.pulse.orders_dead_letter)"
        )
        .await,
        vec!["2000, 2000"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_outlives_retention_with_the_history_in_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let mut ran = false;
    for broker in brokers() {
        let topic = broker.topic("lake-retention", 2).await;
        produce(&broker.bootstrap(), &topic, &hostile(0, 600, 2, 11));
        let location = dir
            .path()
            .join(format!("retention-{}", broker.name()))
            .display()
            .to_string();
        let ctx = pulse_context();
        let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &BTreeMap::new()).unwrap();
        let ctx = lake_and_topic(&broker, &topic, &lake).await;
        let mut ingest = Ingest::open(lake.clone(), IngestConfig::new(kafka_config(&broker, &topic)))
            .await
            .unwrap();
        ingest.until_caught_up(|_| {}).await.unwrap();
        produce(&broker.bootstrap(), &topic, &hostile(600, 100, 2, 12));
        let before: Vec<Vec<String>> = futures::future::join_all([EVERY_COLUMN, ONE_DAY, DEDUPED].map(|q| {
            let ctx = ctx.clone();
            async move { rows(&ctx, &q.replace("{t}", "orders")).await }
        }))
        .await;
        // retention deletes what the lake holds, and a little less
        let committed = ingest.committed(&[0, 1]).await.unwrap();
        let mut deleted = true;
        for (p, next) in &committed {
            deleted &= delete_records(&broker.bootstrap(), &topic, *p, next - 3).await;
        }
        if !deleted {
            eprintln!(
                "*** SKIPPED the {} broker in the retention test: it cannot delete records ***",
                broker.name()
            );
            continue;
        }
        ran = true;
        let low = rows(&ctx, "SELECT min(_offset) FROM k WHERE _partition = 0").await;
        assert_ne!(low, vec!["0"], "retention deleted nothing");
        let after: Vec<Vec<String>> = futures::future::join_all([EVERY_COLUMN, ONE_DAY, DEDUPED].map(|q| {
            let ctx = ctx.clone();
            async move { rows(&ctx, &q.replace("{t}", "orders")).await }
        }))
        .await;
        assert_eq!(before, after);
        // and a gap the lake does not cover is data loss, named
        produce(&broker.bootstrap(), &topic, &hostile(700, 100, 2, 13));
        let high = rows(&ctx, "SELECT max(_offset) + 1 FROM k WHERE _partition = 0").await;
        let high: i64 = high[0].parse().unwrap();
        assert!(delete_records(&broker.bootstrap(), &topic, 0, high - 5).await);
        let err = crate::support::error(&ctx, "SELECT count(*) FROM orders").await;
        assert!(
            err.contains("partition 0") && err.contains(&format!("offsets {}", committed[&0])),
            "{err}"
        );
    }
    if !ran {
        eprintln!("*** the retention test ran on no broker that deletes records ***");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_delta_reader_sees_the_lake() {
    let Ok(python) = std::env::var("PULSE_TEST_PYTHON") else {
        eprintln!(
            "\n*** SKIPPED the independent-reader test: PULSE_TEST_PYTHON (a Python with the deltalake \
             package) is not set. Run scripts/test. ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = brokers().into_iter().next().unwrap();
    let topic = broker.topic("lake-reader", 3).await;
    produce(&broker.bootstrap(), &topic, &hostile(0, 1500, 3, 21));
    let location = dir.path().join("reader").display().to_string();
    let ctx = pulse_context();
    let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &BTreeMap::new()).unwrap();
    let mut config = IngestConfig::new(kafka_config(&broker, &topic));
    config.commit_messages = 400;
    let mut ingest = Ingest::open(lake.clone(), config).await.unwrap();
    let total = ingest.until_caught_up(|_| {}).await.unwrap();
    let ctx = lake_and_topic(&broker, &topic, &lake).await;
    let ours = rows(
        &ctx,
        "SELECT (SELECT count(*) FROM dal.pulse.orders) AS o, (SELECT count(*) FROM dal.pulse.orders_dead_letter) AS d, \
         (SELECT sum(amount) FROM dal.pulse.orders) AS s, (SELECT count(DISTINCT order_date) FROM dal.pulse.orders) AS n",
    )
    .await;
    let script = format!(
        r#"
import sys
from deltalake import DeltaTable
orders = DeltaTable(sys.argv[1] + "/orders")
dead = DeltaTable(sys.argv[1] + "/orders_dead_letter")
t = orders.to_pyarrow_table()
d = dead.to_pyarrow_table()
import pyarrow.compute as pc
print(t.num_rows, d.num_rows, pc.sum(t["amount"]).as_py(), len(set(t["order_date"].to_pylist())), sep=", ")
print(",".join(t.schema.names))
print(",".join(orders.metadata().partition_columns))
print(" ".join(str(orders.transaction_version("pulse-ingest/{topic}/%d" % p)) for p in range(3)))
print(str(t.schema.field("timestamp").type), str(t.schema.field("amount").type))
"#
    );
    let out = Command::new(&python).args(["-c", &script, &location]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    // pyarrow prints a decimal's 18 places; DataFusion trims nothing either
    assert_eq!(lines[0], ours[0], "{text}");
    assert_eq!(
        lines[1],
        "order_id,customer_id,order_line,amount,timestamp,timestamp_nanos,_partition,_offset,_timestamp,_key,_warning,order_date"
    );
    assert_eq!(lines[2], "order_date");
    let next: Vec<String> = total.committed.values().map(|o| o.to_string()).collect();
    assert_eq!(lines[3], next.join(" "));
    assert_eq!(lines[4], "timestamp[us, tz=UTC] decimal128(38, 18)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_batches_land_once_and_customers_follow_the_dedup_rule() {
    use datafusion::arrow::array::{ListBuilder, RecordBatch, StringArray, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable};
    use pulse::engine::lake::CustomersIngest;

    let dir = tempfile::tempdir().unwrap();
    let customers = dir.path().join("customers");
    let out = Command::new(PULSE)
        .args([
            "generate",
            "--seed",
            "5",
            "--customers",
            "150",
            "--orders-per-day",
            "10",
        ])
        .args([
            "--end",
            "2026-11-20T00:00:00Z",
            "--days",
            "3",
            "--batch-every-hours",
            "12",
        ])
        .args(["--customers-out", customers.to_str().unwrap()])
        .args(["--orders-out", dir.path().join("o.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let folders = std::fs::read_dir(&customers).unwrap().count();
    for (location, aws) in lake_locations(dir.path(), "customers-lake") {
        let ctx = pulse_context();
        let lake = Lake::open(ctx.runtime_env().as_ref(), &location, &aws).unwrap();
        let source = || {
            CustomersTable::try_new(
                CustomerBatchesConfig::new(customers.display().to_string()),
                ctx.runtime_env().as_ref(),
            )
            .unwrap()
        };
        let mut ingest = CustomersIngest::open(lake.clone(), source())
            .await
            .unwrap()
            .with_settle(Duration::ZERO);
        let first = ingest.round().await.unwrap();
        assert_eq!(first.batches, folders);
        let again = CustomersIngest::open(lake.clone(), source())
            .await
            .unwrap()
            .round()
            .await
            .unwrap();
        assert_eq!(
            (again.batches, again.customers),
            (0, None),
            "a second ingest adds nothing"
        );

        register_lake_catalog(&ctx, lake.clone()).unwrap();
        ctx.register_table("source", std::sync::Arc::new(source())).unwrap();
        let current = "SELECT customer_id, company_name, array_to_string(specialised_industries, '|'), batch_id \
                       FROM {t} ORDER BY customer_id";
        assert_eq!(
            rows(&ctx, &current.replace("{t}", "dal.pulse.customers")).await,
            rows(&ctx, &current.replace("{t}", "source")).await
        );
        assert_eq!(
            rows(
                &ctx,
                "SELECT count(DISTINCT batch_id), count(*) >= 150 FROM dal.pulse.customer_batches"
            )
            .await,
            vec![format!("{folders}, true")]
        );
        assert_eq!(
            rows(&ctx, "SELECT count(*) FROM dal.pulse.industries").await,
            vec!["10"]
        );

        // a newer batch changes one customer; it lands, and customers follows
        let batch = customers.join("batch_id=20261120T120000Z");
        std::fs::create_dir_all(&batch).unwrap();
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new(
                "specialised_industries",
                DataType::List(std::sync::Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            ),
        ]));
        let mut industries = ListBuilder::new(StringBuilder::new());
        industries.values().append_value("Cosmetics");
        industries.append(true);
        let rows_of_batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(StringArray::from(vec!["C000001"])),
                std::sync::Arc::new(industries.finish()),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(batch.join("part-0.parquet")).unwrap();
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        writer.write(&rows_of_batch).unwrap();
        writer.close().unwrap();
        let next = ingest.round().await.unwrap();
        assert_eq!((next.batches, next.rows), (1, 1));
        assert_eq!(
            rows(&ctx, &current.replace("{t}", "dal.pulse.customers")).await,
            rows(&ctx, &current.replace("{t}", "source")).await
        );
        std::fs::remove_dir_all(&batch).unwrap();

        // `customers` comes from the lake's batches alone: a batch still
        // settling where batches land is not in it, though the rebuild that
        // a settled batch causes runs while it is there
        let mut patient = CustomersIngest::open(lake.clone(), source())
            .await
            .unwrap()
            .with_settle(Duration::from_secs(3600));
        let scratch = dir.path().join(format!("scratch-{}", location.len()));
        std::fs::create_dir_all(&scratch).unwrap();
        write_customer_batch(&customers, &scratch, "20261121T000000Z", &["C000002".to_string()]);
        let settled = customers.join("batch_id=20261121T000000Z/part-0.parquet");
        std::fs::File::options()
            .write(true)
            .open(&settled)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        write_customer_batch(&customers, &scratch, "20261122T000000Z", &["C000003".to_string()]);
        let of_c3 = "SELECT batch_id FROM dal.pulse.customers WHERE customer_id = 'C000003'";
        let before = rows(&ctx, of_c3).await;
        let round = patient.round().await.unwrap();
        assert_eq!((round.batches, round.unsettled), (1, 1));
        assert!(round.customers.is_some(), "the settled batch rebuilt customers");
        assert_eq!(
            rows(
                &ctx,
                "SELECT batch_id FROM dal.pulse.customers WHERE customer_id = 'C000002'"
            )
            .await,
            ["20261121T000000Z"]
        );
        assert_eq!(
            rows(&ctx, of_c3).await,
            before,
            "the unsettled batch is not in customers"
        );
        std::fs::remove_dir_all(customers.join("batch_id=20261121T000000Z")).unwrap();
        std::fs::remove_dir_all(customers.join("batch_id=20261122T000000Z")).unwrap();
    }
}
