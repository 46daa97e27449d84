-- PostgreSQL twin of db/008_sessions_in_memory.sql.
DROP TABLE ussd_sessions;
