//! Pulse: live SQL over Kafka streams joined with batch data on object
//! storage, as an extension of Apache DataFusion.
//!
//! This crate gathers Pulse's library crates under one name for embedding:
//! [`engine`] holds the table providers, the session builders and the
//! versioned views; [`udfs`] the SQL functions. The `pulse` binary is built
//! from the same crate.
//!
//! Embedding: register the orders topic and the customer batches, load the
//! views, and ask.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pulse::engine::customers::{CustomerBatchesConfig, CustomersTable, CustomersView};
//! use pulse::engine::kafka::{KafkaTable, KafkaTableConfig};
//! use pulse::engine::messages::MalformedPolicy;
//! use pulse::engine::session::pulse_context;
//! use pulse::engine::views::load_views;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = pulse_context();
//! let orders = KafkaTableConfig::new("localhost:9094", "orders")
//!     .with_malformed_policy(MalformedPolicy::DeadLetter);
//! ctx.register_table("orders", Arc::new(KafkaTable::try_new(orders).await?))?;
//! for (name, view) in [("customers", CustomersView::Latest), ("customers_history", CustomersView::History)] {
//!     let batches = CustomerBatchesConfig::new("s3://demo-data/customers/")
//!         .with_view(view)
//!         .with_aws("endpoint", "http://localhost:9000")
//!         .with_aws("allow_http", "true");
//!     ctx.register_table(name, Arc::new(CustomersTable::try_new(batches, &ctx.runtime_env())?))?;
//! }
//! load_views(&ctx).await?;
//! ctx.sql("SET pulse.as_of = '2026-11-20T00:00:00Z'").await?;
//! ctx.sql("SELECT * FROM top_industry_changes").await?.show().await?;
//! # Ok(())
//! # }
//! ```

pub use pulse_engine as engine;
pub use pulse_udfs as udfs;
