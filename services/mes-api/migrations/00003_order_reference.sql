-- +goose Up
-- Clients look their orders up by their own reference (GET /v1/orders?reference=).
CREATE INDEX api_order_client_reference ON api_order (client_id, reference);

-- +goose Down
DROP INDEX api_order_client_reference;
