-- dq_unknown_industries, version 1
--
-- Industry names of current customers that match none of the 10, as written,
-- with how many customers give each and one of them.
SELECT industry AS name, count(*) AS customers, min(customer_id) AS example_customer
FROM explode_industries('customers')
WHERE NOT is_known
GROUP BY industry
