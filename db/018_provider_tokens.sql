-- lipa schema, version 18: a provider's access token, shared by every
-- lipad on this database. Daraja invalidates its previous OAuth token each
-- time it issues one, so lipads fetching their own would break each
-- other's STK pushes: one fetches, stores it here, and the others take it.
-- The token is sealed (AES-256-GCM under a key derived from the pepper,
-- util/crypto.h), never kept in clear.
CREATE TABLE provider_tokens (
    provider        TEXT PRIMARY KEY,              -- the provider's name: 'daraja'
    token_sealed    TEXT NOT NULL,                 -- the token, sealed; '' before the first
    renew_at        INTEGER NOT NULL,              -- ms: from then on the token is renewed
    renewing_until  INTEGER NOT NULL DEFAULT 0,    -- ms: a lipad is fetching a new one until then; 0 none
    updated_at      INTEGER NOT NULL
);
