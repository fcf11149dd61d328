//! The optimizer rule [`MergeEarliest`]: the `earliest(value, position)`
//! calls of one aggregation that share their position become one call over
//! a struct of their values, whose fields a projection above takes apart.
//!
//! `orders_clean_v3` keeps each column of an order's earliest copy with its
//! own `earliest(column, position)`: written so, each call keeps its own
//! position per order and compares every row on its own. Merged, an
//! aggregation keeps one position per order however many columns a query
//! reads, and compares once per row. The rule runs after DataFusion's own
//! rules, so the calls no query reads are gone before it merges the rest.
//!
//! What must stay true: the plan's output (names, types, values) is the
//! one it replaces. A field of the struct is the value of the row with the
//! smallest position, as each call alone would give: the calls merged
//! share their position argument and have no filter, `DISTINCT` or
//! ordering. An aggregation whose rewritten schema would differ is left as
//! it is. Calls are recognised by their implementation ([`Earliest`]), not
//! their name. A call over values that `earliest` keeps only with its row
//! accumulator (lists: `order_line`) is not merged, so that the others keep
//! their grouped form.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, ExprSchemable, LogicalPlan, Projection, lit};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::earliest::{Earliest, has_grouped_form};

/// The rule; see the module documentation.
#[derive(Debug, Default)]
pub struct MergeEarliest;

impl MergeEarliest {
    /// The rule's name in `EXPLAIN VERBOSE`.
    pub const NAME: &'static str = "merge_earliest";
}

/// A plain `earliest(value, position)` call (an alias around it allowed):
/// its function, value and position.
struct Call<'a> {
    func: &'a Arc<AggregateUDF>,
    value: &'a Expr,
    position: &'a Expr,
}

fn earliest_call(expr: &Expr) -> Option<Call<'_>> {
    let expr = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return None;
    };
    let plain = !params.distinct && params.filter.is_none() && params.order_by.is_empty();
    match params.args.as_slice() {
        [value, position] if plain && func.inner().is::<Earliest>() => Some(Call { func, value, position }),
        _ => None,
    }
}

impl OptimizerRule for MergeEarliest {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = plan else {
            return Ok(Transformed::no(plan));
        };
        match merged(&aggregate)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(LogicalPlan::Aggregate(aggregate))),
        }
    }
}

/// Where a call's value is found after the merge.
#[derive(Clone, Copy)]
enum Place {
    /// Its own column: the aggregate's output column at this index.
    Own(usize),
    /// Field `k` of merged call `m`.
    Field { m: usize, k: usize },
}

/// `aggregate` with its mergeable calls merged, under the projection that
/// restores its output; `None` when there is nothing to merge, or when the
/// rewritten plan cannot be built (a name taken) or would not give the
/// same output: the rule only ever speeds a plan up.
fn merged(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    if aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(None);
    }
    // the calls by position argument, in order of first appearance; a call
    // over values without a grouped form stays alone, or it would take the
    // others to the row accumulator with it
    let input_schema = aggregate.input.schema();
    let mut groups: Vec<(&Expr, Vec<(usize, Call)>)> = Vec::new();
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        if let Some(call) = earliest_call(expr)
            && has_grouped_form(&call.value.get_type(input_schema)?)
        {
            match groups.iter_mut().find(|(p, _)| *p == call.position) {
                Some((_, calls)) => calls.push((i, call)),
                None => groups.push((call.position, vec![(i, call)])),
            }
        }
    }
    groups.retain(|(_, calls)| calls.len() > 1);
    if groups.is_empty() {
        return Ok(None);
    }

    // the unmerged calls first, in their order, then one call per group
    let groups_len = aggregate.group_expr.len();
    let mut places = vec![None; aggregate.aggr_expr.len()];
    for (m, (_, calls)) in groups.iter().enumerate() {
        for (k, &(i, _)) in calls.iter().enumerate() {
            places[i] = Some(Place::Field { m, k });
        }
    }
    let mut aggr_expr: Vec<Expr> = Vec::new();
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        if places[i].is_none() {
            places[i] = Some(Place::Own(groups_len + aggr_expr.len()));
            aggr_expr.push(expr.clone());
        }
    }
    let merged_names: Vec<String> = (0..groups.len()).map(|m| format!("__pulse_earliest_{m}")).collect();
    for ((position, calls), name) in groups.iter().zip(&merged_names) {
        let mut fields = Vec::with_capacity(2 * calls.len());
        for (k, (_, call)) in calls.iter().enumerate() {
            fields.push(lit(format!("c{k}")));
            fields.push(call.value.clone());
        }
        let values = datafusion::functions::core::named_struct().call(fields);
        // every call of a group is `Earliest` (retain kept groups of two or more)
        let func = Arc::clone(calls[0].1.func);
        let call = AggregateFunction::new_udf(func, vec![values, (*position).clone()], false, None, vec![], None);
        aggr_expr.push(Expr::AggregateFunction(call).alias(name));
    }
    let Ok(new_aggregate) = Aggregate::try_new(Arc::clone(&aggregate.input), aggregate.group_expr.clone(), aggr_expr)
    else {
        return Ok(None);
    };

    // the projection that gives the old output: group columns and unmerged
    // calls by their column, merged values as fields
    let old = aggregate.schema.as_ref();
    let column = |at: usize| {
        let (q, f) = new_aggregate.schema.qualified_field(at);
        Expr::Column(Column::new(q.cloned(), f.name()))
    };
    let mut exprs = Vec::with_capacity(old.fields().len());
    for (j, (qualifier, field)) in old.iter().enumerate() {
        let out = match j.checked_sub(groups_len).map(|i| places[i].expect("placed above")) {
            None => column(j),
            Some(Place::Own(at)) => column(at),
            Some(Place::Field { m, k }) => {
                get_field(Expr::Column(Column::new_unqualified(&merged_names[m])), format!("c{k}"))
            }
        };
        exprs.push(out.alias_qualified(qualifier.cloned(), field.name()));
    }
    let Ok(projection) = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(new_aggregate))) else {
        return Ok(None);
    };
    // the output must be the old one, or the plan is left alone
    if !projection.schema.logically_equivalent_names_and_types(old) {
        return Ok(None);
    }
    Ok(Some(LogicalPlan::Projection(projection)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Orders with repeated ids over 3 partitions: unique positions in
    /// shuffled order, NULL values and NULL positions among them.
    fn orders() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("customer", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(38, 18), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("position", DataType::Int64, true),
            Field::new("other", DataType::Int64, true),
        ]));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let partitions = (0..3)
            .map(|_| {
                (0..4)
                    .map(|_| {
                        let n = 700;
                        let r: Vec<u64> = (0..n * 6).map(|_| next()).collect();
                        let row = |i: usize, k: usize| r[i * 6 + k];
                        let null = |i: usize, k: usize| row(i, k) % 11 == 0;
                        RecordBatch::try_new(
                            Arc::clone(&schema),
                            vec![
                                Arc::new(Int64Array::from_iter_values((0..n).map(|i| (row(i, 0) % 400) as i64))),
                                Arc::new(StringArray::from_iter(
                                    (0..n).map(|i| (!null(i, 1)).then(|| format!("c{}", row(i, 1) % 97))),
                                )),
                                Arc::new(
                                    Decimal128Array::from_iter((0..n).map(|i| {
                                        (!null(i, 2)).then(|| (row(i, 2) % 1_000_000) as i128 * 10i128.pow(16))
                                    }))
                                    .with_precision_and_scale(38, 18)
                                    .unwrap(),
                                ),
                                Arc::new(
                                    TimestampNanosecondArray::from_iter(
                                        (0..n).map(|i| (!null(i, 3)).then(|| (row(i, 3) >> 4) as i64)),
                                    )
                                    .with_timezone("UTC"),
                                ),
                                // unique where set: the row's draw, NULL 1 in 11
                                Arc::new(Int64Array::from_iter(
                                    (0..n).map(|i| (!null(i, 4)).then(|| (row(i, 4) >> 2) as i64)),
                                )),
                                Arc::new(Int64Array::from_iter(
                                    (0..n).map(|i| (!null(i, 5)).then(|| (row(i, 5) >> 2) as i64)),
                                )),
                            ],
                        )
                        .unwrap()
                    })
                    .collect()
            })
            .collect();
        MemTable::try_new(schema, partitions).unwrap()
    }

    async fn run(merge: bool, sql: &str) -> (String, String) {
        let config = SessionConfig::new().with_target_partitions(4).with_batch_size(256);
        let ctx = SessionContext::new_with_config(config);
        crate::register_context(&ctx);
        if merge {
            ctx.add_optimizer_rule(Arc::new(MergeEarliest));
        }
        ctx.register_table("orders", Arc::new(orders())).unwrap();
        let result = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let plan = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        (
            pretty_format_batches(&result).unwrap().to_string(),
            pretty_format_batches(&plan).unwrap().to_string(),
        )
    }

    #[tokio::test]
    async fn merged_calls_give_what_each_call_gives_alone() {
        for sql in [
            // one position shared by three calls, a second by two, a call
            // with a filter that stays on its own; grouped
            "SELECT id, earliest(customer, position) AS c, earliest(amount, position) AS a, \
             earliest(at, position) AS t, earliest(customer, other) AS c2, earliest(at, other) AS t2, \
             earliest(amount, position) FILTER (WHERE id > 100) AS f, count(*) AS n \
             FROM orders GROUP BY id ORDER BY id",
            // without GROUP BY: the row accumulator over a struct
            "SELECT earliest(customer, position) AS c, earliest(amount, position) AS a FROM orders",
            // read through a subquery, as the views read orders_clean
            "SELECT c, sum(a) AS s, count(t) AS n FROM (SELECT id, earliest(customer, position) AS c, \
             earliest(amount, position) AS a, earliest(at, position) AS t FROM orders GROUP BY id) \
             GROUP BY c ORDER BY c",
        ] {
            let (alone, plain_plan) = run(false, sql).await;
            let (merged, merged_plan) = run(true, sql).await;
            assert_eq!(merged, alone, "{sql}");
            assert!(!plain_plan.contains("named_struct"), "{plain_plan}");
            assert!(merged_plan.contains("__pulse_earliest_0"), "{merged_plan}");
            assert!(merged.lines().count() > 4, "{merged}");
        }
    }

    #[tokio::test]
    async fn a_call_without_a_grouped_form_is_left_out() {
        let sql = "SELECT id, earliest(make_array(customer), position) AS l, earliest(amount, position) AS a, \
                   earliest(at, position) AS t FROM orders GROUP BY id ORDER BY id";
        let (alone, _) = run(false, sql).await;
        let (merged, plan) = run(true, sql).await;
        assert_eq!(merged, alone);
        assert!(
            plan.contains(
                r#"earliest(named_struct(Utf8("c0"), orders.amount, Utf8("c1"), orders.at), orders.position)"#
            ),
            "{plan}"
        );
    }

    #[tokio::test]
    async fn a_taken_name_leaves_the_plan_as_it_is() {
        let sql = "SELECT g AS __pulse_earliest_0, earliest(customer, position) AS c, earliest(amount, position) AS a \
                   FROM (SELECT id AS g, * FROM orders) GROUP BY g ORDER BY 1";
        let (alone, _) = run(false, sql).await;
        let (merged, _) = run(true, sql).await;
        assert_eq!(merged, alone);
        let sql = "SELECT __pulse_earliest_0, earliest(customer, position) AS c, earliest(amount, position) AS a \
                   FROM (SELECT id AS __pulse_earliest_0, * FROM orders) GROUP BY __pulse_earliest_0 ORDER BY 1";
        let (alone, _) = run(false, sql).await;
        let (merged, plan) = run(true, sql).await;
        assert_eq!(merged, alone);
        assert!(!plan.contains("named_struct"), "{plan}");
    }

    #[tokio::test]
    async fn a_single_call_and_calls_on_different_positions_stay_as_they_are() {
        let sql = "SELECT id, earliest(customer, position) AS c, earliest(at, other) AS t FROM orders GROUP BY id";
        let (_, plan) = run(true, sql).await;
        assert!(!plan.contains("__pulse_earliest"), "{plan}");
    }
}
