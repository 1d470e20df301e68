-- +goose Up
-- Where each order is on the shop floor, from mes-operator's events: every
-- step started or finished, with who and when (the order card shows it).
CREATE TABLE crm_floor (
    order_id    TEXT NOT NULL,
    line_no     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    operation   TEXT NOT NULL,
    workstation TEXT NOT NULL,
    started_by  TEXT NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL DEFAULT 0,
    finished_by TEXT NOT NULL DEFAULT '',
    finished_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no, seq)
);

-- +goose Down
DROP TABLE crm_floor;
