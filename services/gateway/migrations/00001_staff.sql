-- +goose Up
CREATE TABLE staff_accounts (
    id              TEXT PRIMARY KEY,
    login           TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    workstations    TEXT NOT NULL DEFAULT '[]',
    disabled        INTEGER NOT NULL DEFAULT 0,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The cookie carries a random token; only its SHA-256 is stored, so a copy
-- of the database does not let anyone sign in.
CREATE TABLE staff_sessions (
    token_hash   TEXT PRIMARY KEY,
    staff_id     TEXT NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

CREATE TABLE staff_audit (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    staff_id   TEXT NOT NULL,
    login      TEXT NOT NULL,
    role       TEXT NOT NULL,
    action     TEXT NOT NULL,
    method     TEXT NOT NULL,
    path       TEXT NOT NULL,
    status     INTEGER NOT NULL,
    ip         TEXT NOT NULL,
    request_id TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX staff_audit_at ON staff_audit (at, id);
CREATE INDEX staff_audit_login ON staff_audit (login, at);

-- +goose Down
DROP TABLE staff_audit;
DROP TABLE staff_sessions;
DROP TABLE staff_accounts;
