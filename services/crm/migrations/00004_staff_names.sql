-- +goose Up
-- The CRM's copy of the staff accounts (staff.changed, from the gateway):
-- the managers orders can be assigned to.
CREATE TABLE crm_staff (
    staff_id   TEXT PRIMARY KEY,
    login      TEXT NOT NULL,
    role       TEXT NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    changed_at BIGINT NOT NULL
);
CREATE INDEX crm_staff_login ON crm_staff (login);

-- What the price lists call their codes (pricelist.published, from
-- mes-calc): products, materials, finishes, operations and workstations,
-- shown on the pages instead of the codes. A name is kept after a newer list
-- drops its code: older orders still show it.
CREATE TABLE crm_names (
    kind    TEXT NOT NULL,   -- product|material|finish|operation|workstation
    code    TEXT NOT NULL,
    name    TEXT NOT NULL,
    version BIGINT NOT NULL, -- the price list's
    PRIMARY KEY (kind, code)
);

-- +goose Down
DROP TABLE crm_names;
DROP TABLE crm_staff;
