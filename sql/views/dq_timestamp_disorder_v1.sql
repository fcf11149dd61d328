-- dq_timestamp_disorder, version 1
--
-- Messages whose message time (_timestamp) is more than an hour (the
-- default kafka.lateness) behind a message before them in their partition:
-- a backfill produced out of time order, or a producer with a wrong clock.
-- A scan checks what it reads for this and reads more when it finds it
-- (README, "Checked against the data"); this view looks at every message.
-- behind_ms is how far behind the latest earlier message it is.
SELECT _partition, _offset, _timestamp, behind_ms
FROM (
    SELECT
        _partition,
        _offset,
        _timestamp,
        CAST(max(_timestamp) OVER (
            PARTITION BY _partition ORDER BY _offset ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS BIGINT) - CAST(_timestamp AS BIGINT) AS behind_ms
    FROM orders
) m
WHERE behind_ms > 3600000
