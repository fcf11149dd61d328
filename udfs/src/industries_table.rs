//! `industries()`: the 10 canonical industries as a table with one column,
//! `industry`, in name order.
//!
//! What must stay true: it lists exactly [`Industry::ALL`], so the answer
//! ranks every industry, including one with no orders.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = datafusion::prelude::SessionContext::new();
//! pulse_udfs::register_context(&ctx);
//! let batches = ctx.sql("SELECT count(*) AS n FROM industries()").await?.collect().await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(shown.contains("| 10 |"));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;

use crate::industry_names::Industry;

/// The table function `industries()`.
#[derive(Debug, Default)]
pub struct IndustriesFunction;

impl IndustriesFunction {
    /// The function's SQL name.
    pub const NAME: &'static str = "industries";
}

impl TableFunctionImpl for IndustriesFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return plan_err!("industries() takes no arguments; call it as SELECT * FROM industries()");
        }
        let schema = Arc::new(Schema::new(vec![Field::new("industry", DataType::Utf8, false)]));
        let names = StringArray::from_iter_values(Industry::ALL.iter().map(|i| i.name()));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(names)])?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
