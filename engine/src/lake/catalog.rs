//! The catalog `dal`: the lake's Delta tables by name, `dal.pulse.orders`
//! and so on ([`LAKE_SCHEMA`]).
//!
//! What must stay true: each statement that names a table reads the
//! table's newest committed version (a running ingest's commits show in
//! the next statement), and a table not created yet reads as an error
//! naming its URL and how to fill it, not as an empty table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::TableType;

use super::store::Lake;
use super::tables::{LAKE_SCHEMA, LakeTable};

/// The catalog's name.
pub const LAKE_CATALOG: &str = "dal";

/// Registers the catalog `dal` with the schema `pulse` over `lake`.
pub fn register_lake_catalog(ctx: &SessionContext, lake: Lake) -> DFResult<()> {
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(LAKE_SCHEMA, Arc::new(LakeSchema { lake }))?;
    ctx.register_catalog(LAKE_CATALOG, Arc::new(catalog));
    Ok(())
}

/// The lake's tables, each loaded at its newest version when named.
#[derive(Debug)]
struct LakeSchema {
    lake: Lake,
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        LakeTable::ALL.iter().map(|t| t.name().to_string()).collect()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let Some(table) = LakeTable::ALL.into_iter().find(|t| t.name() == name) else {
            return Ok(None);
        };
        let Some(delta) = self.lake.load(table).await? else {
            return Err(DataFusionError::Plan(format!(
                "lake table {} does not exist yet: `pulse ingest --lake {}` creates and fills it",
                self.lake.table_url(table),
                self.lake.display()
            )));
        };
        let provider = delta
            .table_provider()
            .await
            .map_err(|e| DataFusionError::from(self.lake.error(table, e)))?;
        Ok(Some(provider))
    }

    /// Every lake table is a base table, whether an ingest has created it
    /// yet or not: `SHOW TABLES` lists all five without reading the lake.
    async fn table_type(&self, name: &str) -> DFResult<Option<TableType>> {
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        LakeTable::ALL.iter().any(|t| t.name() == name)
    }
}
