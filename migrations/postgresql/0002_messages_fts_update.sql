-- Version 2, the twin of migrations/sqlite/0002_messages_fts_update.sql: nothing to do here. The
-- messages' search index on PostgreSQL is an index on an expression of message_text, which
-- PostgreSQL keeps current on every UPDATE; only SQLite's FTS5 table needed a trigger and a rebuild.
SELECT 1;
