-- dq_unknown_customers, version 2: version 1's rows, from orders_clean_v3
-- (whose deduplication keeps one position per order instead of sorting the
-- window).
--
-- Orders in the answer's window whose customer_id is in no customer batch.
-- They count in no industry.
SELECT o.order_id, o.customer_id, o.amount, o.order_time, o._partition, o._offset
FROM orders_clean_v3 o
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id)
