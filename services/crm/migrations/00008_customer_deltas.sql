-- +goose Up
-- Changes of a customer's order count and total spent, appended by the
-- event handlers instead of updating crm_customers: every order of a
-- customer updated the customer's row (all the B2B orders of a client are
-- one customer), and each transaction held its lock until its commit, so
-- the inbox's workers handling orders of one customer waited for each
-- other. The service folds these rows into crm_customers every second; a
-- customer's figures are its row plus these.
CREATE TABLE crm_customer_deltas (
    customer_id TEXT NOT NULL,
    orders      BIGINT NOT NULL,
    spent       BIGINT NOT NULL,
    currency    TEXT NOT NULL
);
CREATE INDEX crm_customer_deltas_customer ON crm_customer_deltas (customer_id);

-- +goose Down
DROP TABLE crm_customer_deltas;
