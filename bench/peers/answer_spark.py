"""The answer in Spark SQL (pyspark, local mode), on a JSON-lines or a
Parquet file.

JSON lines: fields are read as text and typed here (the `timestamp` field
is RFC 3339 text or epoch milliseconds). Spark gives JSON rows no line
number; monotonically_increasing_id() follows the file within a split, and
the generator's copies of an order are identical, so the figures do not
depend on which copy is kept. Parquet: position (_partition, _offset), and
a customer row's position is its file and `_metadata.row_index`.
"""

import os

from pyspark.sql import SparkSession

import common as c

a = c.args("Spark")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
spark = (
    SparkSession.builder.master("local[*]")
    .appName("pulse-bench")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    .config("spark.sql.shuffle.partitions", "8")
    # The Parquet file's times are TIMESTAMP(NANOS), which Spark reads only
    # as a long of nanoseconds.
    .config("spark.sql.legacy.parquet.nanosAsLong", "true")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")

if a.parquet:
    frame = spark.read.parquet(a.orders)
    frame.createOrReplaceTempView("orders_file")
    # TIMESTAMP(NANOS) arrives as a long of nanoseconds (nanosAsLong above)
    nanos = dict(frame.dtypes)["timestamp"] == "bigint"
    t_ms = "CAST(floor(`timestamp` / 1000000) AS BIGINT)" if nanos else "unix_millis(`timestamp`)"
    orders = f"""
    SELECT order_id, customer_id, amount, {t_ms} AS t_ms,
           CAST(_partition AS BIGINT) * 1099511627776 + _offset AS pos
    FROM orders_file"""
else:
    (spark.read.schema("order_id STRING, customer_id STRING, amount STRING, `timestamp` STRING")
        .json(a.orders).createOrReplaceTempView("orders_file"))
    orders = """
    SELECT order_id, customer_id, try_cast(amount AS DOUBLE) AS amount,
           CASE WHEN `timestamp` RLIKE '^-?[0-9]+$' THEN try_cast(`timestamp` AS BIGINT)
                ELSE unix_millis(try_cast(`timestamp` AS TIMESTAMP)) END AS t_ms,
           monotonically_increasing_id() AS pos
    FROM orders_file"""
(spark.read.option("basePath", a.customers).parquet(os.path.join(a.customers, "batch_id=*"))
    .select("customer_id", "specialised_industries", "batch_id",
            "_metadata.file_path", "_metadata.row_index")
    .createOrReplaceTempView("customers_file"))

piece = "trim(regexp_replace(piece, '\\\\s+', ' '))"
sql = f"""
WITH orders AS ({orders}),
clean AS (
    SELECT order_id, min_by(customer_id, pos) AS customer_id, min_by(amount, pos) AS amount,
           min_by(t_ms, pos) AS t_ms
    FROM orders
    WHERE order_id IS NOT NULL AND customer_id IS NOT NULL AND amount IS NOT NULL AND t_ms IS NOT NULL
      AND t_ms >= {a.window_from_ms} AND t_ms < {a.t_ms}
    GROUP BY order_id
),
latest AS (
    SELECT customer_id,
           max_by(specialised_industries, struct(CAST(batch_id AS STRING), file_path, row_index)) AS field
    FROM customers_file GROUP BY customer_id
),
pieces AS (
    SELECT customer_id, explode(split(regexp_replace(
               regexp_replace(lower(field), '{c.OIL_AND_GAS.replace(chr(92), chr(92) * 2)}', ',{c.OIL_TOKEN},'),
               '{c.SEPARATORS.replace(chr(92), chr(92) * 2)}', ','), ',')) AS piece
    FROM latest
),
customer_industries AS (
    SELECT DISTINCT customer_id,
           CASE WHEN {piece} RLIKE '^{c.OIL_AND_GAS_PIECE.replace(chr(92), chr(92) * 2)}$' THEN 'Oil&Gas'
                ELSE {c.case_industry(piece)} END AS industry
    FROM pieces
),
industries AS (SELECT * FROM VALUES {c.industries_values()} AS t(industry)),
{c.answer_sql(a.current_from_ms, "industries")}
"""
c.write([tuple(r) for r in spark.sql(sql).collect()])
spark.stop()
