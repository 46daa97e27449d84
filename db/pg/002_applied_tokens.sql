-- PostgreSQL twin of db/002_applied_tokens.sql.

CREATE TABLE applied_tokens (
    meter_id    TEXT NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    token_hmac  TEXT NOT NULL,
    applied_at  BIGINT NOT NULL,
    PRIMARY KEY (meter_id, token_hmac)
);

CREATE INDEX payments_meter ON payments(meter_id, status, created_at);
