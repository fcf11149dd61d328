//! The `pulse` command end to end, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

const PULSE: &str = env!("CARGO_BIN_EXE_pulse");
pub(crate) const AS_OF: &str = "2026-11-20T00:00:00Z";

/// `pulse` with `args`, ignoring any PULSE_* source settings of the caller.
pub(crate) fn command() -> Command {
    let mut c = Command::new(PULSE);
    c.env_remove("PULSE_BROKERS")
        .env_remove("PULSE_TOPIC")
        .env_remove("PULSE_CUSTOMERS");
    c
}

pub(crate) fn pulse(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Generates 31 days ending at AS_OF into `dir` (customers/, orders.jsonl).
pub(crate) fn generate(dir: &Path, seed: &str) {
    generate_with(
        dir,
        seed,
        &[
            "--orders-per-day",
            "300",
            "--orders-out",
            dir.join("orders.jsonl").to_str().unwrap(),
        ],
    );
}

/// Generates 200 customers (of seed `seed`) into `dir`/customers/ and
/// orders ending at AS_OF where and as `more` says (`--orders-out FILE` or
/// `--brokers … --topic …`, `--orders-per-day`, `--days`, …).
pub(crate) fn generate_with(dir: &Path, seed: &str, more: &[&str]) {
    let customers = dir.join("customers");
    let mut args = vec!["generate", "--seed", seed, "--customers", "200", "--end", AS_OF];
    args.extend(["--customers-out", customers.to_str().unwrap()]);
    args.extend(more);
    let out = pulse(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The CSV rows with figures rounded to 6 decimals (sums may differ in the
/// last bits with the order in which partial sums meet).
pub(crate) fn rounded_csv(stdout: &[u8]) -> Vec<String> {
    text(stdout)
        .lines()
        .map(|line| {
            line.split(',')
                .map(|f| match f.parse::<f64>() {
                    Ok(v) if f.contains('.') => format!("{v:.6}"),
                    _ => f.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn answer_runs_on_the_embedded_default_and_says_so() {
    let out = pulse(&["answer"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stderr.contains("the embedded default") && stderr.contains("mock broker"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("Top 3 industries by change in the last 24 hours"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("| 1 ") || l.starts_with("| 2 ") || l.starts_with("| 3 "))
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("pct_change") && stdout.contains('█'), "{stdout}");
}

#[test]
fn answer_on_a_file_is_the_same_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "11");
    let orders = dir.path().join("orders.jsonl");
    let customers = dir.path().join("customers");
    let args = |format: &'static str, all: bool| {
        let mut a = file_answer_args(&orders, &customers, format);
        if all {
            a.push("--all");
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| command().args(&a).output().unwrap();
    let csv = run(args("csv", false));
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let rows = rounded_csv(&csv.stdout);
    assert_eq!(
        rows[0],
        "rank,industry,current_amount,baseline_daily_avg,abs_change,pct_change,current_orders,baseline_daily_orders,orders_pct_change"
    );
    assert_eq!(rows.len(), 4);
    // the top 3 are the first 3 of all 10
    let all = rounded_csv(&run(args("csv", true)).stdout);
    assert_eq!(all.len(), 11);
    assert_eq!(rows[1..], all[1..4]);
    // JSON carries the same industries in the same order
    let json: serde_json::Value = serde_json::from_slice(&run(args("json", false)).stdout).unwrap();
    let industries: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["industry"].as_str().unwrap())
        .collect();
    let from_csv: Vec<&str> = rows[1..].iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    assert_eq!(industries, from_csv);
    // the table, with timings and paths on stderr only, is stable
    let table = text(&run(args("table", false)).stdout);
    assert!(table.contains(&format!("| 1    | {}", from_csv[0])), "{table}");
    snapshot("answer_table.txt", &table);
}

/// Compares `actual` with `tests/it/snapshots/NAME`; `PULSE_UPDATE_SNAPSHOTS=1`
/// rewrites the file instead.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(name);
    if std::env::var("PULSE_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{} differs; rerun with PULSE_UPDATE_SNAPSHOTS=1 to accept",
        path.display()
    );
}

#[test]
fn the_generator_is_deterministic_for_a_seed() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(a.path(), "5");
    generate(b.path(), "5");
    generate(c.path(), "6");
    let read = |d: &Path| std::fs::read(d.join("orders.jsonl")).unwrap();
    assert_eq!(read(a.path()), read(b.path()));
    assert_ne!(read(a.path()), read(c.path()));
    let batch = "customers/batch_id=20261025T000000Z/part-0.parquet";
    assert_eq!(
        std::fs::read(a.path().join(batch)).unwrap(),
        std::fs::read(b.path().join(batch)).unwrap()
    );
    // 31 days, a batch every 12 hours
    assert_eq!(std::fs::read_dir(a.path().join("customers")).unwrap().count(), 62);
}

#[test]
fn produce_then_answer_from_a_broker_matches_the_file() {
    let Ok(brokers) = std::env::var(crate::support::BROKERS_ENV) else {
        eprintln!(
            "\n*** SKIPPED produce/answer --brokers: {} is not set; run scripts/test ***\n",
            crate::support::BROKERS_ENV
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "12");
    let orders = dir.path().join("orders.jsonl");
    let customers = dir.path().join("customers");
    let topic = format!("cli-orders-{}", std::process::id());
    let out = pulse(&[
        "produce",
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--file",
        orders.to_str().unwrap(),
        "--partitions",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("created topic '{topic}' (3 partitions, retention.ms=-1)")),
        "{}",
        text(&out.stderr)
    );
    let from_broker = pulse(&[
        "answer",
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--customers",
        customers.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "--all",
    ]);
    assert!(from_broker.status.success(), "{}", text(&from_broker.stderr));
    assert_eq!(rounded_csv(&from_broker.stdout), file_answer(&orders, &customers, &[]));
    // the answer says which cut it read; more orders arrive (another day of
    // history, new ids); replaying the cut gives the first answer again
    let stderr = text(&from_broker.stderr);
    let cut = stderr
        .split("--at-offsets '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no cut in {stderr}"))
        .to_string();
    assert!(cut.starts_with(&format!("{topic}=0:0-")), "{cut}");
    let more = dir.path().join("more.jsonl");
    let lines: Vec<String> = (1..=40)
        .map(|i| {
            format!(
                r#"{{"order_id":"X{i}","customer_id":"C{:06}","amount":5000,"timestamp":"2026-11-19T12:00:00Z"}}"#,
                i * 5
            )
        })
        .collect();
    std::fs::write(&more, lines.join("\n")).unwrap();
    let out = pulse(&[
        "produce",
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--file",
        more.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = |extra: &[&str]| {
        let mut args = vec![
            "answer",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--customers",
            customers.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--format",
            "csv",
            "--all",
        ];
        args.extend_from_slice(extra);
        let out = pulse(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        rounded_csv(&out.stdout)
    };
    assert_ne!(
        answer(&[]),
        rounded_csv(&from_broker.stdout),
        "the new orders change the answer"
    );
    assert_eq!(answer(&["--at-offsets", &cut]), rounded_csv(&from_broker.stdout));
}

/// The arguments of `pulse answer` on a file of orders, as of AS_OF, in `format`.
pub(crate) fn file_answer_args<'a>(orders: &'a Path, customers: &'a Path, format: &'a str) -> Vec<&'a str> {
    vec![
        "answer",
        "--orders",
        orders.to_str().unwrap(),
        "--customers",
        customers.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--format",
        format,
    ]
}

/// `pulse answer --all` as rounded CSV rows, on a file of orders.
pub(crate) fn file_answer(orders: &Path, customers: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = file_answer_args(orders, customers, "csv");
    args.push("--all");
    args.extend_from_slice(extra);
    let out = pulse(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    rounded_csv(&out.stdout)
}

#[test]
fn a_parquet_export_of_the_orders_gives_the_answer_of_the_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "17");
    let orders = dir.path().join("orders.jsonl");
    let parquet = dir.path().join("orders.parquet");
    let customers = dir.path().join("customers");
    let export = pulse(&[
        "sql",
        "--orders",
        orders.to_str().unwrap(),
        "--customers",
        customers.to_str().unwrap(),
        "-q",
        "-c",
        &format!(
            "COPY (SELECT order_id, customer_id, order_line, amount, \"timestamp\", _partition, _offset \
             FROM orders WHERE _error IS NULL) TO '{}' STORED AS PARQUET",
            parquet.display()
        ),
    ]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    // a small memory limit: the deduplication spills, and must not change a figure
    let from_json = file_answer(&orders, &customers, &["--memory-limit", "64M"]);
    assert_eq!(from_json.len(), 11);
    assert_eq!(file_answer(&parquet, &customers, &["--memory-limit", "64M"]), from_json);
    assert_eq!(file_answer(&orders, &customers, &["--memory-limit", "0"]), from_json);
}

#[test]
fn bad_input_is_one_line_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bad_utf8 = dir.path().join("bad.jsonl");
    std::fs::write(&bad_utf8, b"{\"order_id\":\"a\"}\n\xff\xfe\n").unwrap();
    let not_parquet = dir.path().join("orders.parquet");
    std::fs::write(&not_parquet, b"{\"order_id\":\"a\"}\n").unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, b"{\"order_id\":\"a\"}\n").unwrap();
    let folder = dir.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["answer", "--as-of", "yesterday"],
            "--as-of 'yesterday' is not an RFC 3339 time",
        ),
        (
            vec!["answer", "--orders", "/no/such/file.jsonl", "--customers", folder],
            "/no/such/file.jsonl: cannot open",
        ),
        (
            vec![
                "answer",
                "--orders",
                not_parquet.to_str().unwrap(),
                "--customers",
                folder,
            ],
            "cannot read",
        ),
        (
            vec![
                "answer",
                "--orders",
                good.to_str().unwrap(),
                "--customers",
                "ftp://host/x",
            ],
            "invalid location 'ftp://host/x'",
        ),
        (
            vec!["answer", "--orders", bad_utf8.to_str().unwrap()],
            "give --customers URL",
        ),
        (
            vec!["answer", "--brokers", "127.0.0.1:1", "--customers", folder],
            "could not reach any broker",
        ),
        (
            vec!["answer", "--orders", good.to_str().unwrap(), "--memory-limit", "lots"],
            "--memory-limit 'lots' is not a size such as 512M or 2G",
        ),
        (
            vec![
                "answer",
                "--brokers",
                "127.0.0.1:1",
                "--kafka-option",
                "kafka.lateness",
                "--customers",
                folder,
            ],
            "--kafka-option 'kafka.lateness': use KEY=VALUE",
        ),
        (
            vec![
                "answer",
                "--brokers",
                "127.0.0.1:1",
                "--kafka-option",
                "kafka.latenes=1h",
                "--customers",
                folder,
            ],
            "unknown table option 'kafka.latenes'",
        ),
        (
            vec!["produce", "--brokers", "127.0.0.1:1", "--file", "/no/such/file.jsonl"],
            "no such file: /no/such/file.jsonl",
        ),
        (
            vec!["generate", "--shock", "Mining=2", "--orders-out", "/dev/null"],
            "'Mining' is not one of",
        ),
        (vec!["generate"], "nothing to write"),
    ];
    for (args, expected) in cases {
        let out = pulse(&args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("pulse: error: "), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_shell_runs_commands_on_pulse_tables() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "13");
    let out = pulse(&[
        "sql",
        "--orders",
        dir.path().join("orders.jsonl").to_str().unwrap(),
        "--customers",
        dir.path().join("customers").to_str().unwrap(),
        "--format",
        "csv",
        "-q",
        "-c",
        &format!("SET pulse.as_of = '{AS_OF}'"),
        "-c",
        "SELECT count(*) AS n FROM top_industry_changes",
        "-c",
        "SELECT view FROM pulse_views WHERE name = 'industry_change'",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("n\n3\n"), "{stdout}");
    assert!(stdout.contains("industry_change_v2"), "{stdout}");
}

#[test]
fn quotes_in_a_topic_name_and_a_customers_path_are_just_characters() {
    let dir = tempfile::tempdir().unwrap();
    let customers = dir.path().join("cust'omers");
    let orders = dir.path().join("orders.jsonl");
    let out = pulse(&[
        "generate",
        "--seed",
        "21",
        "--customers",
        "200",
        "--orders-per-day",
        "300",
        "--end",
        AS_OF,
        "--customers-out",
        customers.to_str().unwrap(),
        "--orders-out",
        orders.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // librdkafka's mock broker takes any topic name; the `pulse` processes
    // reach it over loopback while this test holds it
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let topic = "o'rders";
    cluster.create_topic(topic, 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let produced = pulse(&[
        "produce",
        "--brokers",
        &brokers,
        "--topic",
        topic,
        "--file",
        orders.to_str().unwrap(),
    ]);
    assert!(produced.status.success(), "{}", text(&produced.stderr));
    let from_topic = pulse(&[
        "answer",
        "--brokers",
        &brokers,
        "--topic",
        topic,
        "--customers",
        customers.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--format",
        "csv",
        "--all",
    ]);
    assert!(from_topic.status.success(), "{}", text(&from_topic.stderr));
    assert!(
        text(&from_topic.stderr).contains("Kafka topic 'o'rders'"),
        "{}",
        text(&from_topic.stderr)
    );
    let expected = file_answer(&orders, &customers, &[]);
    assert_eq!(expected.len(), 11);
    assert_eq!(rounded_csv(&from_topic.stdout), expected);
}

#[test]
fn each_source_stands_alone_and_a_missing_one_is_named_when_queried() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "23");
    let orders = dir.path().join("orders.jsonl");
    let customers = dir.path().join("customers");
    let sql = |source: &[&str], statement: &str| {
        let mut args = vec!["sql"];
        args.extend_from_slice(source);
        args.extend_from_slice(&["--format", "csv", "-q", "-c", statement]);
        pulse(&args)
    };
    let orders_only = ["--orders", orders.to_str().unwrap()];
    let customers_only = ["--customers", customers.to_str().unwrap()];

    let counted = sql(&orders_only, "SELECT count(*) > 0 AS some FROM orders");
    assert!(counted.status.success(), "{}", text(&counted.stderr));
    assert!(
        text(&counted.stdout).contains("some\ntrue"),
        "{}",
        text(&counted.stdout)
    );
    let counted = sql(&customers_only, "SELECT count(*) > 0 AS some FROM customers_history");
    assert!(counted.status.success(), "{}", text(&counted.stderr));
    assert!(
        text(&counted.stdout).contains("some\ntrue"),
        "{}",
        text(&counted.stdout)
    );

    for (source, statement, named) in [
        (&orders_only, "SELECT * FROM customers", "give --customers URL"),
        (
            &orders_only,
            "SELECT * FROM top_industry_changes",
            "give --customers URL",
        ),
        (&customers_only, "SELECT * FROM orders", "give --brokers HOST:PORT"),
        (
            &customers_only,
            "SELECT * FROM industry_change",
            "give --brokers HOST:PORT",
        ),
    ] {
        let out = sql(source, statement);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{statement} succeeded: {}", text(&out.stdout));
        assert!(stderr.contains(named), "{statement}: {stderr}");
    }
}
