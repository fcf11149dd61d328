//! `normalize_industries(text_or_list)`: a customer's industries field as a
//! list of names, canonical where the name is one of the 10.
//!
//! It follows [`crate::industry_names::parse_industries`] to the letter, each
//! distinct text parsed once per batch; unknown names are kept as written
//! (trimmed), and `explode_industries` flags them.
//! What must stay true: NULL in gives NULL out; an empty or blank field
//! gives an empty list; a list field is read element by element.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = datafusion::prelude::SessionContext::new();
//! pulse_udfs::register_context(&ctx);
//! let batches = ctx
//!     .sql("SELECT normalize_industries('oil and gas and food; Colors') AS names")
//!     .await?
//!     .collect()
//!     .await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(shown.contains("[Oil&Gas, Food, Colours]"));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::utils::take_function_args;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::industry_names::{IndustryName, ParseMemo};

/// The scalar function `normalize_industries`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NormalizeIndustries {
    signature: Signature,
}

impl Default for NormalizeIndustries {
    fn default() -> Self {
        Self::new()
    }
}

impl NormalizeIndustries {
    /// The function's SQL name.
    pub const NAME: &'static str = "normalize_industries";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// `list<utf8>`, the function's result type.
pub fn list_of_names() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// How an argument of type `t` is read, or a plan error showing a correct call.
fn input_kind(t: &DataType) -> Result<bool> {
    let is_text = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        )
    };
    match t {
        t if is_text(t) => Ok(false),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) if is_text(f.data_type()) => {
            Ok(true)
        }
        other => plan_err!(
            "normalize_industries takes a string or a list of strings, not {other}; \
             for example normalize_industries('Cosmetics & Pharmaceuticals') or normalize_industries(['Food', 'Colors'])"
        ),
    }
}

/// Normalises every row of a string or list-of-strings array, parsing each
/// distinct text once per array ([`ParseMemo`]).
pub fn normalize_array(array: &dyn Array) -> Result<ListArray> {
    let mut out = ListBuilder::new(StringBuilder::new());
    let mut names = Vec::new();
    let mut append = |names: Option<&[IndustryName]>| match names {
        Some(names) => {
            for n in names {
                out.values().append_value(n.as_str());
            }
            out.append(true);
        }
        None => out.append_null(),
    };
    if input_kind(array.data_type())? {
        let lists = cast(array, &list_of_names())?;
        let lists = lists.as_list::<i32>();
        let elements = lists.values().as_string::<i32>();
        let mut memo = ParseMemo::default();
        for (row, bounds) in lists.value_offsets().windows(2).enumerate() {
            if lists.is_null(row) {
                append(None);
                continue;
            }
            names.clear();
            for i in bounds[0] as usize..bounds[1] as usize {
                if elements.is_valid(i) {
                    memo.parse_into(elements.value(i), &mut names);
                }
            }
            append(Some(&names));
        }
    } else {
        let text = cast(array, &DataType::Utf8)?;
        let mut memo = ParseMemo::default();
        for value in text.as_string::<i32>().iter() {
            match value {
                Some(value) => {
                    names.clear();
                    memo.parse_into(value, &mut names);
                    append(Some(&names));
                }
                None => append(None),
            }
        }
    }
    Ok(out.finish())
}

impl ScalarUDFImpl for NormalizeIndustries {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let [t] = take_function_args(Self::NAME, arg_types)?;
        input_kind(t)?;
        Ok(list_of_names())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = take_function_args(Self::NAME, args.args)?;
        let array = arg.into_array(args.number_rows)?;
        let out: ArrayRef = Arc::new(normalize_array(array.as_ref())?);
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    fn rows(list: &ListArray) -> Vec<Option<Vec<String>>> {
        (0..list.len())
            .map(|i| {
                (!list.is_null(i)).then(|| {
                    list.value(i)
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or_default().to_string())
                        .collect()
                })
            })
            .collect()
    }

    #[test]
    fn strings_and_nulls() {
        let input = StringArray::from(vec![Some("Oil&Gas & Polymer"), None, Some(""), Some("Mining")]);
        let out = normalize_array(&input).unwrap();
        assert_eq!(
            rows(&out),
            vec![
                Some(vec!["Oil&Gas".to_string(), "Polymer".to_string()]),
                None,
                Some(vec![]),
                Some(vec!["Mining".to_string()])
            ]
        );
    }

    #[test]
    fn lists() {
        let mut b = ListBuilder::new(StringBuilder::new());
        b.values().append_value("cosmetics & pharmaceuticals");
        b.values().append_value("Polymers");
        b.append(true);
        b.append_null();
        let out = normalize_array(&b.finish()).unwrap();
        assert_eq!(
            rows(&out),
            vec![
                Some(vec!["Cosmetics".into(), "Pharmaceuticals".into(), "Polymer".into()]),
                None
            ]
        );
    }

    #[test]
    fn other_types_are_a_plan_error_with_an_example() {
        let err = input_kind(&DataType::Int64).unwrap_err().to_string();
        assert!(
            err.contains("not Int64") && err.contains("normalize_industries('"),
            "{err}"
        );
    }
}
