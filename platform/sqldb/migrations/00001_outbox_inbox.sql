-- +goose Up
-- The transactional outbox: a message written in the business transaction,
-- deleted once the broker acknowledged it.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,      -- UUIDv7, also the JetStream Nats-Msg-Id
    subject         TEXT NOT NULL,
    msg_key         TEXT NOT NULL,         -- aggregate id: order is kept per key
    payload         TEXT NOT NULL,         -- JSON
    headers         TEXT NOT NULL,         -- JSON object: trace context and more
    created_at      BIGINT NOT NULL,       -- Unix microseconds
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending', -- pending | error
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (created_at, id);
CREATE INDEX outbox_key ON outbox (msg_key, created_at, id);

-- The idempotent receiver: one row per message a consumer processed.
CREATE TABLE inbox (
    consumer     TEXT NOT NULL,
    msg_id       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, msg_id)
);
CREATE INDEX inbox_processed ON inbox (processed_at);

-- Messages a consumer gave up on, kept with the reason until a person replays
-- or discards them.
CREATE TABLE dead_letter (
    id          TEXT PRIMARY KEY,
    consumer    TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    msg_key     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    headers     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    deliveries  INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open', -- open | replayed | discarded
    resolved_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dead_letter_open ON dead_letter (status, created_at);

-- +goose Down
DROP TABLE dead_letter;
DROP TABLE inbox;
DROP TABLE outbox;
