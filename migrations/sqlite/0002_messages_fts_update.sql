-- Version 2: message texts changed in place are re-indexed for search (the messages_fts_update
-- trigger, which schema.sql creates right after this file). Before it, a history media placeholder
-- filled in by its media kept the placeholder's (empty) entry, so its caption was never found.
-- The index is rebuilt from the messages once, so those captions are found too: a few seconds at a
-- million messages, inside the upgrade's transaction.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
