-- lipa schema, version 21: a payment's SMS found by its payment, for the
-- callback-to-SMS time of /metrics (is this the payment's first token or
-- code SMS?), without reading the whole outbox.
CREATE INDEX outbox_payment ON outbox(payment_id) WHERE payment_id IS NOT NULL;
