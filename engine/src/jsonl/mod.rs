//! A JSON-lines file of messages as a one-partition log: [`JsonLinesTable`]
//! gives it the same columns, decoding and malformed-message policy as a
//! Kafka table (both from [`crate::messages`]), so the same views answer on
//! a topic or on a file dumped from one.
//!
//! - [`split`]: byte ranges at line starts, so a scan reads in parallel
//!   without reading the file first;
//! - [`exec`]: the `ExecutionPlan`, one DataFusion partition per range.
//!
//! What must stay true: every non-blank line is one message of partition 0
//! whose `_offset` is its byte position, so file order is offset order and
//! "earliest by (partition, offset)" means "earliest in the file";
//! `_timestamp` is the event time (a file has no log time), and `_key` is
//! NULL. Filters are not pushed down: a file has no index to seek with.

pub mod exec;
pub mod split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use exec::FileScan;
pub use exec::JsonLinesScanExec;

use crate::error::{PulseError, Result};
use crate::messages::MalformedPolicy;
use crate::messages::schema::{TableSchema, orders_schema};

/// The least bytes worth a scan partition of its own.
const MIN_RANGE_BYTES: u64 = 1 << 20;

/// A JSON-lines file of messages as a table.
#[derive(Debug)]
pub struct JsonLinesTable {
    scan: Arc<FileScan>,
}

impl JsonLinesTable {
    /// The orders file at `path`, with the orders topic's columns. Checks
    /// that the file can be opened.
    pub fn try_new(path: impl AsRef<Path>, policy: MalformedPolicy) -> Result<Self> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        std::fs::File::open(&path).map_err(|e| PulseError::File {
            file: name.clone(),
            message: format!("cannot open: {e}"),
        })?;
        let data = orders_schema();
        let schema = TableSchema::try_new(&format!("JSON-lines file {name}"), &data, policy)?;
        let event_time = data
            .fields()
            .iter()
            .position(|f| f.name() == "timestamp" && matches!(f.data_type(), DataType::Timestamp(_, _)));
        Ok(Self {
            scan: Arc::new(FileScan {
                path,
                schema: Arc::new(schema),
                policy,
                event_time,
            }),
        })
    }

    /// The file and the malformed-message policy it is read with.
    pub fn source(&self) -> (&Path, MalformedPolicy) {
        (&self.scan.path, self.scan.policy)
    }

    fn split(&self, parts: usize) -> Result<Vec<split::ByteRange>> {
        let path = &self.scan.path;
        let io = |e: std::io::Error| PulseError::File {
            file: path.display().to_string(),
            message: format!("cannot split into ranges: {e}"),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        split::split_at_lines(&mut file, len, parts, MIN_RANGE_BYTES).map_err(io)
    }
}

#[async_trait]
impl TableProvider for JsonLinesTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.scan.schema.table)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let ranges = self
            .split(state.config().target_partitions())
            .map_err(DataFusionError::from)?;
        let scan: Arc<dyn ExecutionPlan> = Arc::new(JsonLinesScanExec::new(
            Arc::clone(&self.scan),
            projection.cloned(),
            ranges,
            limit,
        )?);
        #[cfg(feature = "distributed")]
        let scan = crate::distributed::slice::for_tasks(state, scan)?;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use std::io::Write;

    const GOOD: &str = r#"{"order_id":"o1","customer_id":"c1","amount":2.5,"timestamp":"2026-11-20T10:00:00Z"}"#;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    async fn query(path: &Path, policy: MalformedPolicy, partitions: usize, sql: &str) -> DFResult<Vec<RecordBatch>> {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
        ctx.register_table("orders", Arc::new(JsonLinesTable::try_new(path, policy)?))?;
        ctx.sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn every_line_is_a_message_at_its_byte_position() {
        let mut text = Vec::new();
        let mut expected = Vec::new();
        for i in 0..40_000 {
            expected.push(text.len() as i64);
            let line = GOOD.replace("o1", &format!("o{i}"));
            text.extend_from_slice(line.as_bytes());
            text.extend_from_slice(if i % 2 == 0 { b"\r\n\n" } else { b"\n" }); // CRLF and blank lines
        }
        text.extend_from_slice(b"  \n");
        expected.push(text.len() as i64);
        text.extend_from_slice(GOOD.replace("o1", "last").as_bytes()); // no final newline
        let f = file(&text);
        assert!(text.len() as u64 > 2 * MIN_RANGE_BYTES, "the file spans several ranges");
        for partitions in [1, 3] {
            let batches = query(
                f.path(),
                MalformedPolicy::Fail,
                partitions,
                "SELECT _offset, _partition, _timestamp FROM orders ORDER BY _offset",
            )
            .await
            .unwrap();
            let offsets: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect();
            assert_eq!(offsets, expected, "{partitions} partitions");
            assert!(
                batches
                    .iter()
                    .all(|b| b.column(1).null_count() == 0 && b.column(2).null_count() == 0)
            );
        }
    }

    #[tokio::test]
    async fn malformed_lines_follow_the_policy_and_name_their_line() {
        let bad = r#"{"order_id":"bad","amount":"n/a"}"#;
        let text = format!("{GOOD}\n{bad}\n\u{0}\n{GOOD}\n");
        let f = file(text.as_bytes());
        let err = query(f.path(), MalformedPolicy::Fail, 1, "SELECT * FROM orders")
            .await
            .unwrap_err()
            .to_string();
        let byte = GOOD.len() + 1;
        assert!(
            err.contains(&format!("malformed line 2 (byte {byte}) in {}", f.path().display())),
            "{err}"
        );
        let kept = query(
            f.path(),
            MalformedPolicy::DeadLetter,
            1,
            "SELECT count(*) AS n, count(_error) AS bad, count(_timestamp) AS timed FROM orders",
        )
        .await
        .unwrap();
        let n = |i: usize| kept[0].column(i).as_primitive::<Int64Type>().value(0);
        assert_eq!(
            (n(0), n(1), n(2)),
            (4, 2, 4),
            "bad lines are kept, with the time of the line before"
        );
        let skipped = query(f.path(), MalformedPolicy::Skip, 1, "SELECT count(*) FROM orders")
            .await
            .unwrap();
        assert_eq!(skipped[0].column(0).as_primitive::<Int64Type>().value(0), 2);
        // a bad line first in its range (or in the file) still gets a time
        let mut text = format!("{bad}\n");
        while text.len() < 3 * MIN_RANGE_BYTES as usize {
            text.push_str(GOOD);
            text.push('\n');
            text.push_str(bad);
            text.push('\n');
        }
        let f = file(text.as_bytes());
        for partitions in [1, 2, 3] {
            let timed = query(
                f.path(),
                MalformedPolicy::DeadLetter,
                partitions,
                "SELECT count(*) FROM orders WHERE _error IS NOT NULL AND _timestamp IS NULL",
            )
            .await
            .unwrap();
            assert_eq!(
                timed[0].column(0).as_primitive::<Int64Type>().value(0),
                0,
                "{partitions} partitions"
            );
        }
    }

    #[tokio::test]
    async fn every_line_is_one_row_or_one_dead_letter_however_it_is_broken() {
        let big = format!(
            r#"{{"order_id":"big","customer_id":"c","amount":1,"timestamp":0,"note":"{}"}}"#,
            "x".repeat(1 << 20)
        );
        let mut text: Vec<u8> = b"\xEF\xBB\xBF".to_vec(); // a byte-order mark opens the file
        for line in [
            GOOD.to_string(),
            format!("{GOOD} {GOOD}"),                                // two objects on one line
            r#"{"order_id":"split","customer_id":"c","#.to_string(), // one object over two lines
            r#""amount":1,"timestamp":0}"#.to_string(),
            big, // a 1 MB message
            GOOD.replace("o1", "o2"),
        ] {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(b"{\"order_id\":\"\xff\"}\n"); // not UTF-8
        let f = file(&text);
        let got = query(
            f.path(),
            MalformedPolicy::DeadLetter,
            1,
            "SELECT order_id, _error FROM orders ORDER BY _offset",
        )
        .await
        .unwrap();
        let shown = datafusion::arrow::util::pretty::pretty_format_batches(&got)
            .unwrap()
            .to_string();
        let rows: Vec<&str> = shown.lines().filter(|l| l.starts_with("| ")).skip(1).collect();
        assert_eq!(rows.len(), 7, "{shown}");
        assert!(rows[0].starts_with("| o1 "), "the first line, behind the BOM: {shown}");
        assert!(rows[1].contains("more than one JSON value"), "{shown}");
        assert!(rows[2].contains("not valid JSON"), "{shown}");
        assert!(rows[3].contains("a string, not a JSON object"), "{shown}");
        assert!(rows[4].starts_with("| big "), "{shown}");
        assert!(rows[5].starts_with("| o2 "), "{shown}");
        assert!(rows[6].contains("not valid UTF-8"), "{shown}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = JsonLinesTable::try_new("/no/such/orders.jsonl", MalformedPolicy::Fail)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/orders.jsonl: cannot open"), "{err}");
    }
}
