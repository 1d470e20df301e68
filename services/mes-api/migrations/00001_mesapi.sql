-- +goose Up
-- B2B companies that use the API.
CREATE TABLE api_client (
    id         TEXT PRIMARY KEY,      -- UUIDv7
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,       -- Unix microseconds
    revoked_at BIGINT NOT NULL DEFAULT 0
);

-- API keys: only the SHA-256 of the key is kept; prefix is what people see.
CREATE TABLE api_key (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES api_client (id),
    prefix          TEXT NOT NULL UNIQUE,  -- "fk_live_ab12cd34"
    hash            TEXT NOT NULL UNIQUE,  -- hex SHA-256 of the whole key
    scopes          TEXT NOT NULL,         -- space separated
    rate_per_minute INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_key_client ON api_key (client_id);

-- The latest price list received (one row, id 1).
CREATE TABLE price_list (
    id          INTEGER PRIMARY KEY,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,         -- contracts.PriceListV1 JSON
    received_at BIGINT NOT NULL
);

-- Orders placed through the API and what the platform reported about them.
CREATE TABLE api_order (
    id                  TEXT PRIMARY KEY,   -- UUIDv7: ordering by id is ordering by time
    client_id           TEXT NOT NULL REFERENCES api_client (id),
    number              TEXT NOT NULL UNIQUE,
    reference           TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    status_before_hold  TEXT NOT NULL DEFAULT '',
    lines               TEXT NOT NULL,      -- JSON: []contracts.LineItem as quoted
    delivery            TEXT NOT NULL,      -- JSON: contracts.Address
    currency            TEXT NOT NULL,
    quoted_total        BIGINT NOT NULL,
    price_list_version  BIGINT NOT NULL,
    priced_total        BIGINT NOT NULL DEFAULT 0,
    ship_date           TEXT NOT NULL DEFAULT '',
    lead_days           INTEGER NOT NULL DEFAULT 0,
    reason              TEXT NOT NULL DEFAULT '',
    carrier             TEXT NOT NULL DEFAULT '',
    tracking_number     TEXT NOT NULL DEFAULT '',
    cancel_requested_at BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX api_order_client ON api_order (client_id, id);
CREATE INDEX api_order_client_status ON api_order (client_id, status, id);

-- Each status an order went through, in the order they were applied.
CREATE TABLE api_order_history (
    order_id   TEXT NOT NULL REFERENCES api_order (id),
    seq        INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    at         BIGINT NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- Idempotency keys of POST /v1/orders: the first answer is kept and replayed.
CREATE TABLE idempotency_key (
    client_id       TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,       -- hex SHA-256 of the canonical body
    state           TEXT NOT NULL,       -- in_flight | done
    response_status INTEGER NOT NULL DEFAULT 0,
    response_body   TEXT NOT NULL DEFAULT '',
    locked_until    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (client_id, idem_key)
);
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);

-- Webhook endpoints registered by clients.
CREATE TABLE webhook_endpoint (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES api_client (id),
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,           -- "whsec_<base64>"
    events      TEXT NOT NULL,           -- space separated; '' means every event
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_endpoint_client ON webhook_endpoint (client_id, deleted_at);

-- mes-api's own outbox for webhooks: one row per message to one endpoint,
-- written in the transaction of the status change, posted by a worker.
CREATE TABLE webhook_delivery (
    id               TEXT PRIMARY KEY,   -- UUIDv7
    msg_id           TEXT NOT NULL,      -- the webhook-id header; kept by replays
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoint (id),
    client_id        TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,      -- JSON body as posted
    status           TEXT NOT NULL,      -- pending | delivered | failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    replay_of        TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    give_up_at       BIGINT NOT NULL     -- created_at + the retry horizon
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (status, next_attempt_at);
CREATE INDEX webhook_delivery_endpoint ON webhook_delivery (endpoint_id, id);

-- Every attempt of a delivery: the delivery log.
CREATE TABLE webhook_attempt (
    delivery_id TEXT NOT NULL REFERENCES webhook_delivery (id),
    n           INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status_code INTEGER NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    duration_us BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

-- +goose Down
DROP TABLE webhook_attempt;
DROP TABLE webhook_delivery;
DROP TABLE webhook_endpoint;
DROP TABLE idempotency_key;
DROP TABLE api_order_history;
DROP TABLE api_order;
DROP TABLE price_list;
DROP TABLE api_key;
DROP TABLE api_client;
