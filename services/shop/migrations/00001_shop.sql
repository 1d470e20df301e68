-- +goose Up
-- The price lists received from mes-calc; the highest version is current.
CREATE TABLE price_list (
    version      BIGINT PRIMARY KEY,
    payload      TEXT NOT NULL,      -- contracts.PriceListV1 as JSON
    published_at BIGINT NOT NULL,
    received_at  BIGINT NOT NULL
);

-- What the shop says about a product beyond the price list: its own
-- marketing text, seeded here, shown beside the price list's description.
CREATE TABLE product_info (
    code       TEXT PRIMARY KEY,
    tagline    TEXT NOT NULL,
    details    TEXT NOT NULL,
    sort_order INTEGER NOT NULL
);
INSERT INTO product_info (code, tagline, details, sort_order) VALUES
 ('laser_cut_sheet', 'Brackets, plates and covers cut from sheet metal.', 'Send us the outline and the thickness: we laser cut, bend and inspect every part. Tolerances of +/- 0.1 mm on the cut edge.', 1),
 ('cnc_milled_part', 'Precision blocks, housings and fixtures.', 'Milled on three- and five-axis centres from aluminium or steel, deburred by hand and measured before shipping.', 2),
 ('printed_3d_part', 'Prototypes and small series in plastic.', 'Printed in PLA, ABS or nylon, cleaned and post-processed. Ideal for jigs, enclosures and prototypes.', 3),
 ('assembled_item', 'Frames, boxes and welded assemblies.', 'We cut, weld or bolt, finish and inspect: you receive a ready-to-fit assembly.', 4);

CREATE TABLE customer (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- lower case
    name          TEXT NOT NULL,
    company       TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Sessions are found by the SHA-256 of their token: a leaked table does not
-- leak usable cookies.
CREATE TABLE session (
    token_hash  TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customer (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX session_customer ON session (customer_id);
CREATE INDEX session_expiry ON session (expires_at);

CREATE TABLE cart_line (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customer (id),
    product     TEXT NOT NULL,
    options     TEXT NOT NULL,  -- JSON object
    quantity    INTEGER NOT NULL,
    lead        TEXT NOT NULL,
    added_at    BIGINT NOT NULL
);
CREATE INDEX cart_line_customer ON cart_line (customer_id, added_at);

-- Order numbers are handed out in blocks per year (hi/lo): a block is taken
-- in a short transaction of its own, so placing orders never queues on one row.
CREATE TABLE order_number_block (
    year INTEGER PRIMARY KEY,
    last BIGINT NOT NULL
);

CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,          -- UUIDv7
    number              TEXT NOT NULL UNIQUE,      -- S-2026-000123
    customer_id         TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    request_hash        TEXT NOT NULL,
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    quoted_total        BIGINT NOT NULL,
    priced_total        BIGINT NOT NULL DEFAULT 0,
    price_list_version  BIGINT NOT NULL,
    line_count          INTEGER NOT NULL,
    contact             TEXT NOT NULL,             -- JSON
    delivery            TEXT NOT NULL,             -- JSON
    ship_date           TEXT NOT NULL DEFAULT '',
    carrier             TEXT NOT NULL DEFAULT '',
    tracking_number     TEXT NOT NULL DEFAULT '',
    cancel_requested_at BIGINT NOT NULL DEFAULT 0,
    placed_at           BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX orders_customer_recent ON orders (customer_id, placed_at DESC, id DESC);
CREATE INDEX orders_customer_status ON orders (customer_id, status, placed_at DESC, id DESC);

CREATE TABLE order_line (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    line_no    INTEGER NOT NULL,
    product    TEXT NOT NULL,
    options    TEXT NOT NULL,  -- JSON object
    quantity   INTEGER NOT NULL,
    lead       TEXT NOT NULL,
    unit_price BIGINT NOT NULL,
    total      BIGINT NOT NULL,
    lead_days  INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- The timeline of an order: what the shop did and what the platform reported.
CREATE TABLE order_event (
    id       TEXT PRIMARY KEY,  -- the message id, so a duplicate adds nothing
    order_id TEXT NOT NULL REFERENCES orders (id),
    kind     TEXT NOT NULL,     -- event type, e.g. order.priced
    at       BIGINT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '',
    amount   BIGINT NOT NULL DEFAULT 0,  -- compensation
    currency TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_event_order ON order_event (order_id, at, id);

-- +goose Down
DROP TABLE order_event;
DROP TABLE order_line;
DROP TABLE orders;
DROP TABLE order_number_block;
DROP TABLE cart_line;
DROP TABLE session;
DROP TABLE customer;
DROP TABLE product_info;
DROP TABLE price_list;
