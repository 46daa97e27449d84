-- PostgreSQL twin of db/010_topup_reconcile.sql.
ALTER TABLE payments ADD COLUMN topup_sent_at BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET topup_sent_at = updated_at WHERE topup_status = 'done';
DROP INDEX payments_topup_due;
CREATE INDEX payments_topup_due ON payments(topup_next_at)
    WHERE topup_status IN ('queued', 'sending', 'checking');
