//! Pulse's sqllogictest suite: every `tests/slt/*.slt` file, each in its own
//! session, on fixtures set up by file name. Modelled on DataFusion's runner.
//!
//! For `tests/slt/NAME.slt` the runner looks in `tests/slt/fixtures/NAME/`:
//! - `orders.txt`: messages for the topic `orders` on librdkafka's
//!   in-process mock broker, one per line as `partition|message time|payload`
//!   (time in RFC 3339 or epoch ms; `#` starts a comment line). The table
//!   `orders` is registered over it with `kafka.malformed = dead_letter`.
//! - `customers/batch_id=…/*.json`: customer batches as JSON lines, written
//!   as Parquet into a scratch folder and registered as `customers` and
//!   `customers_history`.
//!
//! With both, the versioned views are loaded. In the `.slt` file, after
//! `control substitution on`, `$KAFKA` is the mock broker's
//! `kafka://host:port`, `$CUSTOMERS` the scratch folder of the batches, and
//! `$EMPTY` an empty folder.
//!
//! With the `distributed` feature, every file then runs a second time on
//! a Ballista cluster in this process (a scheduler and two executors):
//! the same fixtures, the same expected rows. Records whose SQL is an
//! `EXPLAIN` are left out of that pass, as a cluster's plans differ by
//! design (stages, shuffles, sliced scans); every other record runs.
//!
//! `cargo test --test sqllogictests -- --complete` rewrites the expected
//! results; other arguments keep only the files whose name contains them.
//! Results print floats with at most 6 decimals, NULL as `NULL`, and the
//! scratch folder as `<customers>`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use pulse::engine::session::pulse_context;
use pulse::engine::views::load_views;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sqllogictest::{DBOutput, DefaultColumnType, default_column_validator, default_normalizer, default_validator};

/// One `.slt` file's database: a Pulse session.
struct PulseDb {
    ctx: SessionContext,
    scratch: String,
}

#[async_trait]
impl sqllogictest::AsyncDB for PulseDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(rows_of(b, &self.scratch)?);
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "pulse"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// The rows of a batch as text. A cell of several lines (an `EXPLAIN`
/// plan) becomes one row per line: the first with the row's other cells,
/// the rest with that line alone.
fn rows_of(batch: &RecordBatch, scratch: &str) -> Result<Vec<Vec<String>>, DataFusionError> {
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let cells: Vec<String> = batch
            .columns()
            .iter()
            .map(|c| cell(c.as_ref(), r, scratch))
            .collect::<Result<_, _>>()?;
        rows.push(
            cells
                .iter()
                .map(|c| c.lines().next().unwrap_or_default().to_string())
                .collect(),
        );
        for c in &cells {
            rows.extend(c.lines().skip(1).map(|line| vec![line.to_string()]));
        }
    }
    Ok(rows)
}

fn cell(column: &dyn Array, row: usize, scratch: &str) -> Result<String, DataFusionError> {
    if column.is_null(row) {
        return Ok("NULL".into());
    }
    let float = match column.data_type() {
        DataType::Float64 => Some(column.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => Some(f64::from(column.as_primitive::<Float32Type>().value(row))),
        _ => None,
    };
    if let Some(v) = float {
        let text = format!("{v:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return Ok(if text == "-0" { "0".into() } else { text.to_string() });
    }
    let text = array_value_to_string(column, row)?;
    Ok(if text.is_empty() {
        "(empty)".into()
    } else {
        text.replace(scratch, "<customers>")
    })
}

/// What one `.slt` file runs on; dropping it stops the broker and removes
/// the scratch folder.
struct Fixture {
    _cluster: Option<MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
    _scratch: tempfile::TempDir,
    kafka: String,
    customers: String,
    empty: String,
    ctx: SessionContext,
}

impl Fixture {
    async fn set_up(dir: &Path, cluster: Option<&str>) -> Result<Self, String> {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let customers_dir = std::fs::canonicalize(scratch.path())
            .map_err(|e| e.to_string())?
            .join("customers");
        std::fs::create_dir_all(&customers_dir).map_err(|e| e.to_string())?;
        let empty = customers_dir.with_file_name("empty");
        std::fs::create_dir_all(&empty).map_err(|e| e.to_string())?;
        let ctx = match cluster {
            None => pulse_context(),
            Some(url) => on_cluster(url)?,
        };
        let on_a_cluster = cluster.is_some();
        let cluster = MockCluster::new(1).map_err(|e| e.to_string())?;
        let kafka = format!("kafka://{}", cluster.bootstrap_servers());
        let mut have_orders = false;
        let orders = dir.join("orders.txt");
        if orders.exists() {
            let messages = read_orders(&orders)?;
            let partitions = messages.iter().map(|m| m.0).max().unwrap_or(0) + 1;
            cluster
                .create_topic("orders", partitions, 1)
                .map_err(|e| e.to_string())?;
            produce(&cluster.bootstrap_servers(), &messages)?;
            sql(
                &ctx,
                &format!("CREATE EXTERNAL TABLE orders STORED AS KAFKA LOCATION '{kafka}/orders' OPTIONS ('kafka.malformed' 'dead_letter')"),
            )
            .await?;
            have_orders = true;
        }
        let mut have_customers = false;
        let batches = dir.join("customers");
        if batches.exists() {
            write_batches(&batches, &customers_dir)?;
            for (name, view) in [("customers", "latest"), ("customers_history", "history")] {
                sql(
                    &ctx,
                    &format!(
                        "CREATE EXTERNAL TABLE {name} STORED AS CUSTOMER_BATCHES LOCATION '{}' OPTIONS ('customers.view' '{view}')",
                        customers_dir.display()
                    ),
                )
                .await?;
            }
            have_customers = true;
        }
        if have_orders && have_customers {
            load_views(&ctx).await.map_err(|e| e.to_string())?;
        }
        if on_a_cluster {
            // the pass is on the cluster: its plans have stages
            let explained = ctx
                .sql("EXPLAIN SELECT count(*) FROM industries()")
                .await
                .map_err(|e| e.to_string())?
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            let shown = datafusion::arrow::util::pretty::pretty_format_batches(&explained)
                .map_err(|e| e.to_string())?
                .to_string();
            if !shown.contains("distributed_plan") {
                return Err(format!("the session does not run on the cluster: {shown}"));
            }
        }
        Ok(Self {
            _cluster: Some(cluster),
            _scratch: scratch,
            kafka,
            customers: customers_dir.display().to_string(),
            empty: empty.display().to_string(),
            ctx,
        })
    }
}

/// A Pulse session whose queries run on the cluster at `url`.
#[cfg(feature = "distributed")]
fn on_cluster(url: &str) -> Result<SessionContext, String> {
    use pulse::engine::distributed::{ClusterSettings, client_state};
    let settings = Arc::new(ClusterSettings::default());
    let state = client_state(pulse_context().state(), url, &settings).map_err(|e| e.to_string())?;
    Ok(SessionContext::new_with_state(state))
}

#[cfg(not(feature = "distributed"))]
fn on_cluster(url: &str) -> Result<SessionContext, String> {
    Err(format!("no cluster at {url}: built without the 'distributed' feature"))
}

/// `text` (an .slt file) without its records whose SQL is an `EXPLAIN`.
fn without_explains(text: &str) -> String {
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let mut lines = record.lines().skip_while(|l| l.trim().is_empty() || l.starts_with('#'));
        let head = lines.next().unwrap_or_default();
        let sql = lines.next().unwrap_or_default().trim_start().to_ascii_uppercase();
        let is_query = head.starts_with("query") || head.starts_with("statement");
        if !(is_query && sql.starts_with("EXPLAIN")) {
            out.push(record);
        }
    }
    out.join("\n\n")
}

async fn sql(ctx: &SessionContext, statement: &str) -> Result<(), String> {
    let df = ctx.sql(statement).await.map_err(|e| format!("{statement}: {e}"))?;
    df.collect().await.map_err(|e| format!("{statement}: {e}"))?;
    Ok(())
}

/// `partition|message time|payload` lines.
fn read_orders(path: &Path) -> Result<Vec<(i32, i64, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("{}:{}: {what} in '{line}'", path.display(), n + 1);
        let mut parts = line.splitn(3, '|');
        let (Some(p), Some(t), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected partition|message time|payload"));
        };
        let partition: i32 = p.trim().parse().map_err(|_| bad("bad partition"))?;
        let t = t.trim();
        let time = match t.parse::<i64>() {
            Ok(ms) => ms,
            Err(_) => chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad("bad message time"))?
                .timestamp_millis(),
        };
        out.push((partition, time, payload.to_string()));
    }
    Ok(out)
}

fn produce(bootstrap: &str, messages: &[(i32, i64, String)]) -> Result<(), String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| e.to_string())?;
    for (partition, time, payload) in messages {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to("orders")
            .partition(*partition)
            .timestamp(*time)
            .payload(payload.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).map_err(|e| e.to_string())
}

/// Each `*.json` (JSON lines) below `from` becomes a Parquet file at the
/// same place below `to`.
fn write_batches(from: &Path, to: &Path) -> Result<(), String> {
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            write_batches(&path, &target)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
            let open = || {
                std::fs::File::open(&path)
                    .map(std::io::BufReader::new)
                    .map_err(|e| fail(&e))
            };
            let (schema, _) = arrow_json::reader::infer_json_schema(open()?, None).map_err(|e| fail(&e))?;
            let schema = Arc::new(schema);
            let reader = arrow_json::ReaderBuilder::new(Arc::clone(&schema))
                .build(open()?)
                .map_err(|e| fail(&e))?;
            let out = std::fs::File::create(target.with_extension("parquet")).map_err(|e| fail(&e))?;
            let mut writer = ArrowWriter::try_new(out, schema, None).map_err(|e| fail(&e))?;
            for batch in reader {
                writer.write(&batch.map_err(|e| fail(&e))?).map_err(|e| fail(&e))?;
            }
            writer.close().map_err(|e| fail(&e))?;
        }
    }
    Ok(())
}

async fn run_file(path: &Path, complete: bool, cluster: Option<&str>) -> Result<(), String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let fixture = Fixture::set_up(&path.with_file_name("fixtures").join(stem), cluster).await?;
    let (ctx, scratch) = (fixture.ctx.clone(), fixture.customers.clone());
    let mut runner = sqllogictest::Runner::new(move || {
        let db = PulseDb {
            ctx: ctx.clone(),
            scratch: scratch.clone(),
        };
        async move { Ok::<_, DataFusionError>(db) }
    });
    runner.set_var("KAFKA".into(), fixture.kafka.clone());
    runner.set_var("CUSTOMERS".into(), fixture.customers.clone());
    runner.set_var("EMPTY".into(), fixture.empty.clone());
    if cluster.is_some() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let copy = fixture._scratch.path().join(path.file_name().unwrap_or_default());
        std::fs::write(&copy, without_explains(&text)).map_err(|e| e.to_string())?;
        return runner
            .run_file_async(&copy)
            .await
            .map_err(|e| e.display(true).to_string());
    }
    if complete {
        runner
            .update_test_file(
                path,
                " ",
                default_validator,
                default_normalizer,
                default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(true).to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    let selected: Vec<&PathBuf> = files
        .iter()
        .filter(|p| filters.is_empty() || filters.iter().any(|f| p.to_string_lossy().contains(f.as_str())))
        .collect();
    // large stacks, as `pulse` has: (de)serialising plans for the cluster
    // recurses deeply in a debug build
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(32 << 20)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    println!("\nrunning {} sqllogictest files", selected.len());
    let mut passes: Vec<Option<String>> = vec![None];
    #[cfg(feature = "distributed")]
    if !complete {
        use pulse::engine::distributed::{ClusterSettings, InProcessCluster};
        let started = runtime.block_on(InProcessCluster::start(
            2,
            2,
            pulse_context().runtime_env(),
            ClusterSettings::default(),
        ));
        passes.push(Some(started.unwrap().url().to_string()));
    }
    for cluster in &passes {
        let on = if cluster.is_some() { " (on a cluster)" } else { "" };
        for path in &selected {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            match runtime.block_on(run_file(path, complete, cluster.as_deref())) {
                Ok(()) => {
                    passed += 1;
                    println!("test {name}{on} ... {}", if complete { "completed" } else { "ok" });
                }
                Err(e) => {
                    failed += 1;
                    println!("test {name}{on} ... FAILED\n{e}");
                }
            }
        }
    }
    let status = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {status}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        (files.len() - selected.len()) * passes.len(),
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
