-- data_quality, version 1
--
-- One row per data-quality check of the answer's window: how many rows it
-- found, and one example with where to look.
SELECT 'unknown_customers' AS check_name, count(*) AS found,
       min(concat('order ', order_id, ' customer ', customer_id)) AS example
FROM dq_unknown_customers_v1
UNION ALL
SELECT 'unknown_industries', CAST(coalesce(sum(customers), 0) AS BIGINT),
       min(concat('"', name, '" (customer ', example_customer, ')'))
FROM dq_unknown_industries_v1
UNION ALL
SELECT 'amount_mismatches', count(*),
       min(concat('order ', order_id, ' at ', CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR)))
FROM dq_amount_mismatches_v1
UNION ALL
SELECT 'duplicate_orders', count(*), min(concat('order ', order_id, ' x', CAST(copies AS VARCHAR)))
FROM dq_duplicate_orders_v1
UNION ALL
SELECT 'malformed_messages', count(*),
       min(concat(CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR), ' ', reason))
FROM dq_malformed_messages_v1
