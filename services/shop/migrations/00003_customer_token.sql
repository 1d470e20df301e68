-- +goose Up
-- A customer confirms their e-mail address before they can sign in with a
-- password (sign-up tells no one whether an address has an account);
-- accounts made before keep working.
ALTER TABLE customer ADD COLUMN confirmed_at BIGINT;
UPDATE customer SET confirmed_at = created_at;

-- Single-use tokens sent by e-mail (confirm the address, reset the
-- password), found by the SHA-256 of the token: a leaked table does not
-- leak usable links.
CREATE TABLE customer_token (
    token_hash  TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customer (id),
    purpose     TEXT NOT NULL, -- confirm | reset
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX customer_token_customer ON customer_token (customer_id);

-- +goose Down
DROP TABLE customer_token;
ALTER TABLE customer DROP COLUMN confirmed_at;
