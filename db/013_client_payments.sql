-- lipa schema, version 13: the integrators' public payments, and the
-- signed notices lipa posts to an integrator's callback URL.
--
-- A package bought through the integrators' public payment face is a row
-- of the one payments table: kind 'package', origin 'api', provider
-- 'mpesa', client_id set (012), and here the package it buys, the
-- transaction id the integrator knows it by (a UUID) and the integrator's
-- own description of it, whole (description keeps what fits M-Pesa's
-- prompt). The amount is the package's at the time of the request.
ALTER TABLE payments ADD COLUMN package_id TEXT REFERENCES packages(id);  -- NULL: not a package
ALTER TABLE payments ADD COLUMN transaction_id TEXT;                      -- UUID; NULL: not an integrator's
ALTER TABLE payments ADD COLUMN note TEXT NOT NULL DEFAULT '';            -- the integrator's description
CREATE UNIQUE INDEX payments_transaction ON payments(transaction_id) WHERE transaction_id IS NOT NULL;

-- A notice is queued in the same transaction as the payment's final
-- status, so once the status is stored the notice is too, whatever instant
-- lipad dies. body is the exact text posted on every attempt, so a retry
-- carries the same bytes and the same signature; the receiver tells
-- repeats apart by (transaction_id, event) in it.
--   status: queued (sent when next_at comes) -> delivered (a 2xx answer)
--           | failed (no 2xx within LIPA_NOTICE_MAX_AGE, or nowhere to send)
CREATE TABLE client_notices (
    id            INTEGER PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients(id),
    payment_id    INTEGER NOT NULL REFERENCES payments(id),
    event         TEXT NOT NULL,                -- payment.completed, payment.failed, ...
    body          TEXT NOT NULL,                -- JSON, as posted and signed
    status        TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,             -- ms; when the notice worker sends it (again)
    last_status   INTEGER NOT NULL DEFAULT 0,   -- HTTP status of the last attempt; 0: no answer
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    delivered_at  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (payment_id, event)
);
CREATE INDEX client_notices_due ON client_notices(next_at) WHERE status = 'queued';
CREATE INDEX client_notices_client ON client_notices(client_id, id);

-- Every attempt, written as it starts ("interrupted" until its answer is
-- recorded, so one cut short by a stop shows as such).
CREATE TABLE client_notice_attempts (
    id           INTEGER PRIMARY KEY,
    notice_id    INTEGER NOT NULL REFERENCES client_notices(id),
    at           INTEGER NOT NULL,              -- ms; when it was sent
    http_status  INTEGER NOT NULL DEFAULT 0,    -- 0: no HTTP answer
    error        TEXT NOT NULL DEFAULT '',      -- why it did not count as delivered
    took_ms      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX client_notice_attempts_notice ON client_notice_attempts(notice_id, id);
