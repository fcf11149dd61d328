"""The answer in DuckDB SQL, on a JSON-lines or a Parquet file of orders.

JSON lines: fields are read as text and typed here (the `timestamp` field
is RFC 3339 text or epoch milliseconds, as in the topic); an order's
position is its line. Parquet: typed columns, position (_partition, _offset).
"""

import duckdb

import common as c

a = c.args("DuckDB")
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
if a.parquet:
    orders = f"""
    SELECT order_id, customer_id, amount, -- the file's times are nanoseconds: epoch_ms() takes no TIMESTAMPTZ_NS
           CAST(floor(epoch_ns("timestamp") / 1000000) AS BIGINT) AS t_ms,
           CAST(_partition AS BIGINT) * 1099511627776 + _offset AS pos
    FROM read_parquet('{a.orders}')"""
else:
    orders = f"""
    SELECT order_id, customer_id, TRY_CAST(amount AS DOUBLE) AS amount,
           CASE WHEN regexp_full_match(ts, '-?[0-9]+') THEN TRY_CAST(ts AS BIGINT)
                ELSE epoch_ms(TRY_CAST(ts AS TIMESTAMPTZ)) END AS t_ms,
           pos
    FROM (SELECT order_id, customer_id, amount, "timestamp" AS ts, row_number() OVER () AS pos
          FROM read_json('{a.orders}', format = 'newline_delimited',
               columns = {{order_id: 'VARCHAR', customer_id: 'VARCHAR', amount: 'VARCHAR', "timestamp": 'VARCHAR'}}))"""

piece = "trim(regexp_replace(piece, '\\s+', ' ', 'g'))"
sql = f"""
WITH orders AS ({orders}),
clean AS (
    SELECT order_id, arg_min(customer_id, pos) AS customer_id, arg_min(amount, pos) AS amount,
           arg_min(t_ms, pos) AS t_ms
    FROM orders
    WHERE order_id IS NOT NULL AND customer_id IS NOT NULL AND amount IS NOT NULL AND t_ms IS NOT NULL
      AND t_ms >= {a.window_from_ms} AND t_ms < {a.t_ms}
    GROUP BY order_id
),
latest AS (
    SELECT customer_id,
           arg_max(specialised_industries, struct_pack(b := batch_id, f := filename, r := file_row_number)) AS field
    FROM read_parquet('{a.customers}/*/*.parquet', hive_partitioning = true, filename = true, file_row_number = true)
    GROUP BY customer_id
),
pieces AS (
    SELECT customer_id, unnest(string_split(regexp_replace(
               regexp_replace(lower(field), '{c.OIL_AND_GAS}', ',{c.OIL_TOKEN},', 'g'),
               '{c.SEPARATORS}', ',', 'g'), ',')) AS piece
    FROM latest
),
customer_industries AS (
    SELECT DISTINCT customer_id,
           CASE WHEN regexp_full_match({piece}, '{c.OIL_AND_GAS_PIECE}') THEN 'Oil&Gas'
                ELSE {c.case_industry(piece)} END AS industry
    FROM pieces
),
industries(industry) AS (VALUES {c.industries_values()}),
{c.answer_sql(a.current_from_ms, "industries")}
"""
c.write(con.execute(sql).fetchall())
