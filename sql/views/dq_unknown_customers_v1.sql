-- dq_unknown_customers, version 1
--
-- Orders in the answer's window whose customer_id is in no customer batch.
-- They count in no industry.
SELECT o.order_id, o.customer_id, o.amount, o.order_time, o._partition, o._offset
FROM orders_clean_v1 o
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id)
