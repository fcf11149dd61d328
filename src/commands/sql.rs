//! `pulse sql`: the interactive SQL shell, which is datafusion-cli's with
//! Pulse's tables, functions and views in it; `-c` and `-f` run statements
//! and exit.
//!
//! What must stay true: the shell's session is built like every other
//! Pulse session ([`crate::shell::shell_context`]), with the same sources
//! as `pulse answer`, so a query gives the same answer in both.

use clap::Args;
use datafusion_cli::exec;
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};

use crate::error::{CliError, Context};
use crate::shell::{PulseCliContext, shell_context};
use crate::sources::{SourceArgs, load};

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
}

fn parse_format(s: &str) -> Result<PrintFormat, String> {
    s.parse()
}

/// Runs `pulse sql`.
pub async fn run(args: SqlArgs) -> Result<(), CliError> {
    let (ctx, instrumented) = shell_context()?;
    let loaded = load(&ctx, &args.sources).await?;
    let interactive = args.command.is_empty() && args.file.is_empty();
    if !args.quiet || interactive {
        eprintln!("pulse: {}", loaded.description);
        if interactive {
            eprintln!("pulse: try SELECT * FROM top_industry_changes; \\q quits");
        }
    }
    let cli = PulseCliContext { ctx };
    let mut print = PrintOptions {
        format: args.format,
        quiet: args.quiet,
        maxrows: if args.maxrows == 0 {
            MaxRows::Unlimited
        } else {
            MaxRows::Limited(args.maxrows)
        },
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
