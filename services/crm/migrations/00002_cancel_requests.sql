-- +goose Up
-- Pending cancellation requests in the orders list: the customer asked to
-- cancel and the order is neither cancelled nor shipped yet.
ALTER TABLE crm_order_list ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
UPDATE crm_order_list SET cancel_requested = 1 WHERE order_id IN
    (SELECT id FROM crm_orders WHERE cancel_requested = 1 AND status NOT IN ('cancelled', 'shipped'));
CREATE INDEX crm_ol_cancel_date ON crm_order_list (cancel_requested, placed_at, order_id);

-- +goose Down
DROP INDEX crm_ol_cancel_date;
ALTER TABLE crm_order_list DROP COLUMN cancel_requested;
