-- lipa schema, version 7: the workers' queue queries use partial indexes, so
-- finding the next due rows costs the same with 10 or 100 000 rows behind
-- them. Before, the M-Pesa and Paystack queues sorted every open payment on
-- each pass, and new callbacks were found by scanning all callbacks ever
-- received (measured under `make bench`: a worker at a third of a core).
CREATE INDEX payments_open ON payments(provider, next_at) WHERE status IN ('pending','processing');
CREATE INDEX mpesa_callbacks_new ON mpesa_callbacks(id) WHERE applied = 0;
