//! Pulse's SQL functions: the industries value object, industry-name
//! normalisation, and the table functions built on them.
//!
//! - [`industry_names`] holds the 10 industries and the rules that read
//!   free text into them;
//! - [`industries_table`] holds `industries()`, the 10 as a table;
//! - [`normalize_industries`] holds `normalize_industries(text_or_list)`;
//! - [`settings`] holds the `pulse.*` session settings (`pulse.as_of`,
//!   `pulse.offsets`);
//! - [`as_of`] holds `pulse_as_of()`, which reads `pulse.as_of`;
//! - [`rfc3339`] reads RFC 3339 times to the nanosecond, for `T` and for
//!   order times alike;
//! - [`explode_industries`] holds `explode_industries(...)`, one row per
//!   (customer, industry);
//! - [`earliest`] holds the aggregate `earliest(value, position)`, the value
//!   of a group's row with the smallest position (how a view keeps the
//!   earliest copy of an order);
//! - [`merge_earliest`] holds the optimizer rule that lets the `earliest`
//!   calls of one aggregation share their position;
//! - [`short_keys`] holds `pulse_key_pack`, `pulse_key_long` and
//!   `pulse_key_unpack`, a text key as a number and back, [`key_text`] the
//!   aggregate `pulse_key_text` that keeps a group's long key and refuses
//!   a hash collision, and [`pack_keys`] the optimizer rule that groups
//!   by one text column through them.
//!
//! What must stay true: the functions know nothing of one table layout;
//! they work on any table with a customer id and an industries column.

use std::sync::Arc;

use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub mod as_of;
pub mod earliest;
pub mod explode_industries;
pub mod industries_table;
pub mod industry_names;
pub mod key_text;
pub mod merge_earliest;
pub mod normalize_industries;
pub mod pack_keys;
pub mod rfc3339;
pub mod settings;
pub mod short_keys;

pub use as_of::PulseAsOf;
pub use earliest::Earliest;
pub use explode_industries::ExplodeIndustriesFunction;
pub use industries_table::IndustriesFunction;
pub use industry_names::{Industry, IndustryName, parse_industries};
pub use key_text::{KeyChecked, KeyText};
pub use merge_earliest::MergeEarliest;
pub use normalize_industries::NormalizeIndustries;
pub use pack_keys::PackKeys;
pub use settings::PulseOptions;
pub use short_keys::{LongKey, PackKey, UnpackKey};

/// Registers every Pulse function in a session state.
pub fn register_state(state: &mut SessionState) -> datafusion::error::Result<()> {
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(NormalizeIndustries::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(PulseAsOf::new())))?;
    state.register_udaf(Arc::new(AggregateUDF::new_from_impl(Earliest::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(PackKey::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(LongKey::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(UnpackKey::new())))?;
    state.register_udaf(Arc::new(AggregateUDF::new_from_impl(KeyText::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(KeyChecked::new())))?;
    state.register_udtf(IndustriesFunction::NAME, Arc::new(IndustriesFunction));
    state.register_udtf(ExplodeIndustriesFunction::NAME, Arc::new(ExplodeIndustriesFunction));
    Ok(())
}

/// Registers every Pulse function in a session context.
pub fn register_context(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(NormalizeIndustries::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(PulseAsOf::new()));
    ctx.register_udaf(AggregateUDF::new_from_impl(Earliest::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(PackKey::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(LongKey::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(UnpackKey::new()));
    ctx.register_udaf(AggregateUDF::new_from_impl(KeyText::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(KeyChecked::new()));
    ctx.register_udtf(IndustriesFunction::NAME, Arc::new(IndustriesFunction));
    ctx.register_udtf(ExplodeIndustriesFunction::NAME, Arc::new(ExplodeIndustriesFunction));
}
