-- PostgreSQL twin of db/024_reference_partial.sql.
DROP INDEX payments_reference;
CREATE UNIQUE INDEX payments_reference ON payments(reference) WHERE reference IS NOT NULL;
