-- top_industry_changes, version 4: version 3 over industry_change_v4 (the
-- same figures, computed faster).
--
-- The answer: the 3 industries with the biggest change in the last 24 hours
-- compared with their average over the 30 days before (ranks 1 to 3 of
-- industry_change_v4), with every figure.
SELECT *
FROM industry_change_v4
WHERE rank <= 3
ORDER BY rank
