//! The function `pulse_as_of()`: the as-of time `T` of the answer, from the
//! session setting `pulse.as_of` ([`crate::settings`]).
//!
//! `SET pulse.as_of = '2026-11-20T00:00:00Z'` pins `T`; `SET pulse.as_of =
//! ''` unpins it, and `T` is then the time the query starts (as `now()`).
//!
//! What must stay true: `pulse_as_of()` is folded to a timestamp literal
//! when a query is planned, so a filter such as `timestamp >= pulse_as_of()
//! - INTERVAL '31 days'` reaches a table scan as a constant and can be
//! pushed down; and one query sees one `T`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use datafusion::prelude::{SessionConfig, SessionContext};
//! let ctx = SessionContext::new_with_config(
//!     SessionConfig::new().with_option_extension(pulse_udfs::PulseOptions::default()),
//! );
//! pulse_udfs::register_context(&ctx);
//! ctx.sql("SET pulse.as_of = '2026-11-20T00:00:00Z'").await?;
//! let batches = ctx.sql("SELECT pulse_as_of() - INTERVAL '1 day' AS d").await?.collect().await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(shown.contains("2026-11-19T00:00:00Z"));
//! # Ok(())
//! # }
//! ```

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::settings::PulseOptions;

/// The function `pulse_as_of()`: `T` as a UTC nanosecond timestamp.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PulseAsOf {
    signature: Signature,
}

impl Default for PulseAsOf {
    fn default() -> Self {
        Self::new()
    }
}

impl PulseAsOf {
    /// The function's SQL name.
    pub const NAME: &'static str = "pulse_as_of";

    /// A new instance.
    pub fn new() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
        }
    }

    fn literal(ns: i64) -> ScalarValue {
        ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into()))
    }

    fn pinned(config: &ConfigOptions) -> Option<i64> {
        config.extensions.get::<PulseOptions>().and_then(|o| o.as_of_ns)
    }

    /// The `T` a statement folds `pulse_as_of()` to, in UTC nanoseconds:
    /// `pulse.as_of` if set, else `started`, the instant the statement's
    /// planning began; none without either. Tables that depend on `T`
    /// (the kept views of a live session) take it from here, so they see
    /// the statement's `T`.
    pub fn of_statement(config: &ConfigOptions, started: Option<DateTime<Utc>>) -> Option<i64> {
        Self::pinned(config).or_else(|| started.map(|s| s.timestamp_nanos_opt().unwrap_or(i64::MAX)))
    }

    fn now() -> i64 {
        // `Utc::now()` is within nanosecond range until 2262.
        Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
    }
}

impl ScalarUDFImpl for PulseAsOf {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Some(ns) = Self::of_statement(info.config_options(), info.query_execution_start_time()) else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(Self::literal(ns), None)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ns = Self::pinned(&args.config_options).unwrap_or_else(Self::now);
        Ok(ColumnarValue::Scalar(Self::literal(ns)))
    }
}
