-- PostgreSQL twin of db/011_idem_fingerprint.sql.
ALTER TABLE payments ADD COLUMN idem_fp TEXT;
