-- PostgreSQL twin of db/012_clients.sql.
CREATE TABLE clients (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    active         BIGINT NOT NULL DEFAULT 1,
    callback_url   TEXT NOT NULL DEFAULT '',
    key_hmac       TEXT NOT NULL UNIQUE,
    secret_sealed  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE TABLE packages (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id),
    name         TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    description  TEXT NOT NULL DEFAULT '',
    active       BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX packages_client ON packages(client_id, created_at);
ALTER TABLE payments ADD COLUMN client_id TEXT REFERENCES clients(id);
CREATE INDEX payments_client ON payments(client_id, created_at) WHERE client_id IS NOT NULL;
