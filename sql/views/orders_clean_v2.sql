-- orders_clean, version 2: the rows of version 1, by aggregation instead of
-- a window.
--
-- The orders that count for the answer as of T = pulse_as_of(), one row per
-- order_id, typed, with their event time (order_time):
--   * only well-formed messages (_error IS NULL), whose event time is in
--     [T - 24h - 30d, T): the baseline window and the current window together;
--   * an order_id seen more than once (Kafka delivers at least once) counts
--     once: the copy earliest by Kafka (_partition, _offset) wins. Copies are
--     compared among the messages of that 31-day window.
-- Version 1 numbered the copies with row_number() over a sort of every
-- message; this version keeps, per order_id, the values of its earliest
-- copy in a hash aggregation (first_value ... ORDER BY its position), which
-- needs no sort and holds one entry per order_id. A column no query uses is
-- not aggregated at all. The event-time bounds are literals once T is
-- folded, so the Kafka scan seeks to the window (see EXPLAIN).
SELECT
    order_id,
    first_value(customer_id ORDER BY position) AS customer_id,
    first_value(order_line ORDER BY position) AS order_line,
    first_value(amount ORDER BY position) AS amount,
    first_value(order_time ORDER BY position) AS order_time,
    first_value(_partition ORDER BY position) AS _partition,
    first_value(_offset ORDER BY position) AS _offset
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
