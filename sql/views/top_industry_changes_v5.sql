-- top_industry_changes, version 5: version 4 over industry_change_v5 (the
-- same figures, kept up to date by what is new in a live session).
--
-- The answer: the 3 industries with the biggest change in the last 24 hours
-- compared with their average over the 30 days before (ranks 1 to 3 of
-- industry_change_v5), with every figure.
SELECT *
FROM industry_change_v5
WHERE rank <= 3
ORDER BY rank
