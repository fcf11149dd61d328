//! `explode_industries(...)`: one row per (customer, industry), with
//! `customer_id`, `industry` and `is_known`.
//!
//! Three ways to call it:
//! - `explode_industries('customers')`: a table with the columns
//!   `customer_id` and `specialised_industries`;
//! - `explode_industries('t', 'id_column', 'industries_column')`: any table,
//!   naming its columns;
//! - `explode_industries('Oil&Gas & Polymer')`: a literal field (when the
//!   string names no table), with a NULL `customer_id`.
//!
//! The table forms are views: the function returns the logical plan
//! `SELECT CAST(id AS VARCHAR) AS customer_id, unnest(normalize_industries(col))
//! AS industry, industry IN (<the 10>) AS is_known FROM t`, so the scan of
//! `t` is planned, pushed down and parallelised like any other. DataFusion
//! 55 does not accept a column as a table-function argument (no `LATERAL
//! explode_industries(c.col)`); the same rows come, per row of any query,
//! from `unnest(normalize_industries(col))` in a select list.
//!
//! What must stay true: a customer with NULL, empty or blank industries has
//! no rows; a name repeated in one field gives one row; unknown names have
//! `is_known = false` and keep their spelling.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = datafusion::prelude::SessionContext::new();
//! pulse_udfs::register_context(&ctx);
//! ctx.sql("CREATE TABLE customers AS VALUES ('c1', 'Cosmetics & Pharmaceuticals'), ('c2', 'oil and gas, Mining')")
//!     .await?
//!     .collect()
//!     .await?;
//! ctx.sql("CREATE VIEW c AS SELECT column1 AS customer_id, column2 AS specialised_industries FROM customers")
//!     .await?;
//! let batches = ctx
//!     .sql("SELECT customer_id, industry, is_known FROM explode_industries('c') ORDER BY 1, 2")
//!     .await?
//!     .collect()
//!     .await?;
//! let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(shown.contains("| c1          | Cosmetics       | true     |"));
//! assert!(shown.contains("| c2          | Mining          | false    |"));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{NullHandling, Result, ScalarValue, TableReference, UnnestOptions, plan_err};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, ScalarUDF, cast, col, ident, lit};

use crate::industry_names::{Industry, parse_industries};
use crate::normalize_industries::NormalizeIndustries;

/// The table function `explode_industries`.
#[derive(Debug, Default)]
pub struct ExplodeIndustriesFunction;

impl ExplodeIndustriesFunction {
    /// The function's SQL name.
    pub const NAME: &'static str = "explode_industries";
}

const USAGE: &str = "call it as explode_industries('customers'), \
    explode_industries('table', 'id_column', 'industries_column'), \
    or explode_industries('Oil&Gas & Polymer')";

/// The columns every form returns.
pub fn exploded_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("industry", DataType::Utf8, false),
        Field::new("is_known", DataType::Boolean, false),
    ]))
}

impl TableFunctionImpl for ExplodeIndustriesFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let mut texts = Vec::with_capacity(args.exprs().len());
        for (i, e) in args.exprs().iter().enumerate() {
            match e {
                Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => texts.push(s.clone()),
                other => {
                    return plan_err!(
                        "explode_industries: argument {} must be a string literal, not {other}; {USAGE}",
                        i + 1
                    );
                }
            }
        }
        let state = args.session().as_any().downcast_ref::<SessionState>();
        match texts.as_slice() {
            [name] => match find_table(state, name)? {
                Some((reference, table)) => view(reference, table, "customer_id", "specialised_industries"),
                None => literal(name),
            },
            [name, id, industries] => match find_table(state, name)? {
                Some((reference, table)) => view(reference, table, id, industries),
                None => plan_err!("explode_industries: there is no table '{name}'; {USAGE}"),
            },
            _ => plan_err!(
                "explode_industries takes 1 or 3 arguments, not {}; {USAGE}",
                texts.len()
            ),
        }
    }
}

/// The table `name` names in this session, if any.
fn find_table(state: Option<&SessionState>, name: &str) -> Result<Option<(TableReference, Arc<dyn TableProvider>)>> {
    let Some(state) = state else { return Ok(None) };
    let reference = TableReference::from(name);
    let Ok(schema) = state.schema_for_ref(reference.clone()) else {
        return Ok(None);
    };
    if !schema.table_exist(reference.table()) {
        return Ok(None);
    }
    // Catalog lookups are async in general; the in-memory catalog answers at once.
    let table = futures::executor::block_on(schema.table(reference.table()))?;
    Ok(table.map(|t| (reference, t)))
}

/// The view over a table.
fn view(
    reference: TableReference,
    table: Arc<dyn TableProvider>,
    id: &str,
    industries: &str,
) -> Result<Arc<dyn TableProvider>> {
    let schema = table.schema();
    for column in [id, industries] {
        if schema.field_with_name(column).is_err() {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return plan_err!(
                "explode_industries: table '{reference}' has no column '{column}' (it has {}); {USAGE}",
                columns.join(", ")
            );
        }
    }
    let normalize = ScalarUDF::new_from_impl(NormalizeIndustries::new());
    let known: Vec<Expr> = Industry::ALL.iter().map(|i| lit(i.name())).collect();
    let plan = LogicalPlanBuilder::scan(reference.clone(), provider_as_source(table), None)?
        .project(vec![
            cast(ident(id), DataType::Utf8).alias("customer_id"),
            normalize.call(vec![ident(industries)]).alias("industry"),
        ])?
        .unnest_column_with_options("industry", UnnestOptions::new().with_null_handling(NullHandling::Drop))?
        .project(vec![
            col("customer_id"),
            col("industry"),
            col("industry").in_list(known, false).alias("is_known"),
        ])?
        .build()?;
    let definition = format!("explode_industries('{reference}', '{id}', '{industries}')");
    Ok(Arc::new(ViewTable::new(plan, Some(definition))))
}

/// The rows of one literal field.
fn literal(field: &str) -> Result<Arc<dyn TableProvider>> {
    let names = parse_industries(field);
    let schema = exploded_schema();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::new_null(names.len())),
            Arc::new(StringArray::from_iter_values(names.iter().map(|n| n.as_str()))),
            Arc::new(BooleanArray::from_iter(names.iter().map(|n| Some(n.is_known())))),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}
