//! Customer batches into the lake: `customer_batches` (every row of every
//! batch), `customers` (one row per customer) and `industries`.
//!
//! A round lists the batches where they land ([`CustomersTable`]), appends
//! each batch the lake does not hold yet to `customer_batches`, one commit
//! per batch carrying the Delta transaction `pulse-ingest/customers/<id>`,
//! and then, if `customer_batches` has moved on since `customers` was last
//! written, rewrites `customers` whole from `customer_batches` by Pulse's
//! deduplication rule (the newest batch's version of a customer, and within
//! a batch its last row), recording the `customer_batches` version it
//! reflects in the same commit. `customers` is derived from the lake alone:
//! a batch still settling, or one since deleted where batches land, does not
//! change it.
//!
//! Why a rewrite rather than a `MERGE` per batch: a batch may arrive after a
//! newer one (batches are ordered by id, not by arrival), and only the whole
//! history says which version of a customer wins; at a million customers
//! the rewrite is one small Parquet file set.
//!
//! A batch is ingested once its files have not changed for 10 s: one
//! caught in mid-upload would otherwise land in part, for good.
//!
//! What must stay true: a batch is in `customer_batches` once, whatever
//! moment an ingest dies at (its rows and its transaction are one commit);
//! `customers` reflects a known `customer_batches` version and is rewritten
//! until it reflects the newest one.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use pulse_udfs::Industry;

use super::store::Lake;
use super::tables::LakeTable;
use crate::customers::CustomersTable;
use crate::customers::listing::sort_batch_ids;
use crate::customers::object_reader::read_object;
use crate::error::{PulseError, Result};

/// The transaction that records which `customer_batches` version
/// `customers` reflects.
const CUSTOMERS_APP_ID: &str = "pulse-ingest/customers";

/// The transaction that records that `industries` was written.
const INDUSTRIES_APP_ID: &str = "pulse-ingest/industries";

/// The transaction of one batch in `customer_batches`.
pub fn batch_app_id(batch_id: &str) -> String {
    format!("pulse-ingest/customer-batch/{batch_id}")
}

/// How long a batch's newest file must have stood still before the batch is
/// ingested, by default.
pub const SETTLE_MS: i64 = 10_000;

/// What one round of customer ingest did.
#[derive(Debug, Clone, Default)]
pub struct CustomersRound {
    /// Batches appended to `customer_batches`.
    pub batches: usize,
    /// Their rows.
    pub rows: u64,
    /// Customers in `customers`, when the round rewrote it.
    pub customers: Option<u64>,
    /// Batches left for a later round because their files changed in the
    /// last [`SETTLE_MS`].
    pub unsettled: usize,
}

/// An ingest of one location of customer batches into one lake.
pub struct CustomersIngest {
    lake: Lake,
    source: Arc<CustomersTable>,
    history: DeltaTable,
    current: DeltaTable,
    settle_ms: i64,
}

impl CustomersIngest {
    /// Opens (creating if missing) the customer tables, and writes
    /// `industries` if it has never been written.
    pub async fn open(lake: Lake, source: CustomersTable) -> Result<Self> {
        let history = lake.open_or_create(LakeTable::CustomerBatches).await?;
        let current = lake.open_or_create(LakeTable::Customers).await?;
        let industries = lake.open_or_create(LakeTable::Industries).await?;
        if version_of(&lake, LakeTable::Industries, &industries, INDUSTRIES_APP_ID)
            .await?
            .is_none()
        {
            let names = StringArray::from_iter_values(Industry::ALL.iter().map(|i| i.name()));
            let batch = RecordBatch::try_new(LakeTable::Industries.schema(), vec![Arc::new(names)])
                .map_err(|e| lake.error(LakeTable::Industries, e))?;
            write(
                &lake,
                LakeTable::Industries,
                industries,
                vec![batch],
                SaveMode::Overwrite,
                INDUSTRIES_APP_ID,
                1,
            )
            .await?;
        }
        Ok(Self {
            lake,
            source: Arc::new(source),
            history,
            current,
            settle_ms: SETTLE_MS,
        })
    }

    /// Ingests a batch once its files have not changed for `settle` (by
    /// default [`SETTLE_MS`]); zero for batches known to be whole.
    pub fn with_settle(mut self, settle: std::time::Duration) -> Self {
        self.settle_ms = i64::try_from(settle.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Appends the batches the lake lacks, then brings `customers` up to date.
    pub async fn round(&mut self) -> Result<CustomersRound> {
        let mut round = CustomersRound::default();
        let location = self.source.location().clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for batch in self.source.list_batches().await? {
            // a batch still being written could land in part, and its later
            // files never: a batch waits until its files have settled
            let newest = batch
                .files
                .iter()
                .map(|f| f.modified.timestamp_millis())
                .max()
                .unwrap_or(i64::MIN);
            let app_id = batch_app_id(&batch.id);
            if version_of(&self.lake, LakeTable::CustomerBatches, &self.history, &app_id)
                .await?
                .is_some()
            {
                continue;
            }
            if now_ms.saturating_sub(newest) < self.settle_ms {
                round.unsettled += 1;
                continue;
            }
            let schema = LakeTable::CustomerBatches.schema();
            let mut rows = Vec::new();
            let mut position = 0i64;
            for file in &batch.files {
                let url = location.url_of(&file.path);
                for columns in read_object(&location, &batch, file, 8192).await? {
                    let n = columns.num_rows();
                    let without_id = columns.column_by_name("customer_id").map_or(n, |c| c.null_count());
                    if without_id > 0 {
                        return Err(PulseError::InvalidLocation {
                            location: location.display.clone(),
                            reason: format!(
                                "batch '{}' object '{url}' has {without_id} rows without a customer_id; the lake \
                                 keeps no customer it cannot name",
                                batch.id
                            ),
                        });
                    }
                    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
                    for field in schema.fields() {
                        let array: ArrayRef = match field.name().as_str() {
                            "batch_id" => Arc::new(StringArray::from(vec![batch.id.as_str(); n])),
                            "batch_time" => Arc::new(
                                TimestampMicrosecondArray::from(vec![batch.time_ms.saturating_mul(1000); n])
                                    .with_timezone("UTC"),
                            ),
                            "row_in_batch" => Arc::new(Int64Array::from_iter_values(position..position + n as i64)),
                            "file" => Arc::new(StringArray::from(vec![url.as_str(); n])),
                            name => match columns.column_by_name(name) {
                                Some(c) => cast(c, field.data_type())
                                    .map_err(|e| self.lake.error(LakeTable::CustomerBatches, e))?,
                                None => new_null_array(field.data_type(), n),
                            },
                        };
                        arrays.push(array);
                    }
                    position += n as i64;
                    round.rows += n as u64;
                    rows.push(
                        RecordBatch::try_new(Arc::clone(&schema), arrays)
                            .map_err(|e| self.lake.error(LakeTable::CustomerBatches, e))?,
                    );
                }
            }
            self.history = write(
                &self.lake,
                LakeTable::CustomerBatches,
                self.history.clone(),
                rows,
                SaveMode::Append,
                &app_id,
                1,
            )
            .await?;
            round.batches += 1;
        }
        let history_version = self.history.version().and_then(|v| i64::try_from(v).ok()).unwrap_or(0);
        let reflected = version_of(&self.lake, LakeTable::Customers, &self.current, CUSTOMERS_APP_ID).await?;
        if reflected != Some(history_version) {
            let deduplicated = self.deduplicate().await?;
            let schema = LakeTable::Customers.schema();
            let mut batches = Vec::new();
            let mut customers = 0;
            for b in deduplicated {
                customers += b.num_rows() as u64;
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let c = b.column_by_name(f.name()).ok_or_else(|| {
                            self.lake.error(
                                LakeTable::Customers,
                                format!("the customers table has no '{}'", f.name()),
                            )
                        })?;
                        cast(c, f.data_type()).map_err(|e| self.lake.error(LakeTable::Customers, e))
                    })
                    .collect::<Result<Vec<_>>>()?;
                batches.push(
                    RecordBatch::try_new(Arc::clone(&schema), columns)
                        .map_err(|e| self.lake.error(LakeTable::Customers, e))?,
                );
            }
            self.current = write(
                &self.lake,
                LakeTable::Customers,
                self.current.clone(),
                batches,
                SaveMode::Overwrite,
                CUSTOMERS_APP_ID,
                history_version,
            )
            .await?;
            round.customers = Some(customers);
        }
        Ok(round)
    }

    /// One row per customer from the lake's `customer_batches` (not from
    /// the batches' location, which may have moved on or lost old batches):
    /// the newest batch's version of each customer, and within a batch the
    /// last row, the rule of the `customers` table
    /// ([`crate::customers::dedup`]). Batches are ordered as their
    /// location lists them ([`sort_batch_ids`]).
    async fn deduplicate(&self) -> Result<Vec<RecordBatch>> {
        let table = LakeTable::CustomerBatches;
        let fail = |e: datafusion::error::DataFusionError| self.lake.error(table, e);
        let ctx = SessionContext::new();
        let provider = self
            .history
            .table_provider()
            .await
            .map_err(|e| self.lake.error(table, e))?;
        ctx.register_table("customer_batches", provider).map_err(fail)?;
        let known = ctx
            .sql(
                "SELECT arrow_cast(batch_id, 'Utf8'), min(arrow_cast(batch_time, 'Int64')), \
                 bool_or(strpos(file, '/batch_id=') = 0) FROM customer_batches GROUP BY batch_id",
            )
            .await
            .map_err(fail)?
            .collect()
            .await
            .map_err(fail)?;
        let mut ids = Vec::new();
        let mut loose = false;
        for b in &known {
            let (id, time, outside) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<Int64Type>(),
                b.column(2).as_boolean(),
            );
            for i in 0..b.num_rows() {
                ids.push((id.value(i).to_string(), time.value(i)));
                loose |= outside.value(i);
            }
        }
        sort_batch_ids(&mut ids, loose);
        let ranks = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("batch_id", DataType::Utf8, false),
                Field::new("batch_rank", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(ids.iter().map(|(id, _)| id.as_str()))),
                Arc::new(Int64Array::from_iter_values(0..ids.len() as i64)),
            ],
        )
        .map_err(|e| self.lake.error(table, e))?;
        ctx.register_batch("batch_ranks", ranks).map_err(fail)?;
        ctx.sql(
            "SELECT customer_id, company_name, specialised_industries, batch_id FROM ( \
               SELECT b.customer_id, b.company_name, b.specialised_industries, b.batch_id, \
                 row_number() OVER (PARTITION BY b.customer_id ORDER BY r.batch_rank DESC, b.row_in_batch DESC) AS n \
               FROM customer_batches b JOIN batch_ranks r ON b.batch_id = r.batch_id) \
             WHERE n = 1 ORDER BY customer_id",
        )
        .await
        .map_err(fail)?
        .collect()
        .await
        .map_err(fail)
    }
}

/// The version of transaction `app_id` in `delta`, if any.
async fn version_of(lake: &Lake, table: LakeTable, delta: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    let snapshot = delta.snapshot().map_err(|e| lake.error(table, e))?;
    snapshot
        .transaction_version(delta.log_store().as_ref(), app_id)
        .await
        .map_err(|e| lake.error(table, e))
}

/// Writes `batches` to `table` with the transaction `app_id` at `version`,
/// in one commit.
async fn write(
    lake: &Lake,
    table: LakeTable,
    delta: DeltaTable,
    batches: Vec<RecordBatch>,
    mode: SaveMode,
    app_id: &str,
    version: i64,
) -> Result<DeltaTable> {
    let mut batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(table.schema()));
    }
    delta
        .write(batches)
        .with_save_mode(mode)
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transaction(Transaction::new(app_id, version))
                .with_max_retries(0),
        )
        .await
        .map_err(|e| lake.error(table, e))
}
