-- lipa schema, version 17: work claimed by one lipad at a time. Several
-- lipads on one database (PostgreSQL) each run the workers; a worker
-- claims the rows it takes (outgoing SMS, incoming texts, integrators'
-- notices, escrow releases) by moving their next_at to the end of a lease
-- and naming itself in claimed_by, so no other instance takes them until
-- the work is stored (claimed_by back to '') or the lease has passed (the
-- instance died: another one finishes it). At its start a lipad takes back
-- at once what it held itself when it stopped. A top-up keeps the version
-- check it had; topup_by names the instance whose call is in flight, so
-- that at its start an instance checks its own 'sending' top-ups only.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_inbound ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE client_notices ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE escrow_releases ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN topup_by TEXT NOT NULL DEFAULT '';
