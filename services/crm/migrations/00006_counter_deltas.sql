-- +goose Up
-- Changes of the orders page's counters, appended by the event handlers
-- instead of updating crm_counters: every order event moved the same few
-- counter rows ("all", "status:placed" ...), and each transaction held
-- their locks until its commit, so the inbox's workers waited for each
-- other and their batches deadlocked. The service folds these rows into
-- crm_counters every second; a count is crm_counters plus these.
CREATE TABLE crm_counter_deltas (
    name  TEXT NOT NULL,
    delta BIGINT NOT NULL
);

-- +goose Down
DROP TABLE crm_counter_deltas;
