"""The answer in DataFusion-Python SQL, on a JSON-lines or a Parquet file.

JSON lines are read with the typed schema Pulse decodes with (`timestamp`
as a millisecond timestamp takes RFC 3339 text and epoch milliseconds);
a malformed message reads as NULLs and is left out. DataFusion's JSON
reader gives no line number, so among the copies of an order_id the one
kept is unspecified; the generator's copies are identical, so the figures
do not depend on it. Parquet: position (_partition, _offset).
"""

import glob
import os

import pyarrow as pa
from datafusion import SessionConfig, SessionContext

import common as c

a = c.args("DataFusion-Python")
ctx = SessionContext(SessionConfig().set("datafusion.optimizer.repartition_file_scans", "false"))
if a.parquet:
    ctx.register_parquet("orders_file", a.orders)
    pos = "CAST(_partition AS BIGINT) * 1099511627776 + _offset"
else:
    schema = pa.schema([
        ("order_id", pa.string()), ("customer_id", pa.string()), ("amount", pa.float64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
    ])
    ctx.register_json("orders_file", a.orders, schema=schema, file_extension=".jsonl")
    pos = "0"
# Within a batch the last row wins, but DataFusion's Parquet reader gives
# no row position: DataFusion reads each batch file whole, in file order,
# and the position is added as a column.
customer_parts = []
base = 0
for batch_dir in sorted(glob.glob(os.path.join(a.customers, "batch_id=*"))):
    for path in sorted(glob.glob(os.path.join(batch_dir, "*.parquet"))):
        part = pa.Table.from_batches(ctx.read_parquet(path).collect())
        part = part.append_column("pos", pa.array(range(base, base + part.num_rows), pa.int64()))
        base += part.num_rows
        customer_parts.append(part.select(["customer_id", "specialised_industries", "pos"]))
ctx.register_record_batches("customers_file", [pa.concat_tables(customer_parts).to_batches()])

piece = "trim(regexp_replace(piece, '\\s+', ' ', 'g'))"
sql = f"""
WITH orders AS (
    SELECT order_id, customer_id, amount, CAST(to_timestamp_millis("timestamp") AS BIGINT) AS t_ms, {pos} AS pos
    FROM orders_file
),
clean AS (
    SELECT order_id,
           first_value(customer_id ORDER BY pos) AS customer_id,
           first_value(amount ORDER BY pos) AS amount,
           first_value(t_ms ORDER BY pos) AS t_ms
    FROM orders
    WHERE order_id IS NOT NULL AND customer_id IS NOT NULL AND amount IS NOT NULL AND t_ms IS NOT NULL
      AND t_ms >= {a.window_from_ms} AND t_ms < {a.t_ms}
    GROUP BY order_id
),
latest AS (
    SELECT customer_id, last_value(specialised_industries ORDER BY pos) AS field
    FROM customers_file GROUP BY customer_id
),
pieces AS (
    SELECT customer_id, unnest(string_to_array(regexp_replace(
               regexp_replace(lower(field), '{c.OIL_AND_GAS}', ',{c.OIL_TOKEN},', 'g'),
               '{c.SEPARATORS}', ',', 'g'), ',')) AS piece
    FROM latest
),
customer_industries AS (
    SELECT DISTINCT customer_id,
           CASE WHEN regexp_like({piece}, '^{c.OIL_AND_GAS_PIECE}$') THEN 'Oil&Gas'
                ELSE {c.case_industry(piece)} END AS industry
    FROM pieces
),
industries AS (SELECT column1 AS industry FROM (VALUES {c.industries_values()})),
{c.answer_sql(a.current_from_ms, "industries")}
"""
table = ctx.sql(sql).to_arrow_table()
c.write(zip(*[table.column(n).to_pylist() for n in c.COLUMNS]))
