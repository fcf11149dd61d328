//! `pulse executor`: a Ballista executor that carries Pulse's codecs and
//! functions. It asks its scheduler for tasks, reads the Kafka ranges and
//! objects each task was planned with, and serves its shuffle output to
//! the other executors over Arrow Flight.
//!
//! What must stay true: it reads with its own credentials
//! (`--kafka-client`, `AWS_*`); it never plans a scan itself.

use std::time::Duration;

use clap::Args;
use pulse::engine::distributed::ClusterSettings;
use pulse::engine::distributed::cluster::{ExecutorOptions, run_executor};
use pulse::engine::kafka::config::parse_duration;

use crate::cluster::key_values;
use crate::commands::serve::resolve;
use crate::error::{CliError, Context};

/// `pulse executor`.
#[derive(Args, Debug)]
pub struct ExecutorArgs {
    /// Where to serve shuffle data to other executors (Arrow Flight, host:port).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    bind: String,
    /// The executor's gRPC port, on the bind host.
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    grpc_port: u16,
    /// The scheduler to work for.
    #[arg(long, value_name = "df://HOST:PORT", env = "PULSE_SCHEDULER")]
    scheduler: String,
    /// The name the scheduler and other executors reach this one by, if
    /// not the bind address.
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Tasks to run at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    vcores: usize,
    /// Where shuffle files go (a temporary folder by default).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<String>,
    /// A librdkafka property for every topic this executor reads, such as
    /// a secret the clients do not ship (repeatable): sasl.password=…
    #[arg(long = "kafka-client", value_name = "KEY=VALUE")]
    kafka_client: Vec<String>,
    /// How often to tell the scheduler this executor is alive (keep it
    /// well under the scheduler's --executor-timeout).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    heartbeat_interval: Duration,
}

/// Runs `pulse executor` until it fails or Ctrl-C.
pub async fn run(args: ExecutorArgs) -> Result<(), CliError> {
    let bind = resolve(&args.bind).await?;
    let settings = ClusterSettings {
        kafka_client: key_values("--kafka-client", &args.kafka_client)?,
    };
    let options = ExecutorOptions {
        bind,
        grpc_port: args.grpc_port,
        external_host: args.external_host,
        scheduler: args.scheduler.clone(),
        vcores: args.vcores,
        work_dir: args.work_dir,
        heartbeat: args.heartbeat_interval,
    };
    eprintln!(
        "pulse: Ballista executor on {bind} (gRPC port {}), working for {} (Ctrl-C stops)",
        args.grpc_port, args.scheduler
    );
    tokio::select! {
        done = run_executor(options, settings) => done.context(|| format!("executor on {bind}")),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("pulse: stopping");
            Ok(())
        }
    }
}
