//! The `dal` lake: Pulse's own tables, Delta Lake tables under one root,
//! written by delta-rs over Pulse's object store.
//!
//! - [`tables`]: the tables, their columns as Delta stores them, and how
//!   decoded messages become their rows;
//! - [`store`]: the lake's root, opening and creating its tables, and the
//!   offsets each table has committed (Delta `txn` actions);
//! - [`ingest`]: `pulse ingest`, the topic into the lake exactly once;
//! - [`customers`]: customer batches into `customer_batches`, `customers`
//!   and `industries`, each batch once;
//! - [`orders`]: `orders` = the lake ∪ the topic above the lake's offsets;
//! - [`catalog`]: the catalog `dal` (`dal.pulse.orders`, …).
//!
//! What must stay true: the lake holds exactly what the message layer
//! decoded, one row per message in `orders` or `orders_dead_letter`, and
//! the offsets it has committed are written in the same Delta commit as the
//! rows that reach them, so a reader of lake ∪ tail sees every message of
//! the topic once.

pub mod catalog;
pub mod customers;
#[cfg(feature = "distributed")]
mod files;
pub mod ingest;
pub mod orders;
pub mod store;
pub mod tables;

pub use catalog::{LAKE_CATALOG, register_lake_catalog};
pub use customers::{CustomersIngest, CustomersRound};
pub use ingest::{Ingest, IngestConfig, Round};
pub use orders::LakeOrdersTable;
pub use store::{Lake, app_id};
pub use tables::{LAKE_SCHEMA, LakeTable};
