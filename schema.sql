-- wa-inbox schema. Every statement is idempotent: it runs on first use of each database file.
-- Times are UTC text 'YYYY-MM-DD HH:MM:SS', which sorts and compares correctly as text.

-- One row per customer. A customer is known by phone (E.164 with '+'), by Meta's business-scoped
-- user id (BSUID), or both; phone_number is NULL for a username-only customer.
CREATE TABLE IF NOT EXISTS whatsapp_conversations (
    conversation_id INTEGER PRIMARY KEY,
    phone_number TEXT UNIQUE,
    user_id TEXT UNIQUE,
    username TEXT,
    contact_name TEXT,
    contact_profile_name TEXT,
    last_message_at TIMESTAMP,
    last_message TEXT,
    last_message_type TEXT,
    last_inbound_at TIMESTAMP,
    unread_count INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open',  -- 'open', 'closed', 'assigned'
    assigned_agent_id INTEGER,
    created_at TIMESTAMP,
    updated_at TIMESTAMP,
    blocked_at TIMESTAMP,                 -- blocked through Meta's block_users (NULL: not blocked)
    free_entry_until TIMESTAMP,           -- a free entry point window (ad / page button) open until then
    -- A WhatsApp group (Groups API) is a conversation of its own: no phone or BSUID, its group id,
    -- its subject as contact_name, its members in group_participants.
    kind TEXT NOT NULL DEFAULT 'individual' CHECK (kind IN ('individual', 'group')),
    group_id TEXT,
    -- user_preferences: 1 once the customer stopped marketing messages (0 again when they resume),
    -- and Meta's time of that latest choice; a MARKETING template to them is refused with 409
    marketing_opt_out INTEGER NOT NULL DEFAULT 0,
    marketing_preference_at TIMESTAMP,
    -- POST /snooze: out of the open tabs (in 'snoozed') until then; the customer writing unsnoozes at once.
    -- A time that has passed is read as not snoozed (nothing has to wake it up).
    snoozed_until TIMESTAMP,
    -- the last automatic reply outside business hours (away_reply): at most one per period
    away_replied_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_conversations_activity
    ON whatsapp_conversations (last_message_at DESC, conversation_id DESC);
CREATE INDEX IF NOT EXISTS idx_conversations_status_activity
    ON whatsapp_conversations (status, last_message_at DESC, conversation_id DESC);
CREATE INDEX IF NOT EXISTS idx_conversations_unread
    ON whatsapp_conversations (last_message_at DESC, conversation_id DESC) WHERE unread_count > 0;

-- One row per message, both directions. whatsapp_message_id is Meta's wamid; an outbound message
-- that Meta has not (yet) accepted carries a local placeholder 'local.<hex>' until it does.
CREATE TABLE IF NOT EXISTS whatsapp_messages (
    message_id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES whatsapp_conversations (conversation_id),
    whatsapp_message_id TEXT UNIQUE NOT NULL,
    phone_number TEXT,
    user_id TEXT,
    direction TEXT NOT NULL,              -- 'inbound', 'outbound'
    message_type TEXT DEFAULT 'text',     -- Meta's type: 'text', 'image', 'reaction', 'unsupported', ...
    message_text TEXT,
    media_url TEXT,
    media_type TEXT,                      -- MIME type
    media_id TEXT,
    media_sha256 TEXT,
    media_filename TEXT,
    status TEXT DEFAULT 'sent',           -- inbound: 'received'; outbound: 'pending', 'sent', 'delivered', 'read', 'played', 'failed'
    timestamp TIMESTAMP NOT NULL,
    created_at TIMESTAMP,
    agent_id INTEGER,
    context_message_id TEXT,              -- the wamid this message replies (or reacts) to
    local_id TEXT UNIQUE,                 -- our own id, sent to Meta as biz_opaque_callback_data
    client_message_id TEXT UNIQUE,        -- an Idempotency-Key of before keys were scoped (global; no longer written)
    sent_at TIMESTAMP,
    delivered_at TIMESTAMP,
    read_at TIMESTAMP,
    played_at TIMESTAMP,
    failed_at TIMESTAMP,
    error_code INTEGER,
    error_title TEXT,
    error_details TEXT,
    raw_json TEXT,
    -- inbound media kept in MEDIA_DIR: 'pending', 'downloading', 'ready', 'failed'
    media_state TEXT,
    media_path TEXT,
    media_size INTEGER,
    media_attempts INTEGER NOT NULL DEFAULT 0,
    media_next_attempt_at TIMESTAMP,
    media_error TEXT,
    -- Idempotency-Key (see README "Reliability"): unique per credential, with a hash of the request
    idempotency_scope TEXT,               -- 'service' (AGENT_API_KEY) or 'agent:<agent_id>'
    idempotency_key TEXT,
    request_hash TEXT,                    -- sha256 of the route and the canonical JSON of the request
    send_answer INTEGER,                  -- the HTTP status a finished send attempt was answered with
    send_error TEXT,                      -- and its error sentence, replayed to a repeat of the key
    attempted_at TIMESTAMP,               -- when a repeat of the key last sent it again (NULL: only at timestamp)
    origin TEXT,                          -- coexistence: 'business_app' (an echo of a message sent from the
                                          -- WhatsApp Business app), 'history' (imported chat history); NULL otherwise
    -- the `pricing` object of the message's statuses (outbound): what Meta charges for it
    pricing_billable INTEGER,             -- Meta's `billable` (deprecated by Meta; NULL when not sent)
    pricing_model TEXT,                   -- 'PMP' (per message, since July 2025) or 'CBP'
    pricing_category TEXT,                -- 'marketing', 'utility', 'authentication', 'service', ...
    pricing_type TEXT,                    -- 'regular' (charged), 'free_customer_service', 'free_entry_point'
    pricing_charged INTEGER,              -- 1 when charged (type 'regular', or billable without a type)
    pricing_day TEXT,                     -- the UTC day it was counted on in billable_message_counts
    group_id TEXT,                        -- the group it was written in (phone_number/user_id: its sender)
    sender_name TEXT,                     -- a group message's sender's profile name, as Meta sent it
    -- a failed send sent again (POST /messages/<id>/retry): the message that did
    retried_by INTEGER,
    -- 1: sent by the service itself (the automatic reply outside business hours), not by an agent;
    -- reports and assignment do not count it as an answer
    automatic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_messages_thread
    ON whatsapp_messages (conversation_id, timestamp, message_id);
CREATE INDEX IF NOT EXISTS idx_messages_timestamp ON whatsapp_messages (timestamp);
-- Reactions, edits and deletions point at the message they change.
CREATE INDEX IF NOT EXISTS idx_messages_context ON whatsapp_messages (context_message_id)
    WHERE context_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_idempotency
    ON whatsapp_messages (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_messages_media_due ON whatsapp_messages (media_next_attempt_at)
    WHERE media_state IN ('pending', 'downloading', 'failed');

-- Every verified webhook body, written before it is processed, so nothing Meta delivered is lost.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id INTEGER PRIMARY KEY,
    received_at TIMESTAMP NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- 'pending', 'processed', 'failed'
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    processed_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_deliveries_unprocessed
    ON webhook_deliveries (delivery_id) WHERE state != 'processed';
-- Pruning (WEBHOOK_JOURNAL_DAYS) finds the bodies processed longest ago here.
CREATE INDEX IF NOT EXISTS idx_deliveries_processed ON webhook_deliveries (processed_at)
    WHERE state = 'processed';
-- Deliveries by state for /health, kept by triggers (counting the journal would read every body).
-- Filled from the journal the first time this schema meets a database that lacks it.
CREATE TABLE IF NOT EXISTS webhook_delivery_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT OR IGNORE INTO webhook_delivery_counts
SELECT state, COUNT(*) FROM webhook_deliveries
WHERE NOT EXISTS (SELECT 1 FROM webhook_delivery_counts)
GROUP BY state;
CREATE TRIGGER IF NOT EXISTS delivery_counts_insert AFTER INSERT ON webhook_deliveries BEGIN
    INSERT INTO webhook_delivery_counts (state, n) VALUES (new.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS delivery_counts_update AFTER UPDATE OF state ON webhook_deliveries
WHEN old.state IS NOT new.state BEGIN
    UPDATE webhook_delivery_counts SET n = n - 1 WHERE state = old.state;
    INSERT INTO webhook_delivery_counts (state, n) VALUES (new.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS delivery_counts_delete AFTER DELETE ON webhook_deliveries BEGIN
    UPDATE webhook_delivery_counts SET n = n - 1 WHERE state = old.state;
END;

-- Statuses that arrived before the message they describe was stored; applied when it is.
CREATE TABLE IF NOT EXISTS parked_statuses (
    parked_id INTEGER PRIMARY KEY,
    whatsapp_message_id TEXT NOT NULL,
    local_id TEXT,
    status TEXT NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    error_code INTEGER,
    error_title TEXT,
    error_details TEXT,
    received_at TIMESTAMP NOT NULL,
    pricing_billable INTEGER,
    pricing_model TEXT,
    pricing_category TEXT,
    pricing_type TEXT,
    entry_expires_at TIMESTAMP,
    UNIQUE (whatsapp_message_id, status)
);
CREATE INDEX IF NOT EXISTS idx_parked_local ON parked_statuses (local_id) WHERE local_id IS NOT NULL;

-- Everything that changed, in order: the dashboard's live updates (Server-Sent Events resuming from
-- Last-Event-ID) and GET /api/whatsapp/events?after=<id> read from here, whichever worker wrote it.
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,          -- 'message.created', 'message.updated', 'conversation.updated',
                                 -- 'conversation.merged' (another thread of the same customer was folded in),
                                 -- 'history.imported' (a chunk of coexistence chat history; conversation_id NULL),
                                 -- 'note.created' (a private note; note_id), 'note.deleted' (that note was
                                 -- deleted), 'mention.created' (agent_id was
                                 -- @named in note_id), 'presence.updated' (agent_id's presence changed:
                                 -- detail {"state"}; conversation_id NULL), 'conversation.assigned' (routing
                                 -- gave conversation_id to agent_id: detail {"reason"}), 'activity.updated'
                                 -- (agent_id started viewing,
                                 -- typing in or left conversation_id; detail {"state": ...})
    conversation_id INTEGER,
    message_id INTEGER,
    merged_from INTEGER,         -- conversation.merged: the conversation folded in (now deleted)
    note_id INTEGER,             -- note.created, mention.created: the note
    agent_id INTEGER,            -- mention.created: the agent mentioned; others: the agent it is about
    detail TEXT                  -- a small JSON object of the kind's own facts (e.g. an assignment's reason)
);

-- Where a merged conversation went (a 404 for it names the thread it was folded into).
CREATE INDEX IF NOT EXISTS idx_events_merged_from ON events (merged_from) WHERE merged_from IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_conversations_agent_activity
    ON whatsapp_conversations (assigned_agent_id, last_message_at DESC, conversation_id DESC);

-- Full-text search, accent-insensitive ('Sao' finds 'São'): message text, and customers' names.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    message_text,
    content = 'whatsapp_messages',
    content_rowid = 'message_id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON whatsapp_messages
WHEN new.message_text IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, message_text) VALUES (new.message_id, new.message_text);
END;
-- A text changed in place (a history media placeholder filled in by its media and caption): the
-- words it was indexed under out (an external-content table is told the old values), the new ones in.
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF message_text ON whatsapp_messages
WHEN old.message_text IS NOT new.message_text BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, message_text)
        SELECT 'delete', old.message_id, old.message_text WHERE old.message_text IS NOT NULL;
    INSERT INTO messages_fts (rowid, message_text)
        SELECT new.message_id, new.message_text WHERE new.message_text IS NOT NULL;
END;

CREATE VIRTUAL TABLE IF NOT EXISTS conversations_fts USING fts5(
    names,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS conversations_fts_insert AFTER INSERT ON whatsapp_conversations BEGIN
    INSERT INTO conversations_fts (rowid, names) VALUES (
        new.conversation_id,
        COALESCE(new.contact_name, '') || ' ' || COALESCE(new.contact_profile_name, '') || ' '
            || COALESCE(new.username, ''));
END;
CREATE TRIGGER IF NOT EXISTS conversations_fts_update
AFTER UPDATE OF contact_name, contact_profile_name, username ON whatsapp_conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.conversation_id;
    INSERT INTO conversations_fts (rowid, names) VALUES (
        new.conversation_id,
        COALESCE(new.contact_name, '') || ' ' || COALESCE(new.contact_profile_name, '') || ' '
            || COALESCE(new.username, ''));
END;
CREATE TRIGGER IF NOT EXISTS conversations_fts_delete AFTER DELETE ON whatsapp_conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.conversation_id;
END;

-- People who sign in to the dashboard. Only a sha256 of each key is kept; the key is shown once.
CREATE TABLE IF NOT EXISTS agents (
    agent_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT UNIQUE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    -- 'admin' manages agents, labels and canned replies (as the service key and the CLI can); 'agent' answers
    role TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('admin', 'agent'))
);

-- Dashboard sign-ins. The signed cookie carries a random session id; only its sha256 is kept here.
-- Signing out deletes the row; deactivating an agent or resetting their key deletes all of theirs,
-- so a copied cookie stops working at once (every session request looks its row up).
CREATE TABLE IF NOT EXISTS agent_sessions (
    session_hash TEXT PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (agent_id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_sessions_by_agent ON agent_sessions (agent_id);

-- Failed key attempts (/login, bearer keys) per client address, shared by every worker (throttle.py).
-- Times are Unix seconds. Only a failure writes; a lockout sets locked_until.
CREATE TABLE IF NOT EXISTS auth_failures (
    address TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,          -- in the window that began at window_start
    window_start DOUBLE PRECISION NOT NULL,  -- Unix seconds (REAL is 4 bytes on PostgreSQL)
    lockouts INTEGER NOT NULL,          -- lockouts in a row: each one lasts twice as long
    locked_until DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_failures_by_time ON auth_failures (window_start);

-- Values the service generates once and every worker shares (the session-signing secret).
CREATE TABLE IF NOT EXISTS service_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- How many conversations sit behind each tab and stat, kept by triggers, so the conversation list
-- and /stats read one row however many conversations there are (BENCHMARKS.md). Filled from the
-- table the first time this schema meets a database that lacks it.
CREATE TABLE IF NOT EXISTS conversation_counts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    total INTEGER NOT NULL,
    open INTEGER NOT NULL,              -- status 'open'
    assigned INTEGER NOT NULL,          -- status 'assigned'
    closed INTEGER NOT NULL,            -- status 'closed'
    unread INTEGER NOT NULL,            -- unread_count > 0, whatever the status
    unread_active INTEGER NOT NULL,     -- not closed and unread (the 'unread' tab)
    unassigned_active INTEGER NOT NULL  -- not closed and no agent (the 'unassigned' tab)
);
INSERT OR IGNORE INTO conversation_counts
SELECT 1, COUNT(*), COALESCE(SUM(status = 'open'), 0), COALESCE(SUM(status = 'assigned'), 0),
       COALESCE(SUM(status = 'closed'), 0), COALESCE(SUM(unread_count > 0), 0),
       COALESCE(SUM(status != 'closed' AND unread_count > 0), 0),
       COALESCE(SUM(status != 'closed' AND assigned_agent_id IS NULL), 0)
FROM whatsapp_conversations WHERE NOT EXISTS (SELECT 1 FROM conversation_counts);
-- Not closed conversations of each agent (the 'mine' tab).
CREATE TABLE IF NOT EXISTS agent_conversation_counts (
    agent_id INTEGER PRIMARY KEY,
    active INTEGER NOT NULL
);
INSERT OR IGNORE INTO agent_conversation_counts
SELECT assigned_agent_id, COUNT(*) FROM whatsapp_conversations
WHERE assigned_agent_id IS NOT NULL AND status != 'closed' AND NOT EXISTS (SELECT 1 FROM agent_conversation_counts)
GROUP BY assigned_agent_id;

CREATE TRIGGER IF NOT EXISTS conversation_counts_insert AFTER INSERT ON whatsapp_conversations BEGIN
    UPDATE conversation_counts SET
        total = total + 1,
        open = open + (new.status = 'open'),
        assigned = assigned + (new.status = 'assigned'),
        closed = closed + (new.status = 'closed'),
        unread = unread + (new.unread_count > 0),
        unread_active = unread_active + (new.status != 'closed' AND new.unread_count > 0),
        unassigned_active = unassigned_active + (new.status != 'closed' AND new.assigned_agent_id IS NULL)
    WHERE id = 1;
    INSERT INTO agent_conversation_counts (agent_id, active)
    SELECT new.assigned_agent_id, 1 WHERE new.assigned_agent_id IS NOT NULL AND new.status != 'closed'
    ON CONFLICT (agent_id) DO UPDATE SET active = active + 1;
END;
CREATE TRIGGER IF NOT EXISTS conversation_counts_delete AFTER DELETE ON whatsapp_conversations BEGIN
    UPDATE conversation_counts SET
        total = total - 1,
        open = open - (old.status = 'open'),
        assigned = assigned - (old.status = 'assigned'),
        closed = closed - (old.status = 'closed'),
        unread = unread - (old.unread_count > 0),
        unread_active = unread_active - (old.status != 'closed' AND old.unread_count > 0),
        unassigned_active = unassigned_active - (old.status != 'closed' AND old.assigned_agent_id IS NULL)
    WHERE id = 1;
    UPDATE agent_conversation_counts SET active = active - 1
    WHERE agent_id = old.assigned_agent_id AND old.status != 'closed';
END;
-- Only when what is counted changes (not on each message's unread_count + 1 beyond the first).
CREATE TRIGGER IF NOT EXISTS conversation_counts_update
AFTER UPDATE OF status, unread_count, assigned_agent_id ON whatsapp_conversations
WHEN old.status IS NOT new.status OR (old.unread_count > 0) IS NOT (new.unread_count > 0)
     OR old.assigned_agent_id IS NOT new.assigned_agent_id BEGIN
    UPDATE conversation_counts SET
        open = open + (new.status = 'open') - (old.status = 'open'),
        assigned = assigned + (new.status = 'assigned') - (old.status = 'assigned'),
        closed = closed + (new.status = 'closed') - (old.status = 'closed'),
        unread = unread + (new.unread_count > 0) - (old.unread_count > 0),
        unread_active = unread_active + (new.status != 'closed' AND new.unread_count > 0)
            - (old.status != 'closed' AND old.unread_count > 0),
        unassigned_active = unassigned_active + (new.status != 'closed' AND new.assigned_agent_id IS NULL)
            - (old.status != 'closed' AND old.assigned_agent_id IS NULL)
    WHERE id = 1;
    UPDATE agent_conversation_counts SET active = active - 1
    WHERE agent_id = old.assigned_agent_id AND old.status != 'closed';
    INSERT INTO agent_conversation_counts (agent_id, active)
    SELECT new.assigned_agent_id, 1 WHERE new.assigned_agent_id IS NOT NULL AND new.status != 'closed'
    ON CONFLICT (agent_id) DO UPDATE SET active = active + 1;
END;

-- The last delivery of each webhook field ('messages', 'message_template_status_update', ...):
-- "webhook verified, but no messages arrive" shows as a field that never appears (GET /health).
CREATE TABLE IF NOT EXISTS webhook_fields (
    field TEXT PRIMARY KEY,
    last_received_at TIMESTAMP NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0
);

-- Outbound messages still waiting for Meta's answer (GET /health counts the stale ones).
CREATE INDEX IF NOT EXISTS idx_messages_pending ON whatsapp_messages (timestamp) WHERE status = 'pending';

-- Phone numbers by any run of their digits ('0003' finds +14155550003) without reading every
-- conversation: a trigram index, kept by triggers, filled once for a database from before it.
CREATE VIRTUAL TABLE IF NOT EXISTS phones_fts USING fts5(phone_number, tokenize = 'trigram');
INSERT INTO phones_fts (rowid, phone_number)
SELECT conversation_id, phone_number FROM whatsapp_conversations
WHERE phone_number IS NOT NULL AND NOT EXISTS (SELECT 1 FROM phones_fts);
CREATE TRIGGER IF NOT EXISTS phones_fts_insert AFTER INSERT ON whatsapp_conversations
WHEN new.phone_number IS NOT NULL BEGIN
    INSERT INTO phones_fts (rowid, phone_number) VALUES (new.conversation_id, new.phone_number);
END;
CREATE TRIGGER IF NOT EXISTS phones_fts_update AFTER UPDATE OF phone_number ON whatsapp_conversations BEGIN
    DELETE FROM phones_fts WHERE rowid = old.conversation_id;
    INSERT INTO phones_fts (rowid, phone_number)
    SELECT new.conversation_id, new.phone_number WHERE new.phone_number IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS phones_fts_delete AFTER DELETE ON whatsapp_conversations BEGIN
    DELETE FROM phones_fts WHERE rowid = old.conversation_id;
END;

-- Coexistence (the number is also used in the WhatsApp Business app). The chunks of chat history Meta
-- delivered (`history` webhook field), one row a chunk, for GET /health's import progress. A chunk
-- whose business declined to share the history (or that Meta answered with another error) has its
-- error; its phase and chunk_order are -1 when Meta gave none.
CREATE TABLE IF NOT EXISTS history_chunks (
    phase INTEGER NOT NULL,
    chunk_order INTEGER NOT NULL,
    progress INTEGER,                     -- Meta's overall progress in percent (100: the import is complete)
    messages INTEGER NOT NULL DEFAULT 0,  -- messages the chunk carried
    error_code INTEGER,
    error_title TEXT,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (phase, chunk_order)
);

-- The business's names for customers, by phone: the owner's in the WhatsApp Business app
-- (`smb_app_state_sync`) or an agent's (POST /contact); the newest change wins either way. A
-- conversation takes it as its contact_name, now or when it is created. A removed (or cleared) name
-- keeps its row (name NULL), so a late, older add cannot bring the name back.
CREATE TABLE IF NOT EXISTS business_contacts (
    phone_number TEXT PRIMARY KEY,
    name TEXT,
    synced_at TIMESTAMP NOT NULL          -- Meta's time of the change (the newest change wins)
);

-- Charged messages per UTC day and pricing category, kept as statuses bring their `pricing`, so /stats
-- reads at most 30 days x a few categories however many messages there are.
CREATE TABLE IF NOT EXISTS billable_message_counts (
    day TEXT NOT NULL,                    -- 'YYYY-MM-DD' (UTC) of the status that first said it is charged
    category TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, category)
);

-- Groups (Meta's Groups API): one conversation per group id; its members follow the
-- group_participants_update webhook and the messages they write.
CREATE UNIQUE INDEX IF NOT EXISTS idx_conversations_group ON whatsapp_conversations (group_id);
CREATE TABLE IF NOT EXISTS group_participants (
    conversation_id INTEGER NOT NULL REFERENCES whatsapp_conversations (conversation_id),
    participant_key TEXT NOT NULL,      -- the phone (E.164) when Meta gave one, else the BSUID
    phone_number TEXT,
    user_id TEXT,
    username TEXT,
    name TEXT,                          -- their WhatsApp profile name, from their messages
    state TEXT NOT NULL DEFAULT 'member' CHECK (state IN ('member', 'left')),
    joined_at TIMESTAMP,
    left_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, participant_key)
);
-- Account signals (whatsapp/updates_signals.py). The latest status, quality and category Meta's
-- template webhooks gave each template (language as the listing spells it: en_US); each aspect
-- with Meta's time of it, so a late retry of an older change does not overwrite a newer one. The
-- template cache lays these over Meta's listing at once (whatsapp/templates.py).
CREATE TABLE IF NOT EXISTS template_states (
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    template_id TEXT,
    status TEXT,                 -- APPROVED, PAUSED, DISABLED, REJECTED, ... (NULL: the listing decides)
    status_event TEXT,           -- Meta's event (REINSTATED, FLAGGED, UNARCHIVED, ...)
    status_reason TEXT,
    status_detail TEXT,
    status_at TIMESTAMP,
    quality TEXT,                -- GREEN, YELLOW, RED, UNKNOWN
    quality_at TIMESTAMP,
    category TEXT,               -- MARKETING, UTILITY, AUTHENTICATION
    upcoming_category TEXT,      -- an impending recategorisation (correct_category) ...
    upcoming_category_at TIMESTAMP,  -- ... and when it takes effect
    category_at TIMESTAMP,
    PRIMARY KEY (name, language)
);

-- The latest state of each account signal: 'number.quality', 'number.limit', 'account.restriction',
-- 'account.ban', 'account.violation', 'account.event', 'business.capability' (GET /health).
CREATE TABLE IF NOT EXISTS account_signals (
    signal TEXT PRIMARY KEY,
    event TEXT,
    detail TEXT,                 -- JSON: what Meta sent with it
    event_at TIMESTAMP NOT NULL, -- Meta's time of it (the entry's time), else when it arrived
    received_at TIMESTAMP NOT NULL
);

-- Value-level errors of `messages` changes and changes for another number of the business
-- account, kept 30 days to be counted (GET /health); keyed so the same delivery twice counts once.
CREATE TABLE IF NOT EXISTS webhook_value_errors (
    report_key TEXT PRIMARY KEY,
    code INTEGER,
    title TEXT,
    details TEXT,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_value_errors_received ON webhook_value_errors (received_at);
CREATE TABLE IF NOT EXISTS other_number_changes (
    change_key TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    field TEXT,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_other_numbers_received ON other_number_changes (received_at);

-- Private notes: what agents write in a thread for each other, never sent to WhatsApp. agent_id is
-- the author (NULL: a script with the service key that named none). A deleted note keeps its row.
CREATE TABLE IF NOT EXISTS notes (
    note_id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES whatsapp_conversations (conversation_id),
    agent_id INTEGER,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_notes_thread ON notes (conversation_id, note_id);

-- An @name in a note: the agent it names, until they mark it read. Deleting the note deletes these.
CREATE TABLE IF NOT EXISTS mentions (
    mention_id INTEGER PRIMARY KEY,
    note_id INTEGER NOT NULL REFERENCES notes (note_id),
    agent_id INTEGER NOT NULL REFERENCES agents (agent_id),
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP,
    UNIQUE (note_id, agent_id)
);
CREATE INDEX IF NOT EXISTS idx_mentions_agent ON mentions (agent_id, mention_id);
CREATE INDEX IF NOT EXISTS idx_mentions_unread ON mentions (agent_id, mention_id) WHERE read_at IS NULL;
-- Labels (issue 15): admins create, rename, recolour and delete them; agents put them on conversations.
-- name_key is the name casefolded (by the application: SQL's lower() knows only ASCII), so 'VIP' and
-- 'vip' are one label.
CREATE TABLE IF NOT EXISTS labels (
    label_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    colour TEXT NOT NULL CHECK (length(colour) = 7 AND colour LIKE '#%'),  -- '#rrggbb', lower case
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_labels (
    conversation_id INTEGER NOT NULL REFERENCES whatsapp_conversations (conversation_id),
    label_id INTEGER NOT NULL REFERENCES labels (label_id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, label_id)
);
CREATE INDEX IF NOT EXISTS idx_conversation_labels_label ON conversation_labels (label_id, conversation_id);
-- How many conversations carry each label, not closed (the 'all' tab) and closed, kept by triggers so
-- the tab counts read one row a label however many conversations there are.
CREATE TABLE IF NOT EXISTS label_counts (
    label_id INTEGER PRIMARY KEY REFERENCES labels (label_id),
    active INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER IF NOT EXISTS label_counts_insert AFTER INSERT ON conversation_labels BEGIN
    UPDATE label_counts SET
        active = active + (SELECT status != 'closed' FROM whatsapp_conversations
                           WHERE conversation_id = new.conversation_id),
        closed = closed + (SELECT status = 'closed' FROM whatsapp_conversations
                           WHERE conversation_id = new.conversation_id)
    WHERE label_id = new.label_id;
END;
CREATE TRIGGER IF NOT EXISTS label_counts_delete AFTER DELETE ON conversation_labels BEGIN
    UPDATE label_counts SET
        active = active - (SELECT status != 'closed' FROM whatsapp_conversations
                           WHERE conversation_id = old.conversation_id),
        closed = closed - (SELECT status = 'closed' FROM whatsapp_conversations
                           WHERE conversation_id = old.conversation_id)
    WHERE label_id = old.label_id;
END;
CREATE TRIGGER IF NOT EXISTS label_counts_status AFTER UPDATE OF status ON whatsapp_conversations
WHEN (old.status = 'closed') IS NOT (new.status = 'closed') BEGIN
    UPDATE label_counts SET
        active = active + (new.status != 'closed') - (old.status != 'closed'),
        closed = closed + (new.status = 'closed') - (old.status = 'closed')
    WHERE label_id IN (SELECT label_id FROM conversation_labels WHERE conversation_id = new.conversation_id);
END;
-- A conversation deleted (a merge folds it into the customer's other one, which takes its labels
-- first) takes its labels with it, counted while its status is still there to say which count.
CREATE TRIGGER IF NOT EXISTS conversation_labels_gone BEFORE DELETE ON whatsapp_conversations BEGIN
    DELETE FROM conversation_labels WHERE conversation_id = old.conversation_id;
END;
-- Shared snippets agents insert with `/code` in the composer (admins manage them). The body may hold
-- {{contact.name}}, {{contact.phone}}, {{agent.name}}, {{conversation.id}}: POST /canned-replies/<id>/render
-- fills them. A small table (at most 500 rows), read whole.
CREATE TABLE IF NOT EXISTS canned_replies (
    canned_reply_id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,            -- [a-z0-9_-]{1,32}, typed after '/'
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by INTEGER,                   -- the agent who created it (NULL: the service key or the CLI)
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Free key/value attributes of a customer (the contact panel), at most 50 per conversation.
CREATE TABLE IF NOT EXISTS conversation_attributes (
    conversation_id INTEGER NOT NULL REFERENCES whatsapp_conversations (conversation_id),
    attr_key TEXT NOT NULL,               -- [a-z0-9_.-]{1,64}
    value TEXT NOT NULL,                  -- at most 1000 characters
    updated_at TIMESTAMP NOT NULL,
    updated_by INTEGER,                   -- the agent who last set it (NULL: the service key)
    PRIMARY KEY (conversation_id, attr_key)
);

-- A customer's groups (the contact panel's earlier conversations): their memberships by phone or BSUID.
CREATE INDEX IF NOT EXISTS idx_participants_phone ON group_participants (phone_number);
CREATE INDEX IF NOT EXISTS idx_participants_user ON group_participants (user_id);
-- Snoozed conversations by the time they come back: the 'snoozed' tab and what the open tabs leave out
-- (only conversations ever snoozed are in it; one whose time passed is skipped by the range).
CREATE INDEX IF NOT EXISTS idx_conversations_snoozed ON whatsapp_conversations (snoozed_until)
    WHERE snoozed_until IS NOT NULL;

-- The team's settings (routing rules, business hours, typing indicators, report targets): one JSON
-- object per name, small and read whole. Admins change them through the API (store/settings.py).
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,                  -- a JSON object
    updated_at TIMESTAMP NOT NULL,
    updated_by INTEGER                    -- the agent who last changed it (NULL: the service key or CLI)
);

-- Presence (whatsapp/presence.py): each signed-in agent's dashboard sends a heartbeat every 20 s.
-- online_until is the heartbeat's time plus PRESENCE_TIMEOUT_SECONDS (kept with the row, so every
-- process, the webhook writer too, reads presence without the setting); past it the agent is offline.
-- away is set by hand and stays until changed.
CREATE TABLE IF NOT EXISTS agent_presence (
    agent_id INTEGER PRIMARY KEY REFERENCES agents (agent_id),
    away INTEGER NOT NULL DEFAULT 0,
    last_seen_at TIMESTAMP NOT NULL,
    online_until TIMESTAMP NOT NULL
);
-- Auto-assignment (whatsapp/routing.py): each agent's turn, the global sequence number of their latest
-- automatic assignment (round-robin gives the next conversation to the lowest; never assigned: 0).
CREATE TABLE IF NOT EXISTS agent_routing (
    agent_id INTEGER PRIMARY KEY REFERENCES agents (agent_id),
    turn INTEGER NOT NULL,
    last_auto_assigned_at TIMESTAMP NOT NULL
);
-- Conversations waiting for an agent (open, nobody assigned), oldest customer message first; only those
-- are in it. status and assigned_agent_id lead so the planner takes it over idx_conversations_status_activity.
CREATE INDEX IF NOT EXISTS idx_conversations_waiting
    ON whatsapp_conversations (status, assigned_agent_id, last_inbound_at, conversation_id)
    WHERE status = 'open' AND assigned_agent_id IS NULL;
-- Automatic replies outside business hours, decided in the delivery's transaction and sent after it
-- by a background worker (whatsapp/away_reply.py): 'queued' until a worker claims it ('sending',
-- claimed_at); the row goes once the send's outcome is stored. A claim older than the worker's
-- limit belongs to a process that died mid-send: its message is marked "may or may not have been
-- sent" and never sent again.
CREATE TABLE IF NOT EXISTS away_reply_queue (
    message_id INTEGER PRIMARY KEY REFERENCES whatsapp_messages (message_id),
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending')),
    queued_at TIMESTAMP NOT NULL,
    claimed_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_away_reply_queue_state ON away_reply_queue (state, message_id);
-- Typing indicators sent to customers (POST /typing): when the last one went out per conversation, so
-- that every worker together makes at most one Graph call per conversation per 20 s (decided in a
-- write transaction), and the customer message it was for.
CREATE TABLE IF NOT EXISTS typing_indicators (
    conversation_id INTEGER PRIMARY KEY,
    typing_sent_at TIMESTAMP NOT NULL,
    whatsapp_message_id TEXT
);

-- Who is viewing or typing in a thread (POST /activity): one row per agent and conversation, renewed by
-- the dashboard; a row whose `until` has passed is read as gone (nothing has to clear it).
CREATE TABLE IF NOT EXISTS conversation_activity (
    conversation_id INTEGER NOT NULL,
    agent_id INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('viewing', 'typing')),
    until TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);

-- Reports (store/reports.py): small tables kept at write time, in the same transaction as the message
-- or the status change they follow, so GET /reports reads days and periods, never whatsapp_messages.
-- A wait: opened by a customer's message when none is open for the conversation (its webhook time),
-- closed by the first agent reply after it (when the agent sent it; a reply Meta accepted), or by the
-- owner answering from the WhatsApp Business app (answered_in_app = 1, left out of response times).
-- Group threads have no waits and no resolutions (members talk among themselves).
CREATE TABLE IF NOT EXISTS response_waits (
    wait_id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    customer_at TIMESTAMP NOT NULL,
    in_hours INTEGER NOT NULL DEFAULT 1,   -- the customer wrote within business hours (1 without a schedule)
    answered_at TIMESTAMP,                 -- NULL: still waiting
    agent_id INTEGER,                      -- who answered
    answered_in_app INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_response_waits_open ON response_waits (conversation_id) WHERE answered_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_response_waits_customer_at ON response_waits (customer_at);

-- A resolution: opened by the customer writing in a new or closed conversation (or an agent reopening
-- one), closed when the conversation is closed; agent_id: the conversation's agent at the close.
CREATE TABLE IF NOT EXISTS conversation_resolutions (
    resolution_id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    in_hours INTEGER NOT NULL DEFAULT 1,
    closed_at TIMESTAMP,
    agent_id INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_resolutions_open ON conversation_resolutions (conversation_id) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_resolutions_closed_at ON conversation_resolutions (closed_at);

-- Counts by day (in the business hours' zone, else UTC) and agent (0: none; inbound messages count
-- for the conversation's agent, outbound for the sender), incremented as things happen.
CREATE TABLE IF NOT EXISTS report_daily (
    day TEXT NOT NULL,                     -- YYYY-MM-DD
    agent_id INTEGER NOT NULL DEFAULT 0,
    messages_in INTEGER NOT NULL DEFAULT 0,
    messages_out INTEGER NOT NULL DEFAULT 0,
    opened INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agent_id)
);
