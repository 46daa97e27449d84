-- PostgreSQL twin of db/003_payment_provider.sql.
ALTER TABLE payments ADD COLUMN provider TEXT NOT NULL DEFAULT 'mpesa';
ALTER TABLE payments ADD COLUMN reference TEXT;
ALTER TABLE payments ADD COLUMN liters BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN currency TEXT NOT NULL DEFAULT 'KES';
CREATE UNIQUE INDEX payments_reference ON payments(reference);
