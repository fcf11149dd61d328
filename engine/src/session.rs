//! Builds DataFusion sessions with everything Pulse provides registered.
//!
//! What must stay true: every entry point (the shell, the test suite, a
//! library user) gets the same registrations from here, so a table format
//! or function that works in one works in all.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::customers::{CUSTOMER_BATCHES_FORMAT, CustomerBatchesFactory};
use crate::kafka::{CutLog, KAFKA_FORMAT, KafkaTableFactory, PulseCutFunction};

/// Adds Pulse's table factories to a session state builder.
pub fn with_pulse(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .with_table_factory(KAFKA_FORMAT.to_string(), Arc::new(KafkaTableFactory))
        .with_table_factory(CUSTOMER_BATCHES_FORMAT.to_string(), Arc::new(CustomerBatchesFactory))
}

/// A session state with DataFusion's defaults and Pulse's registrations:
/// the table factories, the `pulse.*` settings, `information_schema`, every
/// function of `pulse_udfs` and its optimizer rules
/// ([`pulse_udfs::MergeEarliest`], then [`pulse_udfs::PackKeys`]), and `pulse_cut()` with the session's
/// [`CutLog`].
pub fn pulse_state(config: SessionConfig) -> SessionState {
    pulse_state_with_runtime(config, Arc::new(RuntimeEnv::default()))
}

/// [`pulse_state`] on a given runtime (object stores, memory, disk).
pub fn pulse_state_with_runtime(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let mut config = config
        .with_information_schema(true)
        .with_extension(Arc::new(CutLog::default()));
    // a config that has the settings already (a cluster's, with a
    // client's values set) keeps them
    if config.options().extensions.get::<pulse_udfs::PulseOptions>().is_none() {
        config = config.with_option_extension(pulse_udfs::PulseOptions::default());
    }
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features();
    let mut state = with_pulse(builder)
        .with_optimizer_rule(Arc::new(pulse_udfs::MergeEarliest))
        .with_optimizer_rule(Arc::new(pulse_udfs::PackKeys))
        .build();
    pulse_udfs::register_state(&mut state).expect("registering a function in a new session cannot fail");
    state.register_udtf(PulseCutFunction::NAME, Arc::new(PulseCutFunction));
    state
}

/// A session context with DataFusion's defaults and Pulse's registrations.
pub fn pulse_context() -> SessionContext {
    SessionContext::new_with_state(pulse_state(SessionConfig::new()))
}
