//! `pulse answer`: the top 3 industries (or all 10) as a table with a bar
//! chart, CSV or JSON; with `--watch`, again every tick ([`crate::watch`]).
//!
//! What must stay true: the figures are the views' (`top_industry_changes`,
//! `industry_change`), never recomputed here; CSV has exactly the header
//! `rank,industry,current_amount,baseline_daily_avg,abs_change,pct_change,
//! current_orders,baseline_daily_orders,orders_pct_change`; stdout holds only
//! the answer, and what it ran on goes to stderr.

use std::io::Write;

use clap::{Args, ValueEnum};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, UInt64Type};
use datafusion::arrow::util::pretty::pretty_format_batches;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use pulse::engine::kafka::CutLog;
use pulse::engine::session::pulse_state_with_runtime;

use crate::cluster::ClusterArgs;
use crate::error::CliError;
use crate::sources::{CacheArgs, SourceArgs, check_as_of, load, parse_size, set_as_of};
use crate::watch::{Tick, WatchArgs, watch};

/// How to print the answer.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A table and a bar chart of pct_change.
    #[default]
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// `pulse answer`.
#[derive(Args, Debug)]
pub struct AnswerArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// The as-of time T (RFC 3339); by default, now.
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// All 10 industries instead of the top 3.
    #[arg(long)]
    all: bool,
    /// Memory for joins, aggregations and sorts, e.g. 512M or 4G; beyond it
    /// they spill to disk. 0 means no limit. By default 80% of the memory
    /// the process may use (the machine's, or its cgroups' lowest limit if lower).
    //
    // The pool gives each operator that can spill an equal share of it,
    // counting every one the plan starts whether it holds memory or not
    // (some 20 in the answer's plan), so a fixed 2G made the deduplication
    // of 10M orders spill at about 100 MB a partition: 3.5-3.7 s against
    // 2.7-3.0 s without spilling, at 1.2-1.3 GB (bench/README.md). A limit
    // from the machine's memory, as DuckDB sets its own, spills only when
    // memory runs short.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    #[command(flatten)]
    watch: WatchArgs,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `--memory-limit` when it is not given: 80% of the memory this process
/// may use, the machine's or the lowest limit of its cgroups, whichever is
/// lower; 2G where neither can be read (not Linux).
fn default_memory_limit() -> usize {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let machine = read("/proc/meminfo").and_then(|text| mem_total(&text));
    let cgroup = read("/proc/self/cgroup").and_then(|text| {
        cgroup_limit_files(&text)
            .iter()
            .filter_map(|dir| read(dir).and_then(|limit| cgroup_limit(&limit)))
            .min()
    });
    let usable = match (machine, cgroup) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    };
    usable.map_or(2 << 30, |bytes| bytes / 5 * 4)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A cgroup's memory limit in bytes; `None` for none (`max`, or cgroup
/// v1's page-rounded `i64::MAX`).
fn cgroup_limit(text: &str) -> Option<usize> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 62).then(|| usize::try_from(bytes).ok()).flatten()
}

/// The memory-limit files of the process's cgroup and of every cgroup above
/// it, from `/proc/self/cgroup`: cgroup v2's `memory.max` (line `0::/path`)
/// and v1's `memory.limit_in_bytes` (the `memory` controller's line).
fn cgroup_limit_files(proc_self_cgroup: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let (root, file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        for dir in std::path::Path::new(path).ancestors() {
            let relative = dir.to_string_lossy();
            files.push(match relative.trim_start_matches('/') {
                "" => format!("{root}/{file}"),
                relative => format!("{root}/{relative}/{file}"),
            });
        }
    }
    files
}

/// A Pulse session whose operators share `limit` bytes (none if 0), fairly
/// among those that can spill.
fn answer_context(limit: usize) -> Result<SessionContext, CliError> {
    let mut runtime = RuntimeEnvBuilder::new();
    if limit > 0 {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let runtime = runtime.build_arc()?;
    Ok(SessionContext::new_with_state(pulse_state_with_runtime(
        SessionConfig::new(),
        runtime,
    )))
}

/// Runs `pulse answer`.
pub async fn run(mut args: AnswerArgs) -> Result<(), CliError> {
    check_as_of(args.as_of.as_deref())?;
    let interval = args.watch.interval()?;
    if interval.is_some() && args.cluster.cluster.is_none() {
        // a session that lives on keeps what it decoded
        args.cache.apply(&mut args.sources)?;
    }
    let ctx = args.cluster.connect(answer_context(match &args.memory_limit {
        Some(size) => parse_size("--memory-limit", size)?,
        None => default_memory_limit(),
    })?)?;
    let loaded = load(&ctx, &args.sources).await?;
    eprintln!("pulse: answering on {}", loaded.description);
    set_as_of(&ctx, args.as_of.as_deref())?;
    let view = if args.all {
        "industry_change"
    } else {
        "top_industry_changes"
    };
    if let Some(interval) = interval {
        let format = args.format;
        let cache = args.sources.cache.clone();
        return watch(
            &ctx,
            interval,
            args.watch.ticks,
            args.as_of.as_deref(),
            cache.as_ref(),
            async |ctx: &SessionContext, tick: &Tick, out: &mut Vec<u8>| {
                let batches = answer(ctx, view).await?;
                render(out, format, view, &batches, &tick.as_of).await
            },
        )
        .await;
    }
    let batches = answer(&ctx, view).await?;
    print_cut(&ctx);
    let as_of = args.as_of.clone().unwrap_or_else(|| "now".into());
    let mut out = Vec::new();
    render(&mut out, args.format, view, &batches, &as_of).await?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush().map_err(CliError::from)
}

/// The rows of `view`, by rank.
async fn answer(ctx: &SessionContext, view: &str) -> Result<Vec<RecordBatch>, CliError> {
    Ok(ctx
        .sql(&format!("SELECT * FROM {view} ORDER BY rank"))
        .await?
        .collect()
        .await?)
}

/// Writes the answer to `out` in `format`.
async fn render(
    out: &mut Vec<u8>,
    format: Format,
    view: &str,
    batches: &[RecordBatch],
    as_of: &str,
) -> Result<(), CliError> {
    match format {
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            batches.iter().try_for_each(|b| writer.write(b)).map_err(CliError::from)
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).and_then(|()| writer.finish())?;
            writeln!(out).map_err(CliError::from)
        }
        Format::Table => print_table(out, view, batches, as_of).await,
    }
}

/// Says on stderr which offsets of each topic the answer read, and how to
/// read exactly them again.
fn print_cut(ctx: &SessionContext) {
    let Some(log) = ctx.state().config().get_extension::<CutLog>() else {
        return;
    };
    for cut in log.cuts() {
        let ranges: Vec<String> = cut
            .partitions
            .iter()
            .map(|(p, wm)| format!("{p}:[{}..{})", wm.low, wm.high))
            .collect();
        eprintln!(
            "pulse: read Kafka topic '{}' at offsets {}{}; replay this cut with --at-offsets '{}'",
            cut.topic,
            ranges.join(" "),
            if cut.pinned { " (pinned)" } else { "" },
            cut.spec()
        );
    }
}

async fn print_table(out: &mut impl Write, view: &str, batches: &[RecordBatch], as_of: &str) -> Result<(), CliError> {
    // Round for reading only; CSV and JSON carry the full figures. The
    // figures are the ones already read: rounding them reads no source
    // again, so the table and the chart show one cut.
    let figures = SessionContext::new();
    let schema = batches
        .first()
        .map_or_else(|| Arc::new(Schema::empty()), RecordBatch::schema);
    figures.register_table("answer", Arc::new(MemTable::try_new(schema, vec![batches.to_vec()])?))?;
    let rounded = figures
        .sql(
            "SELECT rank, industry, round(current_amount, 2) AS current_amount, \
             round(baseline_daily_avg, 2) AS baseline_daily_avg, round(abs_change, 2) AS abs_change, \
             round(pct_change * 100, 1) AS pct_change_percent, current_orders, \
             round(baseline_daily_orders, 2) AS baseline_daily_orders, \
             round(orders_pct_change * 100, 1) AS orders_pct_change_percent \
             FROM answer ORDER BY rank",
        )
        .await?
        .collect()
        .await?;
    let title = if view == "industry_change" {
        "All industries"
    } else {
        "Top 3 industries"
    };
    writeln!(
        out,
        "{title} by change in the last 24 hours against their daily average over the 30 days before (as of {as_of})"
    )?;
    writeln!(out, "{}", pretty_format_batches(&rounded)?)?;
    writeln!(out, "\npct_change")?;
    let mut bars = Vec::new();
    for b in batches {
        let names = b.column(1).as_string::<i32>();
        let pct = b.column(5).as_primitive::<Float64Type>();
        let ranks = b.column(0).as_primitive::<UInt64Type>();
        for r in 0..b.num_rows() {
            let value = (!pct.is_null(r)).then(|| pct.value(r));
            bars.push((ranks.value(r), names.value(r).to_string(), value));
        }
    }
    let widest = bars.iter().filter_map(|(_, _, v)| v.map(f64::abs)).fold(0.0, f64::max);
    for (rank, name, value) in bars {
        let (label, width) = match value {
            Some(v) => (
                format!("{:+.1}%", v * 100.0),
                if widest > 0.0 {
                    (v.abs() / widest * 40.0).round() as usize
                } else {
                    0
                },
            ),
            None => ("new".to_string(), 40),
        };
        let sign = if value.is_some_and(|v| v < 0.0) { '-' } else { '+' };
        let bar: String = std::iter::repeat_n(if sign == '-' { '░' } else { '█' }, width).collect();
        writeln!(out, "{rank:>2} {name:<16} {label:>9} |{bar}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_memory_limit_reads_the_machine_and_the_cgroup() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_576_000 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("9223372036854771712\n"), None, "cgroup v1 without a limit");
        assert_eq!(cgroup_limit("4294967296\n"), Some(4 << 30));
        assert_eq!(
            cgroup_limit_files("0::/system.slice/pulse.service\n"),
            [
                "/sys/fs/cgroup/system.slice/pulse.service/memory.max",
                "/sys/fs/cgroup/system.slice/memory.max",
                "/sys/fs/cgroup/memory.max",
            ]
        );
        assert_eq!(
            cgroup_limit_files("12:cpu,cpuacct:/x\n4:memory:/docker/abc\n"),
            [
                "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            ]
        );
        assert_eq!(cgroup_limit_files("0::/\n"), ["/sys/fs/cgroup/memory.max"]);
        // on this machine: some memory, at most all of it
        let limit = default_memory_limit();
        assert!(limit > 0);
        if let Some(total) = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| mem_total(&t))
        {
            assert!(limit <= total / 5 * 4, "{limit} of {total}");
        }
    }
}
