//! `pulse sql`: the interactive SQL shell, which is datafusion-cli's with
//! Pulse's tables, functions and views in it.
//!
//! datafusion-cli prepares `CREATE EXTERNAL TABLE` by building an object
//! store for the location's scheme from the `AWS_*` environment and the
//! table's options. [`PulseCliContext`] adapts that to Pulse: a `kafka://`
//! location gets a placeholder store (a Kafka table reads no object store),
//! `kafka.*` and `customers.*` options pass through to Pulse's factories,
//! and a store the session already has for a bucket is kept rather than
//! replaced.
//!
//! What must stay true: the shell's session is built like every other Pulse
//! session (`pulse_state`), so a query gives the same answer here as in
//! `pulse answer` and in the test suite.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use clap::Args;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion_cli::cli_context::CliSessionContext;
use datafusion_cli::exec;
use datafusion_cli::object_storage::instrumented::InstrumentedObjectStoreRegistry;
use datafusion_cli::print_format::PrintFormat;
use datafusion_cli::print_options::{MaxRows, PrintOptions};
use object_store::ObjectStore;
use pulse::engine::session::pulse_state_with_runtime;
use url::Url;

use crate::CliError;
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

/// datafusion-cli's session hooks, for a Pulse session.
pub struct PulseCliContext {
    ctx: SessionContext,
}

#[async_trait]
impl CliSessionContext for PulseCliContext {
    fn task_ctx(&self) -> Arc<TaskContext> {
        self.ctx.task_ctx()
    }

    fn session_state(&self) -> SessionState {
        self.ctx.state()
    }

    fn register_object_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore + 'static>> {
        let runtime = self.ctx.runtime_env();
        let key = datafusion::execution::object_store::ObjectStoreUrl::parse(&url[..url::Position::BeforePath]).ok()?;
        match runtime.object_store(&key) {
            // keep the store a table was created with (its endpoint and keys)
            Ok(existing) if url.scheme() != "file" => Some(existing),
            _ => self.ctx.register_object_store(url, store),
        }
    }

    fn register_table_options_extension_from_scheme(&self, scheme: &str) {
        CliSessionContext::register_table_options_extension_from_scheme(&self.ctx, scheme);
    }

    async fn execute_logical_plan(&self, plan: LogicalPlan) -> Result<DataFrame, DataFusionError> {
        self.ctx.execute_logical_plan(plan).await
    }
}

/// Answers `kafka://` URLs with a placeholder store; everything else as
/// datafusion-cli does.
#[derive(Debug)]
struct PulseStoreRegistry {
    inner: Arc<InstrumentedObjectStoreRegistry>,
    placeholder: Arc<dyn ObjectStore>,
}

impl ObjectStoreRegistry for PulseStoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        if url.scheme() == "kafka" {
            return None;
        }
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "kafka" {
            return Ok(Arc::clone(&self.placeholder));
        }
        self.inner.get_store(url)
    }
}

/// Table options under one prefix that Pulse's factories check themselves.
#[derive(Debug, Clone, Default)]
struct PassThrough<const KAFKA: bool>;

impl<const KAFKA: bool> ExtensionOptions for PassThrough<KAFKA> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }
    fn set(&mut self, _key: &str, _value: &str) -> datafusion::error::Result<()> {
        Ok(())
    }
    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

impl ConfigExtension for PassThrough<true> {
    const PREFIX: &'static str = "kafka";
}

impl ConfigExtension for PassThrough<false> {
    const PREFIX: &'static str = "customers";
}

/// A Pulse session for the shell.
pub fn shell_context() -> Result<(SessionContext, Arc<InstrumentedObjectStoreRegistry>), CliError> {
    let instrumented = Arc::new(InstrumentedObjectStoreRegistry::new());
    let registry = PulseStoreRegistry {
        inner: Arc::clone(&instrumented),
        placeholder: Arc::new(object_store::memory::InMemory::new()),
    };
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(registry))
        .build_arc()
        .map_err(|e| CliError(e.to_string()))?;
    let mut state = pulse_state_with_runtime(SessionConfig::new(), runtime);
    state.table_options_mut().extensions.insert(PassThrough::<true>);
    state.table_options_mut().extensions.insert(PassThrough::<false>);
    Ok((SessionContext::new_with_state(state), instrumented))
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
            .map_err(|e| CliError(e.to_string()));
    }
    if !args.file.is_empty() {
        exec::exec_from_files(&cli, args.file, &print)
            .await
            .map_err(|e| CliError(e.to_string()))?;
    }
    if !args.command.is_empty() {
        exec::exec_from_commands(&cli, args.command, &print)
            .await
            .map_err(|e| CliError(e.to_string()))?;
    }
    Ok(())
}
