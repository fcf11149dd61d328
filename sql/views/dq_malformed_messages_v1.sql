-- dq_malformed_messages, version 1
--
-- Messages of the answer's 31 days (by message timestamp) that are not
-- valid orders, with where they are and why. Only a table whose
-- kafka.malformed policy is dead_letter keeps them as rows; under skip,
-- EXPLAIN ANALYZE counts them (malformed_skipped), and under fail the
-- query stops at the first one.
SELECT _partition, _offset, _timestamp, _key, _error AS reason
FROM orders
WHERE _error IS NOT NULL
  AND _timestamp >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
  AND _timestamp < pulse_as_of()
