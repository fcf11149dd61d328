//! `--cluster df://HOST:PORT` on `pulse answer` and `pulse sql`: the same
//! session, tables and views, with every query planned and run by a
//! Ballista cluster of `pulse scheduler` and `pulse executor` processes
//! (see `pulse::engine::distributed`).
//!
//! What must stay true: a Pulse built without the `distributed` feature
//! says so when `--cluster` is given, rather than running locally; a
//! clustered session reads no Kafka topic through the decoded-log cache,
//! which lives in one process.

use clap::Args;
use datafusion::prelude::SessionContext;

use crate::error::CliError;

/// Where queries run.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Run every query on this Ballista cluster of Pulse processes (its
    /// scheduler, `pulse scheduler`) instead of in this process.
    #[arg(long, value_name = "df://HOST:PORT", env = "PULSE_CLUSTER")]
    pub cluster: Option<String>,
}

impl ClusterArgs {
    /// `ctx`, sending its queries to the cluster if one was given. Call it
    /// before registering tables and views.
    pub fn connect(&self, ctx: SessionContext) -> Result<SessionContext, CliError> {
        let Some(url) = &self.cluster else { return Ok(ctx) };
        connect(ctx, url)
    }
}

#[cfg(feature = "distributed")]
fn connect(ctx: SessionContext, url: &str) -> Result<SessionContext, CliError> {
    use std::sync::Arc;

    use pulse::engine::distributed::{ClusterSettings, client_state};

    let settings = Arc::new(ClusterSettings::default());
    let state = client_state(ctx.state(), url, &settings).map_err(|e| CliError::usage(format!("--cluster {e}")))?;
    Ok(SessionContext::new_with_state(state))
}

#[cfg(not(feature = "distributed"))]
fn connect(_ctx: SessionContext, url: &str) -> Result<SessionContext, CliError> {
    Err(CliError::usage(format!(
        "--cluster {url}: this pulse was built without the 'distributed' feature; rebuild with \
         `cargo build --release --features distributed`"
    )))
}

/// `KEY=VALUE` pairs, as given to a repeatable option.
#[cfg(feature = "distributed")]
pub fn key_values(option: &str, pairs: &[String]) -> Result<std::collections::BTreeMap<String, String>, CliError> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                // the value may be a secret: the message never shows it
                .ok_or_else(|| CliError::usage(format!("{option}: an argument without '=': use KEY=VALUE")))
        })
        .collect()
}
