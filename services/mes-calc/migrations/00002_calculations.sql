-- +goose Up
-- One row per order: the key that makes a calculation happen once however
-- often order.placed arrives. status: priced | needs_review | cancelled
-- (cancelled before or after it was priced).
CREATE TABLE calculations (
    order_id           TEXT PRIMARY KEY,
    status             TEXT NOT NULL,
    channel            TEXT NOT NULL DEFAULT '',
    price_list_version BIGINT NOT NULL DEFAULT 0,
    total              BIGINT NOT NULL DEFAULT 0,
    ship_date          TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT '',
    result             TEXT NOT NULL DEFAULT '',  -- the OrderPricedV1 / OrderNeedsReviewV1 JSON emitted
    calculated_at      BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- Planned work per workstation and day (days since 1970-01-01, UTC), in
-- hundredths of a minute so that booking and releasing never drift.
CREATE TABLE workstation_load (
    workstation  TEXT NOT NULL,
    day          INTEGER NOT NULL,
    centiminutes BIGINT NOT NULL,
    PRIMARY KEY (workstation, day)
);

-- What each order booked, to release it when the order is cancelled.
CREATE TABLE order_bookings (
    order_id     TEXT NOT NULL,
    line_no      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    workstation  TEXT NOT NULL,
    day          INTEGER NOT NULL,
    centiminutes BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no, seq, day)
);

-- The first day of each workstation that may have free minutes: every
-- working day before it is full, so scheduling starts there.
CREATE TABLE workstation_open (
    workstation TEXT PRIMARY KEY,
    day         INTEGER NOT NULL
);

-- +goose Down
DROP TABLE workstation_open;
DROP TABLE order_bookings;
DROP TABLE workstation_load;
DROP TABLE calculations;
