-- orders_clean, version 1
--
-- The orders that count for the answer as of T = pulse_as_of(), one row per
-- order_id, typed, with their event time (order_time):
--   * only well-formed messages (_error IS NULL), whose event time is in
--     [T - 24h - 30d, T): the baseline window and the current window together;
--   * an order_id seen more than once (Kafka delivers at least once) counts
--     once: the copy earliest by Kafka (_partition, _offset) wins. Copies are
--     compared among the messages of that 31-day window.
-- The event-time bounds are literals once T is folded, so the Kafka scan
-- seeks to the window instead of reading the whole topic (see EXPLAIN).
SELECT order_id, customer_id, order_line, amount, order_time, _partition, _offset
FROM (
    SELECT
        order_id,
        customer_id,
        order_line,
        amount,
        "timestamp" AS order_time,
        _partition,
        _offset,
        row_number() OVER (PARTITION BY order_id ORDER BY _partition, _offset) AS copy
    FROM orders
    WHERE _error IS NULL
      AND "timestamp" >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
      AND "timestamp" < pulse_as_of()
)
WHERE copy = 1
