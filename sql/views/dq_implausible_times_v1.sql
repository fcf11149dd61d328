-- dq_implausible_times, version 1
--
-- Well-formed orders whose event time cannot be right: before 2000-01-01
-- (epoch seconds sent as milliseconds land in 1970) or more than a day
-- after T = pulse_as_of(). No answer window holds them, so they count
-- nowhere; this view keeps them from being lost without a word. It reads
-- every message: no time bound narrows it.
SELECT
    order_id,
    customer_id,
    "timestamp" AS order_time,
    _partition,
    _offset,
    CASE WHEN "timestamp" < to_timestamp('2000-01-01T00:00:00Z') THEN 'before 2000-01-01'
         ELSE 'more than a day after T' END AS why
FROM orders
WHERE _error IS NULL
  AND ("timestamp" < to_timestamp('2000-01-01T00:00:00Z') OR "timestamp" > pulse_as_of() + INTERVAL '1 day')
