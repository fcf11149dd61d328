//! Deduplication across and within batches, in one pass, newest first.
//!
//! The exec feeds the [`Deduplicator`] every batch from newest to oldest,
//! each batch's objects from last to first, and each object's rows from
//! last to first. So the first time it meets a `customer_id` within a batch
//! is that batch's last row for it (within a batch, the last row wins), and
//! the first time it meets one at all is the newest batch's version (across
//! batches, the newest wins). It keeps one entry per distinct customer, not
//! the rows: memory grows with customers, not with batches.
//!
//! - The `latest` view keeps each customer's first meeting.
//! - The `history` view keeps each batch's version, with `valid_from` the
//!   batch's time and `valid_to` the time of the next newer batch that has
//!   the customer (NULL for the current version).
//!
//! What must stay true: the same batches give the same rows; every row left
//! out is counted, as a duplicate within its batch, a version superseded by
//! a newer batch (`latest` only), or a row without a `customer_id`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
// hashbrown with foldhash, seeded per process: std's SipHash was a sixth of
// the time of reading the customers
use datafusion::common::HashMap;
use datafusion::common::hash_map::EntryRef;

use super::config::CustomersView;
use super::listing::Batch;
use super::object_reader::{COMPANY_NAME, CUSTOMER_ID, INDUSTRIES, list_of_text};
use crate::error::{PulseError, Result};

/// The batch column.
pub const BATCH_ID: &str = "batch_id";
/// When a version starts to hold (its batch's time).
pub const VALID_FROM: &str = "valid_from";
/// When a version stops holding (the next batch with the customer), or NULL.
pub const VALID_TO: &str = "valid_to";

/// The table's columns for a view.
pub fn table_schema(view: CustomersView) -> SchemaRef {
    let mut fields = vec![
        Field::new(CUSTOMER_ID, DataType::Utf8, false),
        Field::new(COMPANY_NAME, DataType::Utf8, true),
        Field::new(INDUSTRIES, list_of_text(), true),
        Field::new(BATCH_ID, DataType::Utf8, false),
    ];
    if view == CustomersView::History {
        let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        fields.push(Field::new(VALID_FROM, utc.clone(), false));
        fields.push(Field::new(VALID_TO, utc, true));
    }
    Arc::new(Schema::new(fields))
}

/// What the deduplication left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DedupCounts {
    /// Rows read.
    pub rows_read: usize,
    /// Earlier rows of a customer within the same batch.
    pub duplicates_in_batch: usize,
    /// Versions of a customer that a newer batch replaced (`latest` only).
    pub superseded: usize,
    /// Rows without a `customer_id`.
    pub without_customer_id: usize,
}

/// Where a customer was last met.
#[derive(Debug, Clone, Copy)]
struct Met {
    batch_number: u32,
    /// The batch's time.
    time: i64,
}

/// The one-pass deduplicator; see the module documentation for the order
/// in which rows must arrive.
#[derive(Debug)]
pub struct Deduplicator {
    view: CustomersView,
    schema: SchemaRef,
    /// Every customer met so far, with the batch it was last met in: one
    /// look-up per row says whether the row repeats the current batch's
    /// customer, and else which newer batch had it.
    met: HashMap<String, Met>,
    batch: Option<(String, i64)>,
    /// The current batch's number, counting from the newest (0).
    batch_number: u32,
    counts: DedupCounts,
}

impl Deduplicator {
    /// A deduplicator for `view`.
    pub fn new(view: CustomersView) -> Self {
        Self {
            view,
            schema: table_schema(view),
            met: HashMap::new(),
            batch: None,
            batch_number: 0,
            counts: DedupCounts::default(),
        }
    }

    /// What was left out so far.
    pub fn counts(&self) -> DedupCounts {
        self.counts
    }

    /// Starts a batch (older than every batch before it).
    pub fn begin_batch(&mut self, batch: &Batch) {
        if self.batch.is_some() {
            self.batch_number += 1;
        }
        self.batch = Some((batch.id.clone(), batch.time_ms));
    }

    /// Ends the current batch, if any.
    pub fn end_batch(&mut self) {
        if self.batch.take().is_some() {
            self.batch_number += 1;
        }
    }

    /// Deduplicates one record batch of [`super::object_reader::customer_columns`],
    /// returning the rows kept, last row first, in the table's schema.
    pub fn process(&mut self, rows: &RecordBatch) -> Result<RecordBatch> {
        let Some((batch_id, batch_time)) = self.batch.clone() else {
            return Err(PulseError::InvalidSchema {
                table: "customers".into(),
                reason: "rows arrived outside a batch".into(),
            });
        };
        self.counts.rows_read += rows.num_rows();
        let ids = rows.column(0).as_string::<i32>();
        let mut keep: Vec<u32> = Vec::new();
        let mut valid_to: Vec<Option<i64>> = Vec::new();
        for row in (0..rows.num_rows()).rev() {
            if ids.is_null(row) {
                self.counts.without_customer_id += 1;
                continue;
            }
            let now = Met {
                batch_number: self.batch_number,
                time: batch_time,
            };
            let newer = match self.met.entry_ref(ids.value(row)) {
                EntryRef::Occupied(met) if met.get().batch_number == now.batch_number => {
                    self.counts.duplicates_in_batch += 1;
                    continue;
                }
                EntryRef::Occupied(mut met) => Some(std::mem::replace(met.get_mut(), now).time),
                EntryRef::Vacant(met) => {
                    met.insert(now);
                    None
                }
            };
            if self.view == CustomersView::Latest && newer.is_some() {
                self.counts.superseded += 1;
                continue;
            }
            keep.push(row as u32);
            valid_to.push(newer);
        }
        let indices = UInt32Array::from(keep);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for c in rows.columns() {
            columns.push(take(c.as_ref(), &indices, None).map_err(|e| self.error(e))?);
        }
        let n = indices.len();
        columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            batch_id.as_str(),
            n,
        ))));
        if self.view == CustomersView::History {
            columns.push(Arc::new(
                TimestampMillisecondArray::from(vec![batch_time; n]).with_timezone("UTC"),
            ));
            columns.push(Arc::new(TimestampMillisecondArray::from(valid_to).with_timezone("UTC")));
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| self.error(e))
    }

    fn error(&self, e: impl std::fmt::Display) -> PulseError {
        PulseError::InvalidSchema {
            table: "customers".into(),
            reason: format!("could not build the deduplicated rows: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::object_reader::customer_columns;
    use crate::test_rng::Rng;
    use datafusion::arrow::array::{ListBuilder, StringBuilder};

    fn rows(data: &[(Option<&str>, &str)]) -> RecordBatch {
        let ids = StringArray::from(data.iter().map(|(id, _)| *id).collect::<Vec<_>>());
        let names = StringArray::from(data.iter().map(|(_, n)| Some(*n)).collect::<Vec<_>>());
        let mut industries = ListBuilder::new(StringBuilder::new());
        for _ in data {
            industries.values().append_value("Food");
            industries.append(true);
        }
        RecordBatch::try_new(
            customer_columns(),
            vec![Arc::new(ids), Arc::new(names), Arc::new(industries.finish())],
        )
        .unwrap()
    }

    fn batch(id: &str, time_ms: i64) -> Batch {
        Batch {
            id: id.into(),
            time_ms,
            files: vec![],
        }
    }

    fn shown(b: &RecordBatch) -> Vec<String> {
        let ids = b.column(0).as_string::<i32>();
        let names = b.column(1).as_string::<i32>();
        let batches = b.column(3).as_string::<i32>();
        (0..b.num_rows())
            .map(|i| {
                let mut s = format!("{} {} {}", ids.value(i), names.value(i), batches.value(i));
                if b.num_columns() > 4 {
                    let to = b
                        .column(5)
                        .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
                    s += &format!(
                        " to={}",
                        if to.is_null(i) {
                            "-".into()
                        } else {
                            to.value(i).to_string()
                        }
                    );
                }
                s
            })
            .collect()
    }

    /// Batches b2 (newer) then b1, fed newest first as the exec does.
    fn run(view: CustomersView) -> (Vec<String>, DedupCounts) {
        let mut d = Deduplicator::new(view);
        let mut out = Vec::new();
        d.begin_batch(&batch("b2", 200));
        out.extend(shown(
            &d.process(&rows(&[(Some("c1"), "Acme v2"), (Some("c3"), "Cobalt")]))
                .unwrap(),
        ));
        d.begin_batch(&batch("b1", 100));
        // within b1, c2 appears twice: the later row ("Beta new") wins
        out.extend(shown(
            &d.process(&rows(&[
                (Some("c1"), "Acme"),
                (Some("c2"), "Beta old"),
                (None, "?"),
                (Some("c2"), "Beta new"),
            ]))
            .unwrap(),
        ));
        d.end_batch();
        (out, d.counts())
    }

    #[test]
    fn latest_keeps_the_newest_batch_and_the_last_row_within_a_batch() {
        let (out, counts) = run(CustomersView::Latest);
        assert_eq!(out, ["c3 Cobalt b2", "c1 Acme v2 b2", "c2 Beta new b1"]);
        assert_eq!(
            counts,
            DedupCounts {
                rows_read: 6,
                duplicates_in_batch: 1,
                superseded: 1,
                without_customer_id: 1
            }
        );
    }

    #[test]
    fn history_keeps_every_batchs_version_with_its_validity() {
        let (out, counts) = run(CustomersView::History);
        assert_eq!(
            out,
            [
                "c3 Cobalt b2 to=-",
                "c1 Acme v2 b2 to=-",
                "c2 Beta new b1 to=-",
                "c1 Acme b1 to=200"
            ]
        );
        assert_eq!(counts.superseded, 0);
        assert_eq!(counts.duplicates_in_batch, 1);
    }

    /// One record batch of rows: (customer id, name).
    type Chunk = Vec<(Option<String>, String)>;

    /// Random batches, each in several record batches, against the
    /// definition: `latest` keeps each customer's last row of the newest
    /// batch that has it; `history` keeps each batch's last row of each
    /// customer, valid until the next newer batch that has it.
    #[test]
    fn random_batches_give_what_the_definition_says() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut next = |n: u64| rng.below(n);
        for round in 0..200 {
            // batches[b][chunk][row] = (id, name); batch 0 is the oldest
            let batches: Vec<Vec<Chunk>> = (0..1 + next(4))
                .map(|_| {
                    (0..1 + next(3))
                        .map(|_| {
                            (0..next(8))
                                .map(|_| {
                                    let id = (next(10) != 0).then(|| format!("c{}", next(6)));
                                    (id, format!("n{}", next(1000)))
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect();
            for view in [CustomersView::Latest, CustomersView::History] {
                // what the deduplicator gives, fed newest batch first, last
                // record batch first, as the exec does
                let mut d = Deduplicator::new(view);
                let mut got = Vec::new();
                for (b, chunks) in batches.iter().enumerate().rev() {
                    d.begin_batch(&batch(&format!("b{b}"), 100 * b as i64));
                    for chunk in chunks.iter().rev() {
                        let data: Vec<(Option<&str>, &str)> =
                            chunk.iter().map(|(id, n)| (id.as_deref(), n.as_str())).collect();
                        got.extend(shown(&d.process(&rows(&data)).unwrap()));
                    }
                }
                d.end_batch();
                // the definition
                let mut want = Vec::new();
                let mut counts = DedupCounts::default();
                let has = |b: usize, id: &str| batches[b].iter().flatten().any(|(i, _)| i.as_deref() == Some(id));
                for (b, chunks) in batches.iter().enumerate() {
                    let all: Vec<_> = chunks.iter().flatten().collect();
                    counts.rows_read += all.len();
                    counts.without_customer_id += all.iter().filter(|(id, _)| id.is_none()).count();
                    let mut ids: Vec<&str> = all.iter().filter_map(|(id, _)| id.as_deref()).collect();
                    ids.sort();
                    let rows_with_id = ids.len();
                    ids.dedup();
                    counts.duplicates_in_batch += rows_with_id - ids.len();
                    for id in ids {
                        let name = &all.iter().rev().find(|(i, _)| i.as_deref() == Some(id)).unwrap().1;
                        let newer = (b + 1..batches.len()).find(|&n| has(n, id));
                        match (view, newer) {
                            (CustomersView::Latest, Some(_)) => counts.superseded += 1,
                            (CustomersView::Latest, None) => want.push(format!("{id} {name} b{b}")),
                            (_, newer) => want.push(format!(
                                "{id} {name} b{b} to={}",
                                newer.map_or("-".into(), |n| (100 * n).to_string())
                            )),
                        }
                    }
                }
                got.sort();
                want.sort();
                assert_eq!(got, want, "round {round}, {view:?}, {batches:?}");
                assert_eq!(d.counts(), counts, "round {round}, {view:?}, {batches:?}");
            }
        }
    }
}
