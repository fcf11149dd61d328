//! The lake's tables: their names, their columns as Delta stores them, and
//! how decoded messages become their rows.
//!
//! Delta keeps timestamps in microseconds, and Trino and Spark read them so;
//! Pulse reads order times in nanoseconds. So the `orders` table stores
//! `timestamp` in microseconds (rounded down) and `timestamp_nanos`, the
//! nanoseconds past that microsecond (0 to 999); [`LakeTable::Orders`]' read
//! side puts them back together. Money stays `DECIMAL(38, 18)`.
//!
//! Text lists are Delta arrays, whose Arrow item is named `element`;
//! everything is cast to these columns before it is written.
//!
//! What must stay true: a decoded message becomes exactly one row, of
//! `orders` when it was well formed and of `orders_dead_letter` (with its
//! bytes) when it was not; the columns a reader sees from the lake are the
//! Kafka table's, value for value.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int16Array, RecordBatch, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{cast, filter_record_batch, is_not_null, is_null};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit, TimestampNanosecondType};

use crate::error::{PulseError, Result};
use crate::messages::schema::{
    ERROR_COLUMN, KEY_COLUMN, OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN, WARNING_COLUMN, money,
};

/// The schema of the `dal` catalog that holds the lake's tables:
/// `dal.pulse.orders`, and so on.
pub const LAKE_SCHEMA: &str = "pulse";

/// The column of `orders` by which it is partitioned: the UTC date of the
/// order's event time.
pub const ORDER_DATE: &str = "order_date";

/// The nanoseconds past the microsecond of `timestamp`.
pub const TIMESTAMP_NANOS: &str = "timestamp_nanos";

/// One of the lake's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LakeTable {
    /// Every well-formed order message, with its Kafka position.
    Orders,
    /// Every malformed message, with its bytes and what was wrong.
    OrdersDeadLetter,
    /// Every row of every customer batch, with its batch, place and file:
    /// the full history, for point-in-time joins.
    CustomerBatches,
    /// One row per customer by the deduplication rule (newest batch, then
    /// last row within it), as the `customers` table reads the batches.
    Customers,
    /// The 10 industries.
    Industries,
}

impl LakeTable {
    /// Every table, in the order `\d` lists them.
    pub const ALL: [LakeTable; 5] = [
        LakeTable::Orders,
        LakeTable::OrdersDeadLetter,
        LakeTable::CustomerBatches,
        LakeTable::Customers,
        LakeTable::Industries,
    ];

    /// The table's name in the lake (its folder) and in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            LakeTable::Orders => "orders",
            LakeTable::OrdersDeadLetter => "orders_dead_letter",
            LakeTable::CustomerBatches => "customer_batches",
            LakeTable::Customers => "customers",
            LakeTable::Industries => "industries",
        }
    }

    /// The columns Delta stores.
    pub fn schema(self) -> SchemaRef {
        let utc_micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let position = [
            Field::new(PARTITION_COLUMN, DataType::Int32, false),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
            Field::new(TIMESTAMP_COLUMN, utc_micros.clone(), true),
            Field::new(KEY_COLUMN, DataType::Utf8, true),
        ];
        let fields: Vec<Field> = match self {
            LakeTable::Orders => {
                let line = Fields::from(vec![
                    Field::new("product_id", DataType::Utf8, true),
                    Field::new("volume", DataType::Float64, true),
                    Field::new("price", DataType::Float64, true),
                ]);
                let mut fields = vec![
                    Field::new("order_id", DataType::Utf8, false),
                    Field::new("customer_id", DataType::Utf8, false),
                    Field::new(
                        "order_line",
                        DataType::List(Arc::new(Field::new("element", DataType::Struct(line), true))),
                        true,
                    ),
                    Field::new("amount", money(), false),
                    Field::new("timestamp", utc_micros, false),
                    Field::new(TIMESTAMP_NANOS, DataType::Int16, false),
                ];
                fields.extend(position);
                fields.push(Field::new(WARNING_COLUMN, DataType::Utf8, true));
                fields.push(Field::new(ORDER_DATE, DataType::Date32, false));
                fields
            }
            LakeTable::OrdersDeadLetter => {
                let mut fields = position.to_vec();
                fields.push(Field::new(VALUE_COLUMN, DataType::Binary, true));
                fields.push(Field::new(ERROR_COLUMN, DataType::Utf8, false));
                fields
            }
            LakeTable::CustomerBatches | LakeTable::Customers => {
                let text_list = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
                let mut fields = vec![
                    Field::new("customer_id", DataType::Utf8, false),
                    Field::new("company_name", DataType::Utf8, true),
                    Field::new("specialised_industries", text_list, true),
                    Field::new("batch_id", DataType::Utf8, false),
                ];
                if self == LakeTable::CustomerBatches {
                    fields.extend([
                        Field::new("batch_time", utc_micros, false),
                        Field::new("row_in_batch", DataType::Int64, false),
                        Field::new("file", DataType::Utf8, false),
                    ]);
                }
                fields
            }
            LakeTable::Industries => vec![Field::new("industry", DataType::Utf8, false)],
        };
        Arc::new(Schema::new(fields))
    }

    /// The columns the table is partitioned by.
    pub fn partition_columns(self) -> &'static [&'static str] {
        match self {
            LakeTable::Orders => &[ORDER_DATE],
            LakeTable::OrdersDeadLetter | LakeTable::CustomerBatches | LakeTable::Customers | LakeTable::Industries => {
                &[]
            }
        }
    }
}

/// A decoded batch's rows split into the lake's: the well-formed orders as
/// `orders` rows, the malformed messages as `orders_dead_letter` rows.
#[derive(Debug)]
pub struct LakeRows {
    /// Rows of [`LakeTable::Orders`].
    pub orders: RecordBatch,
    /// Rows of [`LakeTable::OrdersDeadLetter`].
    pub dead_letters: RecordBatch,
}

/// Splits `decoded`, a batch of a Kafka table with the order columns, kept
/// malformed messages (`dead_letter` policy) and their bytes
/// ([`crate::messages::TableSchema::with_dead_letter_bytes`]), into the
/// lake's rows.
pub fn lake_rows(decoded: &RecordBatch) -> Result<LakeRows> {
    let column = |name: &str| -> Result<&ArrayRef> {
        decoded.column_by_name(name).ok_or_else(|| PulseError::InvalidSchema {
            table: "the lake's orders".into(),
            reason: format!("the decoded messages have no column '{name}'"),
        })
    };
    let malformed = is_not_null(column(ERROR_COLUMN)?).map_err(arrow_error)?;
    let well_formed = is_null(column(ERROR_COLUMN)?).map_err(arrow_error)?;
    let good = filter_record_batch(decoded, &well_formed).map_err(arrow_error)?;
    let bad = filter_record_batch(decoded, &malformed).map_err(arrow_error)?;

    let orders_schema = LakeTable::Orders.schema();
    let good_column = |name: &str| -> Result<ArrayRef> {
        good.column_by_name(name)
            .cloned()
            .ok_or_else(|| PulseError::InvalidSchema {
                table: "the lake's orders".into(),
                reason: format!("the decoded messages have no column '{name}'"),
            })
    };
    let nanos = good_column("timestamp")?;
    let nanos = nanos
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| PulseError::InvalidSchema {
            table: "the lake's orders".into(),
            reason: format!("'timestamp' is {}, not nanoseconds", nanos.data_type()),
        })?;
    let (mut micros, mut sub_micro, mut dates) = (
        Vec::with_capacity(nanos.len()),
        Vec::with_capacity(nanos.len()),
        Vec::with_capacity(nanos.len()),
    );
    for t in nanos.values().iter() {
        micros.push(t.div_euclid(1_000));
        sub_micro.push(i16::try_from(t.rem_euclid(1_000)).unwrap_or_default());
        dates.push(i32::try_from(t.div_euclid(86_400 * 1_000_000_000)).unwrap_or_default());
    }
    let mut columns = Vec::with_capacity(orders_schema.fields().len());
    for field in orders_schema.fields() {
        let array: ArrayRef = match field.name().as_str() {
            "timestamp" => Arc::new(TimestampMicrosecondArray::from(std::mem::take(&mut micros)).with_timezone("UTC")),
            TIMESTAMP_NANOS => Arc::new(Int16Array::from(std::mem::take(&mut sub_micro))),
            ORDER_DATE => Arc::new(Date32Array::from(std::mem::take(&mut dates))),
            name => cast(&good_column(name)?, field.data_type()).map_err(arrow_error)?,
        };
        columns.push(array);
    }
    let orders = RecordBatch::try_new(orders_schema, columns).map_err(arrow_error)?;

    let dead_schema = LakeTable::OrdersDeadLetter.schema();
    let columns = dead_schema
        .fields()
        .iter()
        .map(|field| {
            let array = bad
                .column_by_name(field.name())
                .ok_or_else(|| PulseError::InvalidSchema {
                    table: "the lake's orders_dead_letter".into(),
                    reason: format!("the decoded messages have no column '{}'", field.name()),
                })?;
            cast(array, field.data_type()).map_err(arrow_error)
        })
        .collect::<Result<Vec<_>>>()?;
    let dead_letters = RecordBatch::try_new(dead_schema, columns).map_err(arrow_error)?;
    Ok(LakeRows { orders, dead_letters })
}

fn arrow_error(e: datafusion::arrow::error::ArrowError) -> PulseError {
    PulseError::InvalidSchema {
        table: "the lake's orders".into(),
        reason: format!("could not build lake rows: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::decode::{ChunkDecoder, MessageChunk};
    use crate::messages::{MalformedPolicy, TableSchema, orders_schema};

    #[test]
    fn one_message_one_row_of_one_table() {
        let schema = Arc::new(
            TableSchema::try_new("orders", &orders_schema(), MalformedPolicy::DeadLetter)
                .unwrap()
                .with_dead_letter_bytes(),
        );
        let mut decoder = ChunkDecoder::new(3, schema, MalformedPolicy::DeadLetter).unwrap();
        let mut chunk = MessageChunk::with_capacity(4);
        let good = br#"{"order_id":"o1","customer_id":"c1","order_line":[],"amount":1.5,"timestamp":"1969-12-31T23:59:59.999999999Z"}"#;
        chunk.push(Some(good), 10, Some(5), Some(b"k"));
        chunk.push(Some(b"{not json"), 11, Some(6), None);
        chunk.push(None, 12, None, None);
        let decoded = decoder.decode(&mut chunk).unwrap().batch;
        let rows = lake_rows(&decoded).unwrap();
        assert_eq!(rows.orders.num_rows(), 1);
        assert_eq!(rows.dead_letters.num_rows(), 2);
        let micros = rows.orders.column_by_name("timestamp").unwrap();
        let micros = micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(micros.value(0), -1, "rounded down, not towards zero");
        let nanos = rows.orders.column_by_name(TIMESTAMP_NANOS).unwrap();
        assert_eq!(
            nanos.as_primitive::<datafusion::arrow::datatypes::Int16Type>().value(0),
            999
        );
        let date = rows.orders.column_by_name(ORDER_DATE).unwrap();
        assert_eq!(
            date.as_primitive::<datafusion::arrow::datatypes::Date32Type>().value(0),
            -1
        );
        let bytes = rows
            .dead_letters
            .column_by_name(VALUE_COLUMN)
            .unwrap()
            .as_binary::<i32>();
        assert_eq!(bytes.value(0), b"{not json");
        assert!(bytes.is_null(1), "a tombstone has no bytes");
        let offsets = rows.dead_letters.column_by_name(OFFSET_COLUMN).unwrap();
        assert_eq!(
            offsets
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[11, 12]
        );
    }
}
