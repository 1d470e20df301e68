-- +goose Up
-- The fencing token of an in-flight claim: the commit that completes a key
-- and the release that forgets it act only on the claim they hold, so a
-- request whose claim was taken over can never create a second order.
ALTER TABLE idempotency_key ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_key DROP COLUMN claim_token;
