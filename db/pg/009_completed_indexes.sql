-- PostgreSQL twin of db/009_completed_indexes.sql.
DROP INDEX payments_phone;
DROP INDEX payments_meter;
CREATE INDEX payments_phone_done ON payments(phone, id) WHERE status = 'completed';
CREATE INDEX payments_meter_done ON payments(meter_id, created_at) WHERE status = 'completed';
