//! The roles of a Pulse cluster on Ballista and the session each one runs:
//! the client ([`client_state`], `--cluster`), the scheduler
//! ([`run_scheduler`], `pulse scheduler`), the executor ([`run_executor`],
//! `pulse executor`), and all of them in one process for tests
//! ([`InProcessCluster`]).
//!
//! Every role carries Pulse's codecs, its `pulse.*` settings and its
//! functions: Ballista's session setup replaces the scalar functions, so
//! Pulse's are registered again after it. The scheduler plans the scans
//! (it asks the broker for offsets and lists customer batches), so it
//! needs the same broker and object-store access as the executors.
//!
//! Sessions use Ballista's static planner: its adaptive planner (the
//! default in 55) never finished a `UNION ALL` of two aggregates under an
//! `ORDER BY` (seen with two counts of `industries()`, and with the
//! `data_quality` view). `SET ballista.planner.adaptive.enabled = true`
//! turns it back on.
//!
//! What must stay true: Ballista schedules; Pulse never decides where a
//! task runs. A process's own secrets ([`ClusterSettings`], `AWS_*`) are
//! the only ones it uses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::optimizer::with_ballista_optimizer_rules;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use object_store::ObjectStore;
use url::Url;

use super::codec::{PulseLogicalCodec, PulsePhysicalCodec};
use super::slice::SliceForTasks;
use crate::kafka::PulseCutFunction;
use crate::session::pulse_state_with_runtime;

/// What one cluster process adds to every table and scan it decodes.
#[derive(Clone, Default)]
pub struct ClusterSettings {
    /// librdkafka properties of this process (its own secrets among them:
    /// `sasl.password`, …), added over the shipped ones.
    pub kafka_client: BTreeMap<String, String>,
}

impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the values may be secrets: show the keys only
        let keys: Vec<&String> = self.kafka_client.keys().collect();
        f.debug_struct("ClusterSettings").field("kafka_client", &keys).finish()
    }
}

/// The host and port of a scheduler URL, `df://HOST:PORT`.
pub fn parse_scheduler_url(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| DataFusionError::Configuration(format!("scheduler '{url}': {why}; give df://HOST:PORT"));
    let rest = url.strip_prefix("df://").ok_or_else(|| bad("not a df:// URL"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = port.parse().map_err(|_| bad("the port is not a number"))?;
    // an IPv6 host keeps its brackets: it goes into http://HOST:PORT
    Ok((host.to_string(), port))
}

/// The Ballista codec (Pulse's, composed with Ballista's) of a process.
fn codec(settings: &Arc<ClusterSettings>) -> BallistaCodec {
    BallistaCodec::new(
        Arc::new(PulseLogicalCodec::new(Arc::clone(settings))),
        Arc::new(PulsePhysicalCodec::new(Arc::clone(settings))),
    )
}

/// The base configuration of every cluster session: Ballista's, with the
/// `pulse.*` settings and Pulse's codecs.
pub fn cluster_config(settings: &Arc<ClusterSettings>) -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_adaptive_query_planner(false)
        .with_option_extension(pulse_udfs::PulseOptions::default())
        .with_ballista_logical_extension_codec(Arc::new(PulseLogicalCodec::new(Arc::clone(settings))))
        .with_ballista_physical_extension_codec(Arc::new(PulsePhysicalCodec::new(Arc::clone(settings))))
}

/// The logical optimizer rules a client leaves to the scheduler. Pulse's
/// own rules are among them: `MergeEarliest` builds struct fields above an
/// aggregate, the shape datafusion-proto 55.2 loses qualifiers on (below),
/// and `PackKeys` is left where `MergeEarliest` runs, so that the two
/// rewrite one plan in one place, in their order.
const CLIENT_SKIPS: &[&str] = &[
    "extract_leaf_expressions",
    "push_down_leaf_projections",
    pulse_udfs::MergeEarliest::NAME,
    pulse_udfs::PackKeys::NAME,
];

/// A client session: `state` (a Pulse session, tables and views
/// registered or to be registered) sending its queries to the scheduler
/// at `url` (`df://HOST:PORT`).
pub fn client_state(state: SessionState, url: &str, settings: &Arc<ClusterSettings>) -> Result<SessionState> {
    let (host, port) = parse_scheduler_url(url)?;
    let config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(PulseLogicalCodec::new(Arc::clone(settings))))
        .with_ballista_physical_extension_codec(Arc::new(PulsePhysicalCodec::new(Arc::clone(settings))));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let state = state.upgrade_for_ballista(format!("http://{host}:{port}"))?;
    // A plan that the leaf-expression rules rewrote does not survive
    // datafusion-proto 55.2 (an aggregate over extracted struct fields
    // loses the fields' qualifier: "No field named
    // sum(__datafusion_extracted_2 * …)"); the scheduler applies the rules
    // of CLIENT_SKIPS after decoding the plan.
    let rules = state
        .optimizers()
        .iter()
        .filter(|r| !CLIENT_SKIPS.contains(&r.name()))
        .cloned()
        .collect();
    let ballista = Arc::clone(state.query_planner());
    let checked = ShippableFirst {
        ballista,
        codec: PulseLogicalCodec::new(Arc::clone(settings)),
    };
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(checked))
        .build();
    // Ballista's upgrade replaced the scalar functions.
    pulse_udfs::register_state(&mut state)?;
    state.register_udtf(PulseCutFunction::NAME, Arc::new(NoCutsHere));
    Ok(state)
}

/// The client's planner: checks that every table of the plan can be
/// shipped, then hands the plan to Ballista's planner. datafusion-proto
/// reports a table it cannot ship as an internal error with the reason in
/// its debug form; this says which table, and why, in plain words.
#[derive(Debug)]
struct ShippableFirst {
    ballista: Arc<dyn QueryPlanner + Send + Sync>,
    codec: PulseLogicalCodec,
}

#[async_trait]
impl QueryPlanner for ShippableFirst {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if matches!(logical_plan, LogicalPlan::Dml(_) | LogicalPlan::Copy(_)) {
            return Err(DataFusionError::NotImplemented(
                "a clustered session only reads: run INSERT and COPY without --cluster".into(),
            ));
        }
        let mut unshippable = Vec::new();
        logical_plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                // Ballista answers information_schema on the client
                if scan.table_name.schema() == Some("information_schema") {
                    return Ok(TreeNodeRecursion::Continue);
                }
                let table = source_as_provider(&scan.source)?;
                let native = table.is::<ListingTable>() || table.is::<ViewTable>();
                if !native {
                    let refused =
                        self.codec
                            .try_encode_table_provider(&scan.table_name, Arc::clone(&table), &mut Vec::new());
                    if let Err(e) = refused {
                        unshippable.push((table, e));
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some((table, refused)) = unshippable.into_iter().next() {
            // a table that cannot be planned even here (a source that was
            // not given) says why first
            table.scan(session, None, &[], Some(0)).await?;
            return Err(refused);
        }
        self.ballista.create_physical_plan(logical_plan, session).await
    }
}

/// `pulse_cut()` in a clustered session: the cuts are planned, and
/// recorded, by the scheduler, so this process has none to list.
#[derive(Debug)]
struct NoCutsHere;

impl TableFunctionImpl for NoCutsHere {
    fn call_with_args(&self, _args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        Err(DataFusionError::NotImplemented(
            "pulse_cut() lists the cuts this process planned; on a cluster the scheduler plans them \
             (pin a cut with SET pulse.offsets, or run without --cluster to see it)"
                .into(),
        ))
    }
}

/// The scheduler's session for a job: a Pulse session on `runtime` with
/// the client's settings (`config`) and Ballista's optimizer rules, whose
/// scans are sliced for tasks ([`SliceForTasks`]).
fn scheduler_sessions(runtime: Arc<RuntimeEnv>) -> SessionBuilder {
    Arc::new(move |config: SessionConfig| {
        let config = config.with_extension(Arc::new(SliceForTasks));
        let state = pulse_state_with_runtime(config, Arc::clone(&runtime));
        let rules = with_ballista_optimizer_rules(state.optimizers());
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_optimizer_rules(rules)
            .build())
    })
}

/// The functions an executor resolves plans with: DataFusion's and Pulse's.
fn executor_functions(settings: &Arc<ClusterSettings>) -> BallistaFunctionRegistry {
    let state = pulse_state_with_runtime(cluster_config(settings), Arc::new(RuntimeEnv::default()));
    BallistaFunctionRegistry::from(&state)
}

fn config_producer(settings: &Arc<ClusterSettings>) -> ConfigProducer {
    let settings = Arc::clone(settings);
    Arc::new(move || cluster_config(&settings))
}

fn ballista_error(what: &str) -> impl Fn(ballista_core::error::BallistaError) -> DataFusionError + '_ {
    move |e| DataFusionError::Execution(format!("{what}: {e}"))
}

/// Where a scheduler listens and how it treats executors.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address clients and executors reach it on.
    pub bind: SocketAddr,
    /// The name executors and clients reach it by, if not the bind address.
    pub external_host: Option<String>,
    /// An executor silent this long is dead: its tasks run elsewhere.
    pub executor_timeout: Duration,
}

/// Runs a scheduler until it fails.
pub async fn run_scheduler(options: SchedulerOptions, settings: ClusterSettings) -> Result<()> {
    let settings = Arc::new(settings);
    let bind = options.bind;
    let timeout = options.executor_timeout.as_secs().max(2);
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: options.external_host.unwrap_or_else(|| bind.ip().to_string()),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 4).max(1),
        no_executors_grace_period_seconds: timeout,
        override_config_producer: Some(config_producer(&settings)),
        override_session_builder: Some(scheduler_sessions(Arc::new(RuntimeEnv::default()))),
        override_logical_codec: Some(Arc::new(PulseLogicalCodec::new(Arc::clone(&settings)))),
        override_physical_codec: Some(Arc::new(PulsePhysicalCodec::new(Arc::clone(&settings)))),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error("cannot set up the scheduler's state"))?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(ballista_error(&format!("the scheduler on {bind} stopped")))
}

/// The object stores of an executor: those registered, and any
/// `s3://bucket/` it has not seen yet opened from this process's `AWS_*`
/// environment, as the scheduler's plans name them (a lake's Parquet files).
#[derive(Debug, Default)]
pub struct EnvStores {
    registered: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.registered.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) => match (url.scheme(), url.host_str()) {
                ("s3", Some(bucket)) => {
                    let store = crate::storage::s3_store(bucket, &BTreeMap::new())?;
                    self.registered.register_store(url, Arc::clone(&store));
                    Ok(store)
                }
                _ => Err(e),
            },
        }
    }
}

/// Where an executor listens and whom it works for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Arrow Flight (shuffle data) address.
    pub bind: SocketAddr,
    /// Its gRPC port (on the same host).
    pub grpc_port: u16,
    /// The name the scheduler and other executors reach it by, if not the bind address.
    pub external_host: Option<String>,
    /// The scheduler, `df://HOST:PORT`.
    pub scheduler: String,
    /// Tasks run at once (0: one per core).
    pub vcores: usize,
    /// Where shuffle files go (a temporary folder if not given).
    pub work_dir: Option<String>,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
}

/// Runs an executor until it fails.
pub async fn run_executor(options: ExecutorOptions, settings: ClusterSettings) -> Result<()> {
    let settings = Arc::new(settings);
    let (scheduler_host, scheduler_port) = parse_scheduler_url(&options.scheduler)?;
    let work_dir = match options.work_dir {
        Some(dir) => dir,
        None => std::env::temp_dir()
            .join(format!("pulse-executor-{}", options.bind.port()))
            .display()
            .to_string(),
    };
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| DataFusionError::Execution(format!("cannot create the work folder {work_dir}: {e}")))?;
    let stores = Arc::new(EnvStores::default());
    let spill_dir = work_dir.clone();
    let runtimes: RuntimeProducer = Arc::new(move |_| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores) as Arc<dyn ObjectStoreRegistry>)
            .with_temp_file_path(spill_dir.clone())
            .build_arc()
    });
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.vcores,
        work_dir: Some(work_dir),
        print_thread_info: false,
        override_runtime_producer: Some(runtimes),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        override_function_registry: Some(Arc::new(executor_functions(&settings))),
        override_config_producer: Some(config_producer(&settings)),
        override_logical_codec: Some(Arc::new(PulseLogicalCodec::new(Arc::clone(&settings)))),
        override_physical_codec: Some(Arc::new(PulsePhysicalCodec::new(Arc::clone(&settings)))),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_error(&format!("the executor on {}", options.bind)))
}

/// A scheduler and executors in this process, on loopback ports, for tests
/// and demos; they stop with the async runtime that started them.
#[derive(Debug)]
pub struct InProcessCluster {
    url: String,
}

impl InProcessCluster {
    /// Starts a scheduler and `executors` executors of `vcores` task slots
    /// each, all reading through `runtime` (its object stores).
    pub async fn start(
        executors: usize,
        vcores: usize,
        runtime: Arc<RuntimeEnv>,
        settings: ClusterSettings,
    ) -> Result<Self> {
        let settings = Arc::new(settings);
        let addr = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
            scheduler_sessions(Arc::clone(&runtime)),
            config_producer(&settings),
            codec(&settings),
        )
        .await
        .map_err(ballista_error("cannot start the in-process scheduler"))?;
        let endpoint = format!("http://localhost:{}", addr.port());
        let mut tries = 0;
        let scheduler = loop {
            match SchedulerGrpcClient::connect(endpoint.clone()).await {
                Ok(client) => break client,
                Err(e) if tries > 100 => {
                    return Err(DataFusionError::Execution(format!(
                        "the in-process scheduler on {endpoint} does not answer: {e}"
                    )));
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        for _ in 0..executors {
            let runtime = Arc::clone(&runtime);
            ballista_executor::new_standalone_executor_from_builder(
                scheduler.clone(),
                vcores,
                config_producer(&settings),
                Arc::new(move |_| Ok(Arc::clone(&runtime))),
                codec(&settings),
                executor_functions(&settings),
            )
            .await
            .map_err(ballista_error("cannot start an in-process executor"))?;
        }
        Ok(Self {
            url: format!("df://localhost:{}", addr.port()),
        })
    }

    /// The scheduler's URL, `df://localhost:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
