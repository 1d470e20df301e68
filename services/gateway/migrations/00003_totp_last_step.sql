-- +goose Up
-- The RFC 6238 time step of the last one-time code a staff member signed in
-- with: a code is good once, so a step at or before it is refused (a code
-- seen over a shoulder or replayed within its 30 s window opens nothing).
ALTER TABLE staff_accounts ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE staff_accounts DROP COLUMN totp_last_step;
