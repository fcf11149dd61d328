-- orders_clean, version 3: the rows of version 2, kept with earliest().
--
-- The orders that count for the answer as of T = pulse_as_of(), one row per
-- order_id, typed, with their event time (order_time):
--   * only well-formed messages (_error IS NULL), whose event time is in
--     [T - 24h - 30d, T): the baseline window and the current window together;
--   * an order_id seen more than once (Kafka delivers at least once) counts
--     once: the copy earliest by Kafka (_partition, _offset) wins. Copies are
--     compared among the messages of that 31-day window.
-- Version 2 kept each column of the earliest copy with
-- first_value(... ORDER BY position), which holds a row of ScalarValues per
-- order and column; earliest(value, position) means the same and holds one
-- 64-bit position per order and column. A column no query uses is not
-- aggregated at all. The event-time bounds are literals once T is folded,
-- so the Kafka scan seeks to the window (see EXPLAIN).
SELECT
    order_id,
    earliest(customer_id, position) AS customer_id,
    earliest(order_line, position) AS order_line,
    earliest(amount, position) AS amount,
    earliest(order_time, position) AS order_time,
    earliest(_partition, position) AS _partition,
    earliest(_offset, position) AS _offset
FROM (
    SELECT
        order_id,
        customer_id,
        order_line,
        amount,
        "timestamp" AS order_time,
        _partition,
        _offset,
        -- (_partition, _offset) as one sortable number: offsets stay below 2^40
        CAST(_partition AS BIGINT) * 1099511627776 + _offset AS position
    FROM orders
    WHERE _error IS NULL
      AND "timestamp" >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
      AND "timestamp" < pulse_as_of()
)
GROUP BY order_id
