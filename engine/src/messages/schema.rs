//! The columns of a table of messages (a Kafka topic, a JSON-lines file):
//! the data columns decoded from each JSON message, then the metadata
//! columns Pulse adds.
//!
//! What must stay true: the metadata columns come after the data columns, in
//! the order of [`METADATA_COLUMNS`], then `_error`, which every table has
//! (so views work whatever the policy) and only `dead_letter` fills, then
//! `_warning`, which says which optional fields of a well-formed message
//! were set to NULL because their value did not fit. The schema a query
//! sees does not depend on which columns it projects: every message is
//! validated against all data columns, so a malformed message is malformed
//! for every query. (A scan that sees neither an optional column nor
//! `_warning` checks that column's JSON syntax without building its value:
//! an optional field's value never decides whether a message counts.)

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::columns::Column;
use super::policy::MalformedPolicy;
use crate::error::{PulseError, Result};

/// The Kafka partition of the message.
pub const PARTITION_COLUMN: &str = "_partition";
/// The message's offset within its partition.
pub const OFFSET_COLUMN: &str = "_offset";
/// The message timestamp (CreateTime or LogAppendTime), in UTC.
pub const TIMESTAMP_COLUMN: &str = "_timestamp";
/// The message key as UTF-8 text (invalid bytes become U+FFFD).
pub const KEY_COLUMN: &str = "_key";
/// Why a message was malformed: set under the `dead_letter` policy, NULL
/// otherwise.
pub const ERROR_COLUMN: &str = "_error";
/// Which optional fields of a well-formed message were set to NULL because
/// their value did not fit, and why (`order_line: expected an array, …`);
/// NULL when none was.
pub const WARNING_COLUMN: &str = "_warning";
/// The raw bytes of a malformed message, in tables that keep them (the
/// lake's ingest: [`TableSchema::with_dead_letter_bytes`]); NULL for a
/// well-formed one.
pub const VALUE_COLUMN: &str = "_value";

/// The metadata columns, in the order they follow the data columns.
pub const METADATA_COLUMNS: [&str; 4] = [PARTITION_COLUMN, OFFSET_COLUMN, TIMESTAMP_COLUMN, KEY_COLUMN];

/// The timestamp type of `_timestamp`: a Kafka message time, in milliseconds.
pub fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The type of the orders' event time, `timestamp`: UTC, to the nanosecond.
pub fn utc_nanos() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The type of money: `amount` is exact to 18 places after the point,
/// with up to 20 before it, so a JSON number as written (`3189041.78`, or
/// a double's shortest text such as `0.30000000000000004`) is held digit
/// for digit. More places are rounded half to even, and `_warning` says
/// so; 20 digits or more before the point make the message malformed.
pub fn money() -> DataType {
    DataType::Decimal128(38, 18)
}

/// The orders topic's data columns, as DESIGN.md gives them.
///
/// `order_id`, `customer_id`, `amount` and `timestamp` are required: a
/// message without one of them is malformed. `order_line` is a list of
/// `{product_id, volume, price}`; when a message's `order_line` does not
/// fit that type it is NULL and `_warning` says why.
pub fn orders_schema() -> SchemaRef {
    let line = Fields::from(vec![
        Field::new("product_id", DataType::Utf8, true),
        Field::new("volume", DataType::Float64, true),
        Field::new("price", DataType::Float64, true),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "order_line",
            DataType::List(Arc::new(Field::new_list_field(DataType::Struct(line), true))),
            true,
        ),
        Field::new("amount", money(), false),
        Field::new("timestamp", utc_nanos(), false),
    ]))
}

/// The data columns `data` as an arrow-json decoder would read them (all
/// nullable, timestamps in milliseconds so that a JSON integer is epoch
/// milliseconds): the benchmarks' decode floor, not Pulse's decoder.
pub fn decode_schema(data: &Schema) -> SchemaRef {
    let fields: Vec<Field> = data
        .fields()
        .iter()
        .map(|f| {
            let dt = match f.data_type() {
                DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
                other => other.clone(),
            };
            Field::new(f.name(), dt, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The schemas one table works with, derived once from its data columns.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct TableSchema {
    /// The data columns as declared; NOT NULL ones are required.
    pub data: SchemaRef,
    /// Indices of the required (declared NOT NULL) data columns.
    pub required: Vec<usize>,
    /// What the table exposes: data columns, metadata columns, `_error` and
    /// `_warning` (under `dead_letter` the data columns become nullable).
    pub table: SchemaRef,
}

impl TableSchema {
    /// The schemas of a table of `data` columns under `policy`; `table`
    /// names the table in errors (e.g. `Kafka topic 'orders'`).
    pub fn try_new(table: &str, data: &Schema, policy: MalformedPolicy) -> Result<Self> {
        let invalid = |reason: String| PulseError::InvalidSchema {
            table: table.to_string(),
            reason,
        };
        if data.fields().is_empty() {
            return Err(invalid("declare at least one data column".into()));
        }
        for f in data.fields() {
            if METADATA_COLUMNS.contains(&f.name().as_str())
                || [ERROR_COLUMN, WARNING_COLUMN, VALUE_COLUMN].contains(&f.name().as_str())
            {
                return Err(invalid(format!(
                    "column '{}' is a metadata column that Pulse adds; leave it out of the declaration",
                    f.name()
                )));
            }
            Column::try_new(f.data_type(), f.is_nullable())
                .map_err(|e| invalid(format!("column '{}': {e}", f.name())))?;
        }
        let required = data
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_nullable())
            .map(|(i, _)| i)
            .collect();
        let dead_letter = policy == MalformedPolicy::DeadLetter;
        let mut table_fields: Vec<Field> = data
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(f.is_nullable() || dead_letter))
            .collect();
        table_fields.extend([
            Field::new(PARTITION_COLUMN, DataType::Int32, false),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
            Field::new(TIMESTAMP_COLUMN, utc_millis(), true),
            Field::new(KEY_COLUMN, DataType::Utf8, true),
            Field::new(ERROR_COLUMN, DataType::Utf8, true),
            Field::new(WARNING_COLUMN, DataType::Utf8, true),
        ]);
        Ok(Self {
            data: Arc::new(data.clone()),
            required,
            table: Arc::new(Schema::new(table_fields)),
        })
    }

    /// The same table with one more column, [`VALUE_COLUMN`], holding the
    /// bytes of each malformed message kept under the `dead_letter` policy,
    /// so that a dead letter can be stored as it arrived.
    pub fn with_dead_letter_bytes(mut self) -> Self {
        let mut fields: Vec<Field> = self.table.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(VALUE_COLUMN, DataType::Binary, true));
        self.table = Arc::new(Schema::new(fields));
        self
    }

    /// True when the table keeps the bytes of malformed messages.
    pub fn keeps_dead_letter_bytes(&self) -> bool {
        self.table.fields().last().is_some_and(|f| f.name() == VALUE_COLUMN)
    }

    /// The declared type of data column `i` (what the decoded column is cast to).
    pub fn data_type(&self, i: usize) -> &DataType {
        self.table.field(i).data_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_table_columns() {
        let s = TableSchema::try_new("orders", &orders_schema(), MalformedPolicy::Fail).unwrap();
        let names: Vec<&str> = s.table.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "order_id",
                "customer_id",
                "order_line",
                "amount",
                "timestamp",
                "_partition",
                "_offset",
                "_timestamp",
                "_key",
                "_error",
                "_warning"
            ]
        );
        assert_eq!(s.required, vec![0, 1, 3, 4]);
        assert!(!s.table.field(0).is_nullable());
    }

    #[test]
    fn dead_letter_relaxes_nullability() {
        let s = TableSchema::try_new("orders", &orders_schema(), MalformedPolicy::DeadLetter).unwrap();
        assert_eq!(s.table.fields().last().unwrap().name(), WARNING_COLUMN);
        assert!(
            s.table
                .fields()
                .iter()
                .take(orders_schema().fields().len())
                .all(|f| f.is_nullable())
        );
    }

    #[test]
    fn types_the_decoder_cannot_read_are_refused_naming_the_column() {
        let data = Schema::new(vec![Field::new("blob", DataType::Binary, true)]);
        let err = TableSchema::try_new("Kafka topic 't'", &data, MalformedPolicy::Fail)
            .unwrap_err()
            .to_string();
        assert!(err.contains("column 'blob'") && err.contains("Binary"), "{err}");
    }

    #[test]
    fn metadata_names_are_reserved() {
        let data = Schema::new(vec![Field::new("_offset", DataType::Int64, true)]);
        let err = TableSchema::try_new("Kafka topic 't'", &data, MalformedPolicy::Fail)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'_offset'") && err.contains("Kafka topic 't'"), "{err}");
    }
}
