//! The live answer: the decoded-log cache and `--watch`.
//!
//! The property: a query through the cache, tick after tick while orders
//! arrive, gives what a fresh, uncached query gives at the same `T` and
//! the same offsets (its cut, replayed through `pulse.offsets`), whatever
//! arrives between ticks: late orders, duplicates of cached orders,
//! malformed messages, partitions that get nothing, and a partition added
//! while watching; and where the only message that contradicts a time cut
//! is one the cache holds. The same holds for a session that keeps the
//! views' state between queries (`pulse::engine::live`) while `T` moves
//! forward by seconds to days and back, and a new customer batch lands.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable, CustomersView};
use pulse::engine::kafka::{CutLog, DecodedLogCache, KafkaTable, KafkaTableConfig};
use pulse::engine::live::LiveViews;
use pulse::engine::messages::MalformedPolicy;
use pulse::engine::session::pulse_context;
use pulse::engine::views::{load_views, load_views_maintained};

use crate::cli::{command, text};
use crate::support::{Broker, Msg, brokers, order, produce, rows, write_customer_batch};

const DAY: i64 = 86_400_000;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A session over `topic` (read through `cache` if given) and the
/// customers at `customers`, with the views and `T` pinned; with
/// `maintain`, `customer_window_sums_v1` is kept between queries
/// (`pulse::engine::live`), and `customer_industries_v1` while the
/// batches are the same.
async fn session(
    bootstrap: &str,
    topic: &str,
    customers: &str,
    cache: Option<Arc<DecodedLogCache>>,
    t: &str,
    maintain: bool,
) -> SessionContext {
    let ctx = pulse_context();
    let cfg = KafkaTableConfig::new(bootstrap, topic).with_malformed_policy(MalformedPolicy::DeadLetter);
    let mut table = KafkaTable::try_new(cfg).await.unwrap();
    if let Some(cache) = cache {
        table = table.with_cache(cache);
    }
    let table = Arc::new(table);
    ctx.register_table("orders", Arc::clone(&table) as Arc<dyn TableProvider>)
        .unwrap();
    let mut latest = None;
    for (name, view) in [
        ("customers", CustomersView::Latest),
        ("customers_history", CustomersView::History),
    ] {
        let config = CustomerBatchesConfig::new(customers).with_view(view);
        let customers = Arc::new(CustomersTable::try_new(config, &ctx.runtime_env()).unwrap());
        ctx.register_table(name, Arc::clone(&customers) as Arc<dyn TableProvider>)
            .unwrap();
        latest.get_or_insert(customers);
    }
    match maintain {
        true => {
            let live = LiveViews::new(table, latest).unwrap();
            ctx.register_table("pulse_live", live.status()).unwrap();
            load_views_maintained(&ctx, &live.maintainers()).await.unwrap()
        }
        false => load_views(&ctx).await.unwrap(),
    }
    set_as_of(&ctx, t).await;
    ctx
}

async fn set_as_of(ctx: &SessionContext, t: &str) {
    ctx.sql(&format!("SET pulse.as_of = '{t}'")).await.unwrap();
}

/// Runs `sql` with a fresh cut log; returns its rows and the cut it read.
async fn rows_and_cut(ctx: &SessionContext, sql: &str) -> (Vec<String>, String) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(CutLog::default()));
    let rows = rows(ctx, sql).await;
    let cut = ctx.state().config().get_extension::<CutLog>().unwrap().spec();
    (rows, cut)
}

/// Adds partitions to `topic` until it has `count`; false where the broker
/// cannot (the mock has no admin API).
async fn add_partitions(bootstrap: &str, topic: &str, count: usize) -> bool {
    use rdkafka::ClientConfig;
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    match admin
        .create_partitions([&NewPartitions::new(topic, count)], &opts)
        .await
    {
        Ok(results) => results.iter().all(|r| match r {
            Ok(_) => true,
            Err((_, e)) => {
                eprintln!("cannot add partitions to {topic}: {e}");
                false
            }
        }),
        Err(e) => {
            eprintln!("cannot add partitions to {topic}: {e}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_through_the_cache_equal_fresh_queries_at_the_same_cut_while_orders_arrive() {
    for broker in brokers() {
        let is_mock = matches!(broker, Broker::Mock(_));
        let bootstrap = broker.bootstrap();
        let topic = broker.topic("live", 3).await;
        let dir = tempfile::tempdir().unwrap();
        let customers = dir.path().join("customers");
        std::fs::create_dir_all(&customers).unwrap();
        let ids: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        write_customer_batch(&customers, dir.path(), "20261101T000000Z", &ids);
        let customers = customers.display().to_string();
        let now = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
        let t_ms = now + DAY / 4; // every order below is before T
        let t = chrono::DateTime::from_timestamp_millis(t_ms).unwrap().to_rfc3339();
        let mut rng = Rng(0x5eed_0000 + u64::from(is_mock));
        let mut partitions = 3;
        let mut seq = 0;
        let amount = |rng: &mut Rng| 1.0 + rng.below(100_000) as f64 / 100.0;

        // the history: 45 days of orders, in time order in each partition;
        // a few from a producer whose clock was weeks behind (message time
        // old, event time in the last days), below any time cut, found
        // only when the messages a cut reads contradict it
        let mut msgs = Vec::new();
        for p in 0..partitions {
            let mut ts = t_ms - 45 * DAY;
            while ts < now - DAY / 2 {
                ts += 1 + rng.below(DAY as u64 / 40) as i64;
                let id = format!("o{seq}");
                seq += 1;
                let c = format!("c{}", rng.below(30));
                let event = if rng.below(50) == 0 {
                    t_ms - 1 - rng.below(2 * DAY as u64) as i64
                } else {
                    ts
                };
                msgs.push(Msg::new(p, ts, order(&id, &c, amount(&mut rng), event)).key(&c));
            }
        }
        produce(&bootstrap, &topic, &msgs);
        let mut clock = now - DAY / 2; // message time of what arrives next
        let mut sent: Vec<String> = msgs.iter().filter_map(|m| m.payload.clone()).collect();

        let cache = Arc::new(DecodedLogCache::new(256 << 20));
        let live = session(&bootstrap, &topic, &customers, Some(Arc::clone(&cache)), &t, false).await;
        // a cache too small for the topic: it evicts on every read
        let small = Arc::new(DecodedLogCache::new(128 << 10));
        let tight = session(&bootstrap, &topic, &customers, Some(Arc::clone(&small)), &t, false).await;
        // the customers' window sums kept between queries, while T moves
        let kept = session(
            &bootstrap,
            &topic,
            &customers,
            Some(Arc::new(DecodedLogCache::new(256 << 20))),
            &t,
            true,
        )
        .await;
        let queries = [
            "SELECT * FROM industry_change ORDER BY industry".to_string(),
            "SELECT * FROM customer_window_sums ORDER BY customer_id".to_string(),
            format!(
                "SELECT count(*), sum(amount), max(_offset) FROM orders \
                 WHERE timestamp >= TIMESTAMP '{t}' - INTERVAL '2 days'"
            ),
            "SELECT _partition, _offset, order_id, amount, _error FROM orders ORDER BY _partition, _offset".into(),
        ];
        let mut added = false;
        for round in 0..6 {
            if round > 0 {
                // what arrives between ticks
                let mut msgs = Vec::new();
                let quiet = rng.below(u64::from(partitions as u32)) as i32; // gets nothing
                for _ in 0..(50 + rng.below(200)) {
                    let p = (rng.below(u64::from(partitions as u32)) as i32 + 1 + quiet) % partitions;
                    if p == quiet {
                        continue;
                    }
                    clock += 1 + rng.below(60_000) as i64;
                    let c = format!("c{}", rng.below(30));
                    // late orders arrive in odd rounds only: in even rounds
                    // the contradiction is in the rows cached before
                    let kind = match rng.below(10) {
                        0 | 1 if round % 2 == 0 => 9,
                        k => k,
                    };
                    let payload = match kind {
                        // late: event time up to 20 days before its message time
                        0 | 1 => order(
                            &format!("o{seq}"),
                            &c,
                            amount(&mut rng),
                            clock - rng.below(20 * DAY as u64) as i64,
                        ),
                        // a duplicate of an order sent (and cached) before, other amount
                        2 => {
                            let earlier = &sent[rng.below(sent.len() as u64) as usize];
                            earlier.replacen("\"amount\":", "\"amount\":1", 1)
                        }
                        3 => "{\"order_id\": \"broken\", ".to_string(),
                        _ => order(&format!("o{seq}"), &c, amount(&mut rng), clock),
                    };
                    seq += 1;
                    sent.push(payload.clone());
                    msgs.push(Msg::new(p, clock, payload).key(&c));
                }
                produce(&bootstrap, &topic, &msgs);
            }
            if round == 2 {
                // a new customer batch: every customer's industry changes
                // (the maintained customer_industries is computed again)
                let rotated: Vec<String> = ids.iter().cycle().skip(1).take(ids.len()).cloned().collect();
                write_customer_batch(&dir.path().join("customers"), dir.path(), "20261103T000000Z", &rotated);
            }
            if round == 3 && !is_mock {
                added = add_partitions(&bootstrap, &topic, 4).await;
                if added {
                    partitions = 4;
                    clock += 1000;
                    let msg = Msg::new(3, clock, order(&format!("o{seq}"), "c1", 42.0, clock - DAY));
                    seq += 1;
                    produce(&bootstrap, &topic, &[msg]);
                }
            }
            let fresh = session(&bootstrap, &topic, &customers, None, &t, false).await;
            // T for the maintained sums: forward by minutes, hours and days
            // (orders cross into the baseline and out of the window, orders
            // from the future come in), and back (the state is built again)
            let moved_ms = t_ms + [0, 90_000, 3 * 3_600_000, 2 * DAY + 17, -DAY, 31 * DAY][round];
            let moved = chrono::DateTime::from_timestamp_millis(moved_ms).unwrap().to_rfc3339();
            set_as_of(&kept, &moved).await;
            let fresh_moved = session(&bootstrap, &topic, &customers, None, &moved, false).await;
            for sql in &queries {
                for (name, cached, fresh) in [
                    ("cached", &live, &fresh),
                    ("evicting", &tight, &fresh),
                    ("maintained", &kept, &fresh_moved),
                ] {
                    let (got, cut) = rows_and_cut(cached, sql).await;
                    fresh.sql(&format!("SET pulse.offsets = '{cut}'")).await.unwrap();
                    let (want, fresh_cut) = rows_and_cut(fresh, sql).await;
                    assert_eq!(fresh_cut, cut, "the fresh query read the tick's cut");
                    assert_eq!(
                        got,
                        want,
                        "{} broker, round {round}: the {name} tick differs from a fresh query at {cut}\n{sql}",
                        broker.name()
                    );
                    if name == "maintained" && sql == &queries[0] {
                        // the state is built on the first query and when T
                        // went back; otherwise moved
                        // (in the last round, T is a month on: the window may be empty)
                        let status = rows(
                            &kept,
                            &format!(
                                "SELECT rebuilt, orders > 0 OR {}, copies >= orders FROM pulse_live",
                                round == 5
                            ),
                        )
                        .await;
                        let rebuilt = round == 0 || round == 4;
                        assert_eq!(status, [format!("{rebuilt}, true, true")], "round {round}");
                        // statements at once (clients of one server) wait for
                        // each other and give the same rows
                        let (a, b) = tokio::join!(rows(&kept, sql), rows(&kept, sql));
                        assert!(a == got && b == got, "round {round}: concurrent statements differ");
                    }
                }
                assert!(small.bytes() <= small.budget());
            }
            // again with nothing new: all from memory
            let (served, filled) = cache.counts();
            let (again, _) = rows_and_cut(&live, &queries[2]).await;
            let (served_after, filled_after) = cache.counts();
            assert_eq!(filled_after, filled, "round {round}: nothing new, nothing decoded");
            assert!(
                served_after - served >= again.len() as u64,
                "round {round}: every row from memory"
            );
        }
        assert!(
            small.counts().1 > cache.counts().1,
            "the small cache evicted and decoded again: {:?} vs {:?}",
            small.counts(),
            cache.counts()
        );
        if !is_mock && !added {
            eprintln!(
                "*** SKIPPED adding a partition while watching on the {} broker: it cannot add partitions ***",
                broker.name()
            );
        }
    }
}

/// `pulse sql --watch` and `pulse answer --watch` on a topic: one frame a
/// tick, each with its header, the second tick reading nothing new, and the
/// answer's frame equal to `pulse answer` at the same `T`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_redraws_each_tick_and_reads_only_what_is_new() {
    let broker = brokers().pop().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = broker.topic("watch", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let customers = dir.path().join("customers");
    std::fs::create_dir_all(&customers).unwrap();
    let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    write_customer_batch(&customers, dir.path(), "20261101T000000Z", &ids);
    let as_of = "2026-11-20T00:00:00Z";
    let t_ms = chrono::DateTime::parse_from_rfc3339(as_of).unwrap().timestamp_millis();
    let msgs: Vec<Msg> = (0..600)
        .map(|i| {
            let ts = t_ms - 30 * DAY + i * (30 * DAY / 600);
            let c = format!("c{}", i % 10);
            Msg::new((i % 2) as i32, ts, order(&format!("o{i}"), &c, 10.0 + i as f64, ts)).key(&c)
        })
        .collect();
    produce(&bootstrap, &topic, &msgs);
    let customers = customers.display().to_string();
    let sources = ["--brokers", &bootstrap, "--topic", &topic, "--customers", &customers];

    let out = command()
        .args([
            "sql", "--watch", "100ms", "--ticks", "3", "--as-of", as_of, "--format", "csv", "-c",
        ])
        .arg("SELECT count(*) AS n FROM orders")
        .args(sources)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let headers: Vec<&str> = stdout.lines().filter(|l| l.starts_with("tick ")).collect();
    assert_eq!(headers.len(), 3, "{stdout}");
    assert!(headers[0].contains("read 600 new messages, 0 from memory"), "{stdout}");
    assert!(headers[1].contains("read 0 new messages, 600 from memory"), "{stdout}");
    assert!(headers[2].contains(&format!("T {as_of}")), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| *l == "600").count(), 3, "{stdout}");

    let answer = |extra: &[&str]| {
        let out = command()
            .args(["answer", "--all", "--format", "csv", "--as-of", as_of])
            .args(extra)
            .args(sources)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let once = answer(&[]);
    let watched = answer(&["--watch", "50ms", "--ticks", "2"]);
    let frames: Vec<&str> = watched.split("\ntick ").collect();
    assert_eq!(frames.len(), 2, "{watched}");
    for frame in frames {
        let body: String = frame.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(body, once, "a tick's answer is the answer");
    }
    let refused = command().args(["sql", "--watch", "1s"]).args(sources).output().unwrap();
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("give -c"), "{}", text(&refused.stderr));
}
