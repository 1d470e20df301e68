-- +goose Up
-- The shop floor's copy of confirmed orders. An order may be known before its
-- confirmation arrives (a hold or a cancellation came first): status
-- 'unconfirmed' until then.
CREATE TABLE orders (
    order_id        TEXT PRIMARY KEY,
    number          TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL DEFAULT '',
    ship_date       TEXT NOT NULL DEFAULT '',    -- YYYY-MM-DD, the due date
    rush            INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,               -- unconfirmed|confirmed|in_production|produced|shipped|cancelled
    on_hold         INTEGER NOT NULL DEFAULT 0,
    hold_reason     TEXT NOT NULL DEFAULT '',
    hold_at         BIGINT NOT NULL DEFAULT 0,   -- time of the last hold/resume event applied
    cancel_reason   TEXT NOT NULL DEFAULT '',
    carrier         TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    shipped_by      TEXT NOT NULL DEFAULT '',
    confirmed_at    BIGINT NOT NULL DEFAULT 0,
    produced_at     BIGINT NOT NULL DEFAULT 0,
    shipped_at      BIGINT NOT NULL DEFAULT 0,
    cancelled_at    BIGINT NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- The operations of each order's routing: the production queue.
CREATE TABLE operations (
    id              TEXT PRIMARY KEY,            -- UUIDv7
    order_id        TEXT NOT NULL REFERENCES orders (order_id),
    line_no         INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    operation       TEXT NOT NULL,
    workstation     TEXT NOT NULL,
    planned_minutes DOUBLE PRECISION NOT NULL,
    state           TEXT NOT NULL,               -- waiting|ready|running|paused|done|cancelled
    good_qty        INTEGER NOT NULL DEFAULT 0,
    scrap_qty       INTEGER NOT NULL DEFAULT 0,
    scrap_reason    TEXT NOT NULL DEFAULT '',
    pause_reason    TEXT NOT NULL DEFAULT '',
    operator        TEXT NOT NULL DEFAULT '',    -- who acted last
    started_at      BIGINT NOT NULL DEFAULT 0,
    running_since   BIGINT NOT NULL DEFAULT 0,
    worked_us       BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL,
    UNIQUE (order_id, line_no, seq)
);
CREATE INDEX operations_queue ON operations (workstation, state);

-- Workstations operators may pick: learnt from price lists and routings.
CREATE TABLE workstations (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Operator actions applied, by the client's event id: a retry with the same
-- id replays the stored answer instead of acting twice.
CREATE TABLE operator_events (
    event_id    TEXT PRIMARY KEY,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,                   -- operation id or order id
    actor       TEXT NOT NULL,                   -- staff subject
    fingerprint TEXT NOT NULL,                   -- what the action did; a reuse for another action is refused
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,                   -- JSON answer replayed on retry
    created_at  BIGINT NOT NULL
);
CREATE INDEX operator_events_created ON operator_events (created_at);

-- +goose Down
DROP TABLE operator_events;
DROP TABLE workstations;
DROP TABLE operations;
DROP TABLE orders;
