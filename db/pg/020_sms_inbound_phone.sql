-- PostgreSQL twin of db/020_sms_inbound_phone.sql.
CREATE INDEX sms_inbound_phone ON sms_inbound(phone, received_at);
