-- +goose Up
-- What to make, for the job cards: each confirmed order's lines (product,
-- options as JSON, ordered quantity) and the notes managers add to it.
CREATE TABLE order_lines (
    order_id  TEXT NOT NULL,
    line_no   INTEGER NOT NULL,
    product   TEXT NOT NULL,
    quantity  INTEGER NOT NULL,
    options   TEXT NOT NULL,                   -- JSON object of option code to value
    PRIMARY KEY (order_id, line_no)
);

-- Notes arrive with their own events, in any order with the confirmation.
CREATE TABLE order_notes (
    message_id TEXT PRIMARY KEY,               -- the event's id: a redelivery adds nothing
    order_id   TEXT NOT NULL,
    body       TEXT NOT NULL,
    by_name    TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX order_notes_order ON order_notes (order_id, at);

-- +goose Down
DROP TABLE order_notes;
DROP TABLE order_lines;
