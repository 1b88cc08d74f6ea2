-- PostgreSQL's migration 0010 adds the function its batches of creations
-- append their events with; SQLite writes no batches (one writer holds its
-- write lock), so this version changes nothing here.
SELECT 1;
