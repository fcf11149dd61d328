//! Decoding messages into Arrow record batches, one message at a time in a
//! single pass: strict JSON ([`super::json`]) read straight into typed
//! columns ([`super::columns`]).
//!
//! A [`MessageChunk`] collects up to one batch of messages from one
//! partition: their payloads, offsets, timestamps and keys. A
//! [`ChunkDecoder`] reads each payload into the table's data columns; a
//! message that is not a well-formed row is undone (its columns truncated
//! back) and becomes a dead letter, a skip or an error, as the table's
//! policy says. A field that may be NULL and whose value does not fit its
//! type (an `order_line` that is an object) is NULL, and the row says why
//! in `_warning`: such a field never decides whether a message counts.
//!
//! The decoder knows nothing of where the bytes came from: a message is
//! known by its position (`_offset`: a Kafka offset, or a line's byte
//! position), and a [`DecodeError`] names that position for the source to
//! turn into its own error (topic and partition; or file and line).
//!
//! What must stay true: one message is one row or, under the `skip`
//! policy, none; never two, and never part of a neighbour. A message is
//! decoded the same alone or among others. A payload that is not exactly
//! one JSON object (two values, none, a truncated one, invalid UTF-8) is
//! malformed. Every malformed message is either an error naming its
//! position, counted and skipped, or kept with its reason in `_error`;
//! none is dropped without a count.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, Int32Array, Int64Array, RecordBatch, StringBuilder,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::{cast, filter};

use super::columns::{Column, ValueError, read_object};
use super::json::{Cursor, Kind};
use super::policy::MalformedPolicy;
use super::schema::{TableSchema, WARNING_COLUMN};

/// Why a chunk gave no rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A malformed message that the `fail` policy refuses: the first in the
    /// chunk, at `offset` (the message's `_offset`).
    #[error("malformed message at offset {offset}: {reason}")]
    Malformed {
        /// The message's position: its Kafka offset, or its line's byte.
        offset: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// The decoder could not assemble a batch: the table's schema is one
    /// the decoder cannot serve.
    #[error("{0}")]
    Schema(String),
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Messages of one partition, buffered for one decode.
#[derive(Debug)]
pub(crate) struct MessageChunk {
    /// Payloads, back to back.
    payload: Vec<u8>,
    /// Each message's payload as `start..end` in `payload`; `None` for a
    /// message without a value (a tombstone).
    spans: Vec<Option<(usize, usize)>>,
    offsets: Vec<i64>,
    timestamps: Vec<Option<i64>>,
    keys: StringBuilder,
}

impl MessageChunk {
    pub fn with_capacity(messages: usize) -> Self {
        Self {
            payload: Vec::with_capacity(messages * 256),
            spans: Vec::with_capacity(messages),
            offsets: Vec::with_capacity(messages),
            timestamps: Vec::with_capacity(messages),
            keys: StringBuilder::with_capacity(messages, messages * 16),
        }
    }

    /// Adds one message. `timestamp_ms` is `None` when the broker gave none.
    pub fn push(&mut self, payload: Option<&[u8]>, offset: i64, timestamp_ms: Option<i64>, key: Option<&[u8]>) {
        self.spans.push(payload.map(|p| {
            let start = self.payload.len();
            self.payload.extend_from_slice(p);
            (start, self.payload.len())
        }));
        self.offsets.push(offset);
        self.timestamps.push(timestamp_ms);
        self.keys.append_option(key.map(String::from_utf8_lossy));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The bytes of the payloads.
    pub fn payload_bytes(&self) -> usize {
        self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn payload_of(&self, i: usize) -> Option<&[u8]> {
        self.spans[i].map(|(s, e)| &self.payload[s..e])
    }

    fn clear(&mut self) {
        self.payload.clear();
        self.spans.clear();
        self.offsets.clear();
        self.timestamps.clear();
    }
}

/// The rows decoded from one chunk, and how many messages were malformed.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Rows in the table's schema.
    pub batch: RecordBatch,
    /// Messages that were malformed (skipped, or kept with `_error`).
    pub malformed: usize,
}

/// Decodes chunks of one partition into the table's schema.
pub(crate) struct ChunkDecoder {
    /// The `_partition` of every row (0 for a file).
    partition: i32,
    schema: Arc<TableSchema>,
    policy: MalformedPolicy,
    rows: RowDecoder,
}

impl ChunkDecoder {
    /// A decoder of messages whose `_partition` is `partition`.
    pub fn new(partition: i32, schema: Arc<TableSchema>, policy: MalformedPolicy) -> Result<Self> {
        let rows = RowDecoder::new(&schema).map_err(DecodeError::Schema)?;
        Ok(Self {
            partition,
            schema,
            policy,
            rows,
        })
    }

    /// The same decoder, reading only what a scan of `projection` (table
    /// column indices; `None` for all) can see, and the `event_time` column
    /// the scan reads besides. An optional data column outside them is
    /// checked for its JSON syntax but not built: its rows are NULL in the
    /// decoded batch, which the caller projects away. That holds unless
    /// `_warning` is projected, since it names the values that do not fit
    /// their optional field. Whether a message is malformed, and why, does
    /// not change: an optional field's value never decides it, only its
    /// syntax, which skipping checks as reading does.
    pub fn for_projection(mut self, projection: Option<&[usize]>, event_time: Option<usize>) -> Self {
        let Some(projection) = projection else {
            return self;
        };
        let warnings_seen = self
            .schema
            .table
            .index_of(WARNING_COLUMN)
            .is_ok_and(|w| projection.contains(&w));
        for (i, skipped) in self.rows.skipped.iter_mut().enumerate() {
            *skipped = !self.rows.required[i] && !warnings_seen && !projection.contains(&i) && event_time != Some(i);
        }
        self
    }

    /// Decodes and empties `chunk`.
    pub fn decode(&mut self, chunk: &mut MessageChunk) -> Result<Decoded> {
        let n = chunk.len();
        let mut errors = StringBuilder::with_capacity(n, 0);
        let mut warnings = StringBuilder::with_capacity(n, 0);
        let mut bytes = self
            .schema
            .keeps_dead_letter_bytes()
            .then(|| BinaryBuilder::with_capacity(n, 0));
        let mut keep = Vec::with_capacity(n);
        let mut malformed = 0;
        for i in 0..n {
            let outcome = match chunk.payload_of(i) {
                Some(payload) => self.rows.read(payload),
                None => Err("the message has no value (a tombstone)".to_string()),
            };
            match outcome {
                Ok(warning) => {
                    errors.append_null();
                    warnings.append_option(warning);
                    if let Some(b) = &mut bytes {
                        b.append_null();
                    }
                    keep.push(true);
                }
                Err(reason) => {
                    malformed += 1;
                    match self.policy {
                        MalformedPolicy::Fail => {
                            let offset = chunk.offsets[i];
                            self.rows.clear();
                            chunk.clear();
                            let _ = chunk.keys.finish();
                            return Err(DecodeError::Malformed { offset, reason });
                        }
                        MalformedPolicy::Skip => keep.push(false),
                        MalformedPolicy::DeadLetter => {
                            self.rows.push_null_row();
                            errors.append_value(reason);
                            warnings.append_null();
                            if let Some(b) = &mut bytes {
                                b.append_option(chunk.payload_of(i));
                            }
                            keep.push(true);
                        }
                    }
                }
            }
        }

        let mut columns = Vec::with_capacity(self.schema.table.fields().len());
        for (i, column) in self.rows.finish().into_iter().enumerate() {
            let declared = self.schema.data_type(i);
            columns.push(if column.data_type() == declared {
                column
            } else {
                cast(&column, declared).map_err(|e| internal(&e))?
            });
        }
        let mut metadata: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![self.partition; n])),
            Arc::new(Int64Array::from(std::mem::take(&mut chunk.offsets))),
            Arc::new(TimestampMillisecondArray::from(std::mem::take(&mut chunk.timestamps)).with_timezone("UTC")),
            Arc::new(chunk.keys.finish()),
        ];
        chunk.clear();
        if malformed > 0 && self.policy == MalformedPolicy::Skip {
            // the data columns, `_error` and `_warning` hold only the kept
            // rows already; the message's own columns hold every message
            let keep = BooleanArray::from(keep);
            metadata = metadata
                .iter()
                .map(|c| filter(c, &keep))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| internal(&e))?;
        }
        columns.extend(metadata);
        columns.push(Arc::new(errors.finish()));
        columns.push(Arc::new(warnings.finish()));
        if let Some(mut b) = bytes {
            columns.push(Arc::new(b.finish()));
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema.table), columns).map_err(|e| internal(&e))?;
        Ok(Decoded { batch, malformed })
    }
}

fn internal(e: &dyn std::fmt::Display) -> DecodeError {
    DecodeError::Schema(format!("could not build a record batch: {e}"))
}

/// Reads messages into the data columns, one row per well-formed message.
struct RowDecoder {
    names: Vec<Box<[u8]>>,
    required: Vec<bool>,
    /// Optional columns whose values are skipped, not built: each row is
    /// NULL ([`ChunkDecoder::for_projection`]).
    skipped: Vec<bool>,
    columns: Vec<Column>,
}

impl RowDecoder {
    fn new(schema: &TableSchema) -> std::result::Result<Self, String> {
        let fields = schema.data.fields();
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let required = schema.required.contains(&i);
                Column::try_new(f.data_type(), !required).map_err(|e| format!("column '{}': {e}", f.name()))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self {
            names: fields.iter().map(|f| f.name().as_bytes().into()).collect(),
            required: (0..fields.len()).map(|i| schema.required.contains(&i)).collect(),
            skipped: vec![false; fields.len()],
            columns,
        })
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Reads one message as one row: `Ok` with what was set to NULL and
    /// why, if anything; `Err` with why the message is malformed, in which
    /// case no row was added.
    fn read(&mut self, payload: &[u8]) -> std::result::Result<Option<String>, String> {
        let row = self.rows();
        let outcome = self.read_row(payload, row);
        if outcome.is_err() {
            self.columns.iter_mut().for_each(|c| c.truncate(row));
        }
        outcome
    }

    fn read_row(&mut self, payload: &[u8], row: usize) -> std::result::Result<Option<String>, String> {
        let text = match std::str::from_utf8(payload) {
            Ok(text) => text,
            Err(e) => return Err(format!("the message is not valid UTF-8 (at byte {})", e.valid_up_to())),
        };
        let mut c = Cursor::new(text);
        if c.at_end() {
            return Err("the message is empty".into());
        }
        match c.peek_kind() {
            Ok(Kind::Object) => {}
            Ok(kind) => return Err(format!("the message is {}, not a JSON object", kind.name())),
            Err(e) => return Err(e.to_string()),
        }
        let mut warnings: Vec<String> = Vec::new();
        let (names, required, skipped) = (&self.names, &self.required, &self.skipped);
        let outcome = read_object(&mut c, 0, names, &mut self.columns, |i, column, c| {
            if skipped[i] {
                c.skip_value(1)?;
                column.push_null();
                return Ok(());
            }
            // the field's name, for what is said about it
            let name = || String::from_utf8_lossy(&names[i]);
            if required[i] && c.peek_kind()? == Kind::Null {
                return Err(ValueError::Type(format!(
                    "required field '{}' is missing or null",
                    name()
                )));
            }
            let start = c.pos();
            let read = column.read(c, 1);
            if read.is_ok()
                && let Some(note) = column.take_note()
            {
                warnings.push(format!("{}: {note}", name()));
            }
            match read {
                Err(ValueError::Type(why)) if !required[i] => {
                    // an optional field that does not fit: NULL, and say why
                    column.truncate(row);
                    c.rewind(start);
                    c.skip_value(1)?;
                    column.push_null();
                    warnings.push(format!("{}: {why}", name()));
                    Ok(())
                }
                Err(ValueError::Type(why)) => Err(ValueError::Type(format!("field '{}': {why}", name()))),
                other => other,
            }
        });
        match outcome {
            Ok(()) => {}
            Err(ValueError::Syntax(e)) => return Err(e.to_string()),
            Err(ValueError::Type(why)) => return Err(why),
        }
        if !c.at_end() {
            return Err(match c.peek_kind() {
                Ok(_) => "the message holds more than one JSON value".into(),
                Err(e) => e.to_string(),
            });
        }
        for (i, column) in self.columns.iter_mut().enumerate() {
            if column.len() == row {
                if self.required[i] {
                    return Err(format!(
                        "required field '{}' is missing or null",
                        String::from_utf8_lossy(&self.names[i])
                    ));
                }
                column.push_null();
            }
        }
        Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
    }

    /// A row of NULLs, for a dead letter.
    fn push_null_row(&mut self) {
        self.columns.iter_mut().for_each(Column::push_null);
    }

    /// Drops every row.
    fn clear(&mut self) {
        self.columns.iter_mut().for_each(|c| c.truncate(0));
    }

    /// The columns' arrays, leaving them empty.
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.columns.iter_mut().map(Column::finish).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::schema::{ERROR_COLUMN, orders_schema};
    use crate::test_rng::Rng;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Decimal128Type, Int64Type, TimestampMillisecondType, TimestampNanosecondType};

    const GOOD: &str = r#"{"order_id":"o1","customer_id":"c1","order_line":[{"product_id":"p","volume":2,"price":1.5}],"amount":3.0,"timestamp":"2026-11-20T10:00:00Z"}"#;

    fn decoder(policy: MalformedPolicy) -> ChunkDecoder {
        let schema = TableSchema::try_new("orders", &orders_schema(), policy).unwrap();
        ChunkDecoder::new(2, Arc::new(schema), policy).unwrap()
    }

    fn chunk(payloads: &[Option<&str>]) -> MessageChunk {
        let mut c = MessageChunk::with_capacity(payloads.len());
        for (i, p) in payloads.iter().enumerate() {
            c.push(p.map(str::as_bytes), 100 + i as i64, Some(1_000 + i as i64), Some(b"k"));
        }
        c
    }

    fn order(fields: &str) -> String {
        format!(r#"{{"order_id":"o","customer_id":"c",{fields}}}"#)
    }

    /// Messages that are not well-formed orders, and a word of why.
    fn malformed_cases() -> Vec<(&'static str, Option<String>, &'static str)> {
        let s = |t: &str| Some(t.to_string());
        vec![
            ("not json", s("hello"), "not valid JSON"),
            ("truncated", s(r#"{"order_id":"o2","#), "not valid JSON"),
            (
                "two values",
                s(r#"{"order_id":"a"} {"order_id":"b"}"#),
                "more than one JSON value",
            ),
            (
                "two values, no space",
                s(&format!("{GOOD}{GOOD}")),
                "more than one JSON value",
            ),
            ("empty", s("   "), "empty"),
            ("tombstone", None, "tombstone"),
            ("array", s("[1,2]"), "an array, not a JSON object"),
            ("number", s("42"), "a number, not a JSON object"),
            ("null", s("null"), "null, not a JSON object"),
            ("string", s(r#""{}""#), "a string, not a JSON object"),
            (
                "missing amount",
                s(r#"{"order_id":"o","customer_id":"c","timestamp":0}"#),
                "'amount' is missing",
            ),
            (
                "null customer",
                s(&order(r#""customer_id":null,"amount":1,"timestamp":0"#)),
                "'customer_id'",
            ),
            (
                "string amount",
                Some(order(r#""amount":"5.25","timestamp":0"#)),
                "found a string",
            ),
            (
                "padded string amount",
                Some(order(r#""amount":" 7 ","timestamp":0"#)),
                "found a string",
            ),
            (
                "NaN text",
                Some(order(r#""amount":"NaN","timestamp":0"#)),
                "found a string",
            ),
            (
                "bare NaN",
                Some(order(r#""amount":NaN,"timestamp":0"#)),
                "not valid JSON",
            ),
            (
                "inf text",
                Some(order(r#""amount":"inf","timestamp":0"#)),
                "found a string",
            ),
            (
                "1e400",
                Some(order(r#""amount":1e400,"timestamp":0"#)),
                "out of the range",
            ),
            (
                "boolean amount",
                Some(order(r#""amount":true,"timestamp":0"#)),
                "found a boolean",
            ),
            (
                "numeric order id",
                s(r#"{"order_id":7,"customer_id":"c","amount":1,"timestamp":0}"#),
                "order_id",
            ),
            (
                "bad timestamp",
                Some(order(r#""amount":1,"timestamp":"yesterday""#)),
                "yesterday",
            ),
            (
                "naive time",
                Some(order(r#""amount":1,"timestamp":"2026-11-19T12:00:00""#)),
                "no offset",
            ),
            (
                "date only",
                Some(order(r#""amount":1,"timestamp":"2026-11-19""#)),
                "without a time",
            ),
            (
                "+0000",
                Some(order(r#""amount":1,"timestamp":"2026-11-19T12:00:00+0000""#)),
                "±hh:mm",
            ),
            (
                "float epoch",
                Some(order(r#""amount":1,"timestamp":1.7950896e12"#)),
                "not epoch milliseconds",
            ),
            (
                "i64::MAX epoch",
                Some(order(r#""amount":1,"timestamp":9223372036854775807"#)),
                "1677 to 2262",
            ),
            (
                "trailing comma",
                Some(order(r#""amount":1,"timestamp":0,"#)),
                "expected a key after ','",
            ),
            (
                "repeated key",
                Some(order(r#""amount":1,"amount":2,"timestamp":0"#)),
                "'amount' appears twice",
            ),
            (
                "repeated unknown key",
                Some(order(r#""amount":1,"timestamp":0,"x":1,"x":1"#)),
                "'x' appears twice",
            ),
            (
                "repeated key in an unknown object",
                Some(order(r#""amount":1,"timestamp":0,"meta":{"a":1,"a":2}"#)),
                "'a' appears twice",
            ),
            (
                "repeated key in an order_line set aside",
                Some(order(r#""amount":1,"timestamp":0,"order_line":{"x":1,"x":2}"#)),
                "'x' appears twice",
            ),
            ("bom", Some(format!("\u{feff}{GOOD}")), "not valid JSON"),
            (
                "deep",
                Some(order(&format!(
                    r#""amount":1,"timestamp":0,"x":{}{}"#,
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                ))),
                "nested deeper",
            ),
        ]
    }

    #[test]
    fn good_messages_decode_with_metadata() {
        let mut d = decoder(MalformedPolicy::Fail);
        let epoch = r#"{"order_id":"o2","customer_id":"c2","amount":4,"timestamp":1795168800000,"extra":"ignored"}"#;
        let out = d.decode(&mut chunk(&[Some(GOOD), Some(epoch)])).unwrap();
        let b = out.batch;
        assert_eq!((b.num_rows(), out.malformed), (2, 0));
        let ts = b
            .column_by_name("timestamp")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        // RFC 3339 text and epoch milliseconds give the same instant
        assert_eq!(ts.value(0), 1_795_168_800_000_000_000);
        assert_eq!(ts.value(1), 1_795_168_800_000_000_000);
        let amount = b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>();
        assert_eq!(amount.value(0), 3 * 10i128.pow(18));
        assert_eq!(amount.value(1), 4 * 10i128.pow(18));
        let lines = b.column_by_name("order_line").unwrap().as_list::<i32>();
        assert_eq!(lines.value_length(0), 1);
        assert!(lines.is_null(1));
        assert_eq!(
            b.column_by_name("_partition")
                .unwrap()
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .value(1),
            2
        );
        assert_eq!(
            b.column_by_name("_offset")
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(1),
            101
        );
        assert_eq!(
            b.column_by_name("_timestamp")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_000
        );
        assert_eq!(b.column_by_name("_key").unwrap().as_string::<i32>().value(0), "k");
        assert_eq!(b.column_by_name(WARNING_COLUMN).unwrap().null_count(), 2);
        // the decoder is reused across chunks
        let again = d.decode(&mut chunk(&[Some(GOOD)])).unwrap();
        assert_eq!(again.batch.num_rows(), 1);
    }

    #[test]
    fn an_order_line_that_does_not_fit_is_null_with_a_warning_and_the_order_counts() {
        let cases = [
            (r#""order_line":{}"#, "expected an array, found an object"),
            (r#""order_line":[1,2]"#, "expected an object, found a number"),
            (
                r#""order_line":[{"product_id":"p","volume":"2"}]"#,
                "expected a number, found a string",
            ),
            (r#""order_line":[{"product_id":1.5}]"#, "the number 1.5"),
        ];
        for (fields, why) in cases {
            let mut d = decoder(MalformedPolicy::Fail);
            let message = order(&format!(r#"{fields},"amount":2.5,"timestamp":0"#));
            let out = d.decode(&mut chunk(&[Some(&message), Some(GOOD)])).unwrap();
            let b = out.batch;
            assert_eq!((b.num_rows(), out.malformed), (2, 0), "{fields}");
            assert!(b.column_by_name("order_line").unwrap().is_null(0), "{fields}");
            let warning = b.column_by_name(WARNING_COLUMN).unwrap().as_string::<i32>();
            assert!(
                warning.value(0).starts_with("order_line: ") && warning.value(0).contains(why),
                "{fields}: {}",
                warning.value(0)
            );
            assert!(warning.is_null(1));
            // the next message is untouched
            assert_eq!(
                b.column_by_name("order_line").unwrap().as_list::<i32>().value_length(1),
                1
            );
        }
        // integer product ids are kept as text
        let mut d = decoder(MalformedPolicy::Fail);
        let message = order(r#""order_line":[{"product_id":125,"volume":1,"price":2}],"amount":2,"timestamp":0"#);
        let b = d.decode(&mut chunk(&[Some(&message)])).unwrap().batch;
        let lines = b.column_by_name("order_line").unwrap().as_list::<i32>();
        let item = lines.value(0);
        assert_eq!(item.as_struct().column(0).as_string::<i32>().value(0), "125");
    }

    #[test]
    fn an_amount_with_more_places_than_the_scale_is_rounded_and_says_so() {
        let mut d = decoder(MalformedPolicy::Fail);
        let message = order(r#""amount":0.1234567890123456789,"timestamp":0"#);
        let b = d.decode(&mut chunk(&[Some(&message)])).unwrap().batch;
        let amount = b.column_by_name("amount").unwrap().as_primitive::<Decimal128Type>();
        assert_eq!(amount.value(0), 123_456_789_012_345_679);
        let warning = b.column_by_name(WARNING_COLUMN).unwrap().as_string::<i32>();
        assert_eq!(
            warning.value(0),
            "amount: 0.1234567890123456789 rounded to 18 places after the point"
        );
    }

    #[test]
    fn fail_policy_names_the_offset_for_every_case() {
        for (name, payload, expected) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::Fail);
            let err = d
                .decode(&mut chunk(&[Some(GOOD), payload.as_deref()]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("at offset 101"), "{name}: {err}");
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn skip_policy_counts_and_drops_only_the_bad_message() {
        for (name, payload, _) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::Skip);
            let out = d
                .decode(&mut chunk(&[Some(GOOD), payload.as_deref(), Some(GOOD)]))
                .unwrap();
            assert_eq!((out.batch.num_rows(), out.malformed), (2, 1), "{name}");
            let offsets = out.batch.column_by_name("_offset").unwrap().as_primitive::<Int64Type>();
            assert_eq!(offsets.values().to_vec(), vec![100, 102], "{name}");
        }
    }

    #[test]
    fn dead_letter_policy_keeps_a_null_row_with_the_reason() {
        for (name, payload, expected) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::DeadLetter);
            let out = d.decode(&mut chunk(&[Some(GOOD), payload.as_deref()])).unwrap();
            let b = out.batch;
            assert_eq!((b.num_rows(), out.malformed), (2, 1), "{name}");
            let err = b.column_by_name(ERROR_COLUMN).unwrap().as_string::<i32>();
            assert!(err.is_null(0), "{name}");
            assert!(err.value(1).contains(expected), "{name}: {}", err.value(1));
            for c in ["order_id", "customer_id", "order_line", "amount", "timestamp"] {
                assert!(b.column_by_name(c).unwrap().is_null(1), "{name}: {c}");
            }
            assert!(b.column_by_name("order_id").unwrap().is_valid(0), "{name}");
            assert_eq!(
                b.column_by_name("_offset")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .value(1),
                101
            );
        }
    }

    #[test]
    fn empty_chunk_is_an_empty_batch() {
        let out = decoder(MalformedPolicy::Fail).decode(&mut chunk(&[])).unwrap();
        assert_eq!(out.batch.num_rows(), 0);
    }

    #[test]
    fn a_failed_message_leaves_no_trace_in_its_neighbours() {
        // a message that fails late (after order_line was read) must not
        // leave its order_line behind for the next row
        let late = order(r#""order_line":[{"product_id":"x","volume":9,"price":9}],"amount":1,"timestamp":"nope""#);
        let mut d = decoder(MalformedPolicy::Skip);
        let out = d.decode(&mut chunk(&[Some(&late), Some(GOOD)])).unwrap();
        let lines = out.batch.column_by_name("order_line").unwrap().as_list::<i32>();
        assert_eq!(lines.len(), 1);
        let item = lines.value(0);
        assert_eq!(item.as_struct().column(0).as_string::<i32>().value(0), "p");
        assert_eq!(lines.values().len(), 1);
    }

    /// Messages made by mutating well-formed ones: bytes flipped, cut,
    /// doubled, and fragments that real streams and attackers produce.
    fn mutant(rng: &mut Rng) -> Vec<u8> {
        const FRAGMENTS: &[&str] = &[
            ",",
            "}",
            "{",
            "[",
            "]",
            "\"",
            "\\",
            ":",
            "NaN",
            "1e400",
            "-",
            "0",
            "01",
            "null",
            "true",
            " ",
            "\n",
            "\"amount\":1,",
            "\"order_id\":\"o\",",
            "\\u0000",
            "\\ud800",
            "\u{feff}",
            "\"x\":[{}],",
            r#"{"a":1}"#,
            "1.5",
            "\"2026-11-19T12:00:00Z\"",
        ];
        let bases = [
            GOOD.to_string(),
            order(r#""order_line":[{"product_id":125,"volume":1,"price":2}],"amount":12.34,"timestamp":1795168800000"#),
            order(r#""amount":0.1,"timestamp":"2026-11-19 12:00:00.123456789+01:00","note":{"deep":[1,[2,[3]]]}"#),
        ];
        let mut m = bases[rng.index(bases.len())].clone().into_bytes();
        for _ in 0..1 + rng.index(3) {
            let at = rng.index(m.len() + 1);
            match rng.index(5) {
                0 if !m.is_empty() => {
                    let i = rng.index(m.len());
                    m[i] = rng.next() as u8;
                }
                1 => m.truncate(at),
                2 => {
                    let f = FRAGMENTS[rng.index(FRAGMENTS.len())];
                    m.splice(at..at, f.bytes());
                }
                3 if !m.is_empty() => {
                    let end = (at + rng.index(8)).min(m.len());
                    m.drain(at.min(end)..end);
                }
                _ => {
                    let copy = m.clone();
                    m.extend_from_slice(&copy[..at.min(copy.len())]);
                }
            }
        }
        m
    }

    /// The rows of `batch` as text, one string per row, without `_offset`.
    fn rows_of(batch: &RecordBatch) -> Vec<String> {
        use datafusion::arrow::util::display::array_value_to_string;
        (0..batch.num_rows())
            .map(|r| {
                batch
                    .schema()
                    .fields()
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.name() != "_offset" && f.name() != "_timestamp")
                    .map(|(i, _)| array_value_to_string(batch.column(i), r).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    #[test]
    fn fuzz_one_message_is_one_row_or_one_dead_letter_whatever_its_neighbours() {
        // PULSE_FUZZ_SECONDS sets the budget (CI: 60); by default a short run
        let seconds: u64 = std::env::var("PULSE_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seconds);
        let mut chunks = 0u64;
        while std::time::Instant::now() < deadline {
            let messages: Vec<Vec<u8>> = (0..1 + rng.index(40)).map(|_| mutant(&mut rng)).collect();
            let mut together = decoder(MalformedPolicy::DeadLetter);
            let mut all = MessageChunk::with_capacity(messages.len());
            let mut again = MessageChunk::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                all.push(Some(m), i as i64, Some(0), None);
                again.push(Some(m), i as i64, Some(0), None);
            }
            let out = together.decode(&mut all).unwrap();
            assert_eq!(out.batch.num_rows(), messages.len());
            let errors = out.batch.column_by_name(ERROR_COLUMN).unwrap();
            assert_eq!(errors.len() - errors.null_count(), out.malformed);
            // a scan that sees neither `order_line` nor `_warning` skips
            // building `order_line`, and sees what reading it gives
            let schema = out.batch.schema();
            let unseen = ["order_line", WARNING_COLUMN];
            let seen: Vec<usize> = (0..schema.fields().len())
                .filter(|&i| !unseen.contains(&schema.field(i).name().as_str()))
                .collect();
            let skipping = decoder(MalformedPolicy::DeadLetter)
                .for_projection(Some(&seen), None)
                .decode(&mut again)
                .unwrap();
            assert_eq!(skipping.malformed, out.malformed);
            assert_eq!(
                rows_of(&skipping.batch.project(&seen).unwrap()),
                rows_of(&out.batch.project(&seen).unwrap()),
                "messages {:?}",
                messages.iter().map(|m| String::from_utf8_lossy(m)).collect::<Vec<_>>()
            );
            let rows = rows_of(&out.batch);
            for (i, m) in messages.iter().enumerate() {
                let mut alone = decoder(MalformedPolicy::DeadLetter);
                let mut one = MessageChunk::with_capacity(1);
                one.push(Some(m), i as i64, Some(0), None);
                let single = alone.decode(&mut one).unwrap().batch;
                assert_eq!(
                    rows_of(&single),
                    vec![rows[i].clone()],
                    "message {:?}",
                    String::from_utf8_lossy(m)
                );
                // what strict JSON refuses is never a row that counts
                // (serde_json also refuses numbers beyond a double, which
                // JSON's grammar allows and an unknown key may hold)
                if serde_json::from_slice::<serde_json::Value>(m)
                    .is_err_and(|e| !e.to_string().contains("number out of range"))
                {
                    assert!(
                        errors.is_valid(i),
                        "accepted invalid JSON {:?}",
                        String::from_utf8_lossy(m)
                    );
                }
            }
            chunks += 1;
        }
        assert!(chunks > 0);
    }
}
