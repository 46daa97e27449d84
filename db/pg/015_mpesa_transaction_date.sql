-- PostgreSQL twin of db/015_mpesa_transaction_date.sql.
ALTER TABLE payments ADD COLUMN transaction_at BIGINT NOT NULL DEFAULT 0;
