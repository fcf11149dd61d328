//! [`MissingSource`]: a table that stands in for a source the command line
//! did not give, so that the views over it can still be created and the
//! tables that were given can be queried on their own.
//!
//! What must stay true: it has the columns of the table it stands in for,
//! and every scan of it fails with a message naming the option that
//! supplies the source; it never answers with an empty table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// A table whose source was not given.
#[derive(Debug)]
pub struct MissingSource {
    table: &'static str,
    schema: SchemaRef,
    /// How to supply the source, e.g. "give --customers URL".
    remedy: &'static str,
}

impl MissingSource {
    /// Stands in for `table`, with its `schema`; a scan says `remedy`.
    pub fn new(table: &'static str, schema: SchemaRef, remedy: &'static str) -> Self {
        Self { table, schema, remedy }
    }
}

#[async_trait]
impl TableProvider for MissingSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan_err!("the table '{}' has no source: {}", self.table, self.remedy)
    }
}
