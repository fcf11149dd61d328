//! Pulse on Ballista (feature `distributed`): a scheduler and two
//! executors in this process give the same rows as a local session, for
//! the answer from files and from a broker with hostile messages; a table
//! that cannot be shipped fails naming itself.
//!
//! Every test runs on a runtime with large stacks, as `pulse` does:
//! (de)serialising the answer's plan recurses deeper than 2 MB in a debug
//! build.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};
use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable, CustomersView};
use pulse::engine::distributed::{ClusterSettings, InProcessCluster, client_state};
use pulse::engine::jsonl::JsonLinesTable;
use pulse::engine::kafka::{CacheTable, DecodedLogCache, KafkaTable, KafkaTableConfig};
use pulse::engine::lake::{Lake, LakeOrdersTable};
use pulse::engine::messages::MalformedPolicy;
use pulse::engine::session::{pulse_context, pulse_state};
use pulse::engine::views::load_views;

use crate::cli::{AS_OF, generate, generate_with, pulse, text};
use crate::support::{Msg, brokers, error, order, produce, rows};

/// Runs the future `test` makes on a thread and a multi-threaded runtime
/// whose threads all have 32 MB stacks.
fn on_big_stacks<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    const STACK: usize = 32 << 20;
    let thread = std::thread::Builder::new().stack_size(STACK).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_stack_size(STACK)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(test());
    });
    if let Err(panic) = thread.unwrap().join() {
        std::panic::resume_unwind(panic);
    }
}

/// A local session and a session on a new in-process cluster of two
/// executors (two task slots each).
async fn local_and_clustered() -> (SessionContext, SessionContext, InProcessCluster) {
    let settings = Arc::new(ClusterSettings::default());
    let client = four_partitions();
    let cluster = InProcessCluster::start(2, 2, client.runtime_env(), ClusterSettings::default())
        .await
        .unwrap();
    let clustered = SessionContext::new_with_state(client_state(client.state(), cluster.url(), &settings).unwrap());
    (four_partitions(), clustered, cluster)
}

/// A Pulse session that splits scans into 4 partitions whatever the
/// machine's cores, so that every stage has several tasks to slice.
fn four_partitions() -> SessionContext {
    SessionContext::new_with_state(pulse_state(SessionConfig::new().with_target_partitions(4)))
}

fn register_customers(ctx: &SessionContext, dir: &Path) {
    for (name, view) in [
        ("customers", CustomersView::Latest),
        ("customers_history", CustomersView::History),
    ] {
        let config = CustomerBatchesConfig::new(dir.to_str().unwrap()).with_view(view);
        let table = CustomersTable::try_new(config, &ctx.runtime_env()).unwrap();
        ctx.register_table(name, Arc::new(table)).unwrap();
    }
}

/// The queries whose rows must not depend on where they ran: every
/// figure of the answer, the deduplicated orders and the dead letters.
const SAME_ROWS: &[&str] = &[
    "SELECT _partition, count(*), min(_offset), max(_offset) FROM orders GROUP BY _partition ORDER BY _partition",
    "SELECT * FROM industry_change ORDER BY industry",
    "SELECT * FROM top_industry_changes ORDER BY rank",
    "SELECT count(*), count(DISTINCT order_id), sum(amount), min(order_time), max(order_time) FROM orders_clean",
    "SELECT count(*), count(_error) FROM orders",
    "SELECT _partition, _offset, _error FROM orders WHERE _error IS NOT NULL ORDER BY _partition, _offset",
];

async fn assert_same_rows(local: &SessionContext, clustered: &SessionContext, what: &str) {
    for ctx in [local, clustered] {
        ctx.sql(&format!("SET pulse.as_of = '{AS_OF}'")).await.unwrap();
    }
    for sql in SAME_ROWS {
        let here = rows(local, sql).await;
        assert!(!here.is_empty(), "{what}: {sql} gave no rows");
        assert_eq!(rows(clustered, sql).await, here, "{what}: {sql}");
    }
}

#[test]
fn the_answer_from_files_is_the_same_on_a_cluster() {
    on_big_stacks(|| async {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), "7");
        let (local, clustered, _cluster) = local_and_clustered().await;
        for ctx in [&local, &clustered] {
            let orders = JsonLinesTable::try_new(dir.path().join("orders.jsonl"), MalformedPolicy::DeadLetter).unwrap();
            ctx.register_table("orders", Arc::new(orders)).unwrap();
            register_customers(ctx, &dir.path().join("customers"));
            load_views(ctx).await.unwrap();
        }
        assert_same_rows(&local, &clustered, "JSON lines").await;
        // The plan ran on the cluster: its stages are in the distributed plan.
        let explained = rows(&clustered, "EXPLAIN SELECT * FROM top_industry_changes")
            .await
            .join("\n");
        assert!(explained.contains("distributed_plan"), "{explained}");
        assert!(explained.contains("JsonLinesScanExec"), "{explained}");
        assert!(explained.contains("CustomersExec"), "{explained}");
    });
}

#[test]
fn the_answer_from_a_broker_with_hostile_messages_is_the_same_on_a_cluster() {
    on_big_stacks(|| async {
        for broker in brokers() {
            let dir = tempfile::tempdir().unwrap();
            let bootstrap = broker.bootstrap();
            let topic = broker.topic("cluster", 3).await;
            // first in partition 2, before the history: an order of 3 hours
            // before T in a message stamped 40 days before (so before the
            // window's cut and beyond its guard stretch), 150 old orders,
            // and a message whose event time is 45 days from its stamp.
            // The cut check sees that one in its guard stretch and reads the
            // rest of the partition, which holds early-1: only a task that
            // reads every range of the partition can do that.
            let t = chrono::DateTime::parse_from_rfc3339(AS_OF).unwrap().timestamp_millis();
            let (hour, day) = (3_600_000, 86_400_000);
            let old = t - 40 * day;
            let mut first = vec![Msg::new(2, old, order("early-1", "c-4", 7.5, t - 3 * hour))];
            first.extend((0..150).map(|i| Msg::new(2, old, order(&format!("old-{i}"), "c-5", 1.0, old))));
            first.push(Msg::new(2, old, order("skewed-1", "c-6", 2.0, t + 5 * day)));
            produce(&bootstrap, &topic, &first);
            let orders = ["--orders-per-day", "200", "--brokers", &bootstrap, "--topic", &topic];
            generate_with(dir.path(), "11", &orders);
            // duplicates of generated orders with other figures, a late
            // copy, malformed bytes and a message with no body
            produce(
                &bootstrap,
                &topic,
                &[
                    Msg::new(0, t - hour, order("dup-1", "c-1", 10.0, t - hour)),
                    Msg::new(1, t - hour, order("dup-1", "c-2", 99.0, t - hour)),
                    Msg::new(2, t - 40 * 24 * hour, order("late-1", "c-3", 5.5, t - 2 * hour)),
                    Msg::new(0, t - 2 * hour, "{\"order_id\": \"broken"),
                    Msg::new(1, t - 2 * hour, "\u{0}\u{1}not json"),
                    Msg {
                        partition: 2,
                        timestamp_ms: t - hour,
                        key: Some("k".into()),
                        payload: None,
                    },
                ],
            );
            let (local, clustered, _cluster) = local_and_clustered().await;
            for ctx in [&local, &clustered] {
                // ranges of at most 300 messages: each partition is split
                // into several, so a time-cut partition's ranges must be
                // kept in one task for its cut check (the late copy above
                // contradicts the cut of partition 2)
                let config = KafkaTableConfig::new(bootstrap.clone(), topic.clone())
                    .with_malformed_policy(MalformedPolicy::DeadLetter)
                    .with_max_messages_per_split(300);
                ctx.register_table("orders", Arc::new(KafkaTable::try_new(config).await.unwrap()))
                    .unwrap();
                register_customers(ctx, &dir.path().join("customers"));
                load_views(ctx).await.unwrap();
            }
            assert_same_rows(&local, &clustered, broker.name()).await;
            for id in ["late-1", "early-1"] {
                let sql = format!("SELECT count(*) FROM orders_clean WHERE order_id = '{id}'");
                assert_eq!(
                    rows(&clustered, &sql).await,
                    vec!["1"],
                    "{}: {id} is read",
                    broker.name()
                );
            }
            // the last message of each partition is one of the malformed
            // ones produced above, and it is a dead letter
            let last_is_dead = "SELECT _partition, max(_offset) FILTER (WHERE _error IS NOT NULL) = max(_offset) \
                                FROM orders GROUP BY _partition ORDER BY _partition";
            assert_eq!(
                rows(&clustered, last_is_dead).await,
                vec!["0, true", "1, true", "2, true"],
                "{}",
                broker.name()
            );
        }
    });
}

#[test]
fn the_answer_from_the_lake_and_the_kafka_tail_is_the_same_on_a_cluster() {
    on_big_stacks(|| async {
        for broker in brokers() {
            let dir = tempfile::tempdir().unwrap();
            let bootstrap = broker.bootstrap();
            let topic = broker.topic("cluster-lake", 3).await;
            let lake = dir.path().join("lake");
            let generate = |seed: &str, days: &str| {
                let orders = [
                    "--orders-per-day",
                    "200",
                    "--days",
                    days,
                    "--brokers",
                    &bootstrap,
                    "--topic",
                    &topic,
                ];
                generate_with(dir.path(), seed, &orders);
            };
            // history into the lake, then a tail that only Kafka has
            generate("21", "31");
            let out = pulse(&[
                "ingest",
                "--brokers",
                &bootstrap,
                "--topic",
                &topic,
                "--lake",
                lake.to_str().unwrap(),
                "--until-caught-up",
            ]);
            assert!(out.status.success(), "{}: {}", broker.name(), text(&out.stderr));
            generate("22", "1");
            let (local, clustered, _cluster) = local_and_clustered().await;
            for ctx in [&local, &clustered] {
                let config = KafkaTableConfig::new(bootstrap.clone(), topic.clone())
                    .with_malformed_policy(MalformedPolicy::DeadLetter);
                let kafka = KafkaTable::try_new(config).await.unwrap();
                let lake = Lake::open(ctx.runtime_env().as_ref(), lake.to_str().unwrap(), &Default::default()).unwrap();
                ctx.register_table("orders", Arc::new(LakeOrdersTable::try_new(lake, kafka).unwrap()))
                    .unwrap();
                register_customers(ctx, &dir.path().join("customers"));
                load_views(ctx).await.unwrap();
            }
            assert_same_rows(&local, &clustered, broker.name()).await;
            // both sides were read: rows below the floors from the lake's
            // Parquet files, the tail from Kafka
            let explained = rows(&clustered, "EXPLAIN SELECT count(*) FROM orders").await.join("\n");
            let stages = explained.split("distributed_plan").nth(1).unwrap_or_default();
            assert!(
                stages.contains("DataSourceExec"),
                "the lake's Parquet files: {explained}"
            );
            assert!(stages.contains("SlicedScanExec"), "the Kafka tail: {explained}");
            assert!(!stages.contains("DeltaScanExec"), "{explained}");
            // a day's orders read that day's files of the lake, not all
            let day = format!("SELECT count(*) FROM orders WHERE timestamp >= TIMESTAMP '{AS_OF}' - INTERVAL '1 day'");
            assert_eq!(
                rows(&clustered, &day).await,
                rows(&local, &day).await,
                "{}",
                broker.name()
            );
            let files = |sql: String| {
                let clustered = clustered.clone();
                async move {
                    rows(&clustered, &format!("EXPLAIN {sql}"))
                        .await
                        .join("\n")
                        .matches(".parquet")
                        .count()
                }
            };
            let (all, one_day) = (files("SELECT count(*) FROM orders".into()).await, files(day).await);
            assert!(
                0 < one_day && one_day < all,
                "{}: {one_day} of {all} files",
                broker.name()
            );
        }
    });
}

#[test]
fn a_table_that_cannot_be_shipped_fails_naming_itself() {
    on_big_stacks(|| async {
        let (_, clustered, _cluster) = local_and_clustered().await;
        let cache = Arc::new(DecodedLogCache::new(1 << 20));
        clustered
            .register_table("pulse_cache", Arc::new(CacheTable::new(cache)))
            .unwrap();
        // information_schema is answered on the client, as Ballista does
        assert!(!rows(&clustered, "SHOW TABLES").await.is_empty());
        let e = error(&clustered, "SELECT * FROM pulse_cut()").await;
        assert!(e.contains("scheduler plans them"), "{e}");
        let e = error(&clustered, "SELECT * FROM pulse_cache").await;
        assert!(e.contains("'pulse_cache'") && e.contains("cannot be shipped"), "{e}");
        assert!(e.contains("CacheTable"), "{e}");
    });
}

/// A `pulse scheduler` or `pulse executor` process, killed when dropped.
struct Role(std::process::Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(args: &[&str]) -> Role {
    Role(
        crate::cli::command()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn an_executor_killed_mid_query_never_gives_a_partial_answer() {
    on_big_stacks(|| async {
        let dir = tempfile::tempdir().unwrap();
        let orders = dir.path().join("orders.jsonl");
        generate_with(
            dir.path(),
            "5",
            &["--orders-per-day", "10000", "--orders-out", orders.to_str().unwrap()],
        );
        let scheduler_port = free_port();
        let scheduler = format!("127.0.0.1:{scheduler_port}");
        let url = format!("df://{scheduler}");
        let _scheduler = start(&["scheduler", "--bind", &scheduler, "--executor-timeout", "4s"]);
        let executor = |_| {
            let bind = format!("127.0.0.1:{}", free_port());
            let grpc = free_port().to_string();
            let args = ["executor", "--bind", &bind, "--grpc-port", &grpc, "--scheduler", &url];
            start(&[&args[..], &["--vcores", "1", "--heartbeat-interval", "1s"]].concat())
        };
        let mut executors: Vec<Role> = (0..2).map(executor).collect();
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;

        let settings = Arc::new(ClusterSettings::default());
        let local = pulse_context();
        let clustered = SessionContext::new_with_state(client_state(pulse_context().state(), &url, &settings).unwrap());
        for ctx in [&local, &clustered] {
            let orders = JsonLinesTable::try_new(dir.path().join("orders.jsonl"), MalformedPolicy::DeadLetter).unwrap();
            ctx.register_table("orders", Arc::new(orders)).unwrap();
            register_customers(ctx, &dir.path().join("customers"));
            load_views(ctx).await.unwrap();
            ctx.sql(&format!("SET pulse.as_of = '{AS_OF}'")).await.unwrap();
        }
        let sql = "SELECT * FROM industry_change ORDER BY industry";
        let expected = rows(&local, sql).await;
        let answer = tokio::spawn(async move {
            let df = clustered.sql(sql).await?;
            df.collect().await
        });
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(
            !answer.is_finished(),
            "the query ended before an executor could be killed"
        );
        drop(executors.remove(0));
        let ended = tokio::time::timeout(std::time::Duration::from_secs(180), answer)
            .await
            .expect("the query neither finished nor failed within 3 minutes of the kill")
            .unwrap();
        match ended {
            Ok(batches) => {
                let ctx = SessionContext::new();
                ctx.register_batch(
                    "answer",
                    datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap(),
                )
                .unwrap();
                assert_eq!(
                    rows(&ctx, "SELECT * FROM answer").await,
                    expected,
                    "a finished query gives the whole answer"
                );
                eprintln!("the query finished after an executor was killed, with the whole answer");
            }
            Err(e) => {
                let shown = e.to_string();
                assert!(!shown.trim().is_empty());
                eprintln!("the query failed after an executor was killed: {shown}");
            }
        }
    });
}
