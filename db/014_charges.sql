-- lipa schema, version 14: integrators' Paystack charges (payments of kind
-- 'charge', provider 'paystack', made through the Bearer-key face), the
-- escrow releases paid out of them, and the Paystack events received.
ALTER TABLE payments ADD COLUMN booking_id TEXT NOT NULL DEFAULT '';      -- the client's booking
ALTER TABLE payments ADD COLUMN payer_ref TEXT NOT NULL DEFAULT '';       -- the client's user_id (metadata)
ALTER TABLE payments ADD COLUMN method TEXT NOT NULL DEFAULT '';          -- card | mpesa | mpesa_direct
ALTER TABLE payments ADD COLUMN escrow INTEGER NOT NULL DEFAULT 0;        -- metadata.payment_type = escrow
ALTER TABLE payments ADD COLUMN retry_of INTEGER REFERENCES payments(id); -- the payment this one retries
ALTER TABLE payments ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN cancelled_at INTEGER NOT NULL DEFAULT 0;  -- ms
ALTER TABLE payments ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN paid_after_cancel INTEGER NOT NULL DEFAULT 0; -- the cancel came too late
ALTER TABLE payments ADD COLUMN completed_at INTEGER NOT NULL DEFAULT 0;  -- ms
CREATE INDEX payments_client_payer ON payments(client_id, payer_ref, created_at) WHERE client_id IS NOT NULL;
CREATE INDEX payments_client_booking ON payments(client_id, booking_id) WHERE escrow = 1;

-- Money paid out of a booking's escrow to the teacher, by a Paystack
-- transfer whose reference is derived from the release's Idempotency-Key.
-- What a booking holds is its completed escrow charges less its releases
-- that are queued, pending or done: failed and reversed ones give it back.
CREATE TABLE escrow_releases (
    id              INTEGER PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients(id),
    booking_id      TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),   -- whole KES
    phone           TEXT NOT NULL,                         -- the teacher, +2547...
    idem_key        TEXT NOT NULL,                         -- the client's key, or one lipa made
    idem_fp         TEXT NOT NULL,                         -- what the key was first used for
    reference       TEXT NOT NULL UNIQUE,                  -- the transfer's, at Paystack
    recipient_code  TEXT NOT NULL DEFAULT '',
    transfer_code   TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'queued',        -- queued|pending|success|failed|reversed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    released_at     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (client_id, idem_key)
);
CREATE INDEX escrow_booking ON escrow_releases(client_id, booking_id);
CREATE INDEX escrow_due ON escrow_releases(next_at) WHERE status IN ('queued','pending');

-- Every signed Paystack event, once: event_key is the event and its
-- object's id, so a retry by Paystack is recognised and applied no more.
CREATE TABLE paystack_events (
    id           INTEGER PRIMARY KEY,
    event_key    TEXT NOT NULL UNIQUE,
    event        TEXT NOT NULL,
    reference    TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    outcome      TEXT NOT NULL DEFAULT '',   -- what lipa made of it
    received_at  INTEGER NOT NULL
);
