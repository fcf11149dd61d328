//! Typed columns that read their values straight from a [`Cursor`]: the
//! typing half of the decoder, where `DESIGN.md`'s field contract ("A
//! well-formed order") is enforced.
//!
//! A [`Column`] is built from a declared Arrow type and appends one entry
//! per [`Column::read`]. What each type takes:
//! - text: a JSON string; a column that may be NULL also takes an integer,
//!   kept as its text (`"product_id": 125` reads as `"125"`);
//! - integers: a JSON integer within the type's range;
//! - floating point: a finite JSON number (`1e400` overflows and is refused);
//! - decimals: a JSON number, never a string, read from its text
//!   ([`super::decimal`]): exact to the column's scale, rounded half to even
//!   past it (and [`Column::take_note`] says so), malformed past its
//!   precision;
//! - booleans: `true` or `false`;
//! - timestamps: an RFC 3339 string with an offset
//!   ([`pulse_udfs::rfc3339`]) or a JSON integer of epoch milliseconds;
//! - lists: an array; structs: an object, whose keys may come in any order,
//!   whose unknown keys are skipped, and whose missing keys are NULL;
//! - NULL: `null`, where the field may be NULL.
//!
//! What must stay true: a `read` that fails may leave a partial entry
//! behind, so the caller [`Column::truncate`]s back to where it started;
//! a type error says what was expected and what was found, and a syntax
//! error (including a key that appears twice) is never taken for a type
//! error, because it makes the whole message malformed.

use std::sync::Arc;

use datafusion::arrow::array::BooleanBufferBuilder;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, ListArray, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};

use super::decimal;
use super::json::{Cursor, Kind, MAX_DEPTH, SyntaxError, unescape};

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// The message is not strict JSON: it is malformed whatever the field.
    Syntax(Box<SyntaxError>),
    /// The value is JSON, but not of the field's type.
    Type(String),
}

impl From<Box<SyntaxError>> for ValueError {
    fn from(e: Box<SyntaxError>) -> Self {
        ValueError::Syntax(e)
    }
}

type Result<T> = std::result::Result<T, ValueError>;

/// One column being built from JSON values.
#[derive(Debug)]
pub struct Column {
    nullable: bool,
    valid: BooleanBufferBuilder,
    values: Values,
    /// What the last read changed in a value it kept (a decimal rounded to
    /// the column's scale), for the row's `_warning`.
    note: Option<String>,
}

#[derive(Debug)]
enum Values {
    Text {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Boolean(BooleanBufferBuilder),
    Integer {
        values: Vec<i64>,
        min: i64,
        max: i64,
    },
    Float(Vec<f64>),
    Decimal {
        values: Vec<i128>,
        precision: u8,
        scale: i8,
    },
    Timestamp {
        values: Vec<i64>,
        unit: TimeUnit,
        tz: Option<Arc<str>>,
    },
    List {
        offsets: Vec<i32>,
        field: FieldRef,
        child: Box<Column>,
    },
    Struct {
        fields: Fields,
        keys: Vec<Box<[u8]>>,
        children: Vec<Column>,
    },
}

impl Column {
    /// A column for values of `data_type`; `nullable` says whether `null`
    /// (or a missing struct key) is allowed. Fails, naming the type, for a
    /// type the decoder cannot build.
    pub fn try_new(data_type: &DataType, nullable: bool) -> std::result::Result<Self, String> {
        let values = match data_type {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Values::Text {
                offsets: vec![0],
                data: Vec::new(),
            },
            DataType::Boolean => Values::Boolean(BooleanBufferBuilder::new(0)),
            DataType::Int8 => integer(i8::MIN.into(), i8::MAX.into()),
            DataType::Int16 => integer(i16::MIN.into(), i16::MAX.into()),
            DataType::Int32 => integer(i32::MIN.into(), i32::MAX.into()),
            DataType::Int64 => integer(i64::MIN, i64::MAX),
            DataType::UInt8 => integer(0, u8::MAX.into()),
            DataType::UInt16 => integer(0, u16::MAX.into()),
            DataType::UInt32 => integer(0, u32::MAX.into()),
            DataType::UInt64 => integer(0, i64::MAX),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Values::Float(Vec::new()),
            DataType::Decimal128(precision, scale) => Values::Decimal {
                values: Vec::new(),
                precision: *precision,
                scale: *scale,
            },
            DataType::Timestamp(unit, tz) => Values::Timestamp {
                values: Vec::new(),
                unit: *unit,
                tz: tz.clone(),
            },
            DataType::List(field) | DataType::LargeList(field) => {
                let child = Column::try_new(field.data_type(), field.is_nullable())?;
                Values::List {
                    offsets: vec![0],
                    field: Arc::new(Field::new(field.name(), child.data_type(), field.is_nullable())),
                    child: Box::new(child),
                }
            }
            DataType::Struct(fields) => {
                let children = fields
                    .iter()
                    .map(|f| Column::try_new(f.data_type(), f.is_nullable()))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let built: Fields = fields
                    .iter()
                    .zip(&children)
                    .map(|(f, c)| Field::new(f.name(), c.data_type(), f.is_nullable()))
                    .collect();
                Values::Struct {
                    keys: fields.iter().map(|f| f.name().as_bytes().into()).collect(),
                    fields: built,
                    children,
                }
            }
            other => {
                return Err(format!(
                    "type {other} cannot be read from JSON messages; use text, integers, floating point, \
                     DECIMAL, BOOLEAN, TIMESTAMP, or lists and structs of them"
                ));
            }
        };
        Ok(Self {
            nullable,
            valid: BooleanBufferBuilder::new(0),
            values,
            note: None,
        })
    }

    /// The Arrow type this column builds (text as `Utf8`, integers as
    /// `Int64`, floating point as `Float64`; the caller casts to the
    /// declared type).
    pub fn data_type(&self) -> DataType {
        match &self.values {
            Values::Text { .. } => DataType::Utf8,
            Values::Boolean(_) => DataType::Boolean,
            Values::Integer { .. } => DataType::Int64,
            Values::Float(_) => DataType::Float64,
            Values::Decimal { precision, scale, .. } => DataType::Decimal128(*precision, *scale),
            Values::Timestamp { unit, tz, .. } => DataType::Timestamp(*unit, tz.clone()),
            Values::List { field, .. } => DataType::List(Arc::clone(field)),
            Values::Struct { fields, .. } => DataType::Struct(fields.clone()),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Drops the entries from `len` on, and whatever a failed read left
    /// behind in the values or in nested columns.
    pub fn truncate(&mut self, len: usize) {
        self.note = None;
        if len < self.valid.len() {
            self.valid.truncate(len);
        }
        match &mut self.values {
            Values::Text { offsets, data } => {
                offsets.truncate(len + 1);
                data.truncate(offsets[len] as usize);
            }
            Values::Boolean(values) => {
                if len < values.len() {
                    values.truncate(len);
                }
            }
            Values::Integer { values, .. } => values.truncate(len),
            Values::Float(values) => values.truncate(len),
            Values::Decimal { values, .. } => values.truncate(len),
            Values::Timestamp { values, .. } => values.truncate(len),
            Values::List { offsets, child, .. } => {
                offsets.truncate(len + 1);
                child.truncate(offsets[len] as usize);
            }
            Values::Struct { children, .. } => children.iter_mut().for_each(|c| c.truncate(len)),
        }
    }

    /// Appends a NULL entry, whether or not the column allows one (a
    /// dead-lettered row is NULL in every column).
    pub fn push_null(&mut self) {
        self.valid.append(false);
        match &mut self.values {
            Values::Text { offsets, data } => offsets.push(data.len() as i32),
            Values::Boolean(values) => values.append(false),
            Values::Integer { values, .. } => values.push(0),
            Values::Float(values) => values.push(0.0),
            Values::Decimal { values, .. } => values.push(0),
            Values::Timestamp { values, .. } => values.push(0),
            Values::List { offsets, child, .. } => offsets.push(child.len() as i32),
            Values::Struct { children, .. } => children.iter_mut().for_each(Column::push_null),
        }
    }

    /// Reads the next value into one entry. `depth` is the nesting of the
    /// value (the top-level object's fields are at 1).
    pub fn read(&mut self, c: &mut Cursor<'_>, depth: usize) -> Result<()> {
        let kind = c.peek_kind()?;
        if kind == Kind::Null {
            c.null()?;
            if !self.nullable {
                return Err(ValueError::Type("null where a value is required".into()));
            }
            self.push_null();
            return Ok(());
        }
        let nullable = self.nullable;
        let row = self.valid.len();
        match &mut self.values {
            Values::Text { offsets, data } => {
                match kind {
                    Kind::String => {
                        let s = c.string()?;
                        if s.escaped {
                            unescape(s.raw(), data).map_err(|message| syntax(c, message))?;
                        } else {
                            data.extend_from_slice(s.raw());
                        }
                    }
                    Kind::Number if nullable => {
                        let n = c.number()?;
                        if !n.integer {
                            return Err(type_error("a string or an integer", &format!("the number {}", n.text)));
                        }
                        data.extend_from_slice(n.text.as_bytes());
                    }
                    other if nullable => return Err(type_error("a string or an integer", other.name())),
                    other => return Err(type_error("a string", other.name())),
                }
                let end = i32::try_from(data.len())
                    .map_err(|_| syntax(c, "more than 2 GiB of text in one batch of messages".into()))?;
                offsets.push(end);
            }
            Values::Boolean(values) => match kind {
                Kind::Bool => values.append(c.boolean()?),
                other => return Err(type_error("true or false", other.name())),
            },
            Values::Integer { values, min, max } => {
                let n = number(c, kind, "an integer")?;
                let v = n
                    .integer
                    .then(|| n.text.parse::<i64>().ok())
                    .flatten()
                    .filter(|v| (*min..=*max).contains(v))
                    .ok_or_else(|| ValueError::Type(format!("{} is not an integer in {min}..={max}", n.text)))?;
                values.push(v);
            }
            Values::Float(values) => {
                let n = number(c, kind, "a number")?;
                let v: f64 = n.text.parse().unwrap_or(f64::INFINITY);
                if !v.is_finite() {
                    return Err(ValueError::Type(format!("{} overflows a double", n.text)));
                }
                values.push(v);
            }
            Values::Decimal {
                values,
                precision,
                scale,
            } => {
                let n = number(c, kind, "a number")?;
                let (value, rounded) = decimal::parse(n.text, *precision, *scale).map_err(ValueError::Type)?;
                if rounded {
                    self.note = Some(format!("{} rounded to {scale} places after the point", n.text));
                }
                values.push(value);
            }
            Values::Timestamp { values, unit, .. } => {
                let v = match kind {
                    Kind::String => {
                        let s = c.string()?;
                        let unescaped;
                        let text = if s.escaped {
                            let mut bytes = Vec::new();
                            unescape(s.raw(), &mut bytes).map_err(|message| syntax(c, message))?;
                            // decoded escapes are whole characters
                            unescaped = String::from_utf8(bytes).unwrap_or_default();
                            &unescaped[..]
                        } else {
                            s.text
                        };
                        let ns = pulse_udfs::rfc3339::parse_nanos(text).map_err(ValueError::Type)?;
                        match unit {
                            TimeUnit::Second => ns.div_euclid(1_000_000_000),
                            TimeUnit::Millisecond => ns.div_euclid(1_000_000),
                            TimeUnit::Microsecond => ns.div_euclid(1_000),
                            TimeUnit::Nanosecond => ns,
                        }
                    }
                    Kind::Number => {
                        let n = c.number()?;
                        let ms = n.integer.then(|| n.text.parse::<i64>().ok()).flatten().ok_or_else(|| {
                            ValueError::Type(format!(
                                "{} is not epoch milliseconds: give an integer, or RFC 3339 text with an offset",
                                n.text
                            ))
                        })?;
                        let scaled = match unit {
                            TimeUnit::Second => Some(ms.div_euclid(1_000)),
                            TimeUnit::Millisecond => Some(ms),
                            TimeUnit::Microsecond => ms.checked_mul(1_000),
                            TimeUnit::Nanosecond => ms.checked_mul(1_000_000),
                        };
                        scaled.ok_or_else(|| {
                            ValueError::Type(format!("{ms} epoch milliseconds is outside the years 1677 to 2262"))
                        })?
                    }
                    other => return Err(type_error("RFC 3339 text or epoch milliseconds", other.name())),
                };
                values.push(v);
            }
            Values::List { offsets, child, .. } => {
                if kind != Kind::Array {
                    return Err(type_error("an array", kind.name()));
                }
                if depth >= MAX_DEPTH {
                    return Err(syntax(c, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                c.begin_array()?;
                let mut first = true;
                while c.next_element(first)? {
                    first = false;
                    child.read(c, depth + 1)?;
                }
                let end = i32::try_from(child.len())
                    .map_err(|_| syntax(c, "more than 2^31 list elements in one batch of messages".into()))?;
                offsets.push(end);
            }
            Values::Struct { keys, children, .. } => {
                if kind != Kind::Object {
                    return Err(type_error("an object", kind.name()));
                }
                if depth >= MAX_DEPTH {
                    return Err(syntax(c, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                read_object(c, depth, keys, children, |_, child, c| child.read(c, depth + 1))?;
                for (k, child) in keys.iter().zip(children.iter_mut()) {
                    if child.len() == row {
                        if !child.nullable {
                            return Err(ValueError::Type(format!(
                                "the object has no '{}'",
                                String::from_utf8_lossy(k)
                            )));
                        }
                        child.push_null();
                    }
                }
            }
        }
        self.valid.append(true);
        Ok(())
    }

    /// What the last reads changed in values they kept, here or in nested
    /// columns, and forgets it.
    pub fn take_note(&mut self) -> Option<String> {
        let mut notes: Vec<String> = self.note.take().into_iter().collect();
        match &mut self.values {
            Values::List { child, .. } => notes.extend(child.take_note()),
            Values::Struct { children, .. } => notes.extend(children.iter_mut().filter_map(Column::take_note)),
            _ => {}
        }
        (!notes.is_empty()).then(|| notes.join(", "))
    }

    /// The column as an Arrow array, leaving it empty.
    pub fn finish(&mut self) -> ArrayRef {
        let len = self.len();
        let nulls = NullBuffer::new(self.valid.finish());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        let array: ArrayRef = match &mut self.values {
            Values::Text { offsets, data } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let data = std::mem::take(data);
                // offsets rise and end at data.len(), and every value is
                // valid UTF-8 (each message was checked whole)
                Arc::new(StringArray::new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    data.into(),
                    nulls,
                ))
            }
            Values::Boolean(values) => Arc::new(BooleanArray::new(values.finish(), nulls)),
            Values::Integer { values, .. } => Arc::new(Int64Array::new(std::mem::take(values).into(), nulls)),
            Values::Float(values) => Arc::new(Float64Array::new(std::mem::take(values).into(), nulls)),
            Values::Decimal {
                values,
                precision,
                scale,
            } => Arc::new(
                Decimal128Array::new(std::mem::take(values).into(), nulls)
                    .with_data_type(DataType::Decimal128(*precision, *scale)),
            ),
            Values::Timestamp { values, unit, tz } => {
                let values = ScalarBuffer::from(std::mem::take(values));
                match unit {
                    TimeUnit::Second => {
                        Arc::new(TimestampSecondArray::new(values, nulls).with_timezone_opt(tz.clone()))
                    }
                    TimeUnit::Millisecond => {
                        Arc::new(TimestampMillisecondArray::new(values, nulls).with_timezone_opt(tz.clone()))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(TimestampMicrosecondArray::new(values, nulls).with_timezone_opt(tz.clone()))
                    }
                    TimeUnit::Nanosecond => {
                        Arc::new(TimestampNanosecondArray::new(values, nulls).with_timezone_opt(tz.clone()))
                    }
                }
            }
            Values::List { offsets, field, child } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                Arc::new(ListArray::new(
                    Arc::clone(field),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    child.finish(),
                    nulls,
                ))
            }
            Values::Struct { fields, children, .. } => {
                let arrays: Vec<ArrayRef> = children.iter_mut().map(Column::finish).collect();
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, nulls))
                } else {
                    Arc::new(StructArray::new(fields.clone(), arrays, nulls))
                }
            }
        };
        array
    }
}

fn integer(min: i64, max: i64) -> Values {
    Values::Integer {
        values: Vec::new(),
        min,
        max,
    }
}

fn syntax(c: &Cursor<'_>, message: String) -> ValueError {
    ValueError::Syntax(Box::new(SyntaxError { at: c.pos(), message }))
}

fn type_error(expected: &str, found: &str) -> ValueError {
    ValueError::Type(format!("expected {expected}, found {found}"))
}

fn number<'a>(c: &mut Cursor<'a>, kind: Kind, expected: &str) -> Result<super::json::Number<'a>> {
    if kind != Kind::Number {
        return Err(type_error(expected, kind.name()));
    }
    Ok(c.number()?)
}

/// Reads an object whose known keys are `keys`: each known key's value
/// with `read(index, column, cursor)`, unknown keys skipped. A key that appears
/// twice, known or not, is a syntax error: strict JSON has no repeated
/// keys. Keys that do not appear are left to the caller.
pub fn read_object(
    c: &mut Cursor<'_>,
    depth: usize,
    keys: &[Box<[u8]>],
    columns: &mut [Column],
    mut read: impl FnMut(usize, &mut Column, &mut Cursor<'_>) -> Result<()>,
) -> Result<()> {
    c.begin_object()?;
    // which known keys were read: a bit each for the first 64 (no
    // allocation per object), a flag each for the rest
    let mut seen_bits = 0u64;
    let mut seen_more = vec![false; keys.len().saturating_sub(64)];
    let mut unknown: Vec<Vec<u8>> = Vec::new();
    let mut decoded = Vec::new();
    let mut first = true;
    let mut hint = 0;
    while let Some(key) = c.next_key(first)? {
        first = false;
        let name: &[u8] = if key.escaped {
            decoded.clear();
            unescape(key.raw(), &mut decoded).map_err(|message| syntax(c, message))?;
            &decoded
        } else {
            key.raw()
        };
        // keys usually come in the declared order: try the next one first
        let found = if keys.get(hint).is_some_and(|k| **k == *name) {
            Some(hint)
        } else {
            keys.iter().position(|k| **k == *name)
        };
        match found {
            Some(i) => {
                hint = i + 1;
                let repeated = match i.checked_sub(64) {
                    None => {
                        let was = seen_bits & 1 << i != 0;
                        seen_bits |= 1 << i;
                        was
                    }
                    Some(j) => std::mem::replace(&mut seen_more[j], true),
                };
                if repeated {
                    return Err(syntax(
                        c,
                        format!("the key '{}' appears twice", String::from_utf8_lossy(name)),
                    ));
                }
                read(i, &mut columns[i], c)?;
            }
            None => {
                if unknown.iter().any(|k| k.as_slice() == name) {
                    return Err(syntax(
                        c,
                        format!("the key '{}' appears twice", String::from_utf8_lossy(name)),
                    ));
                }
                unknown.push(name.to_vec());
                c.skip_value(depth + 1)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;

    fn read_one(data_type: &DataType, nullable: bool, json: &str) -> Result<ArrayRef> {
        let mut column = Column::try_new(data_type, nullable).unwrap();
        let mut c = Cursor::new(json);
        column.read(&mut c, 1)?;
        assert!(c.at_end(), "{json}");
        Ok(column.finish())
    }

    fn type_err(data_type: &DataType, nullable: bool, json: &str) -> String {
        match read_one(data_type, nullable, json) {
            Err(ValueError::Type(t)) => t,
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn text_is_a_string_or_where_nullable_an_integer() {
        let a = read_one(&DataType::Utf8, false, r#""a\nb""#).unwrap();
        assert_eq!(a.as_string::<i32>().value(0), "a\nb");
        let a = read_one(&DataType::Utf8, true, "125").unwrap();
        assert_eq!(a.as_string::<i32>().value(0), "125");
        assert!(type_err(&DataType::Utf8, false, "125").contains("expected a string, found a number"));
        assert!(type_err(&DataType::Utf8, true, "1.5").contains("the number 1.5"));
        assert!(type_err(&DataType::Utf8, true, "{}").contains("found an object"));
        assert!(type_err(&DataType::Utf8, false, "null").contains("null where a value is required"));
    }

    #[test]
    fn numbers_are_finite_and_never_strings() {
        assert!(type_err(&DataType::Float64, false, "1e400").contains("overflows a double"));
        assert!(type_err(&DataType::Float64, false, r#""5.25""#).contains("found a string"));
        assert!(type_err(&DataType::Decimal128(38, 18), false, r#""NaN""#).contains("found a string"));
        assert!(type_err(&DataType::Decimal128(38, 18), false, "true").contains("found a boolean"));
        assert!(type_err(&DataType::Int32, false, "3000000000").contains("not an integer in"));
        assert!(type_err(&DataType::Int64, false, "1.0").contains("not an integer"));
        let d = read_one(&DataType::Decimal128(38, 2), false, "12.30").unwrap();
        assert_eq!(
            d.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                .value(0),
            1230
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_an_offset_or_integer_milliseconds() {
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let t = read_one(&ns, false, r#""1970-01-01T00:00:01.0000005Z""#).unwrap();
        assert_eq!(
            t.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
                .value(0),
            1_000_000_500
        );
        let t = read_one(&ns, false, "1500").unwrap();
        assert_eq!(
            t.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
                .value(0),
            1_500_000_000
        );
        assert!(type_err(&ns, false, "1.7950896e12").contains("not epoch milliseconds"));
        assert!(type_err(&ns, false, r#""2026-11-19T12:00:00""#).contains("no offset"));
        assert!(type_err(&ns, false, "9223372036854775807").contains("outside the years 1677 to 2262"));
        let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
        let t = read_one(&ms, false, r#""1970-01-01T00:00:00.0019Z""#).unwrap();
        assert_eq!(
            t.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            1
        );
    }

    #[test]
    fn structs_take_keys_in_any_order_skip_unknown_ones_and_refuse_repeats() {
        let line = DataType::Struct(Fields::from(vec![
            Field::new("product_id", DataType::Utf8, true),
            Field::new("volume", DataType::Float64, true),
        ]));
        let list = DataType::List(Arc::new(Field::new_list_field(line, true)));
        let a = read_one(
            &list,
            true,
            r#"[{"volume":2,"extra":[1,{"x":null}],"product_id":7},{}]"#,
        )
        .unwrap();
        let rows = a.as_list::<i32>();
        let items = rows.value(0);
        let items = items.as_struct();
        assert_eq!(items.len(), 2);
        assert_eq!(items.column(0).as_string::<i32>().value(0), "7");
        assert!(items.column(0).is_null(1) && items.column(1).is_null(1));
        for (json, why) in [
            (r#"[{"volume":1,"volume":2}]"#, "'volume' appears twice"),
            (r#"[{"x":1,"x":2}]"#, "'x' appears twice"),
            (r#"[{"a":1,}]"#, "expected a key after ','"),
        ] {
            match read_one(&list, true, json) {
                Err(ValueError::Syntax(e)) => assert!(e.message.contains(why), "{json}: {e}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(type_err(&list, true, "{}").contains("expected an array, found an object"));
        assert!(type_err(&list, true, "[1,2]").contains("expected an object, found a number"));
    }

    #[test]
    fn a_repeated_key_is_refused_among_more_than_64() {
        // the first 64 keys are tracked in a bitmask, the rest in flags
        let wide = DataType::Struct(
            (0..70)
                .map(|i| Field::new(format!("k{i}"), DataType::Int64, true))
                .collect(),
        );
        let all: Vec<String> = (0..70).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let a = read_one(&wide, true, &format!("{{{}}}", all.join(","))).unwrap();
        assert_eq!(a.as_struct().column(69).as_primitive::<Int64Type>().value(0), 69);
        for repeated in [0, 63, 64, 69] {
            let json = format!(r#"{{{},"k{repeated}":1}}"#, all.join(","));
            match read_one(&wide, true, &json) {
                Err(ValueError::Syntax(e)) => {
                    assert!(e.message.contains(&format!("'k{repeated}' appears twice")), "{e}")
                }
                other => panic!("k{repeated}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_failed_read_is_undone_by_truncating() {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, false)));
        let mut column = Column::try_new(&list, true).unwrap();
        let mut c = Cursor::new("[1,2]");
        column.read(&mut c, 1).unwrap();
        let mut c = Cursor::new(r#"[3,4,"x"]"#);
        assert!(column.read(&mut c, 1).is_err());
        column.truncate(1);
        column.push_null();
        let a = column.finish();
        let a = a.as_list::<i32>();
        assert_eq!((a.len(), a.value_length(0), a.is_null(1)), (2, 2, true));
        assert_eq!(a.values().len(), 2);
    }

    #[test]
    fn unsupported_types_are_named() {
        let err = Column::try_new(&DataType::Binary, true).unwrap_err();
        assert!(err.contains("type Binary cannot be read"), "{err}");
    }
}
