-- lipa schema, version 16: the order a user's meters were assigned in, as
-- a column (seq: 1, 2, 3... per user), so both backends keep it, also
-- within one millisecond; it was SQLite's rowid. Rows from before keep
-- their rowid, which grew with every assignment.
ALTER TABLE assignments ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE assignments SET seq = rowid;
