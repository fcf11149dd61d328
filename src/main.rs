//! The `pulse` command: the answer, the SQL shell, the generator and the
//! producer. This file only parses arguments and reports errors; each
//! command lives in its own module.
//!
//! What must stay true: bad input ends with one line on stderr naming what
//! was wrong and a non-zero exit code, never a panic or a backtrace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod answer;
mod batches_out;
mod generate;
mod generate_cmd;
mod kafka_out;
mod shell;
mod sources;

// Arrow allocates and frees large buffers for every batch; glibc's malloc
// returns them to the kernel and faults them back in, mimalloc keeps them
// (measured in bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An error to report in one line.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Live SQL over Kafka orders and S3 customer batches: which 3 industries
/// changed most in the last 24 hours against their 30-day daily average?
#[derive(Parser, Debug)]
#[command(name = "pulse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the answer: the top 3 industries (or all 10) with every figure.
    /// Without sources, runs on an embedded default (an in-process Kafka
    /// broker and local customer batches, filled by the generator).
    Answer(answer::AnswerArgs),
    /// The interactive SQL shell (datafusion-cli) with Pulse's tables,
    /// functions and views; -c and -f run statements and exit.
    Sql(shell::SqlArgs),
    /// Generate customer batches and orders: to a prefix, a topic or a
    /// JSON-lines file, then optionally keep streaming live orders.
    Generate(generate_cmd::GenerateArgs),
    /// Load a JSON-lines file of orders into a topic (CreateTime from each
    /// order's timestamp, keyed by customer_id), creating the topic if missing.
    Produce(generate_cmd::ProduceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pulse: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Answer(args) => answer::run(args).await,
            Command::Sql(args) => shell::run(args).await,
            Command::Generate(args) => generate_cmd::generate(args).await,
            Command::Produce(args) => generate_cmd::produce(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // DataFusion wraps Pulse's own errors; the wrapper adds nothing for a user
            let message = e.0.replace("External error: ", "");
            eprintln!("pulse: error: {message}");
            ExitCode::FAILURE
        }
    }
}
