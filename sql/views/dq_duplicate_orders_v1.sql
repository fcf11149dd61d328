-- dq_duplicate_orders, version 1
--
-- order_ids delivered more than once in the answer's window, how many
-- copies, whether the copies disagree (customer, amount or time), and where
-- they are ("partition:offset", earliest first; the first one counts).
SELECT
    order_id,
    count(*) AS copies,
    count(DISTINCT customer_id) > 1 OR count(DISTINCT amount) > 1 OR count(DISTINCT "timestamp") > 1 AS copies_disagree,
    array_agg(concat(CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR)) ORDER BY _partition, _offset) AS locations
FROM orders
WHERE _error IS NULL
  AND "timestamp" >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
  AND "timestamp" < pulse_as_of()
GROUP BY order_id
HAVING count(*) > 1
