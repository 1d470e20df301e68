-- +goose Up
-- The rows that may hold back later messages of their key: leased (or left
-- leased by a relay that died), backing off after a failure, or in error.
-- Released and published rows leave it, so it stays as small as the work
-- in flight and the relay's claim probes it instead of scanning the table.
-- The claim repeats this predicate word for word so both engines use it.
CREATE INDEX outbox_blockers ON outbox (msg_key, created_at, id)
    WHERE status <> 'pending' OR next_attempt_at > 0 OR lease_until > 0;

-- +goose Down
DROP INDEX outbox_blockers;
