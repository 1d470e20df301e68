-- +goose Up
-- Names of the price list's codes (products, materials, finishes,
-- operations), learnt from pricelist.published, for the job cards.
CREATE TABLE labels (
    kind TEXT NOT NULL,                         -- product|material|finish|operation
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (kind, code)
);

-- +goose Down
DROP TABLE labels;
