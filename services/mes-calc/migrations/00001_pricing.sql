-- +goose Up
-- The price list's terms; one row (id 1). Every price-list change first
-- updates lock_seq (store.Lock): that row lock serialises the changes of the
-- list with each other on PostgreSQL (SQLite serialises writers anyway).
-- Calculations do not take it: they book the workstations' load
-- optimistically and only read version, which tells a cached list is
-- current (store.Begin). Only the benchmark's serial variant still takes
-- the row lock per calculation (store.Serialise).
CREATE TABLE settings (
    id                 INTEGER PRIMARY KEY,
    version            BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    margin_pct         DOUBLE PRECISION NOT NULL,
    minimum_unit_price BIGINT NOT NULL,
    rush_multiplier    DOUBLE PRECISION NOT NULL,
    standard_lead_days INTEGER NOT NULL,
    rush_lead_days     INTEGER NOT NULL,
    max_quantity       INTEGER NOT NULL,
    quantity_breaks    TEXT NOT NULL,      -- JSON array of quantities
    published_at       BIGINT NOT NULL,    -- Unix microseconds
    lock_seq           BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE materials (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    density_kg_m3 DOUBLE PRECISION NOT NULL,
    cost_per_kg   BIGINT NOT NULL,
    pos           INTEGER NOT NULL
);

CREATE TABLE finishes (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    cost_per_m2 BIGINT NOT NULL,
    workstation TEXT NOT NULL DEFAULT '',
    minutes     DOUBLE PRECISION NOT NULL DEFAULT 0,
    pos         INTEGER NOT NULL
);

CREATE TABLE workstations (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    hourly_rate      BIGINT NOT NULL,
    hours_per_day    DOUBLE PRECISION NOT NULL,
    max_width_mm     DOUBLE PRECISION NOT NULL DEFAULT 0,
    max_height_mm    DOUBLE PRECISION NOT NULL DEFAULT 0,
    max_thickness_mm DOUBLE PRECISION NOT NULL DEFAULT 0,
    pos              INTEGER NOT NULL
);

CREATE TABLE products (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    materials     TEXT NOT NULL,           -- JSON array of material codes
    finishes      TEXT NOT NULL,           -- JSON array of finish codes
    width_min     DOUBLE PRECISION NOT NULL,
    width_max     DOUBLE PRECISION NOT NULL,
    height_min    DOUBLE PRECISION NOT NULL,
    height_max    DOUBLE PRECISION NOT NULL,
    thickness_min DOUBLE PRECISION NOT NULL,
    thickness_max DOUBLE PRECISION NOT NULL,
    pos           INTEGER NOT NULL
);

-- A product's routing template, in sequence.
CREATE TABLE product_operations (
    product_code  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    workstation   TEXT NOT NULL,
    setup_minutes DOUBLE PRECISION NOT NULL,
    run_minutes   DOUBLE PRECISION NOT NULL,
    per_dm2       DOUBLE PRECISION NOT NULL DEFAULT 0,
    per_cm3       DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (product_code, seq)
);

-- Every published version as it was published: what an order was priced
-- with can always be shown again.
CREATE TABLE price_list_versions (
    version      BIGINT PRIMARY KEY,
    body         TEXT NOT NULL,            -- PriceListV1 JSON
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL
);

-- +goose Down
DROP TABLE price_list_versions;
DROP TABLE product_operations;
DROP TABLE products;
DROP TABLE workstations;
DROP TABLE finishes;
DROP TABLE materials;
DROP TABLE settings;
