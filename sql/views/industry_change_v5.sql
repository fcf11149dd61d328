-- industry_change, version 5: version 4's figures, its per-customer step
-- read from the view customer_window_sums_v1.
--
-- Version 4 summed each customer's orders in a step of its own query; that
-- step is now the view customer_window_sums_v1, word for word, so that a
-- live session can keep it up to date by what is new (engine/src/live/)
-- while this query stays the definition of the rest. Every figure is
-- version 4's (the suite checks both on the same data).
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
WITH totals AS (
    SELECT
        ci.industry,
        sum(c.current_sum) AS current_sum,
        sum(c.baseline_sum) AS baseline_sum,
        sum(c.current_count) AS current_count,
        sum(c.baseline_count) AS baseline_count
    FROM customer_window_sums_v1 c
    JOIN customer_industries_v1 ci ON ci.customer_id = c.customer_id
    GROUP BY ci.industry
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
