"""What every peer implementation shares: the command line, the windows of
DESIGN.md's definition as epoch milliseconds, the industry-name rules as
regular expressions, and the output (all 10 industries as CSV, the columns
of `pulse answer --all --format csv`).

What must stay true: the rules here are DESIGN.md's, letter for letter, so
a peer that gives other figures than Pulse has found a bug in one of them;
and nothing here touches the data: each engine reads and computes alone.
"""

import argparse
import csv
import sys
from datetime import datetime, timezone

DAY_MS = 24 * 3600 * 1000

# The 10 industries, by their canonical names.
INDUSTRIES = [
    "Agriculture", "Cleaning", "Colours", "Construction", "Cosmetics",
    "Food", "Lubricants", "Oil&Gas", "Pharmaceuticals", "Polymer",
]

# Industry names (DESIGN.md, "Industry names"), on the lower-cased field:
# first "oil & gas" / "oil and gas" becomes one token that holds no
# separator, then every separator becomes a comma; pieces are then trimmed,
# their inner whitespace collapsed, and looked up in NAMES.
OIL_AND_GAS = r"\boil\s*(&|\band\b)\s*gas\b"
OIL_TOKEN = "oil_and_gas_token"
SEPARATORS = r"[,;|/&]|\band\b"
# A piece such as "oiland gas" (no word boundary) is Oil&Gas too.
OIL_AND_GAS_PIECE = r"oil\s*and\s*gas"
NAMES = {
    "agriculture": "Agriculture", "cleaning": "Cleaning", "colours": "Colours",
    "colors": "Colours", "construction": "Construction", "cosmetics": "Cosmetics",
    "food": "Food", "lubricants": "Lubricants", "pharmaceuticals": "Pharmaceuticals",
    "polymer": "Polymer", "polymers": "Polymer", OIL_TOKEN: "Oil&Gas",
}

COLUMNS = [
    "rank", "industry", "current_amount", "baseline_daily_avg", "abs_change",
    "pct_change", "current_orders", "baseline_daily_orders", "orders_pct_change",
]


def args(engine):
    p = argparse.ArgumentParser(description=f"The answer, computed by {engine}")
    p.add_argument("--orders", required=True, help="orders: a .jsonl or .parquet file")
    p.add_argument("--customers", required=True, help="the folder of batch_id=*/ Parquet batches")
    p.add_argument("--as-of", required=True, help="T, RFC 3339")
    a = p.parse_args()
    a.parquet = a.orders.endswith(".parquet")
    t = datetime.fromisoformat(a.as_of.replace("Z", "+00:00")).astimezone(timezone.utc)
    a.t_ms = int(t.timestamp() * 1000)
    a.current_from_ms = a.t_ms - DAY_MS          # C = [T - 24h, T)
    a.window_from_ms = a.t_ms - 31 * DAY_MS      # B ∪ C = [T - 24h - 30d, T)
    return a


def case_industry(piece):
    """A SQL CASE mapping a trimmed, lower-cased piece to its canonical name."""
    whens = " ".join(f"WHEN {piece} = '{k}' THEN '{v}'" for k, v in NAMES.items())
    return f"CASE {whens} ELSE NULL END"


def industries_values():
    return ", ".join(f"('{i}')" for i in INDUSTRIES)


def answer_sql(current_from_ms, industries):
    """The rest of the answer after the CTEs `clean(order_id, customer_id,
    amount, t_ms)` and `customer_industries(customer_id, industry)`: the
    attribution, the totals, the figures and the ranking, over a one-column
    relation `industries(industry)`, in SQL that DuckDB, DataFusion and Spark
    share."""
    return f"""
attributed AS (
    SELECT ci.industry, o.amount, o.t_ms >= {current_from_ms} AS in_current
    FROM clean o JOIN customer_industries ci ON ci.customer_id = o.customer_id
    WHERE ci.industry IS NOT NULL
),
totals AS (
    SELECT industry,
           sum(CASE WHEN in_current THEN amount END) AS current_sum,
           sum(CASE WHEN NOT in_current THEN amount END) AS baseline_sum,
           count(CASE WHEN in_current THEN 1 END) AS current_count,
           count(CASE WHEN NOT in_current THEN 1 END) AS baseline_count
    FROM attributed GROUP BY industry
),
figures AS (
    SELECT i.industry,
           CAST(coalesce(t.current_sum, 0) AS DOUBLE) AS current_amount,
           CAST(coalesce(t.baseline_sum, 0) AS DOUBLE) / 30.0 AS baseline_daily_avg,
           CAST(coalesce(t.current_count, 0) AS BIGINT) AS current_orders,
           CAST(coalesce(t.baseline_count, 0) AS DOUBLE) / 30.0 AS baseline_daily_orders
    FROM {industries} i LEFT JOIN totals t ON t.industry = i.industry
),
changes AS (
    SELECT industry, current_amount, baseline_daily_avg,
           current_amount - baseline_daily_avg AS abs_change,
           CASE WHEN baseline_daily_avg = 0 THEN NULL
                ELSE (current_amount - baseline_daily_avg) / baseline_daily_avg END AS pct_change,
           current_orders, baseline_daily_orders,
           CASE WHEN baseline_daily_orders = 0 THEN NULL
                ELSE (current_orders - baseline_daily_orders) / baseline_daily_orders END AS orders_pct_change
    FROM figures
)
SELECT row_number() OVER (ORDER BY
           CASE WHEN baseline_daily_avg = 0 AND current_amount > 0 THEN 0 ELSE 1 END,
           abs(pct_change) DESC NULLS LAST, abs(abs_change) DESC, industry ASC) AS rank,
       industry, current_amount, baseline_daily_avg, abs_change, pct_change,
       current_orders, baseline_daily_orders, orders_pct_change
FROM changes
ORDER BY rank
"""


def write(rows):
    """Writes the 10 rows (tuples in COLUMNS order) as CSV on stdout."""
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(COLUMNS)
    for r in rows:
        out.writerow(["" if v is None else v for v in r])
