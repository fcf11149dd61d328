-- industry_change, version 3: version 2 with money summed exactly.
--
-- DESIGN.md, "Money is exact": each order's amount is a decimal
-- (DECIMAL(38, 18) on the orders table; whatever the input, it is cast to
-- one here), and the sums are DECIMAL(76, 18), which no realistic number of
-- orders can overflow (DECIMAL(38, 18) sums wrap past 1.7e20). The figures
-- derived from the exact sums (averages, changes, ratios) are then DOUBLE,
-- computed the same way from the same sums on every path (a file, a topic,
-- a lake, a cluster), so every path gives the same digits. Two industries
-- whose sums are equal tie, and rank by name: 0.1 + 0.2 equals 0.3.
--
-- For each of the 10 industries, including those without orders, as of
-- T = pulse_as_of():
--   current window   C = [T - 24h, T)
--   baseline window  B = [T - 24h - 30d, T - 24h)
--   current_amount        = sum of amount of the orders in C attributed to the industry
--   baseline_daily_avg    = (sum of amount of the orders in B attributed to it) / 30
--   abs_change            = current_amount - baseline_daily_avg
--   pct_change            = abs_change / baseline_daily_avg, NULL when the baseline is 0
--   current_orders, baseline_daily_orders, orders_pct_change: the same for order counts
-- An order counts in full for every canonical industry of its customer;
-- orders of unknown customers count nowhere (see dq_unknown_customers).
-- rank: |pct_change| descending, where a zero baseline with a positive
-- current_amount ranks above every finite change; ties by |abs_change|
-- descending, then industry name.
WITH attributed AS (
    SELECT
        ci.industry,
        CAST(o.amount AS DECIMAL(76, 18)) AS amount,
        o.order_time >= pulse_as_of() - INTERVAL '1 day' AS in_current
    FROM orders_clean_v2 o
    JOIN customer_industries_v1 ci ON ci.customer_id = o.customer_id
),
totals AS (
    SELECT
        industry,
        sum(CASE WHEN in_current THEN amount END) AS current_sum,
        sum(CASE WHEN NOT in_current THEN amount END) AS baseline_sum,
        count(CASE WHEN in_current THEN 1 END) AS current_count,
        count(CASE WHEN NOT in_current THEN 1 END) AS baseline_count
    FROM attributed
    GROUP BY industry
),
figures AS (
    SELECT
        i.industry,
        CAST(coalesce(t.current_sum, 0) AS DOUBLE) AS current_amount,
        CAST(coalesce(t.baseline_sum, 0) AS DOUBLE) / 30.0 AS baseline_daily_avg,
        CAST(coalesce(t.current_count, 0) AS BIGINT) AS current_orders,
        CAST(coalesce(t.baseline_count, 0) AS DOUBLE) / 30.0 AS baseline_daily_orders
    FROM industries() i
    LEFT JOIN totals t ON t.industry = i.industry
),
changes AS (
    SELECT
        industry,
        current_amount,
        baseline_daily_avg,
        current_amount - baseline_daily_avg AS abs_change,
        CASE WHEN baseline_daily_avg = 0 THEN NULL
             ELSE (current_amount - baseline_daily_avg) / baseline_daily_avg END AS pct_change,
        current_orders,
        baseline_daily_orders,
        CASE WHEN baseline_daily_orders = 0 THEN NULL
             ELSE (current_orders - baseline_daily_orders) / baseline_daily_orders END AS orders_pct_change
    FROM figures
)
SELECT
    row_number() OVER (
        ORDER BY
            CASE WHEN baseline_daily_avg = 0 AND current_amount > 0 THEN 0 ELSE 1 END,
            abs(pct_change) DESC NULLS LAST,
            abs(abs_change) DESC,
            industry ASC
    ) AS rank,
    industry,
    current_amount,
    baseline_daily_avg,
    abs_change,
    pct_change,
    current_orders,
    baseline_daily_orders,
    orders_pct_change
FROM changes
ORDER BY rank
