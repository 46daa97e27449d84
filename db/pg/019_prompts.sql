-- PostgreSQL twin of db/019_prompts.sql.
CREATE TABLE prompts (
    phone      TEXT PRIMARY KEY,
    payment_id BIGINT NOT NULL,
    until_at   BIGINT NOT NULL
);
