-- lipa schema, version 25: the SMS worker's claim of due messages
-- (status 'queued' or 'sending', next_at passed, in next_at order) reads
-- a partial index in that order and stops at its LIMIT. The index it
-- replaces, on (status, next_at), gave the rows of two statuses, which
-- then had to be sorted whole: 3.7 ms a claim on PostgreSQL with a few
-- thousand messages queued (make bench-cluster). Sent and failed messages
-- are no longer in any index of the worker.
DROP INDEX outbox_work;
CREATE INDEX outbox_due ON outbox(next_at, id) WHERE status IN ('queued','sending');
