-- lipa schema, version 24: the unique index on payments' reference holds
-- the rows that have one (water orders and the integrators' payments), not
-- the NULL of every USSD and SMS purchase: storing a purchase writes one
-- B-tree fewer. Lookups by reference (reference = ?) and the uniqueness of
-- references are as before.
DROP INDEX payments_reference;
CREATE UNIQUE INDEX payments_reference ON payments(reference) WHERE reference IS NOT NULL;
