-- lipa schema, version 10: a top-up's attempt is on record before the
-- meter cloud hears of it. topup_status gains 'sending' (the attempt is
-- committed, its answer not yet) and 'checking' (the answer was lost: lipad
-- stopped, the call timed out or the cloud's answer said nothing, so the
-- cloud's own log is read before anything is sent again). topup_sent_at
-- is when the last attempt went out (lipa's clock, ms; 0 when none is out),
-- kept on done rows: the log names a meter, a code and a value, not a
-- purchase, so a check counts the done top-ups of the same meter and energy
-- near that time. Rows done before this version get the time their answer
-- was stored, at most a provider timeout after the send (the check's
-- windows allow for that).
ALTER TABLE payments ADD COLUMN topup_sent_at INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET topup_sent_at = updated_at WHERE topup_status = 'done';
-- the top-up worker's queue holds the rows it must send or check
DROP INDEX payments_topup_due;
CREATE INDEX payments_topup_due ON payments(topup_next_at)
    WHERE topup_status IN ('queued', 'sending', 'checking');
