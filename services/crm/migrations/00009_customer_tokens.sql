-- +goose Up
-- The search's tokens by customer: the tokens of a customer's orders, each
-- once (store.PlanCustomers). A search of words that are each common but
-- rare together ("kestrel systems 56": 10,000+ orders a word, 5 together)
-- finds the few customers with every word among a thousand entries a word
-- here, where the orders' tokens hold tens of thousands; then it reads
-- those customers' orders in order. No unique key: a token new to a
-- customer is added when no committed row has it (store.InsertListRow),
-- so two transactions adding it never wait for each other; a token twice
-- costs a row.
CREATE TABLE crm_customer_tokens (
    token       TEXT NOT NULL,
    customer_id TEXT NOT NULL
);
CREATE INDEX crm_customer_tokens_token ON crm_customer_tokens (token, customer_id);
CREATE INDEX crm_customer_tokens_customer ON crm_customer_tokens (customer_id, token);
INSERT INTO crm_customer_tokens (token, customer_id)
    SELECT DISTINCT t.token, l.customer_id FROM crm_order_tokens t JOIN crm_order_list l ON l.order_id = t.order_id;

-- +goose Down
DROP TABLE crm_customer_tokens;
