-- PostgreSQL twin of db/025_outbox_due.sql.
DROP INDEX outbox_work;
CREATE INDEX outbox_due ON outbox(next_at, id) WHERE status IN ('queued','sending');
