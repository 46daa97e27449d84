-- lipa schema, version 22: the purchases waiting for a phone's prompt, by
-- phone (store/prompts.c, the next purchase to push when a prompt ends).
-- Without it the lookup read every open M-Pesa purchase: 10 ms a call on
-- PostgreSQL with a few thousand waiting, most of the server's time under
-- load.
CREATE INDEX payments_phone_pending ON payments(phone, created_at) WHERE status = 'pending';
