-- dq_unknown_industries, version 1
--
-- Industry names of current customers that match none of the 10, one row per
-- name ignoring case (shown in its first spelling), with how many customers
-- give it and one of them.
SELECT min(industry) AS name, count(DISTINCT customer_id) AS customers, min(customer_id) AS example_customer
FROM explode_industries('customers')
WHERE NOT is_known
GROUP BY lower(industry)
