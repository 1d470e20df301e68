-- +goose Up
-- The search's read of a common word in date order: each token's first
-- three characters (its head) and its order's placed_at, so that the orders
-- with a token that starts with the word come newest first from one index
-- (the tokens of the word's head, those of the word among them), without
-- reading the list's rows that do not match.
ALTER TABLE crm_order_tokens ADD COLUMN head TEXT NOT NULL DEFAULT '';
ALTER TABLE crm_order_tokens ADD COLUMN placed_at BIGINT NOT NULL DEFAULT 0;
UPDATE crm_order_tokens SET head = substr(token, 1, 3),
    placed_at = COALESCE((SELECT l.placed_at FROM crm_order_list l WHERE l.order_id = crm_order_tokens.order_id), 0);
CREATE INDEX crm_order_tokens_head_date ON crm_order_tokens (head, placed_at, order_id, token);

-- +goose Down
DROP INDEX crm_order_tokens_head_date;
ALTER TABLE crm_order_tokens DROP COLUMN placed_at;
ALTER TABLE crm_order_tokens DROP COLUMN head;
