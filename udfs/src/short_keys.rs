//! Text keys as numbers: `pulse_key_pack(text)`, `pulse_key_long(text)`
//! and `pulse_key_unpack(key, long)`, the functions through which the
//! optimizer rule [`crate::PackKeys`] groups by a text column as by one
//! number (with the aggregate [`crate::key_text`]).
//!
//! `pulse_key_pack` gives every text a `DECIMAL(38, 0)` (NULL for NULL):
//! - a text of at most [`MAX_PACKED`] bytes is packed: its bytes,
//!   big-endian, then its length in the low 4 bits, a number below 2^124
//!   that no other text has;
//! - a longer text is hashed: 2^125 plus 120 bits of its BLAKE3 hash, a
//!   number two texts share only by a hash collision, which the aggregate
//!   `pulse_key_text` refuses with an error naming both texts.
//!
//! `pulse_key_long` is a text longer than [`MAX_PACKED`] bytes as it is
//! (NULL for the short ones), and `pulse_key_unpack(key, long)` is the text
//! again: `long` where it is set, else `key` unpacked, in the type of
//! `long`.
//!
//! What must stay true: packing is injective and unpacking inverts it
//! exactly, for every text and every string type (`Utf8`, `LargeUtf8`,
//! `Utf8View`); packed and hashed numbers never meet (below 2^124, at or
//! above 2^125); every number is a valid `DECIMAL(38, 0)` (below
//! 2^126 < 10^38), so nothing that checks precision rejects it; and a
//! text's number is the same in every process (no random seed), as the
//! partial and final aggregations of a cluster may run in different ones.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, Decimal128Array, GenericStringBuilder, LargeStringArray, OffsetSizeTrait,
    StringArray, StringArrayType, StringViewArray, StringViewBuilder, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// The longest text, in bytes, that packs into a number.
pub const MAX_PACKED: usize = 15;

/// The type of the numbers: `DECIMAL(38, 0)`, which DataFusion groups by
/// as a primitive (one 16-byte value a group, no string table).
pub const PACKED_TYPE: DataType = DataType::Decimal128(38, 0);

/// Numbers at or above this are hashed long texts; packed ones are below
/// 2^124.
const HASHED: u128 = 1 << 125;

/// `text` packed: its bytes, then its length in 4 bits; `None` when it is
/// longer than [`MAX_PACKED`].
pub fn pack(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    if len > MAX_PACKED {
        return None;
    }
    let mut padded = [0u8; 16];
    padded[16 - len..].copy_from_slice(bytes);
    let body = u128::from_be_bytes(padded);
    // At most 15 * 8 + 4 = 124 bits: positive as an i128, below 10^38.
    Some(((body << 4) | len as u128) as i128)
}

/// `text`'s number: packed when it is short, else 2^125 plus the first 120
/// bits of its BLAKE3 hash.
pub fn key(text: &str) -> i128 {
    pack(text).unwrap_or_else(|| {
        let hash = blake3::hash(text.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash.as_bytes()[..16]);
        (HASHED | (u128::from_le_bytes(first) >> 8)) as i128
    })
}

/// The text that [`pack`] made `packed` from, in `buffer`; an error for a
/// number that no text packs to (a hashed number included: its text is
/// the one `pulse_key_text` kept).
pub fn unpack_into(packed: i128, buffer: &mut [u8; MAX_PACKED]) -> Result<&str> {
    let bits = packed as u128;
    let len = (bits & 0xF) as usize;
    let body = bits >> 4;
    if packed < 0 || len > MAX_PACKED || body >> (8 * len) != 0 {
        return exec_err!("{} was given {packed}, which no text packs to", UnpackKey::NAME);
    }
    for (i, byte) in buffer[..len].iter_mut().enumerate() {
        *byte = (body >> (8 * (len - 1 - i))) as u8;
    }
    std::str::from_utf8(&buffer[..len])
        .or_else(|_| exec_err!("{} was given {packed}, which no text packs to", UnpackKey::NAME))
}

/// [`unpack_into`] as an owned text.
pub fn unpack(packed: i128) -> Result<String> {
    unpack_into(packed, &mut [0; MAX_PACKED]).map(str::to_owned)
}

fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The texts of a string array of any of the three string types.
pub(crate) fn texts(array: &ArrayRef) -> Result<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    Ok(match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(array.as_string_view().iter()),
        other => return exec_err!("a text key must be a string, not {other}"),
    })
}

/// Every text of `texts` as its number.
fn key_all<'a>(texts: impl StringArrayType<'a>) -> Decimal128Array {
    let mut values = Vec::with_capacity(texts.len());
    for row in 0..texts.len() {
        values.push(if texts.is_valid(row) { key(texts.value(row)) } else { 0 });
    }
    Decimal128Array::new(values.into(), texts.logical_nulls()).with_data_type(PACKED_TYPE)
}

/// Whether a text of `texts` is too long to pack.
fn any_long<'a>(texts: impl StringArrayType<'a>) -> bool {
    (0..texts.len()).any(|row| texts.is_valid(row) && texts.value(row).len() > MAX_PACKED)
}

/// An array of `data_type` (a string type) from texts.
pub(crate) fn text_array<'a>(data_type: &DataType, texts: impl Iterator<Item = Option<&'a str>>) -> Result<ArrayRef> {
    Ok(match data_type {
        DataType::Utf8 => Arc::new(texts.collect::<StringArray>()),
        DataType::LargeUtf8 => Arc::new(texts.collect::<LargeStringArray>()),
        DataType::Utf8View => Arc::new(texts.collect::<StringViewArray>()),
        other => return exec_err!("a text key must be a string, not {other}"),
    })
}

pub(crate) fn text_signature() -> Signature {
    Signature::uniform(
        1,
        vec![DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View],
        Volatility::Immutable,
    )
}

/// `pulse_key_pack(text)`: the text's number ([`key`]), a `DECIMAL(38,
/// 0)`; NULL for NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PackKey {
    signature: Signature,
}

impl Default for PackKey {
    fn default() -> Self {
        Self::new()
    }
}

impl PackKey {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_key_pack";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: text_signature(),
        }
    }
}

impl ScalarUDFImpl for PackKey {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(PACKED_TYPE)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [text] = take_args(args, Self::NAME)?;
        let text = text.into_array(rows)?;
        let packed = match text.data_type() {
            DataType::Utf8 => key_all(text.as_string::<i32>()),
            DataType::LargeUtf8 => key_all(text.as_string::<i64>()),
            DataType::Utf8View => key_all(text.as_string_view()),
            other => return exec_err!("{} takes a string, not {other}", Self::NAME),
        };
        Ok(ColumnarValue::Array(Arc::new(packed)))
    }
}

/// `pulse_key_long(text)`: the text when it is longer than [`MAX_PACKED`]
/// bytes, else NULL; of the text's type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LongKey {
    signature: Signature,
}

impl Default for LongKey {
    fn default() -> Self {
        Self::new()
    }
}

impl LongKey {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_key_long";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: text_signature(),
        }
    }
}

impl ScalarUDFImpl for LongKey {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [text] = take_args(args, Self::NAME)?;
        let text = text.into_array(rows)?;
        let any = match text.data_type() {
            DataType::Utf8 => any_long(text.as_string::<i32>()),
            DataType::LargeUtf8 => any_long(text.as_string::<i64>()),
            DataType::Utf8View => any_long(text.as_string_view()),
            other => return exec_err!("{} takes a string, not {other}", Self::NAME),
        };
        // keys are short as a rule: then all NULL, with nothing to copy
        if !any {
            return Ok(ColumnarValue::Array(new_null_array(text.data_type(), text.len())));
        }
        let long = text_array(
            text.data_type(),
            texts(&text)?.map(|t| t.filter(|t| t.len() > MAX_PACKED)),
        )?;
        Ok(ColumnarValue::Array(long))
    }
}

/// `pulse_key_unpack(key, long)`: `long` when it is not NULL, else the
/// text `key` was packed from (NULL when both are); of `long`'s type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UnpackKey {
    signature: Signature,
}

impl Default for UnpackKey {
    fn default() -> Self {
        Self::new()
    }
}

impl UnpackKey {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_key_unpack";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UnpackKey {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Decimal128(38, 0), long] if is_text(long) => Ok(long.clone()),
            other => plan_err!("{} takes (DECIMAL(38, 0), a string type), not {other:?}", Self::NAME),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [packed, long] = take_args(args, Self::NAME)?;
        let packed = packed.into_array(rows)?;
        let long = long.into_array(rows)?;
        let packed = packed.as_primitive::<Decimal128Type>();
        let unpacked = match long.data_type() {
            DataType::Utf8 => unpack_all(packed, &long, GenericStringBuilder::<i32>::new())?,
            DataType::LargeUtf8 => unpack_all(packed, &long, GenericStringBuilder::<i64>::new())?,
            DataType::Utf8View => unpack_all(packed, &long, StringViewBuilder::new())?,
            other => return exec_err!("{} takes a string as its second argument, not {other}", Self::NAME),
        };
        Ok(ColumnarValue::Array(unpacked))
    }
}

/// A builder of one of the string types.
trait TextBuilder: ArrayBuilder {
    fn append(&mut self, text: Option<&str>);
}

impl<O: OffsetSizeTrait> TextBuilder for GenericStringBuilder<O> {
    fn append(&mut self, text: Option<&str>) {
        self.append_option(text);
    }
}

impl TextBuilder for StringViewBuilder {
    fn append(&mut self, text: Option<&str>) {
        self.append_option(text);
    }
}

/// Each row's `long` when it is set, else its `packed` unpacked.
fn unpack_all(packed: &Decimal128Array, long: &ArrayRef, mut builder: impl TextBuilder) -> Result<ArrayRef> {
    let mut buffer = [0; MAX_PACKED];
    let mut short = |builder: &mut dyn TextBuilder, row: usize| -> Result<()> {
        if packed.is_valid(row) {
            builder.append(Some(unpack_into(packed.value(row), &mut buffer)?));
        } else {
            builder.append(None);
        }
        Ok(())
    };
    if long.null_count() == long.len() {
        // short keys only, as a rule: no walk over the long texts
        for row in 0..packed.len() {
            short(&mut builder, row)?;
        }
    } else {
        for (row, long) in texts(long)?.enumerate() {
            match long {
                Some(text) => builder.append(Some(text)),
                None => short(&mut builder, row)?,
            }
        }
    }
    Ok(builder.finish())
}

fn take_args<const N: usize>(args: ScalarFunctionArgs, name: &str) -> Result<[ColumnarValue; N]> {
    let given = args.args.len();
    args.args
        .try_into()
        .or_else(|_| exec_err!("{name} takes {N} arguments, was given {given}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_text_round_trips_and_no_two_texts_pack_alike() {
        let texts = [
            "",
            "a",
            "\0",
            "\0\0",
            "a\0",
            "\0a",
            "O000000001",
            "O000000002",
            "é",
            "ü€",
            "12345678901234",
            "123456789012345",
            "1234567890123é",
            "ÿ",
        ];
        let mut seen = std::collections::HashSet::new();
        for text in texts {
            let packed = pack(text).unwrap();
            assert!(
                (0..10i128.pow(38)).contains(&packed),
                "{text:?} packs out of DECIMAL(38, 0)"
            );
            assert_eq!(unpack(packed).unwrap(), text);
            assert!(seen.insert(packed), "{text:?} packs like another text");
        }
        assert_eq!(pack("1234567890123456"), None, "16 bytes do not pack");
        assert_eq!(pack("123456789012éé"), None, "nor do 16 bytes of 14 characters");
        assert_eq!(
            unpack(pack("Pharmaceuticals").unwrap()).unwrap(),
            "Pharmaceuticals",
            "15 bytes do"
        );
    }

    #[tokio::test]
    async fn the_functions_round_trip_every_string_type_in_sql() {
        use datafusion::arrow::util::pretty::pretty_format_batches;
        let ctx = datafusion::prelude::SessionContext::new();
        crate::register_context(&ctx);
        for values in [
            "('a'), ('O000000001'), (NULL), ('')",
            "('a'), ('a key longer than 15 bytes'), (NULL), ('é')",
        ] {
            for cast in [
                "",
                "::VARCHAR",
                "arrow_cast(k, 'LargeUtf8')",
                "arrow_cast(k, 'Utf8View')",
            ] {
                let k = match cast {
                    "" | "::VARCHAR" => format!("k{cast}"),
                    cast => cast.to_string(),
                };
                let sql = format!(
                    "SELECT {k} AS k, pulse_key_pack({k}) AS p, pulse_key_long({k}) AS l, \
                     pulse_key_unpack(pulse_key_pack({k}), pulse_key_long({k})) AS u, \
                     arrow_typeof(pulse_key_long({k})) = arrow_typeof({k}) AS same_type \
                     FROM (VALUES {values}) AS t(k)"
                );
                let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let batch = &batches[0];
                let (k, l, u) = (batch.column(0), batch.column(2), batch.column(3));
                assert_eq!(u.as_ref(), k.as_ref(), "{sql}");
                assert_eq!(u.data_type(), k.data_type(), "{sql}");
                assert!(
                    batch.column(4).as_boolean().iter().all(|same| same == Some(true)),
                    "{sql}"
                );
                let shown = pretty_format_batches(&batches).unwrap().to_string();
                let longs = l.len() - l.null_count();
                assert_eq!(longs, usize::from(values.contains("longer")), "{shown}");
            }
        }
    }

    #[test]
    fn long_texts_hash_above_every_packed_number_and_the_same_in_every_process() {
        let long = "a key much longer than fourteen bytes";
        let number = key(long);
        assert!((HASHED as i128..10i128.pow(38)).contains(&number), "{number}");
        // no seed: this number is the same in every process and release
        assert_eq!(number, 0x20ef_a171_0c08_adcf_4a92_4e47_cac0_ea9a, "{number:#x}");
        assert_ne!(key("a key much longer than fourteen bytez"), number);
        assert_eq!(key("O000000001"), pack("O000000001").unwrap());
        assert!(unpack(number).is_err(), "a hashed number has no text of its own");
    }

    #[test]
    fn numbers_no_text_packs_to_are_refused() {
        for bad in [-1, 15, 1 << 4, (0x1FF << 4) | 1, (0xFF << 4) | 1] {
            let refused = unpack(bad).is_err();
            let round_trips = unpack(bad).ok().and_then(|t| pack(&t)) == Some(bad);
            assert!(refused || round_trips, "{bad} unpacked to a text that packs otherwise");
        }
        assert!(unpack(-1).is_err() && unpack(1 << 124).is_err() && unpack((0x1FF << 4) | 1).is_err());
        assert_eq!(unpack(15).unwrap(), "\0".repeat(15), "fifteen NUL bytes");
        assert!(unpack((0xFF << 4) | 1).is_err(), "0xFF alone is not UTF-8");
    }
}
