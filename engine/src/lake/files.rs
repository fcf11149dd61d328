//! [`LakeFiles`]: a Delta table's snapshot as a plain Parquet scan of its
//! files, for a Ballista scheduler's session (feature `distributed`).
//!
//! delta-rs 1.1 plans a table as its own `DeltaScanExec`, which no codec
//! can ship yet (its physical codec serves only the retired `DeltaScan`,
//! its logical one is unimplemented). The scheduler therefore reads the
//! snapshot it fixed for the statement, the files and their partition
//! values from the log, and plans them as DataFusion's Parquet scan, which
//! Ballista ships and splits between tasks itself.
//!
//! What must stay true: it reads exactly the snapshot's files, each with
//! the partition values its log entry gives, in the schema delta-rs gives
//! the table; a file with a deletion vector is refused (Pulse's lake never
//! writes one, and reading it whole would resurrect deleted rows).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;
use object_store::path::Path;

use super::store::Lake;
use super::tables::LakeTable;
use crate::error::Result;

/// The files of one Delta snapshot, read as Parquet.
#[derive(Debug)]
pub(crate) struct LakeFiles {
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_cols: Vec<FieldRef>,
    files: Vec<PartitionedFile>,
    store_url: ObjectStoreUrl,
}

impl LakeFiles {
    /// The files of `delta`'s loaded snapshot, in `schema` (delta-rs's
    /// schema of the table, partition columns among its columns).
    pub(crate) fn try_new(lake: &Lake, table: LakeTable, delta: &DeltaTable, schema: SchemaRef) -> Result<Self> {
        let state = delta.snapshot().map_err(|e| lake.error(table, e))?;
        let names: Vec<String> = state.metadata().partition_columns().to_vec();
        let mut partition_cols = Vec::with_capacity(names.len());
        for name in &names {
            let field = schema
                .field_with_name(name)
                .map_err(|_| lake.error(table, format!("partition column {name} is not in the table's schema")))?;
            partition_cols.push(Arc::new(field.clone()));
        }
        let data: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !names.contains(f.name()))
            .cloned()
            .collect();
        let file_schema = Arc::new(Schema::new(data));
        let table_url = lake.table_url(table);
        let prefix = Path::from_url_path(table_url.path()).map_err(|e| lake.error(table, e))?;
        let mut files = Vec::new();
        for view in state.log_data().iter() {
            let relative = view.object_store_path();
            if view.deletion_vector_descriptor().is_some() {
                return Err(lake.error(
                    table,
                    format!("file {relative} has a deletion vector, which a cluster cannot read yet"),
                ));
            }
            let values = view.partition_values_map();
            let mut partition_values = Vec::with_capacity(partition_cols.len());
            for field in &partition_cols {
                let value = match values.get(field.name()) {
                    Some(Some(text)) => ScalarValue::try_from_string(text.clone(), field.data_type()),
                    Some(None) => ScalarValue::try_from(field.data_type()),
                    None => {
                        return Err(lake.error(
                            table,
                            format!("file {relative} has no value for partition column {}", field.name()),
                        ));
                    }
                }
                .map_err(|e| {
                    lake.error(
                        table,
                        format!("file {relative}: partition value of {}: {e}", field.name()),
                    )
                })?;
                partition_values.push(value);
            }
            let path = Path::parse(format!("{prefix}/{relative}")).map_err(|e| lake.error(table, e))?;
            let size = u64::try_from(view.size()).unwrap_or(0);
            let mut file = PartitionedFile::new(path.to_string(), size);
            // the parsed path itself: from a string it would be encoded again
            file.object_meta.location = path;
            file.partition_values = partition_values;
            files.push(file);
        }
        let root = lake.root();
        let store_url = ObjectStoreUrl::parse(format!("{}://{}", root.scheme(), root.authority()))
            .map_err(|e| lake.error(table, e))?;
        Ok(Self {
            schema,
            file_schema,
            partition_cols,
            files,
            store_url,
        })
    }
}

#[async_trait]
impl TableProvider for LakeFiles {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_cols.clone())
            .build();
        // the table's columns are the file's, then the partition columns
        let order: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                table_schema
                    .table_schema()
                    .index_of(f.name())
                    .map_err(DataFusionError::from)
            })
            .collect::<DFResult<_>>()?;
        let indices: Vec<usize> = match projection {
            Some(p) => p.iter().map(|&i| order[i]).collect(),
            None => order,
        };
        let parts = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); parts.min(self.files.len().max(1))];
        let count = groups.len();
        for (i, file) in self.files.iter().enumerate() {
            groups[i % count].push(file.clone());
        }
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(ParquetSource::new(table_schema)))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(Some(indices))?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
