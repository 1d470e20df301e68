-- +goose Up
-- The time of the latest hold or resume event applied to an order: one that
-- arrives after a newer one is stale and changes nothing (events may arrive
-- in any order).
ALTER TABLE api_order ADD COLUMN hold_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE api_order DROP COLUMN hold_at;
