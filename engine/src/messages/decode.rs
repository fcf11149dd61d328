//! Vectorised decoding of Kafka messages into Arrow record batches.
//!
//! A [`MessageChunk`] collects up to one batch of messages from one
//! partition: their payloads back to back in one buffer, and their offsets,
//! timestamps and keys in Arrow builders. [`ChunkDecoder`] parses the whole
//! buffer in one pass of arrow-json's decoder and checks required columns
//! with their null bitmaps. When a message is bad, the pass fails as a
//! whole, so the chunk is decoded again in groups of [`GROUP`] messages,
//! and a failing group is halved until its bad messages stand alone: bad
//! input costs a few re-decoded groups, not a message-by-message pass.
//! After a chunk with a bad message, the next chunk starts in groups
//! (streams with bad messages have them everywhere).
//!
//! The decoder knows nothing of where the bytes came from: a message is
//! known by its position (`_offset`: a Kafka offset, or a line's byte
//! position), and a [`DecodeError`] names that position for the source to
//! turn into its own error (topic and partition; or file and line).
//!
//! What must stay true: one message is one row or, under the `skip` policy,
//! none; never two. A payload holding two JSON values, none, or a truncated
//! one is malformed. Every malformed message is either an error naming its
//! position, counted and skipped, or kept with its reason in `_error`, as
//! the policy says; none is dropped without a count.

use std::sync::Arc;

use arrow_json::reader::{Decoder, ReaderBuilder};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMillisecondBuilder, new_null_array,
};
use datafusion::arrow::compute::{cast, concat, filter, nullif};
use datafusion::arrow::datatypes::SchemaRef;

use super::policy::MalformedPolicy;
use super::schema::TableSchema;

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
    /// The decoder could not be built or could not assemble a batch: the
    /// table's schema is one the decoder cannot serve.
    #[error("{0}")]
    Schema(String),
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Messages a group of the recovery path decodes in one pass: small enough
/// that isolating a bad message re-decodes little, large enough that the
/// groups' concatenation stays cheap.
const GROUP: usize = 128;

/// Messages of one partition, buffered for one decode.
#[derive(Debug)]
pub(crate) struct MessageChunk {
    /// Payloads, each followed by a newline.
    payload: Vec<u8>,
    /// Each message's payload as `start..end` in `payload`; `None` for a
    /// message without a value (a tombstone).
    spans: Vec<Option<(usize, usize)>>,
    offsets: Int64Builder,
    timestamps: TimestampMillisecondBuilder,
    keys: StringBuilder,
}

impl MessageChunk {
    pub fn with_capacity(messages: usize) -> Self {
        Self {
            payload: Vec::with_capacity(messages * 256),
            spans: Vec::with_capacity(messages),
            offsets: Int64Builder::with_capacity(messages),
            timestamps: TimestampMillisecondBuilder::with_capacity(messages).with_timezone("UTC"),
            keys: StringBuilder::with_capacity(messages, messages * 16),
        }
    }

    /// Adds one message. `timestamp_ms` is `None` when the broker gave none.
    pub fn push(&mut self, payload: Option<&[u8]>, offset: i64, timestamp_ms: Option<i64>, key: Option<&[u8]>) {
        self.spans.push(payload.map(|p| {
            let start = self.payload.len();
            self.payload.extend_from_slice(p);
            let end = self.payload.len();
            self.payload.push(b'\n');
            (start, end)
        }));
        self.offsets.append_value(offset);
        self.timestamps.append_option(timestamp_ms);
        self.keys.append_option(key.map(String::from_utf8_lossy));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The bytes of the payloads, without the newlines between them.
    pub fn payload_bytes(&self) -> usize {
        self.payload.len() - self.spans.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn payload_of(&self, i: usize) -> Option<&[u8]> {
        self.spans[i].map(|(s, e)| &self.payload[s..e])
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
    batch_size: usize,
    decoder: Option<Decoder>,
    /// The last chunk had a bad message: start the next in groups.
    recovering: bool,
}

impl ChunkDecoder {
    /// A decoder of messages whose `_partition` is `partition`.
    pub fn new(partition: i32, schema: Arc<TableSchema>, policy: MalformedPolicy, batch_size: usize) -> Self {
        Self {
            partition,
            schema,
            policy,
            batch_size,
            decoder: None,
            recovering: false,
        }
    }

    fn json_decoder(schema: &SchemaRef, batch_size: usize) -> Result<Decoder> {
        ReaderBuilder::new(Arc::clone(schema))
            .with_batch_size(batch_size)
            .build_decoder()
            .map_err(|e| DecodeError::Schema(format!("no JSON decoder for the table's schema: {e}")))
    }

    /// Decodes and empties `chunk`.
    pub fn decode(&mut self, chunk: &mut MessageChunk) -> Result<Decoded> {
        let n = chunk.len();
        let whole = if self.recovering {
            None
        } else {
            self.decode_all(chunk, n)?
        };
        let (data, mut reasons) = match whole {
            Some(data) => (data, vec![None; n]),
            None => self.decode_groups(chunk)?,
        };
        self.recovering = reasons.iter().any(Option::is_some);
        self.check_required(&data, &mut reasons);
        let offsets = chunk.offsets.finish();
        let metadata: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![self.partition; n])),
            Arc::new(offsets.clone()),
            Arc::new(chunk.timestamps.finish()),
            Arc::new(chunk.keys.finish()),
        ];
        chunk.payload.clear();
        chunk.spans.clear();

        let malformed = reasons.iter().filter(|r| r.is_some()).count();
        if malformed > 0 && self.policy == MalformedPolicy::Fail {
            let (i, reason) = reasons
                .iter()
                .enumerate()
                .find_map(|(i, r)| r.as_ref().map(|r| (i, r.clone())))
                .unwrap_or_default();
            return Err(DecodeError::Malformed {
                offset: offsets.value(i),
                reason,
            });
        }

        let mut columns = Vec::with_capacity(self.schema.table.fields().len());
        let bad = BooleanArray::from(reasons.iter().map(|r| r.is_some()).collect::<Vec<_>>());
        for (i, column) in data.into_iter().enumerate() {
            let column = if malformed > 0 && self.policy == MalformedPolicy::DeadLetter {
                nullif(&column, &bad).map_err(|e| self.internal(e))?
            } else {
                column
            };
            let declared = self.schema.data_type(i);
            columns.push(if column.data_type() == declared {
                column
            } else {
                cast(&column, declared).map_err(|e| self.internal(e))?
            });
        }
        columns.extend(metadata);
        // `_error`: the reasons under dead_letter; NULL otherwise (fail has
        // returned, skip filters the rows out below).
        columns.push(Arc::new(StringArray::from(reasons)));
        if malformed > 0 && self.policy == MalformedPolicy::Skip {
            let keep = BooleanArray::from(bad.iter().map(|b| b.map(|b| !b)).collect::<Vec<_>>());
            columns = columns
                .iter()
                .map(|c| filter(c, &keep))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| self.internal(e))?;
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema.table), columns).map_err(|e| self.internal(e))?;
        Ok(Decoded { batch, malformed })
    }

    /// The fast path: every payload in one pass. `None` when any message is
    /// malformed or the row count does not match the message count.
    fn decode_all(&mut self, chunk: &MessageChunk, n: usize) -> Result<Option<Vec<ArrayRef>>> {
        if chunk.spans.iter().any(Option::is_none) {
            return Ok(None);
        }
        if n > self.batch_size {
            return Ok(None);
        }
        let mut decoder = match self.decoder.take() {
            Some(d) => d,
            // One row of headroom, so that a payload with two values shows as
            // a row too many rather than as a batch boundary.
            None => Self::json_decoder(&self.schema.decode, self.batch_size + 1)?,
        };
        let ok = match decoder.decode(&chunk.payload) {
            Ok(consumed) if consumed == chunk.payload.len() && !decoder.has_partial_record() => decoder.flush(),
            _ => return Ok(None), // the decoder's state is unknown: drop it
        };
        match ok {
            Ok(Some(batch)) if batch.num_rows() == n => {
                self.decoder = Some(decoder);
                Ok(Some(batch.columns().to_vec()))
            }
            Ok(None) if n == 0 => {
                self.decoder = Some(decoder);
                Ok(Some(
                    self.schema
                        .decode
                        .fields()
                        .iter()
                        .map(|f| new_null_array(f.data_type(), 0))
                        .collect(),
                ))
            }
            _ => Ok(None),
        }
    }

    /// The recovery path, for a chunk with a bad message: groups of
    /// [`GROUP`] messages, each decoded in one pass, and a group that fails
    /// is halved until the bad messages stand alone. Rows of bad messages
    /// are NULL; their reasons come from decoding them alone.
    #[allow(clippy::type_complexity)]
    fn decode_groups(&mut self, chunk: &MessageChunk) -> Result<(Vec<ArrayRef>, Vec<Option<String>>)> {
        let n = chunk.len();
        let mut reasons = vec![None; n];
        let mut pieces: Vec<Vec<ArrayRef>> = Vec::new();
        for lo in (0..n).step_by(GROUP) {
            self.decode_range(chunk, lo, (lo + GROUP).min(n), &mut pieces, &mut reasons)?;
        }
        let mut columns = Vec::with_capacity(self.schema.decode.fields().len());
        for (c, field) in self.schema.decode.fields().iter().enumerate() {
            let parts: Vec<&dyn Array> = pieces.iter().map(|p| p[c].as_ref()).collect();
            columns.push(match parts.as_slice() {
                [] => new_null_array(field.data_type(), 0),
                [one] => one.slice(0, one.len()),
                _ => concat(&parts).map_err(|e| self.internal(e))?,
            });
        }
        Ok((columns, reasons))
    }

    /// Decodes messages `lo..hi` into `pieces`, in order, halving the range
    /// while it holds a bad message.
    fn decode_range(
        &mut self,
        chunk: &MessageChunk,
        lo: usize,
        hi: usize,
        pieces: &mut Vec<Vec<ArrayRef>>,
        reasons: &mut [Option<String>],
    ) -> Result<()> {
        if hi - lo == 1 {
            let columns = match self.decode_one(chunk.payload_of(lo))? {
                Ok(row) => row.columns().to_vec(),
                Err(reason) => {
                    reasons[lo] = Some(reason);
                    self.null_row()
                }
            };
            pieces.push(columns);
            return Ok(());
        }
        let spans = &chunk.spans[lo..hi];
        if let (Some(Some((start, _))), Some(Some((_, end)))) = (spans.first(), spans.last())
            && spans.iter().all(Option::is_some)
        {
            // the payloads of lo..hi are back to back, each with its newline;
            // a decoder is kept only after a clean pass (its state is
            // unknown after a failed one)
            let mut decoder = match self.decoder.take() {
                Some(d) => d,
                None => Self::json_decoder(&self.schema.decode, self.batch_size + 1)?,
            };
            let bytes = &chunk.payload[*start..=*end];
            if let Ok(consumed) = decoder.decode(bytes)
                && consumed == bytes.len()
                && !decoder.has_partial_record()
                && let Ok(Some(batch)) = decoder.flush()
                && batch.num_rows() == hi - lo
            {
                self.decoder = Some(decoder);
                pieces.push(batch.columns().to_vec());
                return Ok(());
            }
        }
        let mid = lo + (hi - lo) / 2;
        self.decode_range(chunk, lo, mid, pieces, reasons)?;
        self.decode_range(chunk, mid, hi, pieces, reasons)
    }

    /// One row of NULLs in the decode schema.
    fn null_row(&self) -> Vec<ArrayRef> {
        self.schema
            .decode
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect()
    }

    /// One message: `Ok(Ok(row))`, or `Ok(Err(reason))` when it is malformed.
    fn decode_one(&self, payload: Option<&[u8]>) -> Result<std::result::Result<RecordBatch, String>> {
        let Some(payload) = payload else {
            return Ok(Err("the message has no value (a tombstone)".into()));
        };
        let mut decoder = Self::json_decoder(&self.schema.decode, 2)?;
        let outcome = match decoder.decode(payload) {
            Ok(consumed) if consumed < payload.len() => Err("the message holds more than one JSON value".to_string()),
            Ok(_) if decoder.has_partial_record() => Err("the JSON value is truncated".to_string()),
            Ok(_) => match decoder.flush() {
                Ok(Some(row)) if row.num_rows() == 1 => Ok(row),
                Ok(Some(row)) if row.num_rows() > 1 => Err("the message holds more than one JSON value".to_string()),
                Ok(_) => Err("the message is empty".to_string()),
                Err(e) => Err(json_reason(&e.to_string())),
            },
            Err(e) => Err(json_reason(&e.to_string())),
        };
        Ok(outcome)
    }

    /// Marks rows whose required columns are NULL, keeping an earlier reason.
    fn check_required(&self, data: &[ArrayRef], reasons: &mut [Option<String>]) {
        for &i in &self.schema.required {
            let column = &data[i];
            if column.null_count() == 0 {
                continue;
            }
            let name = self.schema.decode.field(i).name();
            for (row, reason) in reasons.iter_mut().enumerate() {
                if reason.is_none() && column.is_null(row) {
                    *reason = Some(format!("required field '{name}' is missing or null"));
                }
            }
        }
    }

    fn internal(&self, e: impl std::fmt::Display) -> DecodeError {
        DecodeError::Schema(format!("could not build a record batch: {e}"))
    }
}

/// arrow-json's error text, without its prefix.
fn json_reason(text: &str) -> String {
    let text = text.strip_prefix("Json error: ").unwrap_or(text);
    format!("not valid for the table's schema: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::schema::{ERROR_COLUMN, orders_schema};
    use datafusion::arrow::array::{AsArray, Float64Array};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};

    const GOOD: &str = r#"{"order_id":"o1","customer_id":"c1","order_line":[{"product_id":"p","volume":2,"price":1.5}],"amount":3.0,"timestamp":"2026-11-20T10:00:00Z"}"#;

    fn decoder(policy: MalformedPolicy) -> ChunkDecoder {
        let schema = TableSchema::try_new("orders", &orders_schema(), policy).unwrap();
        ChunkDecoder::new(2, Arc::new(schema), policy, 8)
    }

    fn chunk(payloads: &[Option<&str>]) -> MessageChunk {
        let mut c = MessageChunk::with_capacity(payloads.len());
        for (i, p) in payloads.iter().enumerate() {
            c.push(p.map(str::as_bytes), 100 + i as i64, Some(1_000 + i as i64), Some(b"k"));
        }
        c
    }

    fn malformed_cases() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
        vec![
            ("not json", Some("hello"), "not valid"),
            ("truncated", Some(r#"{"order_id":"o2","#), "truncated"),
            (
                "two values",
                Some(r#"{"order_id":"a"} {"order_id":"b"}"#),
                "more than one JSON value",
            ),
            ("empty", Some("   "), "empty"),
            ("tombstone", None, "tombstone"),
            ("array", Some("[1,2]"), "not valid"),
            (
                "missing amount",
                Some(r#"{"order_id":"o","customer_id":"c","timestamp":0}"#),
                "'amount' is missing",
            ),
            (
                "null customer",
                Some(r#"{"order_id":"o","customer_id":null,"amount":1,"timestamp":0}"#),
                "'customer_id' is missing",
            ),
            (
                "wrong type",
                Some(r#"{"order_id":"o","customer_id":"c","amount":"lots","timestamp":0}"#),
                "amount",
            ),
            (
                "bad timestamp",
                Some(r#"{"order_id":"o","customer_id":"c","amount":1,"timestamp":"yesterday"}"#),
                "yesterday",
            ),
            (
                "bad lines",
                Some(r#"{"order_id":"o","customer_id":"c","amount":1,"timestamp":0,"order_line":{"x":1}}"#),
                "not valid",
            ),
        ]
    }

    #[test]
    fn good_messages_decode_in_one_pass_with_metadata() {
        let mut d = decoder(MalformedPolicy::Fail);
        let epoch = r#"{"order_id":"o2","customer_id":"c2","amount":4,"timestamp":1795168800000,"extra":"ignored"}"#;
        let out = d.decode(&mut chunk(&[Some(GOOD), Some(epoch)])).unwrap();
        let b = out.batch;
        assert_eq!((b.num_rows(), out.malformed), (2, 0));
        let ts = b
            .column_by_name("timestamp")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        // RFC 3339 text and epoch milliseconds give the same instant
        assert_eq!(ts.value(0), 1_795_168_800_000);
        assert_eq!(ts.value(1), 1_795_168_800_000);
        let amount: &Float64Array = b.column_by_name("amount").unwrap().as_primitive::<Float64Type>();
        assert_eq!(amount.values().to_vec(), vec![3.0, 4.0]);
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
        // the decoder is reused across chunks
        let again = d.decode(&mut chunk(&[Some(GOOD)])).unwrap();
        assert_eq!(again.batch.num_rows(), 1);
    }

    #[test]
    fn fail_policy_names_topic_partition_offset_for_every_case() {
        for (name, payload, expected) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::Fail);
            let err = d.decode(&mut chunk(&[Some(GOOD), payload])).unwrap_err().to_string();
            assert!(err.contains("at offset 101"), "{name}: {err}");
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn skip_policy_counts_and_drops_only_the_bad_message() {
        for (name, payload, _) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::Skip);
            let out = d.decode(&mut chunk(&[Some(GOOD), payload, Some(GOOD)])).unwrap();
            assert_eq!((out.batch.num_rows(), out.malformed), (2, 1), "{name}");
            let offsets = out.batch.column_by_name("_offset").unwrap().as_primitive::<Int64Type>();
            assert_eq!(offsets.values().to_vec(), vec![100, 102], "{name}");
        }
    }

    #[test]
    fn dead_letter_policy_keeps_a_null_row_with_the_reason() {
        for (name, payload, expected) in malformed_cases() {
            let mut d = decoder(MalformedPolicy::DeadLetter);
            let out = d.decode(&mut chunk(&[Some(GOOD), payload])).unwrap();
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
    fn bad_messages_anywhere_in_a_large_chunk_are_found_and_good_rows_keep_their_values() {
        let policy = MalformedPolicy::DeadLetter;
        let schema = TableSchema::try_new("orders", &orders_schema(), policy).unwrap();
        let mut d = ChunkDecoder::new(0, Arc::new(schema), policy, 1000);
        let bad_at = [0, 1, 127, 128, 129, 500, 998, 999];
        let cases = malformed_cases();
        for round in 0..2 {
            // the second round starts in groups, after the first had bad messages
            let payloads: Vec<Option<String>> = (0..1000)
                .map(|i| match bad_at.iter().position(|&b| b == i) {
                    Some(k) => cases[k % cases.len()].1.map(str::to_string),
                    None => Some(GOOD.replace("3.0", &format!("{i}.0"))),
                })
                .collect();
            let refs: Vec<Option<&str>> = payloads.iter().map(|p| p.as_deref()).collect();
            let out = d.decode(&mut chunk(&refs)).unwrap();
            assert_eq!(
                (out.batch.num_rows(), out.malformed),
                (1000, bad_at.len()),
                "round {round}"
            );
            let errors = out.batch.column_by_name(ERROR_COLUMN).unwrap().as_string::<i32>();
            let amounts = out
                .batch
                .column_by_name("amount")
                .unwrap()
                .as_primitive::<Float64Type>();
            for i in 0..1000 {
                assert_eq!(errors.is_valid(i), bad_at.contains(&i), "row {i}");
                if !bad_at.contains(&i) {
                    assert_eq!(amounts.value(i), i as f64, "row {i}");
                }
            }
        }
    }
}
