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
//! Filters that bound a partition column by a literal (`order_date >=
//! DATE …`, as the lake's side of `orders` asks) prune the files whose
//! partition value is outside; they are applied to the rows again.
//!
//! What must stay true: it reads exactly the snapshot's files that a
//! filter cannot exclude, each with the partition values its log entry
//! gives, in the schema delta-rs gives the table; a file with a null or
//! incomparable partition value is kept; a file with a deletion vector is
//! refused (Pulse's lake never
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
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
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

    /// `(partition column index, op, literal)` if `filter` bounds a
    /// partition column by a literal of its type.
    fn bound(&self, filter: &Expr) -> Option<(usize, Operator, ScalarValue)> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
            return None;
        };
        let (column, op, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) => (c, *op, v),
            (Expr::Literal(v, _), Expr::Column(c)) => (c, op.swap()?, v),
            _ => return None,
        };
        if !matches!(
            op,
            Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
        ) {
            return None;
        }
        let i = self.partition_cols.iter().position(|f| f.name() == &column.name)?;
        let value = value.cast_to(self.partition_cols[i].data_type()).ok()?;
        Some((i, op, value))
    }
}

/// Whether a file whose partition value is `value` may hold a row where
/// `value op literal`; a null or incomparable value may.
fn may_hold(value: &ScalarValue, op: Operator, literal: &ScalarValue) -> bool {
    if value.is_null() || literal.is_null() {
        return true;
    }
    let Some(order) = value.partial_cmp(literal) else {
        return true;
    };
    match op {
        Operator::Eq => order.is_eq(),
        Operator::Lt => order.is_lt(),
        Operator::LtEq => order.is_le(),
        Operator::Gt => order.is_gt(),
        Operator::GtEq => order.is_ge(),
        _ => true,
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

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.bound(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let bounds: Vec<(usize, Operator, ScalarValue)> = filters.iter().filter_map(|f| self.bound(f)).collect();
        let files: Vec<&PartitionedFile> = self
            .files
            .iter()
            .filter(|file| {
                bounds
                    .iter()
                    .all(|(i, op, value)| may_hold(&file.partition_values[*i], *op, value))
            })
            .collect();
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
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); parts.min(files.len().max(1))];
        let count = groups.len();
        for (i, file) in files.into_iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_kept_unless_its_partition_value_rules_it_out() {
        let day = |d: i32| ScalarValue::Date32(Some(d));
        assert!(may_hold(&day(10), Operator::GtEq, &day(10)));
        assert!(!may_hold(&day(9), Operator::GtEq, &day(10)));
        assert!(!may_hold(&day(11), Operator::LtEq, &day(10)));
        assert!(may_hold(&day(10), Operator::Eq, &day(10)));
        assert!(!may_hold(&day(10), Operator::Lt, &day(10)));
        assert!(
            may_hold(&ScalarValue::Date32(None), Operator::GtEq, &day(10)),
            "a null partition is kept"
        );
    }
}
