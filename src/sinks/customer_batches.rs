//! Writing customer batches as Parquet: one folder `batch_id=…/` per batch,
//! under a local folder or an S3 prefix.
//!
//! What must stay true: a batch is written whole before the next, so a
//! reader listing the prefix never sees a later batch without the earlier.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::parquet::arrow::ArrowWriter;
use object_store::ObjectStoreExt;
use pulse::engine::storage;

use crate::error::{CliError, Context};
use crate::generator::CustomerBatch;

/// Writes `batches` under `location`; returns how many rows were written.
pub async fn write_batches(runtime: &RuntimeEnv, location: &str, batches: &[CustomerBatch]) -> Result<usize, CliError> {
    if !location.contains("://") || location.starts_with("file://") {
        let path = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(path).context(|| format!("cannot create the folder {path}"))?;
    }
    let loc = storage::resolve(runtime, location, &BTreeMap::new())?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("company_name", DataType::Utf8, true),
        Field::new("specialised_industries", DataType::Utf8, true),
    ]));
    let mut rows = 0;
    for batch in batches {
        let columns = vec![
            Arc::new(StringArray::from_iter_values(
                batch.rows.iter().map(|r| r.customer_id.as_str()),
            )) as _,
            Arc::new(StringArray::from_iter_values(
                batch.rows.iter().map(|r| r.company_name.as_str()),
            )) as _,
            Arc::new(StringArray::from_iter_values(
                batch.rows.iter().map(|r| r.specialised_industries.as_str()),
            )) as _,
        ];
        let record = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, Arc::clone(&schema), None)?;
        writer.write(&record)?;
        writer.close()?;
        let path = loc.prefix.clone().join(batch.folder().as_str()).join("part-0.parquet");
        loc.store
            .put(&path, bytes.into())
            .await
            .context(|| format!("cannot write {}", loc.url_of(&path)))?;
        rows += batch.rows.len();
    }
    Ok(rows)
}
