//! `pulse scheduler`: a Ballista scheduler that carries Pulse's codecs,
//! settings and functions. Clients send it queries (`--cluster`); it plans
//! them, which reads the broker's offsets and lists customer batches, and
//! hands the stages to `pulse executor`s.
//!
//! What must stay true: it reaches the brokers and object stores the
//! queries name with its own credentials (`--kafka-client`, `AWS_*`),
//! never the client's; it prints where it listens once it does.

use std::time::Duration;

use clap::Args;
use pulse::engine::distributed::ClusterSettings;
use pulse::engine::distributed::cluster::{SchedulerOptions, run_scheduler};
use pulse::engine::kafka::config::parse_duration;

use crate::cluster::key_values;
use crate::commands::serve::resolve;
use crate::error::{CliError, Context};

/// `pulse scheduler`.
#[derive(Args, Debug)]
pub struct SchedulerArgs {
    /// Where to listen for clients and executors (host:port).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    bind: String,
    /// The name executors and clients reach this scheduler by, if not the
    /// bind address (e.g. a container's service name).
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// A librdkafka property for every topic this scheduler plans, such as
    /// a secret the clients do not ship (repeatable): sasl.password=…
    #[arg(long = "kafka-client", value_name = "KEY=VALUE")]
    kafka_client: Vec<String>,
    /// An executor silent this long is taken as dead and its tasks run
    /// elsewhere (executors say they are alive every --heartbeat-interval).
    #[arg(long, default_value = "180s", value_name = "DURATION", value_parser = parse_duration)]
    executor_timeout: Duration,
}

/// Runs `pulse scheduler` until it fails or Ctrl-C.
pub async fn run(args: SchedulerArgs) -> Result<(), CliError> {
    let bind = resolve(&args.bind).await?;
    let settings = ClusterSettings {
        kafka_client: key_values("--kafka-client", &args.kafka_client)?,
    };
    let options = SchedulerOptions {
        bind,
        external_host: args.external_host,
        executor_timeout: args.executor_timeout,
    };
    eprintln!("pulse: Ballista scheduler on df://{bind} (Ctrl-C stops)");
    tokio::select! {
        done = run_scheduler(options, settings) => done.context(|| format!("scheduler on {bind}")),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("pulse: stopping");
            Ok(())
        }
    }
}
