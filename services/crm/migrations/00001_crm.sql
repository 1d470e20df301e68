-- +goose Up
-- Customers: shop customers (kind person) and B2B companies (kind company).
CREATE TABLE crm_customers (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    company     TEXT NOT NULL DEFAULT '',
    phone       TEXT NOT NULL DEFAULT '',
    order_count BIGINT NOT NULL DEFAULT 0,
    total_spent BIGINT NOT NULL DEFAULT 0, -- sum of counted totals of orders not cancelled
    currency    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Orders: the CRM's own copy of every order, written from events and actions.
CREATE TABLE crm_orders (
    id                 TEXT PRIMARY KEY,
    number             TEXT NOT NULL UNIQUE,
    channel            TEXT NOT NULL,
    customer_id        TEXT NOT NULL REFERENCES crm_customers (id),
    status             TEXT NOT NULL,
    held_from          TEXT NOT NULL DEFAULT '', -- status to resume to while on hold
    status_since       BIGINT NOT NULL,
    version            BIGINT NOT NULL DEFAULT 1,
    currency           TEXT NOT NULL DEFAULT '',
    quoted_total       BIGINT NOT NULL DEFAULT 0,
    total              BIGINT NOT NULL DEFAULT 0, -- binding price once priced, else the quote
    counted_total      BIGINT NOT NULL DEFAULT 0, -- what this order adds to the customer's total spent
    priced             INTEGER NOT NULL DEFAULT 0,
    price_list_version BIGINT NOT NULL DEFAULT 0,
    calc_version       BIGINT NOT NULL DEFAULT 0, -- price list version of the binding price
    routing            TEXT NOT NULL DEFAULT '[]',
    ship_date          TEXT NOT NULL DEFAULT '',
    lead_days          INTEGER NOT NULL DEFAULT 0,
    rush               INTEGER NOT NULL DEFAULT 0,
    manager            TEXT NOT NULL DEFAULT '',
    delivery           TEXT NOT NULL DEFAULT '{}',
    review_reason      TEXT NOT NULL DEFAULT '',
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    cancel_reason      TEXT NOT NULL DEFAULT '',
    carrier            TEXT NOT NULL DEFAULT '',
    tracking_number    TEXT NOT NULL DEFAULT '',
    placed_at          BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX crm_orders_customer ON crm_orders (customer_id, placed_at);

CREATE TABLE crm_order_lines (
    order_id          TEXT NOT NULL REFERENCES crm_orders (id),
    line_no           INTEGER NOT NULL,
    product           TEXT NOT NULL,
    options           TEXT NOT NULL DEFAULT '{}',
    quantity          INTEGER NOT NULL,
    lead              TEXT NOT NULL DEFAULT '',
    unit_price        BIGINT NOT NULL DEFAULT 0,
    total             BIGINT NOT NULL DEFAULT 0,
    priced_unit_price BIGINT NOT NULL DEFAULT 0,
    priced_total      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);

-- One row per event of an order; (order_id, message_id) is the natural key
-- that makes a replayed event a no-op.
CREATE TABLE crm_timeline (
    order_id    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    source      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    by_name     TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, message_id)
);
CREATE INDEX crm_timeline_order_at ON crm_timeline (order_id, at);

CREATE TABLE crm_notes (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    by_name     TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX crm_notes_order ON crm_notes (order_id, at);
CREATE INDEX crm_notes_customer ON crm_notes (customer_id, at);

CREATE TABLE crm_compensations (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    by_name     TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX crm_compensations_order ON crm_compensations (order_id, at);
CREATE INDEX crm_compensations_customer ON crm_compensations (customer_id, at);

-- Events that arrived before their order.placed; applied when it comes.
CREATE TABLE crm_parked (
    message_id  TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX crm_parked_order ON crm_parked (order_id, at);

-- The orders page's read model: one row per order, denormalised, with an
-- index for every filter + sort it offers.
CREATE TABLE crm_order_list (
    order_id         TEXT PRIMARY KEY,
    number           TEXT NOT NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_since     BIGINT NOT NULL,
    placed_at        BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    manager          TEXT NOT NULL DEFAULT '',
    customer_id      TEXT NOT NULL,
    customer_name    TEXT NOT NULL,
    customer_email   TEXT NOT NULL,
    customer_company TEXT NOT NULL DEFAULT '',
    search           TEXT NOT NULL -- lower-cased number, name, e-mail and company
);
CREATE INDEX crm_ol_date ON crm_order_list (placed_at, order_id);
CREATE INDEX crm_ol_total ON crm_order_list (total, order_id);
CREATE INDEX crm_ol_status_date ON crm_order_list (status, placed_at, order_id);
CREATE INDEX crm_ol_status_total ON crm_order_list (status, total, order_id);
CREATE INDEX crm_ol_channel_date ON crm_order_list (channel, placed_at, order_id);
CREATE INDEX crm_ol_channel_total ON crm_order_list (channel, total, order_id);
CREATE INDEX crm_ol_manager_date ON crm_order_list (manager, placed_at, order_id);
CREATE INDEX crm_ol_manager_total ON crm_order_list (manager, total, order_id);
CREATE INDEX crm_ol_customer_date ON crm_order_list (customer_id, placed_at, order_id);
CREATE INDEX crm_ol_customer_total ON crm_order_list (customer_id, total, order_id);
CREATE INDEX crm_ol_status_since ON crm_order_list (status, status_since);

-- Word-prefix search: lower-cased alphanumeric tokens of an order's number,
-- customer name, e-mail and company.
CREATE TABLE crm_order_tokens (
    token    TEXT NOT NULL,
    order_id TEXT NOT NULL,
    PRIMARY KEY (token, order_id)
);
CREATE INDEX crm_order_tokens_order ON crm_order_tokens (order_id, token);

-- Counts kept in the transactions that change them: "all", "status:<s>",
-- "channel:<c>".
CREATE TABLE crm_counters (
    name TEXT PRIMARY KEY,
    n    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE crm_counters;
DROP TABLE crm_order_tokens;
DROP TABLE crm_order_list;
DROP TABLE crm_parked;
DROP TABLE crm_compensations;
DROP TABLE crm_notes;
DROP TABLE crm_timeline;
DROP TABLE crm_order_lines;
DROP TABLE crm_orders;
DROP TABLE crm_customers;
