-- lipa schema, version 1: users, meters, assignments, payments, the SMS
-- outbox, USSD sessions and events. Times are unix milliseconds; money is
-- whole KES (INTEGER); energy is in tenths of a kWh.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    phone       TEXT NOT NULL UNIQUE,              -- E.164, "+2547XXXXXXXX"
    first_name  TEXT NOT NULL DEFAULT '',
    last_name   TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
    language    TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sw')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A meter is a device of the devices face; its id is the meterId of the meter-purchase face.
CREATE TABLE meters (
    id            TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL UNIQUE,            -- the meter cloud's id
    name          TEXT NOT NULL DEFAULT '',
    product_name  TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    location      TEXT NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 1,
    price_per_kwh INTEGER NOT NULL,                -- KES cents per kWh
    owner_phone   TEXT NOT NULL DEFAULT '',        -- for generate-assignments
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE assignments (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    meter_id    TEXT NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, meter_id)
);
CREATE INDEX assignments_by_meter ON assignments(meter_id);

-- One row per purchase, whatever face created it (USSD, SMS, REST).
-- status: pending -> processing -> completed | failed | cancelled | timeout
CREATE TABLE payments (
    id                   INTEGER PRIMARY KEY,
    kind                 TEXT NOT NULL DEFAULT 'electricity',
    origin               TEXT NOT NULL,           -- ussd | api | sms
    idem_key             TEXT UNIQUE,             -- e.g. ussd:<sessionId>
    user_id              INTEGER REFERENCES users(id),
    phone                TEXT NOT NULL,
    meter_id             TEXT REFERENCES meters(id),
    amount               INTEGER NOT NULL CHECK (amount > 0),
    energy               INTEGER NOT NULL DEFAULT 0, -- tenths of a kWh bought
    account_reference    TEXT NOT NULL DEFAULT '',
    description          TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT 'pending',
    result_code          INTEGER,
    result_desc          TEXT NOT NULL DEFAULT '',
    merchant_request_id  TEXT,
    checkout_request_id  TEXT UNIQUE,
    response_code        TEXT NOT NULL DEFAULT '',
    response_description TEXT NOT NULL DEFAULT '',
    customer_message     TEXT NOT NULL DEFAULT '',
    mpesa_receipt        TEXT NOT NULL DEFAULT '',
    paid_amount          INTEGER,
    attempts             INTEGER NOT NULL DEFAULT 0, -- push or query attempts
    next_at              INTEGER NOT NULL,           -- when the worker looks next
    last_error           TEXT NOT NULL DEFAULT '',
    topup_status         TEXT NOT NULL DEFAULT 'none', -- none|queued|done|failed
    topup_attempts       INTEGER NOT NULL DEFAULT 0,
    topup_next_at        INTEGER NOT NULL DEFAULT 0,
    topup_error          TEXT NOT NULL DEFAULT '',
    token_minute         INTEGER,                    -- token re-derived with the pepper
    version              INTEGER NOT NULL DEFAULT 0, -- optimistic concurrency
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX payments_work ON payments(status, next_at);
CREATE INDEX payments_topup ON payments(topup_status, topup_next_at);
CREATE INDEX payments_phone ON payments(phone, created_at);

-- Durable SMS outbox: a row is written in the same transaction as the state
-- change that causes it. The text may hold {token}, rendered at send time
-- from the payment so no token rests in the database.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    phone         TEXT NOT NULL,
    body          TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'receipt',   -- receipt | answer | notice
    payment_id    INTEGER REFERENCES payments(id),
    status        TEXT NOT NULL DEFAULT 'queued',    -- queued|sending|sent|delivered|failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    provider_id   TEXT,
    encoding      TEXT NOT NULL DEFAULT 'GSM-7',
    parts         INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX outbox_work ON outbox(status, next_at);

CREATE TABLE ussd_sessions (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL,
    state       TEXT NOT NULL,
    last_text   TEXT NOT NULL,
    last_reply  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX ussd_sessions_age ON ussd_sessions(updated_at);

CREATE TABLE ussd_events (
    id           INTEGER PRIMARY KEY,
    session_id   TEXT NOT NULL,
    phone        TEXT NOT NULL DEFAULT '',
    service_code TEXT NOT NULL DEFAULT '',
    network_code TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',
    cost         TEXT NOT NULL DEFAULT '',
    duration_ms  INTEGER,
    hops         INTEGER,
    input        TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    date         TEXT NOT NULL DEFAULT '',
    received_at  INTEGER NOT NULL,
    UNIQUE (session_id, status)
);

-- Every M-Pesa callback as received: the handler only records it and
-- answers; the payment worker applies it. applied: 0 new, 1 applied,
-- 2 waiting for its purchase (the callback raced the storing of the push's
-- answer; applied once the CheckoutRequestID is known). Kept for audit.
CREATE TABLE mpesa_callbacks (
    id                  INTEGER PRIMARY KEY,
    checkout_request_id TEXT NOT NULL,
    result_code         INTEGER NOT NULL,
    body                TEXT NOT NULL,
    applied             INTEGER NOT NULL DEFAULT 0,
    received_at         INTEGER NOT NULL
);
CREATE INDEX mpesa_callbacks_checkout ON mpesa_callbacks(checkout_request_id);
