-- lipa schema, version 8: USSD sessions live in memory only (a session
-- lipad does not have is rebuilt from AT's text), so their table goes.
DROP TABLE ussd_sessions;
