//! The SQL shell's session: datafusion-cli's hooks (`CliSessionContext`)
//! for a Pulse session, used by `pulse sql`.
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
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion_cli::cli_context::CliSessionContext;
use datafusion_cli::object_storage::instrumented::InstrumentedObjectStoreRegistry;
use object_store::ObjectStore;
use pulse::engine::session::pulse_state_with_runtime;
use url::Url;

use crate::error::CliError;

/// datafusion-cli's session hooks, for a Pulse session.
pub struct PulseCliContext {
    /// The Pulse session the shell runs statements in.
    pub ctx: SessionContext,
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
        .build_arc()?;
    let mut state = pulse_state_with_runtime(SessionConfig::new(), runtime);
    state.table_options_mut().extensions.insert(PassThrough::<true>);
    state.table_options_mut().extensions.insert(PassThrough::<false>);
    Ok((SessionContext::new_with_state(state), instrumented))
}
