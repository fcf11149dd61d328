"""The answer with the Polars lazy API, on a JSON-lines or a Parquet file.

JSON lines: fields are read as text and typed here (the `timestamp` field
is RFC 3339 text or epoch milliseconds); an order's position is its line.
Parquet: typed columns, position (_partition, _offset).
"""

import glob
import os

import polars as pl

import common as c

a = c.args("Polars")
if a.parquet:
    orders = pl.scan_parquet(a.orders).select(
        "order_id", "customer_id", "amount",
        pl.col("timestamp").dt.epoch("ms").alias("t_ms"),
        (pl.col("_partition").cast(pl.Int64) * 1099511627776 + pl.col("_offset")).alias("pos"),
    )
else:
    text = pl.String
    raw = pl.scan_ndjson(
        a.orders,
        schema={"order_id": text, "customer_id": text, "amount": text, "timestamp": text},
        row_index_name="pos",
    )
    ts = pl.col("timestamp")
    orders = raw.select(
        "order_id", "customer_id", "pos",
        pl.col("amount").cast(pl.Float64, strict=False).alias("amount"),
        pl.when(ts.str.contains(r"^-?[0-9]+$"))
        .then(ts.cast(pl.Int64, strict=False))
        .otherwise(ts.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("ms"))
        .alias("t_ms"),
    )

clean = (
    orders.filter(
        pl.col("order_id").is_not_null() & pl.col("customer_id").is_not_null()
        & pl.col("amount").is_not_null() & pl.col("t_ms").is_not_null()
        & (pl.col("t_ms") >= a.window_from_ms) & (pl.col("t_ms") < a.t_ms)
    )
    .group_by("order_id")
    .agg(pl.col("customer_id", "amount", "t_ms").sort_by("pos").first())
)

# Batches in batch_id order, files in name order, rows in file order.
files = sorted(glob.glob(os.path.join(a.customers, "batch_id=*", "*.parquet")))
customers = pl.scan_parquet(files, hive_partitioning=False, row_index_name="pos")
latest = customers.group_by("customer_id").agg(
    pl.col("specialised_industries").sort_by("pos").last().alias("field")
)
piece = pl.col("piece").str.replace_all(r"\s+", " ").str.strip_chars()
customer_industries = (
    latest.select(
        "customer_id",
        pl.col("field").str.to_lowercase()
        .str.replace_all(c.OIL_AND_GAS, f",{c.OIL_TOKEN},")
        .str.replace_all(c.SEPARATORS, ",")
        .str.split(",").alias("piece"),
    )
    .explode("piece")
    .select(
        "customer_id",
        pl.when(piece.str.contains(f"^{c.OIL_AND_GAS_PIECE}$")).then(pl.lit("Oil&Gas"))
        .otherwise(piece.replace_strict(c.NAMES, default=None)).alias("industry"),
    )
    .filter(pl.col("industry").is_not_null())
    .unique()
)
totals = (
    clean.join(customer_industries, on="customer_id")
    .with_columns((pl.col("t_ms") >= a.current_from_ms).alias("in_current"))
    .group_by("industry")
    .agg(
        pl.col("amount").filter(pl.col("in_current")).sum().alias("current_sum"),
        pl.col("amount").filter(~pl.col("in_current")).sum().alias("baseline_sum"),
        pl.col("in_current").sum().alias("current_count"),
        (~pl.col("in_current")).sum().alias("baseline_count"),
    )
)
figures = (
    pl.LazyFrame({"industry": c.INDUSTRIES})
    .join(totals, on="industry", how="left")
    .select(
        "industry",
        pl.col("current_sum").fill_null(0).cast(pl.Float64).alias("current_amount"),
        (pl.col("baseline_sum").fill_null(0).cast(pl.Float64) / 30.0).alias("baseline_daily_avg"),
        pl.col("current_count").fill_null(0).cast(pl.Int64).alias("current_orders"),
        (pl.col("baseline_count").fill_null(0).cast(pl.Float64) / 30.0).alias("baseline_daily_orders"),
    )
    .with_columns(
        (pl.col("current_amount") - pl.col("baseline_daily_avg")).alias("abs_change"),
        pl.when(pl.col("baseline_daily_avg") == 0).then(None)
        .otherwise((pl.col("current_amount") - pl.col("baseline_daily_avg")) / pl.col("baseline_daily_avg"))
        .alias("pct_change"),
        pl.when(pl.col("baseline_daily_orders") == 0).then(None)
        .otherwise((pl.col("current_orders") - pl.col("baseline_daily_orders")) / pl.col("baseline_daily_orders"))
        .alias("orders_pct_change"),
    )
    .with_columns(
        pl.when((pl.col("baseline_daily_avg") == 0) & (pl.col("current_amount") > 0)).then(0).otherwise(1)
        .alias("_infinite_last"),
        pl.col("pct_change").abs().alias("_abs_pct"),
        pl.col("abs_change").abs().alias("_abs_abs"),
    )
    .sort(["_infinite_last", "_abs_pct", "_abs_abs", "industry"],
          descending=[False, True, True, False], nulls_last=True)
    .with_row_index("rank", offset=1)
    .collect()
)
c.write(figures.select(c.COLUMNS).iter_rows())
