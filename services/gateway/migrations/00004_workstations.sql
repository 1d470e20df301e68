-- +goose Up
-- The workstations operators may be bound to: the gateway's copy of those
-- in mes-calc's latest price list (pricelist.published). version is the
-- price list's; a newer list replaces the whole set, an older one is
-- ignored.
CREATE TABLE workstations (
    code    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- +goose Down
DROP TABLE workstations;
