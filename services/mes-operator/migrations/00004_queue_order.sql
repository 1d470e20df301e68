-- +goose Up
-- A workstation's queue read in its priority order from an index, however
-- many operations are open: the order's due date, rush flag and
-- confirmation time, by which the queue is sorted, are kept on its
-- operations too (an order's never change once it is confirmed). The index
-- holds only open operations.
ALTER TABLE operations ADD COLUMN ship_date TEXT NOT NULL DEFAULT '';
ALTER TABLE operations ADD COLUMN rush INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN confirmed_at BIGINT NOT NULL DEFAULT 0;
UPDATE operations SET
    ship_date = (SELECT o.ship_date FROM orders o WHERE o.order_id = operations.order_id),
    rush = (SELECT o.rush FROM orders o WHERE o.order_id = operations.order_id),
    confirmed_at = (SELECT o.confirmed_at FROM orders o WHERE o.order_id = operations.order_id);
DROP INDEX operations_queue;
CREATE INDEX operations_queue ON operations (workstation, (ship_date = ''), ship_date, rush DESC, confirmed_at, order_id, line_no, seq)
    WHERE state IN ('waiting', 'ready', 'running', 'paused');

-- +goose Down
DROP INDEX operations_queue;
CREATE INDEX operations_queue ON operations (workstation, state);
ALTER TABLE operations DROP COLUMN confirmed_at;
ALTER TABLE operations DROP COLUMN rush;
ALTER TABLE operations DROP COLUMN ship_date;
