-- +goose Up
-- "My orders" reads a page of 20 from the customer's index range: with every
-- column the page shows in the index (after the sort keys, so the order is
-- unchanged), PostgreSQL answers it with an index-only scan and SQLite with a
-- covering index, without visiting the table's pages (docs/shop.md). The same
-- SQL on both engines, hence key columns rather than PostgreSQL's INCLUDE.
CREATE INDEX orders_customer_page ON orders (customer_id, placed_at DESC, id DESC,
    number, status, currency, quoted_total, priced_total, line_count, cancel_requested_at);
CREATE INDEX orders_customer_status_page ON orders (customer_id, status, placed_at DESC, id DESC,
    number, currency, quoted_total, priced_total, line_count, cancel_requested_at);
DROP INDEX orders_customer_recent;
DROP INDEX orders_customer_status;

-- +goose Down
CREATE INDEX orders_customer_recent ON orders (customer_id, placed_at DESC, id DESC);
CREATE INDEX orders_customer_status ON orders (customer_id, status, placed_at DESC, id DESC);
DROP INDEX orders_customer_page;
DROP INDEX orders_customer_status_page;
