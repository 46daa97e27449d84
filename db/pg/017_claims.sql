-- PostgreSQL twin of db/017_claims.sql.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_inbound ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE client_notices ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE escrow_releases ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN topup_by TEXT NOT NULL DEFAULT '';
