-- lipa schema, version 6: texting commands (issue 4). Inbound SMS from
-- Africa's Talking, kept once per AT id and worked from a queue; opt-outs
-- (STOP/START); delivery reports as received; what the last delivery report
-- said about an outbox message.

-- One row per inbound SMS. AT retries a callback every minute until it gets
-- 200, so at_id is unique and a repeat is dropped by the insert.
-- status: queued -> done | failed (outcome names the command that answered,
-- or why nothing did).
CREATE TABLE sms_inbound (
    id           INTEGER PRIMARY KEY,
    at_id        TEXT NOT NULL UNIQUE,              -- AT's `id`
    phone        TEXT NOT NULL DEFAULT '',          -- E.164, '' when `from` is not a Kenyan mobile
    raw_from     TEXT NOT NULL DEFAULT '',          -- `from` as AT sent it
    to_code      TEXT NOT NULL DEFAULT '',          -- the shortcode
    text         TEXT NOT NULL DEFAULT '',          -- as received (capped)
    date         TEXT NOT NULL DEFAULT '',          -- AT's `date`, as sent
    link_id      TEXT NOT NULL DEFAULT '',
    network_code TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'failed')),
    outcome      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX sms_inbound_work ON sms_inbound(status, next_at);

-- STOP / START, per phone number (a number need not be registered to opt
-- out). Only outbox messages of kind 'notice' are held back; answers and
-- receipts always go.
CREATE TABLE sms_optouts (
    phone       TEXT PRIMARY KEY,                   -- E.164
    opted_out   INTEGER NOT NULL,                   -- 1 after STOP, 0 after START
    updated_at  INTEGER NOT NULL
);

-- Delivery reports as AT posted them (a repeat of the same status is
-- dropped). applied: 1 once the outbox row was updated; a report that came
-- before its message's messageId was stored waits at 0 and is applied when
-- the send is recorded.
CREATE TABLE sms_reports (
    id             INTEGER PRIMARY KEY,
    message_id     TEXT NOT NULL,
    status         TEXT NOT NULL,
    failure_reason TEXT NOT NULL DEFAULT '',
    phone          TEXT NOT NULL DEFAULT '',
    network_code   TEXT NOT NULL DEFAULT '',
    retry_count    INTEGER NOT NULL DEFAULT 0,
    applied        INTEGER NOT NULL DEFAULT 0,
    received_at    INTEGER NOT NULL,
    UNIQUE (message_id, status)
);

-- The outbox learns what the network said: the last report's status
-- (Sent, Buffered, Success, Failed, ...) and when. A final report moves
-- status from sent to delivered or failed (last_error gets the reason).
ALTER TABLE outbox ADD COLUMN report_status TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN reported_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_provider ON outbox(provider_id);
CREATE INDEX outbox_phone ON outbox(phone, id);
