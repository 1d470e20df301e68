-- +goose Up
-- The search's read of one token in date order (store.PlanToken): an
-- e-mail's customer, a company's number. The orders of a token come newest
-- first from this index, so a page costs a page's entries where the primary
-- key (token, order_id) gave all the token's orders to fetch and sort.
CREATE INDEX IF NOT EXISTS crm_order_tokens_token_date ON crm_order_tokens (token, placed_at, order_id);

-- +goose Down
DROP INDEX crm_order_tokens_token_date;
