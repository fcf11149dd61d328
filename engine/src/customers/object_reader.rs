//! Reading one Parquet object of a batch into the customer columns.
//!
//! Only `customer_id`, `company_name` and `specialised_industries` are read.
//! `customer_id` is text, or an integer read as its decimal text (so it
//! joins with the orders' `customer_id`); `company_name` is text;
//! `specialised_industries` is text or a list of text (either plain or
//! dictionary-encoded) and becomes `list<utf8>`, a text field being a
//! one-element list, so that both forms DESIGN.md allows read the same way.
//!
//! What must stay true: an object that is not Parquet, an object without
//! `customer_id` or `specialised_industries`, and a column of another type
//! (a floating-point `customer_id` would match no order) are errors naming
//! the object, its batch and the column, never rows that quietly match
//! nothing; a missing `company_name` is NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, RecordBatch, new_null_array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{DefaultParquetFileReaderFactory, ParquetFileReaderFactory};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use std::ops::Range;

use bytes::Bytes;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::metadata::ParquetMetaData;
use futures::TryStreamExt;
use futures::future::BoxFuture;

use super::listing::{Batch, BatchFile};
use crate::error::{PulseError, Result};
use crate::storage::Location;

/// The customer id column.
pub const CUSTOMER_ID: &str = "customer_id";
/// The company name column.
pub const COMPANY_NAME: &str = "company_name";
/// The industries column.
pub const INDUSTRIES: &str = "specialised_industries";

/// `list<utf8>`.
pub fn list_of_text() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// The columns every object is read into.
pub fn customer_columns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(CUSTOMER_ID, DataType::Utf8, true),
        Field::new(COMPANY_NAME, DataType::Utf8, true),
        Field::new(INDUSTRIES, list_of_text(), true),
    ]))
}

fn unreadable(location: &Location, batch: &Batch, file: &BatchFile, reason: String) -> PulseError {
    PulseError::InvalidLocation {
        location: location.display.clone(),
        reason: format!(
            "batch '{}' object '{}': {reason}",
            batch.id,
            location.url_of(&file.path)
        ),
    }
}

/// Reads one object into [`customer_columns`], in file order.
pub async fn read_object(
    location: &Location,
    batch: &Batch,
    file: &BatchFile,
    batch_size: usize,
) -> Result<Vec<RecordBatch>> {
    let fail = |reason: String| unreadable(location, batch, file, reason);
    let reader = DefaultParquetFileReaderFactory::new(Arc::clone(&location.store))
        .create_reader(
            0,
            // the listed path as it is: re-parsing it from text would
            // percent-encode it a second time
            PartitionedFile::from(file.meta()),
            None,
            &ExecutionPlanMetricsSet::new(),
        )
        .map_err(|e| fail(format!("cannot be opened: {e}")))?;
    let builder = ParquetRecordBatchStreamBuilder::new(SendReader(reader))
        .await
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    let file_schema = Arc::clone(builder.schema());
    let required = |name: &str| {
        file_schema.index_of(name).map_err(|_| {
            let columns: Vec<&str> = file_schema.fields().iter().map(|f| f.name().as_str()).collect();
            fail(format!("has no '{name}' column (it has {})", columns.join(", ")))
        })
    };
    let id_index = required(CUSTOMER_ID)?;
    let industries_index = required(INDUSTRIES)?;
    let name_index = file_schema.index_of(COMPANY_NAME).ok();
    let id_type = file_schema.field(id_index).data_type();
    if !is_text(id_type) && !id_type.is_integer() {
        return Err(fail(format!(
            "column '{CUSTOMER_ID}' is {id_type}; customer ids must be text or integers (an id such as 1.0 \
             would match no order)"
        )));
    }
    let industries_type = file_schema.field(industries_index).data_type();
    let is_list_of_text = match industries_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
            is_text(f.data_type())
        }
        _ => false,
    };
    if !is_text(industries_type) && !is_list_of_text {
        return Err(fail(format!(
            "column '{INDUSTRIES}' is {industries_type}; it must be text or a list of text"
        )));
    }
    let wanted: Vec<usize> = [Some(id_index), name_index, Some(industries_index)]
        .into_iter()
        .flatten()
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let stream = builder
        .with_projection(mask)
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    let batches: Vec<RecordBatch> = stream
        .try_collect()
        .await
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    batches.iter().map(|b| canonical(b, &fail)).collect()
}

/// True for text, plain or dictionary-encoded.
fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// DataFusion's object-store Parquet reader, as a type the Parquet stream
/// builder accepts (it implements the reader trait for `Box<dyn …>`
/// without `Send`).
struct SendReader(Box<dyn AsyncFileReader + Send>);

impl AsyncFileReader for SendReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        self.0.get_bytes(range)
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        self.0.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        self.0.get_metadata(options)
    }
}

/// One record batch of a file as [`customer_columns`].
fn canonical(batch: &RecordBatch, fail: &dyn Fn(String) -> PulseError) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let column = |name: &str| batch.column_by_name(name);
    let as_text = |name: &str, a: &ArrayRef| {
        cast(a, &DataType::Utf8).map_err(|e| {
            fail(format!(
                "column '{name}' ({}) cannot be read as text: {e}",
                a.data_type()
            ))
        })
    };
    let id = match column(CUSTOMER_ID) {
        Some(a) => as_text(CUSTOMER_ID, a)?,
        None => return Err(fail(format!("has no '{CUSTOMER_ID}' column"))),
    };
    let name = match column(COMPANY_NAME) {
        Some(a) => as_text(COMPANY_NAME, a)?,
        None => new_null_array(&DataType::Utf8, n),
    };
    let industries = match column(INDUSTRIES) {
        None => return Err(fail(format!("has no '{INDUSTRIES}' column"))),
        Some(a) => match a.data_type() {
            t if is_text(t) || *t == DataType::Null => {
                // text: each row a list of one element (NULL stays NULL)
                let text = as_text(INDUSTRIES, a)?;
                let nulls = text.logical_nulls();
                let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(1, n));
                Arc::new(ListArray::new(
                    Arc::new(Field::new_list_field(DataType::Utf8, true)),
                    offsets,
                    text,
                    nulls,
                ))
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) | DataType::ListView(_) => {
                cast(a, &list_of_text()).map_err(|e| {
                    fail(format!(
                        "column '{INDUSTRIES}' ({}) is not a list of text: {e}",
                        a.data_type()
                    ))
                })?
            }
            other => {
                return Err(fail(format!(
                    "column '{INDUSTRIES}' is {other}; it must be text or a list of text"
                )));
            }
        },
    };
    RecordBatch::try_new(customer_columns(), vec![id, name, industries]).map_err(|e| fail(e.to_string()))
}
