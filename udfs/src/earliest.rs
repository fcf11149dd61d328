//! The aggregate `earliest(value, position)`: per group, the `value` of the
//! row with the smallest `position`.
//!
//! It is how `orders_clean_v3` keeps the earliest copy of each order: the
//! position is the copy's place in the log, `(_partition, _offset)` packed
//! into one `BIGINT`. It means what `first_value(value ORDER BY position)`
//! means, but keeps one `i64` per group for the ordering instead of a row of
//! `ScalarValue`s per aggregate, so deduplicating 10M orders takes seconds
//! less and a fraction of the memory. Values may be structs: that is how
//! several calls on one position share it ([`crate::merge_earliest`]).
//!
//! What must stay true:
//! - the value kept is the one of the row with the smallest position, NULL
//!   values included (a NULL value at the smallest position gives NULL);
//! - rows whose position is NULL are ignored; a group without any row with a
//!   position gives NULL;
//! - positions are meant to be unique; between rows with equal positions,
//!   the one kept is the first one the group saw (the result then depends on
//!   the order of the input, as with `first_value` on a tie);
//! - every phase (partial, final, the skipped partial phase of a
//!   high-cardinality grouping, the row accumulator without GROUP BY) gives
//!   the same answer: the state is the value and its position.
//!
//! Per group the store keeps fixed-width slots and validity bits, no
//! allocation per group. Strings are kept as Arrow views (16 bytes, a value
//! of up to 12 bytes inside), longer values in shared blocks; emitted whole
//! as `Utf8View`, the views become the output array without a copy. A long
//! value replaced by an earlier copy leaves its bytes behind until the
//! blocks are compacted, which happens when the dead bytes outgrow the live
//! ones.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use datafusion::prelude::SessionContext;
//! let ctx = SessionContext::new();
//! pulse_udfs::register_context(&ctx);
//! let batches = ctx
//!     .sql("SELECT k, earliest(v, p) AS v FROM (VALUES ('a', 'late', 7), ('a', 'early', 3), ('b', 'only', 1)) t(k, v, p) GROUP BY k ORDER BY k")
//!     .await?
//!     .collect()
//!     .await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(shown.contains("| a | early |"), "{shown}");
//! assert!(shown.contains("| b | only  |"), "{shown}");
//! # Ok(())
//! # }
//! ```

use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, BooleanBufferBuilder, ByteView, Int64Array,
    MAX_INLINE_VIEW_LEN, PrimitiveArray, StringViewArray, StructArray, make_view,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Field, FieldRef, Fields, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

/// The aggregate function `earliest(value, position)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Earliest {
    signature: Signature,
}

impl Default for Earliest {
    fn default() -> Self {
        Self::new()
    }
}

impl Earliest {
    /// The function's SQL name.
    pub const NAME: &'static str = "earliest";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Earliest {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [value, position] if position.is_integer() || position.is_null() => {
                Ok(vec![value.clone(), DataType::Int64])
            }
            [_, position] => plan_err!("earliest(value, position): the position must be an integer, not {position}"),
            _ => plan_err!("earliest(value, position) takes 2 arguments, not {}", arg_types.len()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "value"),
                args.return_field.data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "position"),
                DataType::Int64,
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(EarliestAccumulator {
            value: ScalarValue::try_from(args.return_type())?,
            position: None,
        }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        store_for(args.return_type()).is_some()
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        match store_for(args.return_type()) {
            Some(values) => Ok(Box::new(EarliestGroups {
                positions: Vec::new(),
                seen: BooleanBufferBuilder::new(0),
                values,
            })),
            None => exec_err!(
                "earliest(value, position): no grouped form for values of type {}",
                args.return_type()
            ),
        }
    }
}

/// The row accumulator (an aggregate without GROUP BY, or a value type the
/// grouped form does not cover).
#[derive(Debug)]
struct EarliestAccumulator {
    value: ScalarValue,
    position: Option<i64>,
}

impl Accumulator for EarliestAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let positions = values[1].as_primitive::<Int64Type>();
        let mut best: Option<(usize, i64)> = None;
        for (row, position) in positions.iter().enumerate() {
            let Some(position) = position else { continue };
            if best.is_none_or(|(_, p)| position < p) {
                best = Some((row, position));
            }
        }
        if let Some((row, position)) = best
            && self.position.is_none_or(|p| position < p)
        {
            self.value = ScalarValue::try_from_array(&values[0], row)?;
            self.position = Some(position);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), ScalarValue::Int64(self.position)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.value.size() - size_of::<ScalarValue>()
    }
}

/// The grouped accumulator: per group, the smallest position seen (valid
/// where `seen`) and, in `values`, the value of its row. A plain vector and
/// a bitmap, not `Option`s: an `Option<i64>` takes 16 bytes, and there is
/// one per order.
struct EarliestGroups {
    positions: Vec<i64>,
    seen: BooleanBufferBuilder,
    values: Box<dyn ValueStore>,
}

impl EarliestGroups {
    /// Applies rows `(value, position)`: a row replaces its group's value when
    /// its position is smaller than the group's.
    fn apply(
        &mut self,
        values: &ArrayRef,
        positions: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.positions.resize(total_num_groups, 0);
        self.seen.resize(total_num_groups);
        self.values.resize(total_num_groups);
        let positions = positions.as_primitive::<Int64Type>();
        let mut winners: Vec<(usize, usize)> = Vec::new();
        for (row, &group) in group_indices.iter().enumerate() {
            if positions.is_null(row) || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            let position = positions.value(row);
            if !self.seen.get_bit(group) || position < self.positions[group] {
                self.positions[group] = position;
                self.seen.set_bit(group, true);
                winners.push((group, row));
            }
        }
        // In input order: a later winner of the same group had a smaller
        // position than the earlier one, so it must overwrite it.
        self.values.set(values, &winners)
    }
}

impl GroupsAccumulator for EarliestGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.apply(&values[0], &values[1], group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        emit_to.take_needed(&mut self.positions);
        take_bits(&mut self.seen, emit_to);
        self.values.take(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let positions = emit_to.take_needed(&mut self.positions);
        let seen = take_bits(&mut self.seen, emit_to);
        let positions = Int64Array::new(positions.into(), Some(NullBuffer::new(seen)));
        Ok(vec![self.values.take(emit_to)?, Arc::new(positions)])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.apply(&values[0], &values[1], group_indices, None, total_num_groups)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let positions = values[1].as_primitive::<Int64Type>();
        let positions: ArrayRef = match opt_filter {
            None => values[1].clone(),
            Some(filter) => Arc::new(
                (0..positions.len())
                    .map(|row| {
                        (filter.is_valid(row) && filter.value(row) && positions.is_valid(row))
                            .then(|| positions.value(row))
                    })
                    .collect::<Int64Array>(),
            ),
        };
        Ok(vec![values[0].clone(), positions])
    }

    fn size(&self) -> usize {
        self.positions.capacity() * size_of::<i64>() + self.seen.capacity() / 8 + self.values.size()
    }
}

/// The values of the groups, one slot per group, of one Arrow type.
trait ValueStore: Send + Sync {
    /// Makes room for `groups` groups (new slots hold NULL).
    fn resize(&mut self, groups: usize);
    /// For each `(group, row)` in order, sets the group's slot to the row's
    /// value in `array`.
    fn set(&mut self, array: &ArrayRef, winners: &[(usize, usize)]) -> Result<()>;
    /// Takes the slots of `emit_to` out as an array of the store's type.
    fn take(&mut self, emit_to: EmitTo) -> Result<ArrayRef>;
    /// Bytes held.
    fn size(&self) -> usize;
}

/// Whether `earliest` over values of `data_type` has a grouped form: a
/// value type without one is kept by the row accumulator, one
/// `ScalarValue` per group.
pub(crate) fn has_grouped_form(data_type: &DataType) -> bool {
    store_for(data_type).is_some()
}

/// The store for values of `data_type`, when there is a grouped one.
fn store_for(data_type: &DataType) -> Option<Box<dyn ValueStore>> {
    fn primitive<T: ArrowPrimitiveType>(data_type: &DataType) -> Option<Box<dyn ValueStore>> {
        Some(Box::new(PrimitiveStore::<T> {
            values: Vec::new(),
            valid: BooleanBufferBuilder::new(0),
            data_type: data_type.clone(),
        }))
    }
    use DataType::*;
    match data_type {
        Int8 => primitive::<Int8Type>(data_type),
        Int16 => primitive::<Int16Type>(data_type),
        Int32 => primitive::<Int32Type>(data_type),
        Int64 => primitive::<Int64Type>(data_type),
        UInt8 => primitive::<UInt8Type>(data_type),
        UInt16 => primitive::<UInt16Type>(data_type),
        UInt32 => primitive::<UInt32Type>(data_type),
        UInt64 => primitive::<UInt64Type>(data_type),
        Float32 => primitive::<Float32Type>(data_type),
        Float64 => primitive::<Float64Type>(data_type),
        Decimal128(_, _) => primitive::<Decimal128Type>(data_type),
        Decimal256(_, _) => primitive::<Decimal256Type>(data_type),
        Date32 => primitive::<Date32Type>(data_type),
        Date64 => primitive::<Date64Type>(data_type),
        Timestamp(TimeUnit::Second, _) => primitive::<TimestampSecondType>(data_type),
        Timestamp(TimeUnit::Millisecond, _) => primitive::<TimestampMillisecondType>(data_type),
        Timestamp(TimeUnit::Microsecond, _) => primitive::<TimestampMicrosecondType>(data_type),
        Timestamp(TimeUnit::Nanosecond, _) => primitive::<TimestampNanosecondType>(data_type),
        Utf8 | LargeUtf8 | Utf8View => Some(Box::new(StringStore {
            views: Vec::new(),
            valid: BooleanBufferBuilder::new(0),
            blocks: Vec::new(),
            live_bytes: 0,
            data_type: data_type.clone(),
        })),
        Struct(fields) => Some(Box::new(StructStore {
            children: fields
                .iter()
                .map(|f| store_for(f.data_type()))
                .collect::<Option<Vec<_>>>()?,
            valid: BooleanBufferBuilder::new(0),
            fields: fields.clone(),
        })),
        _ => None,
    }
}

/// Structs: a store per field and the struct's own validity. This is how
/// several values of the earliest row share one position per group
/// ([`crate::merge_earliest`]).
struct StructStore {
    children: Vec<Box<dyn ValueStore>>,
    valid: BooleanBufferBuilder,
    fields: Fields,
}

impl ValueStore for StructStore {
    fn resize(&mut self, groups: usize) {
        self.children.iter_mut().for_each(|c| c.resize(groups));
        self.valid.resize(groups);
    }

    fn set(&mut self, array: &ArrayRef, winners: &[(usize, usize)]) -> Result<()> {
        let Some(array) = array.as_struct_opt() else {
            return exec_err!(
                "earliest(value, position): a struct store got values of type {}",
                array.data_type()
            );
        };
        for (child, values) in self.children.iter_mut().zip(array.columns()) {
            child.set(values, winners)?;
        }
        for &(group, row) in winners {
            self.valid.set_bit(group, array.is_valid(row));
        }
        Ok(())
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let children = self
            .children
            .iter_mut()
            .map(|c| c.take(emit_to))
            .collect::<Result<Vec<_>>>()?;
        let valid = take_bits(&mut self.valid, emit_to);
        Ok(Arc::new(StructArray::try_new(
            self.fields.clone(),
            children,
            Some(NullBuffer::new(valid)),
        )?))
    }

    fn size(&self) -> usize {
        self.children.iter().map(|c| c.size()).sum::<usize>() + self.valid.capacity() / 8
    }
}

/// Primitive values (numbers, decimals, dates, timestamps with their zone).
struct PrimitiveStore<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    valid: BooleanBufferBuilder,
    data_type: DataType,
}

impl<T: ArrowPrimitiveType> ValueStore for PrimitiveStore<T> {
    fn resize(&mut self, groups: usize) {
        self.values.resize(groups, T::Native::default());
        self.valid.resize(groups);
    }

    fn set(&mut self, array: &ArrayRef, winners: &[(usize, usize)]) -> Result<()> {
        let array = array.as_primitive::<T>();
        for &(group, row) in winners {
            self.valid.set_bit(group, array.is_valid(row));
            self.values[group] = array.value(row);
        }
        Ok(())
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let values = emit_to.take_needed(&mut self.values);
        let valid = take_bits(&mut self.valid, emit_to);
        let array = PrimitiveArray::<T>::new(values.into(), Some(NullBuffer::new(valid)));
        Ok(Arc::new(array.with_data_type(self.data_type.clone())))
    }

    fn size(&self) -> usize {
        self.values.capacity() * size_of::<T::Native>() + self.valid.capacity() / 8
    }
}

/// Strings (`Utf8`, `LargeUtf8`, `Utf8View`), one Arrow view per group: 16
/// bytes that hold a value of up to 12 bytes themselves (a customer id, an
/// industry) and, for a longer one, its length, first bytes and place in
/// `blocks`. Emitted whole as `Utf8View`, the views and blocks become the
/// array as they are: no copy of 10M values at the end of a deduplication.
struct StringStore {
    views: Vec<u128>,
    valid: BooleanBufferBuilder,
    /// The bytes of the values longer than 12 bytes; values are appended to
    /// the last block.
    blocks: Vec<Vec<u8>>,
    /// Bytes of `blocks` that some view still points at.
    live_bytes: usize,
    data_type: DataType,
}

/// The size a block of long values grows to before the next one starts
/// (a longer value gets a block of its own).
const BLOCK_BYTES: usize = 8 << 20;

/// Appends `bytes` to the last of `blocks` (or a new one) and returns their
/// view. A value of up to 12 bytes is inlined in the view instead.
fn append_view(blocks: &mut Vec<Vec<u8>>, bytes: &[u8]) -> Result<u128> {
    let len = bytes.len();
    if len <= MAX_INLINE_VIEW_LEN as usize {
        return Ok(make_view(bytes, 0, 0));
    }
    if u32::try_from(len).is_err() {
        return exec_err!("earliest(value, position): a value of {len} bytes is too long");
    }
    if blocks
        .last()
        .is_none_or(|b| !b.is_empty() && b.len() + len > BLOCK_BYTES)
    {
        blocks.push(Vec::new());
    }
    let index = blocks.len() - 1;
    let block = &mut blocks[index];
    let offset = block.len();
    block.extend_from_slice(bytes);
    // blocks stay below BLOCK_BYTES but for one value, whose length fits a u32
    let to_u32 = |n: usize| u32::try_from(n).expect("a block offset or index fits a u32");
    Ok(make_view(bytes, to_u32(index), to_u32(offset)))
}

/// The length of the value a view stands for.
fn view_len(view: u128) -> usize {
    view as u32 as usize
}

/// Copies the long values the `views` point at in `from` into new blocks,
/// in order, and points the views at them; inline and NULL views (which
/// are 0) stay as they are. The bytes are copied as they are: they were
/// whole UTF-8 values when stored.
fn rewrite(views: &mut [u128], from: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let mut blocks = Vec::new();
    for view in views.iter_mut() {
        let len = view_len(*view);
        if len > MAX_INLINE_VIEW_LEN as usize {
            let at = ByteView::from(*view);
            *view = append_view(
                &mut blocks,
                &from[at.buffer_index as usize][at.offset as usize..][..len],
            )?;
        }
    }
    Ok(blocks)
}

impl StringStore {
    /// For each `(group, row)` in order, sets the group's value to `text(row)`.
    fn put<'a>(&mut self, winners: &[(usize, usize)], text: impl Fn(usize) -> Option<&'a str>) -> Result<()> {
        for &(group, row) in winners {
            if self.valid.get_bit(group) && view_len(self.views[group]) > MAX_INLINE_VIEW_LEN as usize {
                self.live_bytes -= view_len(self.views[group]);
            }
            match text(row) {
                Some(text) => {
                    self.views[group] = append_view(&mut self.blocks, text.as_bytes())?;
                    self.valid.set_bit(group, true);
                    if text.len() > MAX_INLINE_VIEW_LEN as usize {
                        self.live_bytes += text.len();
                    }
                }
                None => {
                    self.views[group] = 0;
                    self.valid.set_bit(group, false);
                }
            }
        }
        if self.held_bytes() > 2 * self.live_bytes + (1 << 20) {
            self.compact()?;
        }
        Ok(())
    }

    /// Bytes in `blocks`, pointed at or not.
    fn held_bytes(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }

    /// Rewrites the blocks with only the values the groups point at.
    fn compact(&mut self) -> Result<()> {
        self.blocks = rewrite(&mut self.views, &self.blocks)?;
        self.live_bytes = self.held_bytes();
        Ok(())
    }
}

impl ValueStore for StringStore {
    fn resize(&mut self, groups: usize) {
        self.views.resize(groups, 0);
        self.valid.resize(groups);
    }

    fn set(&mut self, array: &ArrayRef, winners: &[(usize, usize)]) -> Result<()> {
        // one downcast per batch, not one per row
        match array.data_type() {
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                self.put(winners, |row| a.is_valid(row).then(|| a.value(row)))
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                self.put(winners, |row| a.is_valid(row).then(|| a.value(row)))
            }
            DataType::Utf8View => {
                let a = array.as_string_view();
                self.put(winners, |row| a.is_valid(row).then(|| a.value(row)))
            }
            other => exec_err!("earliest(value, position): a string store got values of type {other}"),
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let array = match emit_to {
            EmitTo::All => {
                // the views and blocks become the array's, without the bytes
                // of values replaced since the last compaction
                if self.held_bytes() > self.live_bytes {
                    self.compact()?;
                }
                let blocks: Vec<Buffer> = std::mem::take(&mut self.blocks)
                    .into_iter()
                    .map(Buffer::from_vec)
                    .collect();
                self.live_bytes = 0;
                let views = ScalarBuffer::from(std::mem::take(&mut self.views));
                let valid = NullBuffer::new(take_bits(&mut self.valid, emit_to));
                StringViewArray::try_new(views, blocks, Some(valid))?
            }
            EmitTo::First(n) => {
                // the first n get blocks of their own with only the bytes
                // they point at; the others keep theirs, compacted
                let mut views: Vec<u128> = self.views.drain(..n).collect();
                let blocks: Vec<Buffer> = rewrite(&mut views, &self.blocks)?
                    .into_iter()
                    .map(Buffer::from_vec)
                    .collect();
                let valid = NullBuffer::new(take_bits(&mut self.valid, emit_to));
                let array = StringViewArray::try_new(ScalarBuffer::from(views), blocks, Some(valid))?;
                self.compact()?;
                array
            }
        };
        match self.data_type {
            DataType::Utf8View => Ok(Arc::new(array)),
            ref other => Ok(cast(&array, other)?),
        }
    }

    fn size(&self) -> usize {
        self.views.capacity() * size_of::<u128>()
            + self.valid.capacity() / 8
            + self.blocks.iter().map(Vec::capacity).sum::<usize>()
    }
}

/// Takes the bits of the groups `emit_to` names out of `bits`; the others
/// stay, in order.
fn take_bits(bits: &mut BooleanBufferBuilder, emit_to: EmitTo) -> BooleanBuffer {
    let all = bits.finish();
    match emit_to {
        EmitTo::All => all,
        EmitTo::First(n) => {
            bits.append_buffer(&all.slice(n, all.len() - n));
            all.slice(0, n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Decimal128Array, StringArray, StringViewArray};

    fn groups(data_type: &DataType) -> EarliestGroups {
        EarliestGroups {
            positions: Vec::new(),
            seen: BooleanBufferBuilder::new(0),
            values: store_for(data_type).unwrap(),
        }
    }

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(values.iter().copied().collect::<StringArray>())
    }

    fn positions(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(values.iter().copied().collect::<Int64Array>())
    }

    #[test]
    fn keeps_the_value_at_the_smallest_position_across_batches_nulls_included() {
        let mut acc = groups(&DataType::Utf8);
        let v = strings(&[Some("late"), Some("x"), None]);
        let p = positions(&[Some(9), Some(4), Some(1)]);
        acc.update_batch(&[v, p], &[0, 1, 2], None, 3).unwrap();
        // group 0 gets an earlier copy; group 1 a later one (ignored); group 2
        // keeps its NULL, which was at the smaller position
        let v = strings(&[Some("early"), Some("y"), Some("z"), Some("no position")]);
        let p = positions(&[Some(2), Some(5), Some(3), None]);
        acc.update_batch(&[v, p], &[0, 1, 2, 3], None, 4).unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![Some("early"), Some("x"), None, None]
        );
    }

    #[test]
    fn several_copies_in_one_batch_and_a_filter() {
        let mut acc = groups(&DataType::Utf8View);
        let v: ArrayRef = Arc::new(StringViewArray::from(vec!["c", "b", "a", "filtered out"]));
        let p = positions(&[Some(3), Some(2), Some(5), Some(0)]);
        let filter = BooleanArray::from(vec![true, true, true, false]);
        acc.update_batch(&[v, p], &[0, 0, 0, 0], Some(&filter), 1).unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_string_view().value(0), "b");
    }

    #[test]
    fn partial_state_merged_and_converted_rows_give_the_same_answer() {
        let values: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(10), Some(20), Some(30), Some(40)])
                .with_precision_and_scale(38, 18)
                .unwrap(),
        );
        let p = positions(&[Some(8), Some(6), Some(7), Some(5)]);
        let data_type = DataType::Decimal128(38, 18);
        // two partial accumulators over halves, merged
        let mut left = groups(&data_type);
        left.update_batch(&[values.slice(0, 2), p.slice(0, 2)], &[0, 0], None, 1)
            .unwrap();
        let mut right = groups(&data_type);
        right
            .update_batch(&[values.slice(2, 2), p.slice(2, 2)], &[0, 0], None, 1)
            .unwrap();
        let mut last = groups(&data_type);
        for mut part in [left, right] {
            let state = part.state(EmitTo::All).unwrap();
            last.merge_batch(&state, &[0], 1).unwrap();
        }
        // the skipped partial phase: rows converted to states, merged
        let mut skipped = groups(&data_type);
        let state = skipped.convert_to_state(&[values, p], None).unwrap();
        skipped.merge_batch(&state, &[0, 0, 0, 0], 1).unwrap();
        for mut acc in [last, skipped] {
            let out = acc.evaluate(EmitTo::All).unwrap();
            let out = out.as_primitive::<Decimal128Type>();
            assert_eq!(out.data_type(), &data_type);
            assert_eq!(out.value(0), 40);
        }
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_others_and_compacts_the_blocks() {
        let mut acc = groups(&DataType::Utf8);
        let v = strings(&[Some("aa"), Some("bb"), Some("cc")]);
        acc.update_batch(&[v, positions(&[Some(3), Some(2), Some(1)])], &[0, 1, 2], None, 3)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(
            first.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("aa"), Some("bb")]
        );
        // the remaining group (now group 0) still has its value and position
        let v = strings(&[Some("later")]);
        acc.update_batch(&[v, positions(&[Some(4)])], &[0], None, 1).unwrap();
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.as_string::<i32>().value(0), "cc");
    }

    #[test]
    fn blocks_of_replaced_values_are_compacted() {
        let mut acc = groups(&DataType::Utf8);
        let long = "x".repeat(1 << 16);
        for position in (0..100).rev() {
            let v = strings(&[Some(&long)]);
            acc.update_batch(&[v, positions(&[Some(position)])], &[0], None, 1)
                .unwrap();
        }
        let held = acc.values.size();
        assert!(held < 4 << 20, "the store holds {held} bytes for one value");
        assert_eq!(acc.evaluate(EmitTo::All).unwrap().as_string::<i32>().value(0), long);
    }

    #[test]
    fn views_short_and_long_values_nulls_and_several_blocks_come_out_whole() {
        // 12 bytes stay in the view, 13 go to a block; values of 3 MB fill
        // several blocks; group 3 ends NULL after a long value was replaced
        let big: Vec<String> = (0..6).map(|i| format!("{i}").repeat(3 << 20)).collect();
        let expected = [
            Some("twelve bytes"),
            Some("thirteen byte"),
            Some(big[5].as_str()),
            None,
            Some(""),
        ];
        for data_type in [DataType::Utf8View, DataType::Utf8, DataType::LargeUtf8] {
            let mut acc = groups(&data_type);
            let v: Vec<Option<&str>> = (0..5).map(|i| Some(big[i].as_str())).collect();
            let p = positions(&[Some(10), Some(11), Some(12), Some(13), Some(14)]);
            acc.update_batch(&[strings(&v), p], &[0, 1, 2, 3, 4], None, 5).unwrap();
            let v = strings(&[
                Some("twelve bytes"),
                Some("thirteen byte"),
                Some(&big[5]),
                None,
                Some(""),
            ]);
            let p = positions(&[Some(1), Some(2), Some(3), Some(4), Some(5)]);
            acc.update_batch(&[v, p], &[0, 1, 2, 3, 4], None, 5).unwrap();
            let out = acc.evaluate(EmitTo::All).unwrap();
            assert_eq!(out.data_type(), &data_type);
            if data_type == DataType::Utf8View {
                // the replaced values' bytes are not carried into the output
                let held: usize = out.as_string_view().data_buffers().iter().map(|b| b.len()).sum();
                assert_eq!(held, "thirteen byte".len() + big[5].len());
            }
            let out = cast(&out, &DataType::Utf8).unwrap();
            assert_eq!(
                out.as_string::<i32>().iter().collect::<Vec<_>>(),
                expected,
                "{data_type}"
            );
            assert_eq!(acc.values.size(), 0, "{data_type}: nothing is held after emitting all");
        }
    }

    #[test]
    fn emitting_the_first_views_keeps_the_long_values_of_the_others() {
        let mut acc = groups(&DataType::Utf8View);
        let long = |c: &str| c.repeat(40);
        let (a, b, c) = (long("a"), long("b"), long("c"));
        let v = strings(&[Some(&a), Some("short"), Some(&b), Some(&c)]);
        acc.update_batch(
            &[v, positions(&[Some(4), Some(3), Some(2), Some(1)])],
            &[0, 1, 2, 3],
            None,
            4,
        )
        .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(
            first.as_string_view().iter().collect::<Vec<_>>(),
            vec![Some(a.as_str()), Some("short")]
        );
        // the others are groups 0 and 1 now; an earlier copy replaces one
        let v = strings(&[Some("replaced")]);
        acc.update_batch(&[v, positions(&[Some(0)])], &[1], None, 2).unwrap();
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            rest.as_string_view().iter().collect::<Vec<_>>(),
            vec![Some(b.as_str()), Some("replaced")]
        );
    }

    #[test]
    fn the_row_accumulator_agrees() {
        let mut acc = EarliestAccumulator {
            value: ScalarValue::Utf8(None),
            position: None,
        };
        acc.update_batch(&[strings(&[Some("b"), Some("a")]), positions(&[Some(2), Some(1)])])
            .unwrap();
        let state: Vec<ArrayRef> = acc.state().unwrap().iter().map(|s| s.to_array().unwrap()).collect();
        let mut other = EarliestAccumulator {
            value: ScalarValue::Utf8(None),
            position: None,
        };
        other
            .update_batch(&[strings(&[Some("c")]), positions(&[Some(0)])])
            .unwrap();
        other.merge_batch(&state).unwrap();
        assert_eq!(other.evaluate().unwrap(), ScalarValue::Utf8(Some("c".into())));
    }
}
