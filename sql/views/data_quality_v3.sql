-- data_quality, version 3: version 2's checks and rows, with
-- unknown_customers and amount_mismatches from their version 2 (over
-- orders_clean_v3: the same rows, without sorting the window by order).
--
-- One row per data-quality check: how many rows it found, and one example
-- with where to look.
SELECT 'unknown_customers' AS check_name, count(*) AS found,
       min(concat('order ', order_id, ' customer ', customer_id)) AS example
FROM dq_unknown_customers_v2
UNION ALL
SELECT 'unknown_industries', CAST(coalesce(sum(customers), 0) AS BIGINT),
       min(concat('"', name, '" (customer ', example_customer, ')'))
FROM dq_unknown_industries_v1
UNION ALL
SELECT 'amount_mismatches', count(*),
       min(concat('order ', order_id, ' at ', CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR)))
FROM dq_amount_mismatches_v2
UNION ALL
SELECT 'duplicate_orders', count(*), min(concat('order ', order_id, ' x', CAST(copies AS VARCHAR)))
FROM dq_duplicate_orders_v1
UNION ALL
SELECT 'malformed_messages', count(*),
       min(concat(CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR), ' ', reason))
FROM dq_malformed_messages_v1
UNION ALL
SELECT 'implausible_times', count(*),
       min(concat('order ', order_id, ' at ', CAST(order_time AS VARCHAR), ' (', why, ')'))
FROM dq_implausible_times_v1
UNION ALL
SELECT 'field_warnings', count(*),
       min(concat(CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR), ' ', warning))
FROM dq_field_warnings_v1
UNION ALL
SELECT 'timestamps_out_of_order', count(*),
       min(concat(CAST(_partition AS VARCHAR), ':', CAST(_offset AS VARCHAR), ' is ',
                  CAST(behind_ms AS VARCHAR), ' ms behind an earlier message'))
FROM dq_timestamp_disorder_v1
