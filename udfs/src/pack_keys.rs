//! The optimizer rule [`PackKeys`]: an aggregation grouped by one text
//! column groups instead by the text's number, and a projection above it
//! turns the number back into the text.
//!
//! Grouped by one text column, DataFusion keeps a table of the texts
//! themselves (`ArrowBytesMap`, `ArrowBytesViewMap`): about 100 bytes a
//! group, and a byte comparison for every probe. `orders_clean` groups
//! every order by its `order_id` (1M and 10M of them in the benchmarks),
//! `customer_window_sums` every customer by its `customer_id`. Rewritten,
//! the aggregation groups by `pulse_key_pack(key)` ([`crate::short_keys`]),
//! a `DECIMAL(38, 0)` that DataFusion groups as a primitive: the key's
//! bytes for a key of up to 15 bytes, a hash for a longer one. One more
//! aggregate, `pulse_key_text(pulse_key_long(key))` ([`crate::key_text`]),
//! keeps each group's long key and stops the query if two long keys ever
//! share a hash; short keys cost it nothing. A filter
//! `pulse_key_checked(…)`, true for every group, keeps that aggregate in
//! the plan when nothing above reads the key (as `orders_clean`'s
//! `order_id` in the answer), where DataFusion would otherwise drop it on
//! its next pass. Measured by hand on the benchmark's orders (2026-12-02),
//! the answer holds 40-55 MB less at 1M orders and about 90 MB less at 10M.
//!
//! Left as they are: an aggregation that DataFusion can stop early under a
//! `LIMIT` (no aggregates, as a `DISTINCT`, or a single `min` or `max`,
//! its TopK aggregation), which one more aggregate would prevent; a key
//! with field metadata, which unpacking would lose; and every aggregation
//! when `pulse.pack_keys` is `false`. Keys longer than 15 bytes (UUIDs)
//! cost more this way (a hash a row, the text kept beside the number), so
//! data whose keys are mostly long is better read with
//! `SET pulse.pack_keys = false`.
//!
//! What must stay true: the plan's output (names, types, nullability,
//! values) is the one it replaces. A short key's number is one-to-one
//! with it, and a long key's group holds that key alone or the query
//! fails, so the groups are the same groups, and `pulse_key_unpack` gives
//! each its key back. Only a plain (or renamed) nullable column of a
//! string type is rewritten, so the key is computed from the column and
//! nothing is evaluated twice; an aggregation whose rewritten output
//! would differ is left as it is. The rule runs after DataFusion's own
//! rules and after [`crate::MergeEarliest`], and leaves a plan it has
//! rewritten alone when it meets it again (its key is not a text).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, Filter, LogicalPlan, Projection, ScalarUDF};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::key_text::{KeyChecked, KeyText};
use crate::settings::PulseOptions;
use crate::short_keys::{LongKey, PackKey, UnpackKey};

/// The rule; see the module documentation.
#[derive(Debug, Default)]
pub struct PackKeys;

impl PackKeys {
    /// The rule's name in `EXPLAIN VERBOSE`.
    pub const NAME: &'static str = "pack_keys";
}

/// The names of a rewritten aggregation's key and its long-key aggregate.
const PACKED: &str = "__pulse_key";
const LONG: &str = "__pulse_key_text";

impl OptimizerRule for PackKeys {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = plan else {
            return Ok(Transformed::no(plan));
        };
        let on = config
            .options()
            .extensions
            .get::<PulseOptions>()
            .is_none_or(|o| o.pack_keys);
        if !on {
            return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
        }
        match packed(&aggregate)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(LogicalPlan::Aggregate(aggregate))),
        }
    }
}

/// `aggregate` grouped by its key's number, under the projection that
/// restores its output; `None` when it is not grouped by one nullable text
/// column, or when the rewritten plan cannot be built (a name taken) or
/// would not give the same output: the rule only ever changes how a plan
/// runs.
fn packed(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    // a column, or a column renamed (as `count(DISTINCT key)` is planned)
    let key = match aggregate.group_expr.as_slice() {
        [Expr::Column(key)] => key,
        [Expr::Alias(alias)] => match alias.expr.as_ref() {
            Expr::Column(key) => key,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let input_schema = aggregate.input.schema();
    let Ok((_, field)) = input_schema.qualified_field_from_column(key) else {
        return Ok(None);
    };
    let text = matches!(
        field.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    // metadata (a field id, an extension type) would not survive unpacking
    if !text || !field.is_nullable() || !field.metadata().is_empty() {
        return Ok(None);
    }
    // what DataFusion can stop early under a LIMIT (a DISTINCT; a single
    // min or max, its TopK aggregation) it can no longer with one more
    // aggregate: left as it is
    let limitable = match aggregate.aggr_expr.as_slice() {
        [] => true,
        [only] => matches!(
            only.clone().unalias(),
            Expr::AggregateFunction(AggregateFunction { func, .. }) if matches!(func.name(), "min" | "max")
        ),
        _ => false,
    };
    if limitable {
        return Ok(None);
    }
    if [PACKED, LONG]
        .iter()
        .any(|name| input_schema.has_column_with_unqualified_name(name))
    {
        return Ok(None);
    }
    let key_expr = Expr::Column(key.clone());
    let group_expr = vec![
        ScalarUDF::new_from_impl(PackKey::new())
            .call(vec![key_expr.clone()])
            .alias(PACKED),
    ];
    let long = ScalarUDF::new_from_impl(LongKey::new()).call(vec![key_expr]);
    let text = AggregateFunction::new_udf(
        Arc::new(AggregateUDF::new_from_impl(KeyText::new())),
        vec![long],
        false,
        None,
        vec![],
        None,
    );
    let mut aggr_expr = aggregate.aggr_expr.clone();
    aggr_expr.push(Expr::AggregateFunction(text).alias(LONG));
    let Ok(new_aggregate) = Aggregate::try_new(Arc::clone(&aggregate.input), group_expr, aggr_expr) else {
        return Ok(None);
    };

    // the projection that gives the old output: the key from its number
    // and long text, then every aggregate by its column (the long text's
    // aggregate last, dropped)
    let old = aggregate.schema.as_ref();
    let column = |at: usize| {
        let (q, f) = new_aggregate.schema.qualified_field(at);
        Expr::Column(Column::new(q.cloned(), f.name()))
    };
    let unpacked = ScalarUDF::new_from_impl(UnpackKey::new())
        .call(vec![column(0), column(new_aggregate.schema.fields().len() - 1)]);
    let exprs = old
        .iter()
        .enumerate()
        .map(|(j, (qualifier, field))| {
            if j > 0 {
                let out = column(j);
                // an aggregate keeps its name: aliasing a column to itself
                // would give later rules two fields of one name
                if out == Expr::Column(Column::new(qualifier.cloned(), field.name())) {
                    return out;
                }
                return out.alias_qualified(qualifier.cloned(), field.name());
            }
            unpacked.clone().alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    // the filter that keeps the long texts' aggregate read, and so checked,
    // when nothing above reads the key (crate::key_text)
    let checked =
        ScalarUDF::new_from_impl(KeyChecked::new()).call(vec![column(new_aggregate.schema.fields().len() - 1)]);
    let Ok(filter) = Filter::try_new(checked, Arc::new(LogicalPlan::Aggregate(new_aggregate))) else {
        return Ok(None);
    };
    let Ok(projection) = Projection::try_new(exprs, Arc::new(LogicalPlan::Filter(filter))) else {
        return Ok(None);
    };
    // the output must be the old one, or the plan is left alone
    let same_nullability = projection
        .schema
        .fields()
        .iter()
        .zip(old.fields())
        .all(|(new, old)| new.is_nullable() == old.is_nullable());
    if !projection.schema.logically_equivalent_names_and_types(old) || !same_nullability {
        return Ok(None);
    }
    Ok(Some(LogicalPlan::Projection(projection)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Keys of every kind over 3 partitions, in the three string types:
    /// empty, short, exactly 15 and 16 bytes, long, non-ASCII, NUL bytes,
    /// NULL; each repeated with different values.
    fn keys() -> MemTable {
        let texts: Vec<Option<String>> = vec![
            Some(String::new()),
            Some("a".into()),
            Some("a\0".into()),
            Some("\0a".into()),
            Some("O000000001".into()),
            Some("123456789012345".into()),
            Some("1234567890123456".into()),
            Some("a key much longer than fourteen bytes".into()),
            Some("ünïcödé".into()),
            Some("ünïcödé ünïcödé".into()),
            None,
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("kl", DataType::LargeUtf8, true),
            Field::new("kv", DataType::Utf8View, true),
            Field::new("kn", DataType::Utf8, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let partitions = (0..3i64)
            .map(|p| {
                let rows: Vec<(Option<&str>, i64)> = (0..200i64)
                    .map(|i| (texts[((i * 7 + p) % 11) as usize].as_deref(), i * 3 + p))
                    .collect();
                let key = |_: ()| rows.iter().map(|(k, _)| *k);
                vec![
                    RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![
                            Arc::new(key(()).collect::<StringArray>()),
                            Arc::new(key(()).collect::<LargeStringArray>()),
                            Arc::new(key(()).collect::<StringViewArray>()),
                            Arc::new(StringArray::from_iter_values(key(()).map(|k| k.unwrap_or("-")))),
                            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, v)| *v))),
                        ],
                    )
                    .unwrap(),
                ]
            })
            .collect();
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// The result of `sql` (its batches' schema, then its rows) and its
    /// plan, in a session with Pulse's settings, functions and
    /// `MergeEarliest`, and with `PackKeys` when `pack`; `settings` run
    /// first.
    async fn run_with(pack: bool, settings: &[&str], sql: &str) -> (String, String) {
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .with_batch_size(64)
            .with_option_extension(PulseOptions::default());
        let ctx = SessionContext::new_with_config(config);
        crate::register_context(&ctx);
        // as a Pulse session has them (engine/src/session.rs)
        ctx.add_optimizer_rule(Arc::new(crate::MergeEarliest));
        if pack {
            ctx.add_optimizer_rule(Arc::new(PackKeys));
        }
        ctx.register_table("t", Arc::new(keys())).unwrap();
        for setting in settings {
            ctx.sql(setting).await.unwrap().collect().await.unwrap();
        }
        let result = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let plan = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        (
            format!("{:?}\n{}", result[0].schema(), pretty_format_batches(&result).unwrap()),
            pretty_format_batches(&plan).unwrap().to_string(),
        )
    }

    async fn run(pack: bool, sql: &str) -> (String, String) {
        run_with(pack, &[], sql).await
    }

    #[tokio::test]
    async fn grouping_by_the_packed_key_gives_the_same_groups_and_keys() {
        for column in ["k", "kl", "kv"] {
            for sql in [
                format!(
                    "SELECT {column}, count(*) AS n, sum(v) AS s, min(v) AS lo FROM t GROUP BY {column} ORDER BY 1"
                ),
                format!("SELECT t.{column} AS key, earliest(v, v) AS e FROM t GROUP BY t.{column} ORDER BY e"),
                // earliest calls merged into one (crate::MergeEarliest)
                format!(
                    "SELECT {column}, earliest(v, v) AS e, earliest(kl, v) AS f, earliest(kv, v) AS g \
                     FROM t GROUP BY {column} ORDER BY e"
                ),
            ] {
                let (plain, plain_plan) = run(false, &sql).await;
                let (packed, packed_plan) = run(true, &sql).await;
                assert_eq!(packed, plain, "{sql}");
                assert!(plain.lines().count() > 4, "{plain}");
                assert!(!plain_plan.contains(PACKED), "{plain_plan}");
                for part in [PACKED, UnpackKey::NAME, KeyText::NAME, KeyChecked::NAME] {
                    assert!(packed_plan.contains(part), "{sql}: {part} in {packed_plan}");
                }
            }
        }
    }

    #[tokio::test]
    async fn the_long_keys_stay_checked_when_nothing_reads_the_key() {
        // the key is not read above the aggregation, so DataFusion drops
        // its unpacking; the check on long keys must stay
        let sql = "SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT k, count(*) AS n FROM t GROUP BY k)";
        let (plain, _) = run(false, sql).await;
        let (packed, plan) = run(true, sql).await;
        assert_eq!(packed, plain);
        assert!(plain.contains("| 11     | 600  |"), "{plain}");
        assert!(!plan.contains(UnpackKey::NAME), "{plan}");
        for part in [PACKED, KeyText::NAME, KeyChecked::NAME] {
            assert!(plan.contains(part), "{part} in {plan}");
        }
    }

    #[tokio::test]
    async fn other_groupings_are_left_as_they_are() {
        for sql in [
            // not nullable: the output would become nullable
            "SELECT kn, count(*) FROM t GROUP BY kn ORDER BY 1",
            // two keys, an expression, a number
            "SELECT k, kl, count(*) FROM t GROUP BY k, kl ORDER BY 1, 2",
            "SELECT upper(k), count(*) FROM t GROUP BY upper(k) ORDER BY 1",
            "SELECT v, count(*) FROM t GROUP BY v ORDER BY 1",
            // a name the rule would take
            "SELECT __pulse_key, count(*) FROM (SELECT k AS __pulse_key FROM t) \
             GROUP BY __pulse_key ORDER BY 1",
            // what DataFusion stops early under a LIMIT
            "SELECT DISTINCT k FROM t ORDER BY 1",
            "SELECT DISTINCT k FROM t LIMIT 3",
            "SELECT count(DISTINCT k) AS d FROM t",
            "SELECT kv, max(v) AS m FROM t GROUP BY kv ORDER BY m DESC LIMIT 3",
        ] {
            let (plain, _) = run(false, sql).await;
            let (packed, plan) = run(true, sql).await;
            if !sql.contains("DISTINCT k FROM t LIMIT") {
                assert_eq!(packed, plain, "{sql}");
            }
            assert!(!plan.contains(PackKey::NAME), "{sql}: {plan}");
        }
        // and everything when the session says so
        let sql = "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY 1";
        let (plain, _) = run(false, sql).await;
        let (off, plan) = run_with(true, &["SET pulse.pack_keys = false"], sql).await;
        assert_eq!(off, plain);
        assert!(!plan.contains(PackKey::NAME), "{plan}");
    }
}
