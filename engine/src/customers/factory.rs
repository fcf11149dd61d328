//! `CREATE EXTERNAL TABLE … STORED AS CUSTOMER_BATCHES`: the
//! [`CustomerBatchesFactory`].
//!
//! What must stay true: the table's columns are fixed (a column list is
//! refused, naming them), one location is accepted, and options are checked
//! by [`super::config`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::CreateExternalTable;

use super::config::CustomerBatchesConfig;
use super::provider::CustomersTable;

/// The `STORED AS` name the factory is registered under.
pub const CUSTOMER_BATCHES_FORMAT: &str = "CUSTOMER_BATCHES";

/// Creates [`CustomersTable`]s from SQL.
///
/// ```sql
/// CREATE EXTERNAL TABLE customers STORED AS CUSTOMER_BATCHES
/// LOCATION 's3://demo-data/customers/'
/// OPTIONS ('aws.endpoint' 'http://localhost:9000', 'aws.allow_http' 'true');
///
/// CREATE EXTERNAL TABLE customers_history STORED AS CUSTOMER_BATCHES
/// LOCATION 's3://demo-data/customers/' OPTIONS ('customers.view' 'history');
/// ```
#[derive(Debug, Default)]
pub struct CustomerBatchesFactory;

#[async_trait]
impl TableProviderFactory for CustomerBatchesFactory {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let name = &cmd.name;
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "customers table {name}: the columns are fixed (customer_id, company_name, specialised_industries, \
                 batch_id, and valid_from, valid_to for the history view); leave the column list out"
            );
        }
        if !cmd.table_partition_cols.is_empty() || !cmd.order_exprs.is_empty() {
            return plan_err!("customers table {name}: PARTITIONED BY and WITH ORDER are not supported");
        }
        let [location] = cmd.locations.as_slice() else {
            return plan_err!(
                "customers table {name}: give exactly one LOCATION, not {}",
                cmd.locations.len()
            );
        };
        let cfg = CustomerBatchesConfig::new(location.as_str()).with_options(&cmd.options)?;
        Ok(Arc::new(CustomersTable::try_new(cfg, state.runtime_env())?))
    }
}
