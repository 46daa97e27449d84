-- PostgreSQL twin of db/021_outbox_payment.sql.
CREATE INDEX outbox_payment ON outbox(payment_id) WHERE payment_id IS NOT NULL;
