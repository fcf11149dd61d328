//! `--watch`: running a query again every tick and redrawing its result,
//! for `pulse answer --watch` and `pulse sql --watch`.
//!
//! Each tick is a new statement: it takes a new cut of the topic (the
//! watermarks then), `T` follows the clock unless `--as-of` pins it, and
//! through the session's decoded-log cache it fetches and decodes only the
//! offsets above what earlier ticks read. The frame's first line says when
//! it ran, the `T` and the cut it read, how many messages it read from the
//! broker and how many it served from memory, and how long it took.
//!
//! What must stay true: a tick's result is the one a fresh query at the
//! same `T` and cut would give (the cache changes only the cost); a tick
//! that fails shows its error and the next tick tries again; Ctrl-C (or
//! `--ticks`) stops between ticks, never in the middle of a frame; on a
//! terminal each frame replaces the last, elsewhere frames follow each
//! other.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use datafusion::prelude::SessionContext;
use pulse::engine::kafka::{CutLog, DecodedLogCache};

use crate::error::{CliError, Context};

/// `--watch [INTERVAL]` and `--ticks N`.
#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// Run again every INTERVAL (e.g. 500ms, 2s, 1m; 2s if not given) and redraw, until Ctrl-C.
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s")]
    pub watch: Option<String>,
    /// With --watch: stop after this many ticks.
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub ticks: Option<u64>,
}

impl WatchArgs {
    /// The tick interval, if watching.
    pub fn interval(&self) -> Result<Option<Duration>, CliError> {
        self.watch
            .as_deref()
            .map(|text| {
                pulse::engine::kafka::config::parse_duration(text)
                    .map_err(|e| CliError::usage(format!("--watch {e}")))
                    .and_then(|d| match d.is_zero() {
                        true => Err(CliError::usage("--watch 0: give an interval such as 2s")),
                        false => Ok(d),
                    })
            })
            .transpose()
    }
}

/// What a tick ran on, for its header.
pub struct Tick {
    /// The tick's number, from 1.
    pub number: u64,
    /// The `T` it answered for (RFC 3339).
    pub as_of: String,
}

/// Runs `frame` every `interval` (starting now) until Ctrl-C or `ticks`
/// frames, printing each under a header. `frame` renders the tick's result
/// into the buffer it is given; its error is shown in place of the result.
pub async fn watch<F>(
    ctx: &SessionContext,
    interval: Duration,
    ticks: Option<u64>,
    pinned_as_of: Option<&str>,
    cache: Option<&Arc<DecodedLogCache>>,
    mut frame: F,
) -> Result<(), CliError>
where
    F: AsyncFnMut(&SessionContext, &Tick, &mut Vec<u8>) -> Result<(), CliError>,
{
    let terminal = std::io::stdout().is_terminal();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut number = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        number += 1;
        let as_of = match pinned_as_of {
            Some(t) => t.to_string(),
            None => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        };
        {
            let state = ctx.state_ref();
            let mut state = state.write();
            let config = state.config_mut();
            // the tick's own cut, printed in its header
            config.set_extension(Arc::new(CutLog::default()));
            config
                .options_mut()
                .set("pulse.as_of", &as_of)
                .context(|| format!("T = '{as_of}'"))?;
        }
        let before = cache.map(|c| c.counts());
        let started = Instant::now();
        let mut body = Vec::new();
        let tick = Tick { number, as_of };
        let outcome = frame(ctx, &tick, &mut body).await;
        let took = started.elapsed();
        let mut out = Vec::new();
        if terminal {
            out.extend_from_slice(b"\x1b[2J\x1b[H"); // clear, home
        } else if number > 1 {
            out.push(b'\n');
        }
        writeln!(out, "{}", header(ctx, &tick, interval, took, cache, before))?;
        match outcome {
            Ok(()) => out.extend_from_slice(&body),
            Err(e) => writeln!(out, "error: {e} (trying again next tick)")?,
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&out)?;
        stdout.flush()?;
        drop(stdout);
        if ticks.is_some_and(|n| number >= n) {
            return Ok(());
        }
        next += interval;
        let now = tokio::time::Instant::now();
        if next < now {
            next = now; // a tick longer than the interval: go on at once
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = &mut ctrl_c => return Ok(()),
        }
    }
}

/// A tick's first line: when, `T`, the cut, what was read, how long.
fn header(
    ctx: &SessionContext,
    tick: &Tick,
    interval: Duration,
    took: Duration,
    cache: Option<&Arc<DecodedLogCache>>,
    before: Option<(u64, u64)>,
) -> String {
    let cut = ctx
        .state()
        .config()
        .get_extension::<CutLog>()
        .map(|log| log.spec())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "no topic read".into());
    let read = match (cache, before) {
        (Some(cache), Some((served, filled))) => {
            let (served_now, filled_now) = cache.counts();
            format!(
                "read {} new messages, {} from memory (cache: {} rows, {} of {})",
                filled_now - filled,
                served_now - served,
                cache.rows(),
                mib(cache.bytes()),
                mib(cache.budget())
            )
        }
        _ => "cache off".into(),
    };
    format!(
        "tick {} every {interval:?} · T {} · cut {cut} · {read} · {} ms",
        tick.number,
        tick.as_of,
        took.as_millis()
    )
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
