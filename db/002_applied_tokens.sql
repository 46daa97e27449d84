-- lipa schema, version 2: tokens applied to a meter through
-- POST /devices/{id}/add-token, so one token is applied once. Only an HMAC
-- of the token is kept (keyed with the pepper), never its digits.

CREATE TABLE applied_tokens (
    meter_id    TEXT NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    token_hmac  TEXT NOT NULL,                     -- 64 lower-case hex
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (meter_id, token_hmac)
);

-- GET /devices/{id}/usage sums a meter's completed purchases by time.
CREATE INDEX payments_meter ON payments(meter_id, status, created_at);
