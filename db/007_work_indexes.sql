-- lipa schema, version 7: the workers' queue queries use partial indexes, so
-- finding the next due rows costs the same with 10 or 100 000 rows behind
-- them, and a new payment row touches no index it does not need. Before,
-- the M-Pesa and Paystack queues sorted every open payment on each pass, and
-- new callbacks were found by scanning all callbacks ever received
-- (measured under `make bench`: a worker at a third of a core).
CREATE INDEX payments_open ON payments(provider, next_at) WHERE status IN ('pending','processing');
DROP INDEX payments_work;
CREATE INDEX payments_topup_due ON payments(topup_next_at) WHERE topup_status = 'queued';
DROP INDEX payments_topup;
CREATE INDEX mpesa_callbacks_new ON mpesa_callbacks(id) WHERE applied = 0;
