-- customer_industries, version 1
--
-- The canonical industries of every current customer (from the newest batch
-- that has the customer; within a batch, its last row), one row per
-- (customer_id, industry), by DESIGN.md's "Industry names" rules.
-- Names outside the 10 are left out here; dq_unknown_industries lists them.
SELECT customer_id, industry
FROM explode_industries('customers')
WHERE is_known
