//! The as-of time `T` of the answer: the session setting `pulse.as_of` and
//! the function `pulse_as_of()` that reads it.
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

use std::any::Any;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::rfc3339::parse_nanos;

/// Pulse's session settings (`SET pulse.…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PulseOptions {
    /// The pinned as-of time in nanoseconds since the epoch, if any.
    pub as_of_ns: Option<i64>,
}

impl PulseOptions {
    /// The setting's key, below the `pulse.` prefix.
    pub const AS_OF: &'static str = "as_of";

    /// `T` pinned to a time given as RFC 3339 text ([`crate::rfc3339`],
    /// kept to the nanosecond); empty or `now` unpins it.
    pub fn parse_as_of(value: &str) -> Result<Option<i64>> {
        let v = value.trim();
        if v.is_empty() || v.eq_ignore_ascii_case("now") {
            return Ok(None);
        }
        match parse_nanos(v) {
            Ok(ns) => Ok(Some(ns)),
            Err(e) => plan_err!(
                "pulse.as_of must be an RFC 3339 time such as 2026-11-20T00:00:00Z, or '' for the query's \
                 start, not '{value}': {e}"
            ),
        }
    }
}

impl ConfigExtension for PulseOptions {
    const PREFIX: &'static str = "pulse";
}

impl ExtensionOptions for PulseOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            Self::AS_OF => {
                self.as_of_ns = Self::parse_as_of(value)?;
                Ok(())
            }
            other => plan_err!("unknown setting 'pulse.{other}'; Pulse has 'pulse.as_of'"),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.{}", Self::PREFIX, Self::AS_OF),
            value: self
                .as_of_ns
                .map(|ns| DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            description: "The as-of time T of the answer (RFC 3339); unset, T is the query's start",
        }]
    }
}

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
        let ns = match Self::pinned(info.config_options()) {
            Some(ns) => ns,
            None => match info.query_execution_start_time() {
                Some(start) => start.timestamp_nanos_opt().unwrap_or(i64::MAX),
                None => return Ok(ExprSimplifyResult::Original(args)),
            },
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(Self::literal(ns), None)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ns = Self::pinned(&args.config_options).unwrap_or_else(Self::now);
        Ok(ColumnarValue::Scalar(Self::literal(ns)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T00:00:01Z").unwrap(),
            Some(1_000_000_000)
        );
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T01:00:01+01:00").unwrap(),
            Some(1_000_000_000)
        );
        // kept to the nanosecond, as order times are
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T00:00:00.0000005Z").unwrap(),
            Some(500)
        );
        assert_eq!(PulseOptions::parse_as_of("").unwrap(), None);
        assert_eq!(PulseOptions::parse_as_of("now").unwrap(), None);
        let err = PulseOptions::parse_as_of("yesterday").unwrap_err().to_string();
        assert!(err.contains("'yesterday'") && err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn unknown_settings_are_named() {
        let err = PulseOptions::default().set("asof", "x").unwrap_err().to_string();
        assert!(err.contains("'pulse.asof'"), "{err}");
    }
}
