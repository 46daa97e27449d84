-- PostgreSQL twin of db/022_payments_phone_pending.sql.
CREATE INDEX payments_phone_pending ON payments(phone, created_at) WHERE status = 'pending';
