-- PostgreSQL twin of db/023_ussd_resume.sql.
CREATE TABLE ussd_resume (
    phone      TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    state      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    taken_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ussd_resume_at ON ussd_resume(at);
