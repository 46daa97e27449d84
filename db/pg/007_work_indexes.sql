-- PostgreSQL twin of db/007_work_indexes.sql.
CREATE INDEX payments_open ON payments(provider, next_at) WHERE status IN ('pending','processing');
DROP INDEX payments_work;
CREATE INDEX payments_topup_due ON payments(topup_next_at) WHERE topup_status = 'queued';
DROP INDEX payments_topup;
CREATE INDEX mpesa_callbacks_new ON mpesa_callbacks(id) WHERE applied = 0;
