//! `pulse sql`: the interactive SQL shell, which is datafusion-cli's with
//! Pulse's tables, functions and views in it; `-c` and `-f` run statements
//! and exit, or with `--watch` run them again every tick
//! ([`crate::watch`]). The shell and `--watch` read the topic through a
//! decoded-log cache (`--cache-memory`).
//!
//! What must stay true: the shell's session is built like every other
//! Pulse session ([`crate::shell::shell_context`]), with the same sources
//! as `pulse answer`, so a query gives the same answer in both.

use clap::Args;
use datafusion_cli::exec;
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};

use datafusion::config::FormatOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::cluster::ClusterArgs;
use crate::error::{CliError, Context};
use crate::shell::{PulseCliContext, shell_context};
use crate::sources::{CacheArgs, SourceArgs, check_as_of, load};
use crate::watch::{Tick, WatchArgs, watch};

/// `pulse sql`.
#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// Run these statements and exit (repeatable).
    #[arg(short = 'c', long = "command")]
    command: Vec<String>,
    /// Run the statements of these files and exit (repeatable).
    #[arg(short = 'f', long = "file")]
    file: Vec<String>,
    /// Output format: table, csv, tsv, json, nd-json or automatic.
    #[arg(long, default_value = "automatic", value_parser = parse_format)]
    format: PrintFormat,
    /// Print only the results, not timings or row counts.
    #[arg(short, long)]
    quiet: bool,
    /// The most rows to print in the shell (0 for all).
    #[arg(long, default_value_t = 40)]
    maxrows: usize,
    #[command(flatten)]
    watch: WatchArgs,
    /// With --watch: the as-of time T (RFC 3339) of every tick; by default, the tick's time.
    #[arg(long, value_name = "RFC3339", requires = "watch")]
    as_of: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn parse_format(s: &str) -> Result<PrintFormat, String> {
    s.parse()
}

/// Runs `pulse sql`.
pub async fn run(mut args: SqlArgs) -> Result<(), CliError> {
    let interval = args.watch.interval()?;
    let interactive = args.command.is_empty() && args.file.is_empty();
    if interval.is_some() && interactive {
        return Err(CliError::usage(
            "--watch runs the statements of -c or -f again every tick; give -c 'SELECT …'",
        ));
    }
    check_as_of(args.as_of.as_deref())?;
    if (interactive || interval.is_some()) && args.cluster.cluster.is_none() {
        // a session that lives on keeps what it decoded
        args.cache.apply(&mut args.sources)?;
    }
    let (ctx, instrumented) = shell_context()?;
    let ctx = args.cluster.connect(ctx)?;
    let loaded = load(&ctx, &args.sources).await?;
    if !args.quiet || interactive {
        eprintln!("pulse: {}", loaded.description);
        if interactive {
            eprintln!("pulse: try SELECT * FROM top_industry_changes; \\q quits");
        }
    }
    let maxrows = if args.maxrows == 0 {
        MaxRows::Unlimited
    } else {
        MaxRows::Limited(args.maxrows)
    };
    if let Some(interval) = interval {
        let mut statements = Vec::new();
        for file in &args.file {
            statements.push(std::fs::read_to_string(file).context(|| format!("cannot read {file}"))?);
        }
        statements.extend(args.command.iter().cloned());
        let format = args.format;
        let cache = args.sources.cache.clone();
        return watch(
            &ctx,
            interval,
            args.watch.ticks,
            args.as_of.as_deref(),
            cache.as_ref(),
            async |ctx: &SessionContext, _: &Tick, out: &mut Vec<u8>| {
                for text in &statements {
                    for statement in DFParser::parse_sql(text)? {
                        let plan = ctx.state().statement_to_plan(statement).await?;
                        let df = ctx.execute_logical_plan(plan).await?;
                        let schema = df.schema().inner().clone();
                        let batches = df.collect().await?;
                        format.print_batches(out, schema, &batches, maxrows, true, &FormatOptions::default())?;
                    }
                }
                Ok(())
            },
        )
        .await;
    }
    let cli = PulseCliContext { ctx };
    let mut print = PrintOptions {
        format: args.format,
        quiet: args.quiet,
        maxrows,
        color: true,
        instrumented_registry: instrumented,
    };
    if interactive {
        return exec::exec_from_repl(&cli, &mut print)
            .await
            .map_err(std::io::Error::other)
            .context(|| "the shell's terminal failed");
    }
    if !args.file.is_empty() {
        exec::exec_from_files(&cli, args.file, &print).await?;
    }
    if !args.command.is_empty() {
        exec::exec_from_commands(&cli, args.command, &print).await?;
    }
    Ok(())
}
