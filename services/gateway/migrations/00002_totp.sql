-- +goose Up
-- The TOTP seed of a staff member's second factor (RFC 6238), sealed with
-- FABRIKA_SECRET_KEY (platform/secretbox); empty when not enrolled.
ALTER TABLE staff_accounts ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE staff_accounts DROP COLUMN totp_secret;
