-- lipa schema, version 23: where a caller who dropped may resume (a USSD
-- session that stopped on a screen the menus mark `resume:`), one row per
-- phone, the newest. Written when such a session ends without END (Africa's
-- Talking's end-of-session notice, a minute without a hop, lipad stopping)
-- and when the caller answers the offer at their next dial (taken_by: that
-- session, which replays its inputs from the offer; '' while open).
-- idem_key is the purchase key the dropped session would have bought with:
-- a session that did buy is never offered. at: the session's last hop (ms).
CREATE TABLE ussd_resume (
    phone      TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    state      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    taken_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ussd_resume_at ON ussd_resume(at);
