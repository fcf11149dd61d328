//! The `pulse` command: parses the arguments, starts the async runtime and
//! hands over to one of [`commands`]; every command lives in its own file.
//!
//! The rest of the binary, by what it does:
//! - [`allocator`]: mimalloc, and how soon it returns freed memory;
//! - [`sources`]: the orders and customer tables `answer` and `sql` read
//!   (a topic, a file, customer batches, or the embedded default);
//! - [`shell`]: datafusion-cli's hooks for a Pulse session;
//! - [`cluster`]: `--cluster`, queries run on a Ballista cluster;
//! - [`watch`]: `--watch`, a query run again and redrawn every tick;
//! - [`flight_sql`]: the Arrow Flight SQL service `serve` runs;
//! - [`generator`]: the simulated business that `generate` writes;
//! - [`sinks`]: writing orders to a topic and customer batches to storage;
//! - [`error`]: [`CliError`], the one error type, and its context.
//!
//! What must stay true: bad input ends with one line on stderr naming what
//! was wrong and a non-zero exit code, never a panic or a backtrace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod allocator;
mod cluster;
mod commands;
mod error;
mod flight_sql;
mod generator;
mod shell;
mod sinks;
mod sources;
mod watch;

pub use error::CliError;

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
    Answer(commands::answer::AnswerArgs),
    /// The interactive SQL shell (datafusion-cli) with Pulse's tables,
    /// functions and views; -c and -f run statements and exit.
    Sql(commands::sql::SqlArgs),
    /// Generate customer batches and orders: to a prefix, a topic or a
    /// JSON-lines file, then optionally keep streaming live orders.
    Generate(commands::generate::GenerateArgs),
    /// Load a JSON-lines file of orders into a topic (CreateTime from each
    /// order's timestamp, keyed by customer_id), creating the topic if missing.
    Produce(commands::produce::ProduceArgs),
    /// Follow the orders topic into the lake's Delta tables (dal.pulse.orders,
    /// dal.pulse.orders_dead_letter), exactly once: each commit carries the
    /// next offset of every partition it read.
    Ingest(commands::ingest::IngestArgs),
    /// Serve the session of `pulse sql` (the same sources, tables and
    /// views) over Arrow Flight SQL, for ADBC, JDBC and ODBC clients.
    Serve(commands::serve::ServeArgs),
    /// A Ballista scheduler for a Pulse cluster: plans the queries that
    /// `--cluster df://HOST:PORT` sends it and hands stages to executors.
    #[cfg(feature = "distributed")]
    Scheduler(commands::scheduler::SchedulerArgs),
    /// A Ballista executor for a Pulse cluster: runs the tasks its
    /// scheduler (`--scheduler df://HOST:PORT`) gives it.
    #[cfg(feature = "distributed")]
    Executor(commands::executor::ExecutorArgs),
}

fn main() -> ExitCode {
    allocator::configure();
    let cli = Cli::parse();
    // Planning and (de)serialising deep plans recurses: Ballista's own
    // scheduler runs on 32 MB stacks, and so does every Pulse command.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pulse: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Answer(args) => commands::answer::run(args).await,
            Command::Sql(args) => commands::sql::run(args).await,
            Command::Generate(args) => commands::generate::run(args).await,
            Command::Produce(args) => commands::produce::run(args).await,
            Command::Ingest(args) => commands::ingest::run(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            #[cfg(feature = "distributed")]
            Command::Scheduler(args) => commands::scheduler::run(args).await,
            #[cfg(feature = "distributed")]
            Command::Executor(args) => commands::executor::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pulse: error: {e}");
            ExitCode::FAILURE
        }
    }
}
