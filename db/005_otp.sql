-- lipa schema, version 5: one-time water codes and the stations that check
-- them (the water face). No code and no station key rests here in the clear:
-- a code is kept as HMAC-SHA256(pepper, reference || code), a key as
-- HMAC-SHA256(pepper, key), both 64 lower-case hex.

-- A water station (dispenser). Registered by an admin; its key is shown
-- once, at registration. A station that enters too many wrong codes in a
-- LIPA_RATE_WINDOW is refused for the rest of it (src/otp).
CREATE TABLE stations (
    id               TEXT PRIMARY KEY,               -- the water face's stationId
    name             TEXT NOT NULL DEFAULT '',
    location         TEXT NOT NULL DEFAULT '',
    pulses_per_liter INTEGER NOT NULL CHECK (pulses_per_liter > 0),
    key_hmac         TEXT NOT NULL UNIQUE,
    fail_count       INTEGER NOT NULL DEFAULT 0,     -- wrong or unknown codes in the window
    fail_since       INTEGER NOT NULL DEFAULT 0,     -- ms the window opened
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- One row per code issued for a completed water payment; the newest row
-- of a payment that is not 'void' is its current code.
--   pending      the code SMS is queued: no digits exist yet (they are
--                made when the SMS is sent)
--   active       digits issued, valid until expires_at
--   in_progress  verified by station_id, which dispenses until lock_until
--   used         dispensed (completion 'station'), or the station never
--                reported within LIPA_STATION_LOCK ('lapsed': counted as
--                dispensed, dispensed_ml unknown)
--   expired      not verified before expires_at
--   blocked      max_attempts wrong codes
--   void         replaced by a newer code of the same payment
-- An 'active' row past expires_at and an 'in_progress' row past lock_until
-- are read as expired / used and written so on the next change.
CREATE TABLE otp_codes (
    id           INTEGER PRIMARY KEY,
    payment_id   INTEGER NOT NULL REFERENCES payments(id),
    reference    TEXT NOT NULL,                      -- the payment's WS-...
    liters       INTEGER NOT NULL CHECK (liters > 0),
    code_hmac    TEXT,                               -- NULL while pending
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'in_progress', 'used',
                                                 'expired', 'blocked', 'void')),
    attempts     INTEGER NOT NULL DEFAULT 0,         -- wrong codes entered
    max_attempts INTEGER NOT NULL,
    expires_at   INTEGER,                            -- ms; NULL while pending
    station_id   TEXT REFERENCES stations(id),
    verified_at  INTEGER,
    lock_until   INTEGER,
    completed_at INTEGER,
    dispensed_ml INTEGER,                            -- what the station reported
    completion   TEXT NOT NULL DEFAULT '',           -- '' | station | lapsed | late
    origin       TEXT NOT NULL,                      -- payment | resend | admin | retry
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX otp_codes_payment ON otp_codes(payment_id, id);
CREATE INDEX otp_codes_reference ON otp_codes(reference, id);
