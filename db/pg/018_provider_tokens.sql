-- PostgreSQL twin of db/018_provider_tokens.sql.
CREATE TABLE provider_tokens (
    provider        TEXT PRIMARY KEY,
    token_sealed    TEXT NOT NULL,
    renew_at        BIGINT NOT NULL,
    renewing_until  BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);
