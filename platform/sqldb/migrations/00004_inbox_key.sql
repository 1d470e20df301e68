-- +goose Up
-- What an inbox record needs to answer "which messages of this order did the
-- service take in" (fabrika order trace): the message's key (the order id),
-- the trace it belongs to and the delivery that processed it. Records from
-- before this migration have them empty.
ALTER TABLE inbox ADD COLUMN msg_key TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
CREATE INDEX inbox_key ON inbox (msg_key);
CREATE INDEX dead_letter_key ON dead_letter (msg_key);

-- +goose Down
DROP INDEX dead_letter_key;
DROP INDEX inbox_key;
ALTER TABLE inbox DROP COLUMN deliveries;
ALTER TABLE inbox DROP COLUMN trace_id;
ALTER TABLE inbox DROP COLUMN msg_key;
