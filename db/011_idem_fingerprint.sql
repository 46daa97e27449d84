-- lipa schema, version 11: an Idempotency-Key is bound to the request it
-- first came with. idem_fp is the fingerprint of that request's meaningful
-- fields (pay/idem.h); the same key with another fingerprint is refused,
-- never answered with this payment. NULL for payments made without a
-- client's key (USSD sessions, SMS) and for those stored before.
ALTER TABLE payments ADD COLUMN idem_fp TEXT;
