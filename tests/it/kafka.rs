//! The Kafka table end to end: SQL over a real topic on the mock broker and,
//! under `scripts/test`, on noida-db.

use std::time::{Duration, Instant};

use datafusion::physical_plan::{collect, displayable};
use pulse::engine::kafka::{KafkaScanExec, KafkaTable, KafkaTableConfig};

use crate::support::{
    Broker, Msg, brokers, delete_records, error, order, orders_table, physical_plan, produce, rows, table,
};

const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// 3 partitions × 10 orders, one every 8 hours over 72 hours ending 3h ago
/// (so that the last 24 hours hold orders 7, 8 and 9 of each partition).
/// Order `i` of partition `p` has amount `1 + 100p + i` and key `c{i % 3}`.
async fn three_partitions(broker: &Broker) -> (String, i64) {
    let topic = broker.topic("orders", 3).await;
    let base = now_ms() - 75 * HOUR + HOUR / 2;
    let mut msgs = Vec::new();
    for p in 0..3 {
        for i in 0..10 {
            let ts = base + i * 8 * HOUR;
            let amount = (1 + 100 * p + i) as f64;
            msgs.push(
                Msg::new(
                    p as i32,
                    ts,
                    order(&format!("o{p}-{i}"), &format!("c{}", i % 3), amount, ts),
                )
                .key(&format!("c{}", i % 3)),
            );
        }
    }
    produce(&broker.bootstrap(), &topic, &msgs);
    (topic, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_partition_topic_reads_every_message_and_metadata_column() {
    for broker in brokers() {
        let (topic, base) = three_partitions(&broker).await;
        let ctx = orders_table(&broker.bootstrap(), &topic, "").await;
        let got = rows(
            &ctx,
            "SELECT count(*), sum(amount), count(DISTINCT _partition) FROM orders",
        )
        .await;
        // Σ over p, i of (1 + 100p + i) = 30 + 100·(0+1+2)·10 + 45·3 = 3165
        assert_eq!(got, ["30, 3165.000000000000000000, 3"], "{}", broker.name());

        let got = rows(
            &ctx,
            // `timestamp` is event time in nanoseconds, `_timestamp` log time in milliseconds
            "SELECT _partition, _offset, _key, order_id, CAST(_timestamp AS BIGINT) - CAST(timestamp AS BIGINT) / 1000000 AS skew, \
             CAST(_timestamp AS BIGINT) AS ts FROM orders WHERE _partition = 2 ORDER BY _offset",
        )
        .await;
        let expected: Vec<String> = (0..10)
            .map(|i| format!("2, {i}, c{}, o2-{i}, 0, {}", i % 3, base + i * 8 * HOUR))
            .collect();
        assert_eq!(got, expected, "{}", broker.name());
        // _timestamp is UTC
        let schema = ctx.table("orders").await.unwrap().schema().as_arrow().clone();
        assert_eq!(
            schema.field_with_name("_timestamp").unwrap().data_type().to_string(),
            "Timestamp(ms, \"UTC\")"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_day_query_reads_only_the_last_days_offsets() {
    for broker in brokers() {
        let (topic, _) = three_partitions(&broker).await;
        // no guard stretch past the cut, so the plan shows the seek alone
        let ctx = orders_table(&broker.bootstrap(), &topic, "'kafka.cut_guard' '0'").await;
        let sql = "SELECT count(*) AS n, sum(amount) AS total FROM orders WHERE _timestamp >= now() - INTERVAL '1 day'";
        // orders 7..9 of each partition: 9 + 100·3·3 + 3·(7+8+9) = 981
        assert_eq!(
            rows(&ctx, sql).await,
            ["9, 981.000000000000000000"],
            "{}",
            broker.name()
        );
        let plan = physical_plan(&ctx, sql).await;
        assert!(
            plan.contains("ranges=[0:[7..10), 1:[7..10), 2:[7..10)]"),
            "{}: {plan}",
            broker.name()
        );
        match broker {
            // the mock answers -1 to every lookup: the answer is rejected and the log searched
            Broker::Mock(_) => assert!(plan.contains("broker_rejected=3, searched=3"), "{plan}"),
            // a broker with a time index answers right: the three answers,
            // checked together in one fetch, hold
            Broker::External(_) => assert!(
                plan.contains("broker=3, broker_rejected=0, searched=0"),
                "{}: {plan}",
                broker.name()
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown_gives_the_same_rows_as_a_full_scan() {
    for broker in brokers() {
        let (topic, base) = three_partitions(&broker).await;
        // both bounds cut and no guard stretch, so the plans show the seeks
        let pushed = orders_table(
            &broker.bootstrap(),
            &topic,
            "'kafka.cut_guard' '0', 'kafka.cut_upper' 'true'",
        )
        .await;
        let full = orders_table(&broker.bootstrap(), &topic, "'kafka.pushdown' 'false'").await;
        let t = |h: i64| format!("to_timestamp_millis({})", base + h * HOUR);
        let queries = [
            (
                "_partition = 1 AND _offset >= 3 AND _offset < 6",
                "ranges=[1:[3..6)]".to_string(),
            ),
            (
                "_partition IN (0, 2) AND _offset > 7",
                "ranges=[0:[8..10), 2:[8..10)]".to_string(),
            ),
            // an upper bound is widened by the lateness margin (1h), for disorder
            (
                &*format!("_timestamp >= {} AND _timestamp < {}", t(16), t(40)),
                "ranges=[0:[2..6), 1:[2..6), 2:[2..6)]".into(),
            ),
            (
                &*format!("_timestamp > {}", t(20)),
                "ranges=[0:[3..10), 1:[3..10), 2:[3..10)]".into(),
            ),
            (
                &*format!("_timestamp BETWEEN {} AND {}", t(16), t(16)),
                "ranges=[0:[2..3), 1:[2..3), 2:[2..3)]".into(),
            ),
            // event time, widened by the default one-hour lateness to 15h..41h, and the upper bound once more for disorder
            (
                &*format!("timestamp >= {} AND timestamp < {}", t(16), t(40)),
                "ranges=[0:[2..6), 1:[2..6), 2:[2..6)]".into(),
            ),
            (
                &*format!("timestamp >= {} AND timestamp < {}", t(16), t(38)),
                "ranges=[0:[2..5), 1:[2..5), 2:[2..5)]".into(),
            ),
            ("_offset > 100", "ranges=[]".into()),
        ];
        for (filter, ranges) in queries {
            let sql = format!("SELECT _partition, _offset, order_id, amount FROM orders WHERE {filter} ORDER BY 1, 2");
            let plan = physical_plan(&pushed, &sql).await;
            assert!(
                plan.contains(&ranges),
                "{} {filter}: expected {ranges} in\n{plan}",
                broker.name()
            );
            assert_eq!(
                table(&pushed, &sql).await,
                table(&full, &sql).await,
                "{} {filter}",
                broker.name()
            );
            let full_plan = physical_plan(&full, &sql).await;
            assert!(full_plan.contains("messages=30"), "{full_plan}");
        }
        // a broker with a time index answers both edges of every partition
        // right, and each answer is judged on its own edge
        if let Broker::External(_) = broker {
            let sql = format!(
                "SELECT count(*) FROM orders WHERE _timestamp >= {} AND _timestamp < {}",
                t(16),
                t(40)
            );
            let plan = physical_plan(&pushed, &sql).await;
            assert!(
                plan.contains("broker=6, broker_rejected=0, searched=0"),
                "{}: {plan}",
                broker.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_pushdown_respects_the_lateness_margin() {
    for broker in brokers() {
        let topic = broker.topic("late", 1).await;
        let base = now_ms() - 100 * HOUR;
        // Message timestamps every hour; the event time of message 5 is 3h
        // before its message timestamp (a late arrival).
        let msgs: Vec<Msg> = (0..10)
            .map(|i| {
                let ts = base + i * HOUR;
                let event = if i == 5 { ts - 3 * HOUR } else { ts };
                Msg::new(0, ts, order(&format!("o{i}"), "c", 1.0, event))
            })
            .collect();
        produce(&broker.bootstrap(), &topic, &msgs);
        let sql = format!(
            "SELECT order_id FROM orders WHERE timestamp < to_timestamp_millis({}) ORDER BY 1",
            base + 2 * HOUR + 1
        );
        // By default an upper bound does not cut: message 5 is read, and found.
        let default = orders_table(&broker.bootstrap(), &topic, "'kafka.lateness' '1h'").await;
        assert!(physical_plan(&default, &sql).await.contains("ranges=[0:[0..10)]"));
        assert_eq!(
            rows(&default, &sql).await,
            ["o0", "o1", "o2", "o5"],
            "{}",
            broker.name()
        );
        // Cutting the end with a margin of 1h and no guard ends the range before
        // message 5, and nothing read shows it: the limit of 'kafka.cut_upper'.
        let tight = "'kafka.lateness' '1h', 'kafka.cut_upper' 'true', 'kafka.cut_guard' '0'";
        let tight = orders_table(&broker.bootstrap(), &topic, tight).await;
        assert!(
            physical_plan(&tight, &sql).await.contains("ranges=[0:[0..5)]"),
            "{}",
            broker.name()
        );
        assert_eq!(rows(&tight, &sql).await, ["o0", "o1", "o2"], "{}", broker.name());
        // With a guard stretch past the cut, the scan sees message 5's event
        // time 3h from its message time, reads the rest of the partition, and
        // says so.
        let guarded = "'kafka.lateness' '1h', 'kafka.cut_upper' 'true', 'kafka.cut_guard' '1'";
        let guarded = orders_table(&broker.bootstrap(), &topic, guarded).await;
        assert_eq!(
            rows(&guarded, &sql).await,
            ["o0", "o1", "o2", "o5"],
            "{}",
            broker.name()
        );
        let analyzed = table(&guarded, &format!("EXPLAIN ANALYZE {sql}")).await;
        assert!(analyzed.contains("cuts_contradicted=1"), "{analyzed}");
        // a margin of 4h covers the lateness: the cut keeps message 5
        let wide = "'kafka.lateness' '4h', 'kafka.cut_upper' 'true', 'kafka.cut_guard' '0'";
        let wide = orders_table(&broker.bootstrap(), &topic, wide).await;
        assert_eq!(rows(&wide, &sql).await, ["o0", "o1", "o2", "o5"], "{}", broker.name());
        // no event-time column: no event-time pushdown
        let off = orders_table(&broker.bootstrap(), &topic, "'kafka.event_time_column' 'none'").await;
        assert!(physical_plan(&off, &sql).await.contains("ranges=[0:[0..10)]"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reads_the_snapshot_fixed_at_planning_while_a_producer_writes() {
    for broker in brokers() {
        let (topic, _) = three_partitions(&broker).await;
        let ctx = orders_table(&broker.bootstrap(), &topic, "").await;
        let df = ctx.sql("SELECT count(*) AS n FROM orders").await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        // a producer keeps writing after planning and during execution
        let bootstrap = broker.bootstrap();
        let t = topic.clone();
        let writer = std::thread::spawn(move || {
            for round in 0..5 {
                let msgs: Vec<Msg> = (0..3)
                    .map(|p| Msg::new(p, now_ms(), order(&format!("late{round}-{p}"), "c", 1.0, now_ms())))
                    .collect();
                produce(&bootstrap, &t, &msgs);
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 30 |"), "{}: {text}", broker.name());
        writer.join().unwrap();
        // the same plan executed again reads the same snapshot
        let again = collect(plan, ctx.task_ctx()).await.unwrap();
        assert_eq!(
            datafusion::arrow::util::pretty::pretty_format_batches(&again)
                .unwrap()
                .to_string(),
            text
        );
        // a new query sees the new messages
        assert!(table(&ctx, "SELECT count(*) AS n FROM orders").await.contains("| 45 |"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_partition_is_split_into_ranges_and_limit_is_pushed() {
    for broker in brokers() {
        let topic = broker.topic("split", 1).await;
        let msgs: Vec<Msg> = (0..100)
            .map(|i| Msg::new(0, 1_000 + i, order(&format!("o{i}"), "c", i as f64, 1_000 + i)))
            .collect();
        produce(&broker.bootstrap(), &topic, &msgs);
        let ctx = orders_table(&broker.bootstrap(), &topic, "'kafka.max_messages_per_split' '30'").await;
        let plan = physical_plan(&ctx, "SELECT sum(amount) FROM orders").await;
        assert!(
            plan.contains("ranges=[0:[0..30), 0:[30..60), 0:[60..90), 0:[90..100)]"),
            "{plan}"
        );
        assert!(
            table(&ctx, "SELECT sum(amount) AS s FROM orders")
                .await
                .contains("| 4950.000000000000000000 |")
        );
        let plan = physical_plan(&ctx, "SELECT order_id FROM orders LIMIT 5").await;
        assert!(plan.contains("limit=5"), "{plan}");
        let df = ctx.sql("SELECT order_id FROM orders LIMIT 5").await.unwrap();
        assert_eq!(
            df.collect().await.unwrap().iter().map(|b| b.num_rows()).sum::<usize>(),
            5
        );
    }
}

async fn topic_with_bad_messages(broker: &Broker) -> String {
    let topic = broker.topic("bad", 2).await;
    let msgs = vec![
        Msg::new(0, 1_000, order("ok1", "c", 1.0, 1_000)),
        Msg::new(0, 1_001, "{not json"),
        Msg::new(0, 1_002, order("ok2", "c", 2.0, 1_002)),
        Msg::new(1, 1_003, r#"{"order_id":"x","customer_id":"c","timestamp":5}"#),
        Msg::new(1, 1_004, order("ok3", "c", 3.0, 1_004)),
    ];
    produce(&broker.bootstrap(), &topic, &msgs);
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_follow_the_tables_policy() {
    for broker in brokers() {
        let topic = topic_with_bad_messages(&broker).await;
        let b = broker.bootstrap();

        let fail = orders_table(&b, &topic, "").await;
        let err = error(&fail, "SELECT * FROM orders WHERE _partition = 0").await;
        assert!(err.contains(&format!("topic '{topic}' partition 0 offset 1")), "{err}");
        let err = error(&fail, "SELECT count(*) FROM orders WHERE _partition = 1").await;
        assert!(
            err.contains("offset 0") && err.contains("required field 'amount'"),
            "{err}"
        );

        let skip = orders_table(&b, &topic, "'kafka.malformed' 'skip'").await;
        assert!(
            table(&skip, "SELECT sum(amount) AS s, count(*) AS n FROM orders")
                .await
                .contains("| 6.000000000000000000 | 3 |")
        );
        let analyzed = table(&skip, "EXPLAIN ANALYZE SELECT count(*) FROM orders").await;
        assert!(analyzed.contains("malformed_skipped=2"), "{analyzed}");
        assert!(analyzed.contains("messages_read=5"), "{analyzed}");

        let dead = orders_table(&b, &topic, "'kafka.malformed' 'dead_letter'").await;
        let got = rows(
            &dead,
            "SELECT _partition, _offset, order_id, _error FROM orders WHERE _error IS NOT NULL ORDER BY 1",
        )
        .await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("0, 1, , not valid JSON at byte 1"), "{got:?}");
        assert_eq!(got[1], "1, 0, , required field 'amount' is missing or null");
        assert!(table(&dead, "SELECT count(*) AS n FROM orders").await.contains("| 5 |"));
        let analyzed = table(&dead, "EXPLAIN ANALYZE SELECT count(*) FROM orders").await;
        assert!(analyzed.contains("malformed_dead_lettered=2"), "{analyzed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_topic_is_an_empty_table() {
    for broker in brokers() {
        let topic = broker.topic("empty", 2).await;
        let ctx = orders_table(&broker.bootstrap(), &topic, "").await;
        assert!(table(&ctx, "SELECT count(*) AS n FROM orders").await.contains("| 0 |"));
        assert!(table(&ctx, "SELECT * FROM orders").await.lines().count() <= 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_name_what_is_wrong() {
    let broker = &brokers()[0];
    let ctx = pulse::engine::session::pulse_context();
    let b = broker.bootstrap();

    // a missing topic, at CREATE time
    let err = error(
        &ctx,
        &format!("CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://{b}/no-such-topic'"),
    )
    .await;
    assert!(
        err.contains("'no-such-topic'") && err.contains("does not exist"),
        "{err}"
    );

    // an unreachable broker, within the timeout
    let started = Instant::now();
    let err = error(
        &ctx,
        "CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://127.0.0.1:1/orders' OPTIONS ('kafka.timeout' '2s')",
    )
    .await;
    assert!(
        err.contains("127.0.0.1:1") && err.contains("could not reach any broker"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    // options and locations
    let topic = broker.topic("errs", 1).await;
    let err = error(
        &ctx,
        &format!("CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://{b}/{topic}' OPTIONS ('kafka.lag' '1')"),
    )
    .await;
    assert!(
        err.contains("unknown table option 'kafka.lag'") && err.contains("kafka.lateness"),
        "{err}"
    );
    let err = error(&ctx, &format!("CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://{b}/{topic}' OPTIONS ('kafka.malformed' 'ignore')")).await;
    assert!(
        err.contains("'kafka.malformed'") && err.contains("fail, skip or dead_letter"),
        "{err}"
    );
    let err = error(
        &ctx,
        "CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 's3://bucket/orders'",
    )
    .await;
    assert!(err.contains("invalid location 's3://bucket/orders'"), "{err}");
    let err = error(
        &ctx,
        &format!("CREATE EXTERNAL TABLE t (a INT, _offset BIGINT) STORED AS KAFKA LOCATION 'kafka://{b}/{topic}'"),
    )
    .await;
    assert!(err.contains("'_offset' is a metadata column"), "{err}");
    let err = error(&ctx, &format!("CREATE EXTERNAL TABLE t (a INT) STORED AS KAFKA LOCATION 'kafka://{b}/{topic}' OPTIONS ('kafka.event_time_column' 'a')")).await;
    assert!(
        err.contains("'kafka.event_time_column'") && err.contains("not a timestamp"),
        "{err}"
    );
    let err = error(
        &ctx,
        &format!("CREATE EXTERNAL TABLE t (a INT) STORED AS KAFKA PARTITIONED BY (a) LOCATION 'kafka://{b}/{topic}'"),
    )
    .await;
    assert!(err.contains("PARTITIONED BY is not supported"), "{err}");
    // a bad librdkafka property is refused by librdkafka, named
    let err = error(&ctx, &format!("CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://{b}/{topic}' OPTIONS ('kafka.client.no.such.property' 'x')")).await;
    assert!(err.contains("no.such.property"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_schema_is_used_as_given() {
    for broker in brokers() {
        let topic = broker.topic("declared", 1).await;
        produce(
            &broker.bootstrap(),
            &topic,
            &[
                Msg::new(0, 5, r#"{"id": 1, "at": "2026-11-20T10:00:00+01:00", "note": "x"}"#),
                Msg::new(0, 6, r#"{"id": 2, "at": 1795165200000}"#),
            ],
        );
        let ctx = pulse::engine::session::pulse_context();
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE ev (id BIGINT NOT NULL, at TIMESTAMP, note VARCHAR) STORED AS KAFKA \
             LOCATION 'kafka://{}/{topic}' OPTIONS ('kafka.event_time_column' 'at')",
            broker.bootstrap()
        ))
        .await
        .unwrap();
        let got = rows(&ctx, "SELECT id, at, note, _offset FROM ev ORDER BY id").await;
        assert_eq!(got, ["1, 2026-11-20T09:00:00, x, 0", "2, 2026-11-20T09:00:00, , 1"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_api_builds_the_same_table() {
    let broker = &brokers()[0];
    let (topic, _) = three_partitions(broker).await;
    let table = KafkaTable::try_new(
        KafkaTableConfig::new(broker.bootstrap(), &topic)
            .with_lateness(Duration::from_secs(60))
            .with_max_messages_per_split(4),
    )
    .await
    .unwrap();
    let ctx = pulse::engine::session::pulse_context();
    ctx.register_table("orders", std::sync::Arc::new(table)).unwrap();
    let plan = ctx
        .sql("SELECT * FROM orders")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let shown = displayable(plan.as_ref()).indent(true).to_string();
    assert!(shown.contains("0:[0..4), 0:[4..8), 0:[8..10)"), "{shown}");
    let scan = plan.as_ref() as &dyn std::any::Any;
    if let Some(scan) = scan.downcast_ref::<KafkaScanExec>() {
        assert_eq!(scan.ranges().len(), 9);
    }
    assert_eq!(
        collect(plan, ctx.task_ctx())
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_deleted_by_retention_mid_query_are_an_error_or_a_named_warning() {
    let mut ran = false;
    for broker in brokers() {
        let topic = broker.topic("retention", 1).await;
        let msgs: Vec<Msg> = (0..10)
            .map(|i| Msg::new(0, 1_000 + i, order(&format!("o{i}"), "c", 1.0, 1_000 + i)))
            .collect();
        produce(&broker.bootstrap(), &topic, &msgs);
        let fail = orders_table(&broker.bootstrap(), &topic, "").await;
        let warn = orders_table(&broker.bootstrap(), &topic, "'kafka.on_data_loss' 'warn'").await;
        let fail_plan = fail
            .sql("SELECT count(*) FROM orders")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let warn_plan = warn
            .sql("SELECT count(*) FROM orders")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        assert!(
            displayable(fail_plan.as_ref())
                .indent(true)
                .to_string()
                .contains("ranges=[0:[0..10)]")
        );
        // retention deletes offsets 0..4 after planning, before reading
        if !delete_records(&broker.bootstrap(), &topic, 0, 4).await {
            eprintln!(
                "*** SKIPPED the {} broker in the retention test: it cannot delete records ***",
                broker.name()
            );
            continue;
        }
        ran = true;
        let err = collect(fail_plan, fail.task_ctx()).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "'{topic}' partition 0: offsets 0..4 were deleted by retention"
            )),
            "{err}"
        );
        let plan = warn_plan.clone();
        let batches = collect(warn_plan, warn.task_ctx()).await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 6 "), "{text}");
        let lost = scan_metric(plan.as_ref(), "offsets_lost");
        assert_eq!(lost, Some(4));
    }
    if !ran {
        eprintln!("*** the retention test ran on no broker: run scripts/test for noida-db ***");
    }
}

/// The sum of a `KafkaScanExec` metric in an executed plan.
fn scan_metric(plan: &dyn datafusion::physical_plan::ExecutionPlan, name: &str) -> Option<usize> {
    if plan.name() == "KafkaScanExec" {
        return plan.metrics().and_then(|m| m.sum_by_name(name)).map(|v| v.as_usize());
    }
    plan.children().iter().find_map(|c| scan_metric(c.as_ref(), name))
}

/// How the message times of a hostile topic are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// In time order, with a few seconds of jitter.
    Ordered,
    /// A backfill produced in random time order.
    Shuffled,
    /// In time order but for three messages stamped 30 days ahead or behind
    /// (event time and message time alike: a producer with a wrong clock).
    Outliers,
}

/// 2 partitions × 500 orders over the 40 days before `end_ms`, laid out as
/// `layout`, from `seed`.
async fn hostile_topic(broker: &Broker, layout: Layout, seed: u64, end_ms: i64) -> String {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let topic = broker.topic("hostile", 2).await;
    let span = 40 * 24 * HOUR;
    let mut msgs = Vec::new();
    for p in 0..2 {
        let mut times: Vec<i64> = (0..500)
            .map(|i| end_ms - span + i * span / 500 + rng.random_range(0..5_000))
            .collect();
        match layout {
            Layout::Ordered => {}
            Layout::Shuffled => times.shuffle(&mut rng),
            Layout::Outliers => {
                for _ in 0..3 {
                    let i = rng.random_range(0..times.len());
                    let days = if rng.random_bool(0.5) { 30 } else { -30 };
                    times[i] += days * 24 * HOUR;
                }
            }
        }
        for (i, ts) in times.into_iter().enumerate() {
            let amount = (1 + i % 97) as f64;
            msgs.push(Msg::new(p, ts, order(&format!("o{p}-{i}"), "c", amount, ts)));
        }
    }
    produce(&broker.bootstrap(), &topic, &msgs);
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown_never_changes_a_result_on_hostile_topics() {
    let end_ms = (now_ms() / HOUR) * HOUR;
    let at = |days: i64| format!("to_timestamp_millis({})", end_ms - days * 24 * HOUR);
    // the answer's window, a day of log time mid-topic, a day of event time
    // early in it, the last day
    let queries = [
        format!("\"timestamp\" >= {} AND \"timestamp\" < {}", at(31), at(0)),
        format!("_timestamp >= {} AND _timestamp < {}", at(20), at(19)),
        format!("\"timestamp\" >= {} AND \"timestamp\" < {}", at(35), at(34)),
        format!("\"timestamp\" >= {}", at(1)),
    ];
    for broker in brokers() {
        // librdkafka's mock has no time index: its cuts come from a search of
        // the log, which can step over a lone outlier in the part it skips
        // (the narrower promise of README's "Filters become seeks"); noida-db
        // answers offsets_for_times as Kafka does, first offset at or after
        // the time whatever the order, so outliers are tested there.
        let layouts: &[Layout] = match broker {
            Broker::Mock(_) => &[Layout::Ordered, Layout::Shuffled],
            Broker::External(_) => &[Layout::Ordered, Layout::Shuffled, Layout::Outliers],
        };
        for &layout in layouts {
            for seed in 0..3 {
                let topic = hostile_topic(&broker, layout, seed, end_ms).await;
                // a short guard, so that the cuts, not the guards, decide
                let pushed = orders_table(&broker.bootstrap(), &topic, "'kafka.cut_guard' '20'").await;
                // both edges cut, their seeks asked and checked together
                let both_edges = orders_table(
                    &broker.bootstrap(),
                    &topic,
                    "'kafka.cut_guard' '20', 'kafka.cut_upper' 'true'",
                )
                .await;
                let full = orders_table(&broker.bootstrap(), &topic, "'kafka.pushdown' 'false'").await;
                for filter in &queries {
                    let sql = format!(
                        "SELECT count(*) AS n, sum(amount) AS s, min(_offset) AS lo, max(_offset) AS hi FROM orders WHERE {filter}"
                    );
                    let want = rows(&full, &sql).await;
                    assert_eq!(
                        rows(&pushed, &sql).await,
                        want,
                        "{} {layout:?} seed {seed}: {filter}",
                        broker.name()
                    );
                    assert_eq!(
                        rows(&both_edges, &sql).await,
                        want,
                        "{} {layout:?} seed {seed}, both edges cut: {filter}",
                        broker.name()
                    );
                }
                if layout == Layout::Ordered {
                    // in time order, the last day is read with little more than the day itself
                    let plan = physical_plan(&pushed, &format!("SELECT * FROM orders WHERE {}", queries[3])).await;
                    let read: u64 = plan
                        .split("messages=")
                        .nth(1)
                        .and_then(|s| s.split(',').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap();
                    assert!(read <= 2 * (25 + 20 + 2), "{} read {read}: {plan}", broker.name());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_of_a_topic_in_one_statement_uses_one_cut_which_can_be_replayed() {
    for broker in brokers() {
        let (topic, _) = three_partitions(&broker).await;
        let ctx = orders_table(&broker.bootstrap(), &topic, "").await;
        // a producer writes while statements that read the topic twice are planned
        let (bootstrap, t) = (broker.bootstrap(), topic.clone());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let mut round = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let msgs: Vec<Msg> = (0..3)
                    .map(|p| Msg::new(p, now_ms(), order(&format!("w{round}-{p}"), "c", 1.0, now_ms())))
                    .collect();
                produce(&bootstrap, &t, &msgs);
                round += 1;
            }
        });
        let twice = "SELECT (SELECT count(*) FROM orders) - (SELECT count(*) FROM orders WHERE _offset >= 0) AS d";
        for _ in 0..15 {
            assert_eq!(rows(&ctx, twice).await, ["0"], "{}", broker.name());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        // the cut the last statement read, and the count it gave
        let counted = rows(&ctx, "SELECT count(*) FROM orders").await;
        let replay = rows(&ctx, "SELECT DISTINCT replay FROM pulse_cut()").await;
        assert_eq!(replay.len(), 1, "{replay:?}");
        assert!(replay[0].starts_with(&format!("{topic}=0:0-")), "{replay:?}");
        // more messages arrive; the pinned cut still reads the same rows
        let late: Vec<Msg> = (0..3)
            .map(|p| Msg::new(p, now_ms(), order("late", "c", 1.0, now_ms())))
            .collect();
        produce(&broker.bootstrap(), &topic, &late);
        ctx.sql(&format!("SET pulse.offsets = '{}'", replay[0])).await.unwrap();
        assert_eq!(
            rows(&ctx, "SELECT count(*) FROM orders").await,
            counted,
            "{}",
            broker.name()
        );
        assert_eq!(
            rows(&ctx, "SELECT DISTINCT pinned FROM pulse_cut()").await,
            ["true"],
            "{}",
            broker.name()
        );
        ctx.sql("SET pulse.offsets = ''").await.unwrap();
        let now: i64 = rows(&ctx, "SELECT count(*) FROM orders").await[0].parse().unwrap();
        assert_eq!(now, counted[0].parse::<i64>().unwrap() + 3, "{}", broker.name());
        // a cut the topic cannot serve is an error naming the partition
        ctx.sql(&format!("SET pulse.offsets = '{topic}=0:999999'"))
            .await
            .unwrap();
        let err = error(&ctx, "SELECT count(*) FROM orders").await;
        assert!(
            err.contains("partition 0") && err.contains("past the log's end"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_dies_mid_scan_ends_the_statement_with_an_error_not_a_partial_answer() {
    use futures::StreamExt;
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("orders", 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let now = now_ms();
    // Few enough messages that the mock keeps them all (it trims a
    // partition's log beyond a few MB), and fetches small enough that the
    // consumer cannot have prefetched the rest when the broker goes down.
    let total = 20_000;
    let msgs: Vec<Msg> = (0..total)
        .map(|i| Msg::new(0, now, order(&format!("o{i}"), "c", 1.0, now)))
        .collect();
    produce(&bootstrap, "orders", &msgs);
    let ctx = orders_table(
        &bootstrap,
        "orders",
        "'kafka.timeout' '2s', 'kafka.max_messages_per_split' '1000000', \
         'kafka.client.max.partition.fetch.bytes' '20000', \
         'kafka.client.queued.max.messages.kbytes' '64'",
    )
    .await;
    assert_eq!(
        rows(&ctx, "SELECT count(*) FROM orders").await,
        [total.to_string()],
        "the mock kept every message"
    );
    let mut stream = ctx
        .sql("SELECT order_id FROM orders")
        .await
        .unwrap()
        .execute_stream()
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    let mut rows = first.num_rows();
    cluster.broker_down(1).unwrap();
    let started = Instant::now();
    let outcome = loop {
        match stream.next().await {
            Some(Ok(batch)) => rows += batch.num_rows(),
            Some(Err(e)) => break Err(e.to_string()),
            None => break Ok(rows),
        }
    };
    let err = outcome.expect_err("a partial answer was returned as complete");
    assert!(rows < total, "read {rows}");
    assert!(
        err.contains("Kafka topic 'orders' partition 0") && err.contains("offset"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
