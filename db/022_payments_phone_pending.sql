-- lipa schema, version 22: nothing on SQLite. Its PostgreSQL twin indexes
-- the purchases waiting behind a phone's prompt, which only the shared
-- prompts (PostgreSQL, pay/prompts_db.c) look up; one lipad on SQLite keeps
-- its prompts in memory, and there the index cost the writers a quarter of
-- make bench's hops per second (40 400 -> 32 000, p99 4.5 -> 12 ms).
SELECT 1;
