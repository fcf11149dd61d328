-- dq_amount_mismatches, version 2: version 1's rows, from orders_clean_v3.
--
-- Orders in the answer's window whose amount differs from the sum of
-- volume * price over their order lines by more than half a cent. An order
-- without lines has a lines_total of 0.
-- Version 1 read the lines of orders_clean_v1, which sorts the window by
-- order; orders_clean_v3 keeps a column with earliest(), whose lists of
-- lines take its slow path. So this version totals the lines of every
-- message of the window (the same filter as orders_clean_v3) by Kafka
-- position, and joins those totals to the copy of each order that
-- orders_clean_v3 kept, by its position: the same rows as version 1.
WITH line_totals AS (
    SELECT _partition, _offset, sum(line['volume'] * line['price']) AS lines_total, count(*) AS lines
    FROM (
        SELECT _partition, _offset, unnest(order_line) AS line
        FROM orders
        WHERE _error IS NULL
          AND "timestamp" >= pulse_as_of() - INTERVAL '1 day' - INTERVAL '30 days'
          AND "timestamp" < pulse_as_of()
    )
    GROUP BY _partition, _offset
)
SELECT
    o.order_id,
    o.amount,
    coalesce(l.lines_total, 0.0) AS lines_total,
    o.amount - coalesce(l.lines_total, 0.0) AS difference,
    coalesce(l.lines, 0) AS lines,
    o._partition,
    o._offset
FROM orders_clean_v3 o
LEFT JOIN line_totals l ON l._partition = o._partition AND l._offset = o._offset
WHERE abs(o.amount - coalesce(l.lines_total, 0.0)) > 0.005
