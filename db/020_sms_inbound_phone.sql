-- lipa schema, version 20: inbound SMS by sender and time, for the limit on
-- replies to texts that match no command (LIPA_SMS_UNKNOWN_REPLIES per
-- LIPA_SMS_UNKNOWN_WINDOW seconds, text/inbound.c).
CREATE INDEX sms_inbound_phone ON sms_inbound(phone, received_at);
