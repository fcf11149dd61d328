-- customer_window_sums, version 1: each customer's sums of its orders in
-- the two windows, as of T = pulse_as_of().
--
-- One row per customer with at least one order in orders_clean_v3 (every
-- order once, its earliest copy among the 31-day window's messages):
--   current_sum,  current_count:  the orders with event time in [T - 24h, T)
--   baseline_sum, baseline_count: the orders in [T - 24h - 30d, T - 24h)
-- Sums are exact, DECIMAL(76, 18); a sum over no orders is NULL.
-- This is industry_change_v4's per_customer step as a view of its own:
-- a live session (pulse serve, --watch, the shell) keeps it up to date by
-- the new messages instead of running it again (engine/src/live/), and the
-- test suite checks that what it keeps equals this query.
SELECT
    customer_id,
    sum(CASE WHEN in_current THEN amount END) AS current_sum,
    sum(CASE WHEN NOT in_current THEN amount END) AS baseline_sum,
    count(CASE WHEN in_current THEN 1 END) AS current_count,
    count(CASE WHEN NOT in_current THEN 1 END) AS baseline_count
FROM (
    SELECT
        customer_id,
        CAST(amount AS DECIMAL(76, 18)) AS amount,
        order_time >= pulse_as_of() - INTERVAL '1 day' AS in_current
    FROM orders_clean_v3
)
GROUP BY customer_id
