-- dq_amount_mismatches, version 1
--
-- Orders in the answer's window whose amount differs from the sum of
-- volume * price over their order lines by more than half a cent. An order
-- without lines has a lines_total of 0.
WITH lines AS (
    SELECT _partition, _offset, unnest(order_line) AS line
    FROM orders_clean_v1
),
line_totals AS (
    SELECT _partition, _offset, sum(line['volume'] * line['price']) AS lines_total, count(*) AS lines
    FROM lines
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
FROM orders_clean_v1 o
LEFT JOIN line_totals l ON l._partition = o._partition AND l._offset = o._offset
WHERE abs(o.amount - coalesce(l.lines_total, 0.0)) > 0.005
