//! Customer batches as deduplicated tables.
//!
//! Customers arrive in batches of Parquet files, at any frequency, under
//! one location (S3, MinIO, a local folder). This module reads them as
//! - `customers` (view `latest`): one row per `customer_id`, from the
//!   newest batch that has it, with its `batch_id`;
//! - `customers_history` (view `history`): every batch's version of every
//!   customer, with `batch_id`, `valid_from` and `valid_to`.
//!
//! The pieces: [`config`] (options), [`factory`] (`STORED AS
//! CUSTOMER_BATCHES`), [`listing`] (objects to ordered batches), [`object_reader`]
//! (one object to the customer columns), [`dedup`] (the one-pass
//! deduplication), [`provider`] (planning and pruning), [`exec`] (the plan).
//!
//! What must stay true: DESIGN.md's rules, to the letter: across batches
//! the newest wins, within a batch the last row wins, the same objects give
//! the same table, and every row left out is counted.

pub mod config;
pub mod dedup;
pub mod exec;
pub mod factory;
pub mod listing;
pub mod object_reader;
pub mod provider;

pub use config::{CustomerBatchesConfig, CustomersView};
pub use exec::CustomersExec;
pub use factory::{CUSTOMER_BATCHES_FORMAT, CustomerBatchesFactory};
pub use provider::CustomersTable;
