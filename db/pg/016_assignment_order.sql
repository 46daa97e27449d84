-- PostgreSQL twin of db/016_assignment_order.sql (rows moved from SQLite
-- bring their seq).
ALTER TABLE assignments ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
