-- data_quality, version 2: version 1's checks, and three more
-- (implausible_times, field_warnings, timestamps_out_of_order).
--
-- One row per data-quality check: how many rows it found, and one example
-- with where to look.
SELECT * FROM data_quality_v1
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
