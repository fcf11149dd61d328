-- dq_field_warnings, version 1
--
-- Well-formed orders of the answer's window with an optional field that
-- was set to NULL because its value did not fit its type (an order_line
-- that is an object, a price given as text): DESIGN.md says order_line
-- never decides whether an order counts, so the order counts, and this
-- view says what was set aside and why.
SELECT _partition, _offset, order_id, _warning AS warning
FROM orders
WHERE _error IS NULL
  AND _warning IS NOT NULL
  AND "timestamp" >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
  AND "timestamp" < pulse_as_of()
