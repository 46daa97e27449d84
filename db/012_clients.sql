-- lipa schema, version 12: integrators. A client is another company's
-- back-end or web page that sells its own packages and takes payment
-- through lipa. Its API key is never stored, only HMAC-SHA256(pepper, key);
-- its webhook secret must be read back to sign notices, so it is sealed
-- (AES-256-GCM under a key derived from the pepper, util/crypto.h), never
-- kept in clear. A payment made through an integrators' face names its
-- client; one client never sees another's.
CREATE TABLE clients (
    id             TEXT PRIMARY KEY,              -- UUID
    name           TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1,
    callback_url   TEXT NOT NULL DEFAULT '',      -- where settled payments are notified; '' for none
    key_hmac       TEXT NOT NULL UNIQUE,          -- hex HMAC-SHA256(pepper, API key)
    secret_sealed  TEXT NOT NULL,                 -- the webhook secret, sealed
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE TABLE packages (
    id           TEXT PRIMARY KEY,                -- UUID
    client_id    TEXT NOT NULL REFERENCES clients(id),
    name         TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),   -- whole KES
    description  TEXT NOT NULL DEFAULT '',
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX packages_client ON packages(client_id, created_at);
ALTER TABLE payments ADD COLUMN client_id TEXT REFERENCES clients(id); -- NULL: not an integrator's
CREATE INDEX payments_client ON payments(client_id, created_at) WHERE client_id IS NOT NULL;
