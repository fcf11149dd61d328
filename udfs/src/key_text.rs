//! The aggregate `pulse_key_text(long)`: the one long text of a group that
//! [`crate::PackKeys`] groups by a text's number, or an error when the
//! group holds two.
//!
//! A text longer than 15 bytes groups by a hash of it
//! ([`crate::short_keys`]), and two texts whose hashes agree would fall
//! into one group. Each group therefore keeps the long text it saw
//! (`pulse_key_long(key)`, NULL for short keys) and compares every other
//! one with it: a second, different text is an error that names both, so
//! a hash collision stops the query instead of merging two keys. The
//! texts are kept only for the groups that have one, in a map: a query
//! over short keys (every order id and customer id of the benchmarks)
//! holds nothing per group.
//!
//! The check must run even when no query reads the key: DataFusion drops an
//! aggregate whose output nothing reads, so [`crate::PackKeys`] filters the
//! groups on `pulse_key_checked(text)`, which is true for every group and
//! keeps the aggregate read.
//!
//! What must stay true: a group's value is its long text (NULL when it has
//! none), whatever the order of rows, batches and partial states; two
//! different texts in one group are always an error, never a choice.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, new_null_array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs, ScalarUDFImpl,
    Signature,
};

use crate::short_keys::{text_array, text_signature, texts};

/// The aggregate function `pulse_key_text(long)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KeyText {
    signature: Signature,
}

impl Default for KeyText {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyText {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_key_text";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: text_signature(),
        }
    }
}

impl AggregateUDFImpl for KeyText {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
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
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "text"),
            args.return_field.data_type().clone(),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(KeyTextAccumulator {
            text: None,
            data_type: args.return_type().clone(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(KeyTexts {
            texts: HashMap::new(),
            groups: 0,
            bytes: 0,
            data_type: args.return_type().clone(),
        }))
    }
}

/// `pulse_key_checked(text)`: true, for every row; the filter that keeps
/// `pulse_key_text` read (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KeyChecked {
    signature: Signature,
}

impl Default for KeyChecked {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyChecked {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_key_checked";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: text_signature(),
        }
    }
}

impl ScalarUDFImpl for KeyChecked {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // every bit set at once: no vector of booleans per batch
        let all = BooleanBuffer::new_set(args.number_rows);
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(all, None))))
    }
}

/// Nothing when `text` is the `kept` one; an error naming both when it is
/// not.
fn agree(kept: &str, text: &str) -> Result<()> {
    if kept == text {
        return Ok(());
    }
    exec_err!(
        "{}: the keys {kept:?} and {text:?} have the same 120-bit hash, so grouping by their hash would merge them; \
         the query stops instead (a BLAKE3 collision: please report it)",
        KeyText::NAME
    )
}

/// The row accumulator (an aggregate without GROUP BY).
#[derive(Debug)]
struct KeyTextAccumulator {
    text: Option<String>,
    data_type: DataType,
}

impl Accumulator for KeyTextAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for text in texts(&values[0])?.flatten() {
            match &self.text {
                Some(kept) => agree(kept, text)?,
                None => self.text = Some(text.to_owned()),
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::Utf8(self.text.clone()).cast_to(&self.data_type)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.text.as_ref().map_or(0, String::capacity)
    }
}

/// The grouped accumulator: the long text of each group that has one.
struct KeyTexts {
    texts: HashMap<usize, String>,
    /// The number of groups so far (what `evaluate` emits for all).
    groups: usize,
    /// The bytes of the texts kept (`size` is called on every batch).
    bytes: usize,
    data_type: DataType,
}

impl KeyTexts {
    fn apply(
        &mut self,
        values: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        // short keys only: nothing to keep
        if values.null_count() == values.len() {
            return Ok(());
        }
        for (row, text) in texts(values)?.enumerate() {
            let Some(text) = text else { continue };
            if filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            match self.texts.entry(group_indices[row]) {
                Entry::Occupied(kept) => agree(kept.get(), text)?,
                Entry::Vacant(slot) => {
                    self.bytes += text.len();
                    slot.insert(text.to_owned());
                }
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for KeyTexts {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.apply(&values[0], group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let emitted = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        self.groups -= emitted;
        if self.texts.is_empty() {
            return Ok(new_null_array(&self.data_type, emitted));
        }
        if self.groups == 0 {
            // all of them: no second map
            let texts = std::mem::take(&mut self.texts);
            self.bytes = 0;
            return text_array(
                &self.data_type,
                (0..emitted).map(|group| texts.get(&group).map(String::as_str)),
            );
        }
        let mut taken: HashMap<usize, String> = HashMap::new();
        let kept = std::mem::take(&mut self.texts);
        for (group, text) in kept {
            if group < emitted {
                self.bytes -= text.len();
                taken.insert(group, text);
            } else {
                self.texts.insert(group - emitted, text);
            }
        }
        text_array(
            &self.data_type,
            (0..emitted).map(|group| taken.get(&group).map(String::as_str)),
        )
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.apply(&values[0], group_indices, None, total_num_groups)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let Some(filter) = opt_filter else {
            return Ok(vec![Arc::clone(&values[0])]);
        };
        let kept = texts(&values[0])?
            .enumerate()
            .map(|(row, text)| text.filter(|_| filter.is_valid(row) && filter.value(row)));
        Ok(vec![text_array(values[0].data_type(), kept)?])
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.texts.capacity() * (size_of::<usize>() + size_of::<String>()) + self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, StringArray};

    fn texts_of(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(values.iter().copied().collect::<StringArray>())
    }

    fn accumulator() -> KeyTexts {
        KeyTexts {
            texts: HashMap::new(),
            groups: 0,
            bytes: 0,
            data_type: DataType::Utf8,
        }
    }

    #[test]
    fn each_group_keeps_its_long_text_and_emits_in_group_order() {
        let mut acc = accumulator();
        let values = texts_of(&[
            None,
            Some("a long key, number one"),
            None,
            Some("a long key, number one"),
        ]);
        acc.update_batch(&[values], &[0, 1, 2, 1], None, 3).unwrap();
        let values = texts_of(&[Some("another long key, two"), None]);
        acc.update_batch(&[values], &[3, 0], None, 4).unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(
            first.as_string::<i32>().iter().collect::<Vec<_>>(),
            [None, Some("a long key, number one")]
        );
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            rest.as_string::<i32>().iter().collect::<Vec<_>>(),
            [None, Some("another long key, two")]
        );
        // nothing long at all: all NULL, of the type
        let mut acc = accumulator();
        acc.update_batch(&[texts_of(&[None, None])], &[0, 1], None, 2).unwrap();
        let all = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!((all.len(), all.null_count(), all.data_type()), (2, 2, &DataType::Utf8));
    }

    #[test]
    fn two_texts_in_one_group_are_an_error_naming_both() {
        let mut acc = accumulator();
        let values = texts_of(&[Some("the first long key here"), Some("the second long key here")]);
        let error = acc.update_batch(&[values], &[0, 0], None, 1).unwrap_err().to_string();
        assert!(
            error.contains("the first long key here") && error.contains("the second long key here"),
            "{error}"
        );
        // across partial states too
        let mut acc = accumulator();
        acc.merge_batch(&[texts_of(&[Some("the first long key here")])], &[0], 1)
            .unwrap();
        let error = acc.merge_batch(&[texts_of(&[Some("the second long key here")])], &[0], 1);
        assert!(error.is_err());
        let mut row = KeyTextAccumulator {
            text: None,
            data_type: DataType::Utf8View,
        };
        row.update_batch(&[texts_of(&[Some("x long key one......")])]).unwrap();
        assert!(row.update_batch(&[texts_of(&[Some("x long key two......")])]).is_err());
        assert_eq!(
            row.evaluate().unwrap(),
            ScalarValue::Utf8View(Some("x long key one......".into()))
        );
    }

    #[test]
    fn a_filtered_row_is_not_kept() {
        let mut acc = accumulator();
        let filter = BooleanArray::from(vec![Some(false), None, Some(true)]);
        let values = texts_of(&[Some("filtered out, long text"), Some("null filter, long text"), None]);
        acc.update_batch(&[Arc::clone(&values)], &[0, 1, 2], Some(&filter), 3)
            .unwrap();
        assert_eq!(acc.evaluate(EmitTo::All).unwrap().null_count(), 3);
        let state = acc.convert_to_state(&[values], Some(&filter)).unwrap();
        assert_eq!(state[0].null_count(), 3);
    }
}
