-- Checks that schema_postgresql.sql's triggers and search indexes do what schema.sql's do.
-- Run on a database where schema_postgresql.sql was just loaded (empty tables); everything happens
-- in one transaction that is rolled back, so it can run again:
--   psql -X -v ON_ERROR_STOP=1 -d DB -f schema_postgresql.sql -f schema_postgresql.sql -f tests/pg_schema_check.sql
-- A failed check stops the script with "check failed: <what>" and a non-zero exit.
\set ON_ERROR_STOP on
\o /dev/null
BEGIN;

CREATE FUNCTION pg_temp.expect(ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'check failed: %', what;
    END IF;
END $$;

-- The counts as one comparable row.
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('total=%s open=%s assigned=%s closed=%s unread=%s unread_active=%s unassigned_active=%s',
                  total, open, assigned, closed, unread, unread_active, unassigned_active)
    FROM conversation_counts WHERE id = 1
$$;
-- What the counts should be, counted from the table.
CREATE FUNCTION pg_temp.recount() RETURNS text LANGUAGE sql AS $$
    SELECT format('total=%s open=%s assigned=%s closed=%s unread=%s unread_active=%s unassigned_active=%s',
                  COUNT(*), COUNT(*) FILTER (WHERE status = 'open'), COUNT(*) FILTER (WHERE status = 'assigned'),
                  COUNT(*) FILTER (WHERE status = 'closed'), COUNT(*) FILTER (WHERE unread_count > 0),
                  COUNT(*) FILTER (WHERE status != 'closed' AND unread_count > 0),
                  COUNT(*) FILTER (WHERE status != 'closed' AND assigned_agent_id IS NULL))
    FROM whatsapp_conversations
$$;
CREATE FUNCTION pg_temp.agent_counts_exact() RETURNS boolean LANGUAGE sql AS $$
    SELECT NOT EXISTS (
        SELECT assigned_agent_id, COUNT(*) FROM whatsapp_conversations
        WHERE assigned_agent_id IS NOT NULL AND status != 'closed' GROUP BY assigned_agent_id
        EXCEPT SELECT agent_id, active FROM agent_conversation_counts WHERE active != 0)
    AND NOT EXISTS (
        SELECT agent_id, active FROM agent_conversation_counts WHERE active != 0
        EXCEPT SELECT assigned_agent_id, COUNT(*) FROM whatsapp_conversations
        WHERE assigned_agent_id IS NOT NULL AND status != 'closed' GROUP BY assigned_agent_id)
$$;
CREATE FUNCTION pg_temp.label_counts_exact() RETURNS boolean LANGUAGE sql AS $$
    SELECT bool_and(lc.active = (SELECT COUNT(*) FROM conversation_labels cl JOIN whatsapp_conversations c
                                 USING (conversation_id) WHERE cl.label_id = lc.label_id AND c.status != 'closed')
                AND lc.closed = (SELECT COUNT(*) FROM conversation_labels cl JOIN whatsapp_conversations c
                                 USING (conversation_id) WHERE cl.label_id = lc.label_id AND c.status = 'closed'))
    FROM label_counts lc
$$;
-- Conversations found by a search of names, as store/queries.py's search does on SQLite.
CREATE FUNCTION pg_temp.names(query text, prefix boolean) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT COALESCE(array_agg(conversation_id ORDER BY conversation_id DESC), '{}') FROM whatsapp_conversations
    WHERE wa_names_vector(contact_name, contact_profile_name, username) @@ wa_search_query(query, prefix)
$$;
CREATE FUNCTION pg_temp.messages(query text, prefix boolean) RETURNS text[] LANGUAGE sql AS $$
    SELECT COALESCE(array_agg(whatsapp_message_id ORDER BY message_id DESC), '{}') FROM whatsapp_messages
    WHERE wa_search_vector(message_text) @@ wa_search_query(query, prefix)
$$;

SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM whatsapp_conversations), 'the database is empty to begin with');
-- Identities restart at 1 for this transaction only (a rolled-back nextval is not given back, but
-- TRUNCATE's RESTART IDENTITY is rolled back with it), so that the ids below are known.
TRUNCATE whatsapp_conversations, whatsapp_messages, agents, labels, webhook_deliveries RESTART IDENTITY CASCADE;
SELECT pg_temp.expect(pg_temp.counts() = 'total=0 open=0 assigned=0 closed=0 unread=0 unread_active=0 unassigned_active=0',
                      'conversation_counts is filled with zeros for an empty database');

-- Conversations: insert, unread, assign, close, reopen, delete -------------------------------------
INSERT INTO agents (name, key_hash, created_at) VALUES ('Ana', 'h1', '2026-01-01 00:00:00'),
                                                       ('Bo', 'h2', '2026-01-01 00:00:00');
INSERT INTO whatsapp_conversations (phone_number, contact_name, contact_profile_name, created_at)
VALUES ('+14155550003', 'José Álvarez', 'Pepe', '2026-01-01 00:00:00'),
       ('+5511999990001', NULL, 'Zoë', '2026-01-01 00:00:00');
INSERT INTO whatsapp_conversations (user_id, username, status, assigned_agent_id, unread_count)
VALUES ('BR.123', 'françois_b', 'assigned', 1, 2);
SELECT pg_temp.expect(pg_temp.counts() = 'total=3 open=2 assigned=1 closed=0 unread=1 unread_active=1 unassigned_active=2',
                      'inserts counted: ' || pg_temp.counts());
SELECT pg_temp.expect(pg_temp.agent_counts_exact(), 'agent 1 has one active conversation');

UPDATE whatsapp_conversations SET unread_count = unread_count + 1 WHERE conversation_id = 1;
UPDATE whatsapp_conversations SET unread_count = unread_count + 1 WHERE conversation_id = 1;
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'unread counted once: ' || pg_temp.counts());
UPDATE whatsapp_conversations SET status = 'assigned', assigned_agent_id = 2 WHERE conversation_id = 1;
UPDATE whatsapp_conversations SET assigned_agent_id = 2 WHERE conversation_id = 3;
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'assignment counted: ' || pg_temp.counts());
SELECT pg_temp.expect(pg_temp.agent_counts_exact(), 'reassignment moves the agent counts');
SELECT pg_temp.expect((SELECT active FROM agent_conversation_counts WHERE agent_id = 2) = 2, 'agent 2 has two');
UPDATE whatsapp_conversations SET status = 'closed', unread_count = 0 WHERE conversation_id = 1;
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'a close counted: ' || pg_temp.counts());
SELECT pg_temp.expect(pg_temp.agent_counts_exact(), 'a closed conversation leaves its agent''s count');
UPDATE whatsapp_conversations SET contact_name = 'Renamed' WHERE conversation_id = 2;  -- counts nothing
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'a rename changes no count');

-- Labels: counted by status, moved by a close, taken away by a delete -----------------------------
INSERT INTO labels (name, name_key, colour, created_at) VALUES ('VIP', 'vip', '#aa0000', 'x'), ('Late', 'late', '#00aa00', 'x');
INSERT INTO label_counts (label_id) VALUES (1), (2);
INSERT INTO conversation_labels (conversation_id, label_id, added_at)
VALUES (1, 1, 'x'), (2, 1, 'x'), (3, 1, 'x'), (2, 2, 'x');
SELECT pg_temp.expect((SELECT (active, closed) = (2, 1) FROM label_counts WHERE label_id = 1),
                      'label 1: two active, one closed');
SELECT pg_temp.expect(pg_temp.label_counts_exact(), 'label counts after labelling');
UPDATE whatsapp_conversations SET status = 'closed' WHERE conversation_id = 2;
SELECT pg_temp.expect(pg_temp.label_counts_exact(), 'a close moves its labels to closed');
UPDATE whatsapp_conversations SET status = 'open' WHERE conversation_id = 1;
UPDATE whatsapp_conversations SET status = 'assigned' WHERE conversation_id = 1;  -- open to assigned: no move
SELECT pg_temp.expect(pg_temp.label_counts_exact(), 'a reopen moves them back');
DELETE FROM conversation_labels WHERE conversation_id = 3 AND label_id = 1;
SELECT pg_temp.expect(pg_temp.label_counts_exact(), 'an unlabel is counted');
DELETE FROM whatsapp_conversations WHERE conversation_id = 2;  -- a merge's delete: labels go first
SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM conversation_labels WHERE conversation_id = 2),
                      'a deleted conversation takes its labels');
SELECT pg_temp.expect(pg_temp.label_counts_exact(), 'and they are uncounted by its status');
SELECT pg_temp.expect((SELECT (active, closed) = (0, 0) FROM label_counts WHERE label_id = 2), 'label 2 is empty');
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'a delete counted: ' || pg_temp.counts());
SELECT pg_temp.expect(pg_temp.agent_counts_exact(), 'agent counts after a delete');

-- An explicit id (store/customers.py's MAX + 1) goes in; the sequence is then moved past it.
INSERT INTO whatsapp_conversations (conversation_id, phone_number) VALUES (10, '+14155550010');
SELECT setval(pg_get_serial_sequence('whatsapp_conversations', 'conversation_id'),
              (SELECT MAX(conversation_id) + 1 FROM whatsapp_conversations), false);
INSERT INTO whatsapp_conversations (phone_number) VALUES ('+14155550011');
SELECT pg_temp.expect((SELECT conversation_id FROM whatsapp_conversations WHERE phone_number = '+14155550011') = 11,
                      'the identity continues past an explicit id');
SELECT pg_temp.expect(pg_temp.counts() = pg_temp.recount(), 'explicit ids counted: ' || pg_temp.counts());

-- The journal's counts by state ------------------------------------------------------------------
INSERT INTO webhook_deliveries (received_at, body) VALUES ('t', '\x7b7d'), ('t', '\x7b7d'), ('t', '\x7b7d');
UPDATE webhook_deliveries SET state = 'processed' WHERE delivery_id IN (1, 2);
UPDATE webhook_deliveries SET state = 'processed', attempts = 1 WHERE delivery_id = 1;  -- same state: no move
UPDATE webhook_deliveries SET attempts = 2 WHERE delivery_id = 3;                       -- not the state
UPDATE webhook_deliveries SET state = 'failed' WHERE delivery_id = 3;
DELETE FROM webhook_deliveries WHERE delivery_id = 1;
SELECT pg_temp.expect(
    (SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM webhook_delivery_counts)
        = 'failed=1 pending=0 processed=1',
    'delivery counts: ' || (SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM webhook_delivery_counts));

-- Search: names, message text, phone digits ------------------------------------------------------
SELECT pg_temp.expect(pg_temp.names('jose', false) = '{1}', 'a name without its accent (José)');
SELECT pg_temp.expect(pg_temp.names('ALVAREZ', false) = '{1}', 'any case, accents off (Álvarez)');
SELECT pg_temp.expect(pg_temp.names('pepe jose', false) = '{1}', 'every word over the three name columns');
SELECT pg_temp.expect(pg_temp.names('pepe zoe', false) = '{}', 'all words are required');
SELECT pg_temp.expect(pg_temp.names('francois', false) = '{3}', 'a username, split at its underscore');
SELECT pg_temp.expect(pg_temp.names('alv', false) = '{}', 'whole words only without prefix');
SELECT pg_temp.expect(pg_temp.names('alv', true) = '{1}', 'a word beginning with prefix');
SELECT pg_temp.expect(pg_temp.names('al', true) = '{}', 'no prefix under three letters');
SELECT pg_temp.expect(pg_temp.names('?!', true) = '{}', 'no words: nothing');
UPDATE whatsapp_conversations SET username = 'zed' WHERE conversation_id = 3;
SELECT pg_temp.expect(pg_temp.names('francois', false) = '{}' AND pg_temp.names('zed', false) = '{3}',
                      'a changed name is searched as changed (conversations_fts_update)');

INSERT INTO whatsapp_messages (conversation_id, whatsapp_message_id, direction, message_text, timestamp) VALUES
    (1, 'wamid.1', 'inbound', 'Vamos a São Paulo amanhã, café às 10h', 't'),
    (1, 'wamid.2', 'outbound', 'Call me on +14155550003 or mail ana@example.com', 't'),
    (3, 'wamid.3', 'inbound', NULL, 't'),
    (3, 'wamid.4', 'inbound', 'ΚΑΛΗΜΈΡΑ φίλε', 't');
SELECT pg_temp.expect(pg_temp.messages('sao paulo', false) = '{wamid.1}', 'message text without accents');
SELECT pg_temp.expect(pg_temp.messages('CAFÉ', false) = '{wamid.1}', 'message text in any case');
SELECT pg_temp.expect(pg_temp.messages('caf', false) = '{}', 'message words are whole words');
SELECT pg_temp.expect(pg_temp.messages('caf', true) = '{wamid.1}', 'or prefixes');
SELECT pg_temp.expect(pg_temp.messages('14155550003', false) = '{wamid.2}', 'digits after a + are a word');
SELECT pg_temp.expect(pg_temp.messages('example', false) = '{wamid.2}', 'an address is split into words');
SELECT pg_temp.expect(pg_temp.messages('καλημερα', false) = '{wamid.4}', 'Greek, lower-cased, without accents');
SELECT pg_temp.expect((SELECT ts_headline('wa_search', message_text, wa_search_query('sao', false),
                                          'StartSel=**, StopSel=**, MaxWords=12, MinWords=6, MaxFragments=1')
                       FROM whatsapp_messages WHERE message_id = 1) LIKE '%**São**%',
                      'the snippet marks the accented word');

SELECT pg_temp.expect(
    (SELECT array_agg(conversation_id ORDER BY conversation_id DESC) FROM whatsapp_conversations
     WHERE phone_number LIKE '%5550003%') = '{1}',
    'any run of a number''s digits');

-- The search indexes serve those queries (the planner is told not to scan the tables).
SET LOCAL enable_seqscan = off;
CREATE FUNCTION pg_temp.plan(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END $$;
SELECT pg_temp.expect(pg_temp.plan($q$SELECT message_id FROM whatsapp_messages
    WHERE wa_search_vector(message_text) @@ wa_search_query('sao', true)$q$) LIKE '%messages_fts%',
    'messages_fts serves a message search');
SELECT pg_temp.expect(pg_temp.plan($q$SELECT conversation_id FROM whatsapp_conversations
    WHERE wa_names_vector(contact_name, contact_profile_name, username) @@ wa_search_query('jose', false)$q$)
    LIKE '%conversations_fts%', 'conversations_fts serves a name search');
SELECT pg_temp.expect(pg_temp.plan($q$SELECT conversation_id FROM whatsapp_conversations
    WHERE phone_number LIKE '%5550003%'$q$) LIKE '%phones_fts%', 'phones_fts serves a digits search');
SELECT pg_temp.expect(pg_temp.plan($q$SELECT * FROM whatsapp_conversations
    ORDER BY last_message_at DESC NULLS LAST, conversation_id DESC LIMIT 50$q$) LIKE '%idx_conversations_activity%',
    'the conversation list, NULLs last as on SQLite, walks idx_conversations_activity');
SELECT pg_temp.expect(pg_temp.plan($q$SELECT * FROM whatsapp_conversations WHERE status = 'open'
    ORDER BY last_message_at DESC NULLS LAST, conversation_id DESC LIMIT 50$q$)
    LIKE '%idx_conversations_status_activity%', 'a status tab walks idx_conversations_status_activity');
RESET enable_seqscan;
UPDATE whatsapp_conversations SET last_message_at = '2026-01-0' || conversation_id || ' 00:00:00'
WHERE conversation_id IN (1, 3);
SELECT pg_temp.expect(
    (SELECT array_agg(conversation_id) FROM (SELECT conversation_id FROM whatsapp_conversations
     ORDER BY last_message_at DESC NULLS LAST, conversation_id DESC) AS page) = '{3,1,11,10}',
    'newest activity first, conversations without a message last (SQLite''s order)');

ROLLBACK;
\o
\echo 'pg_schema_check: every check passed'
