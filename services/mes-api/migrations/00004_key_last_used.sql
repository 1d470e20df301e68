-- +goose Up
-- When a key was last used (Unix microseconds, to the minute), for admins.
ALTER TABLE api_key ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE api_key DROP COLUMN last_used_at;
