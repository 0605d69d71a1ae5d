#!/bin/sh
# Two transactions at once against schema_postgresql.sql's label counts: one labels a conversation
# while the other closes it, in both orders. SQLite's single writer never interleaves them; on
# PostgreSQL label_counts_insert locks the conversation row so the counts stay exact either way.
# The order is forced with an advisory lock and by waiting until a session is blocked (no sleeps
# decide the outcome). Usage, on a database where schema_postgresql.sql is loaded and empty:
#   PGHOST=/tmp/pgs PGPORT=54340 PGDATABASE=wa PGUSER=postgres sh tests/pg_schema_concurrency.sh
# Then four sessions change conversations at once and the counts must equal a recount.
# It leaves the tables empty again. Exit 0 when every check passed.
set -eu
PSQL="psql -X -q -t -A -v ON_ERROR_STOP=1"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sql() { $PSQL -c "$1"; }

# Wait until `count` sessions of this database are blocked on a lock (row or advisory), or until
# process $2 (when given) has ended without blocking: then the check that follows tells.
wait_blocked() {
    while [ "$(sql "SELECT COUNT(*) FROM pg_stat_activity
                    WHERE wait_event_type = 'Lock' AND datname = current_database()")" -lt "$1" ]; do
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
            return
        fi
        sql "SELECT pg_sleep(0.05)" >/dev/null
    done
}

reset() {
    sql "TRUNCATE whatsapp_conversations, labels RESTART IDENTITY CASCADE;
         UPDATE conversation_counts SET total = 0, open = 0, assigned = 0, closed = 0, unread = 0,
                unread_active = 0, unassigned_active = 0;
         TRUNCATE agent_conversation_counts;
         INSERT INTO labels (name, name_key, colour, created_at) VALUES ('VIP', 'vip', '#aa0000', 'x');
         INSERT INTO label_counts (label_id) VALUES (1);
         INSERT INTO whatsapp_conversations (phone_number) VALUES ('+14155550001');"
}

check() {  # $1: what happened
    got=$(sql "SELECT active || '/' || closed FROM label_counts WHERE label_id = 1")
    want=$(sql "SELECT COUNT(*) FILTER (WHERE c.status != 'closed') || '/' || COUNT(*) FILTER (WHERE c.status = 'closed')
                FROM conversation_labels cl JOIN whatsapp_conversations c USING (conversation_id) WHERE cl.label_id = 1")
    if [ "$got" != "$want" ]; then
        echo "check failed: $1: label_counts active/closed is $got, the labels say $want" >&2
        exit 1
    fi
    echo "ok: $1 ($got)"
}

# The driver holds advisory lock 17 in a session of its own, kept open through a fifo.
hold_lock() {
    mkfifo "$WORK/driver"
    $PSQL <"$WORK/driver" >/dev/null &
    DRIVER=$!
    exec 3>"$WORK/driver"
    echo "SELECT pg_advisory_lock(17);" >&3
    while [ "$(sql "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 17 AND granted")" -lt 1 ]; do
        sql "SELECT pg_sleep(0.05)" >/dev/null
    done
}
release_lock() {
    echo "SELECT pg_advisory_unlock(17);" >&3
    exec 3>&-
    wait "$DRIVER"
    rm -f "$WORK/driver"
}

# 1. The label first (it locks the conversation), the close while it is still open.
reset
hold_lock
$PSQL -c "BEGIN;
          INSERT INTO conversation_labels (conversation_id, label_id, added_at) VALUES (1, 1, 'x');
          SELECT pg_advisory_lock(17); SELECT pg_advisory_unlock(17);
          COMMIT;" >/dev/null &
LABEL=$!
wait_blocked 1                       # the labelling transaction waits on the driver
$PSQL -c "UPDATE whatsapp_conversations SET status = 'closed' WHERE conversation_id = 1" >/dev/null &
CLOSE=$!
wait_blocked 2 "$CLOSE"              # the close waits for the labelled conversation's lock
release_lock
wait "$LABEL"
wait "$CLOSE"
check "labelled, then closed before the label committed"

# 2. The close first (it holds the row), the label while the close is still open.
reset
hold_lock
$PSQL -c "BEGIN;
          UPDATE whatsapp_conversations SET status = 'closed' WHERE conversation_id = 1;
          SELECT pg_advisory_lock(17); SELECT pg_advisory_unlock(17);
          COMMIT;" >/dev/null &
CLOSE=$!
wait_blocked 1
$PSQL -c "INSERT INTO conversation_labels (conversation_id, label_id, added_at) VALUES (1, 1, 'x')" >/dev/null &
LABEL=$!
wait_blocked 2 "$LABEL"              # the label's trigger waits for the closing transaction
release_lock
wait "$CLOSE"
wait "$LABEL"
check "closed, then labelled before the close committed"

# 3. The same for taking the label off while the conversation is reopened.
hold_lock
$PSQL -c "BEGIN;
          UPDATE whatsapp_conversations SET status = 'open' WHERE conversation_id = 1;
          SELECT pg_advisory_lock(17); SELECT pg_advisory_unlock(17);
          COMMIT;" >/dev/null &
OPEN=$!
wait_blocked 1
$PSQL -c "DELETE FROM conversation_labels WHERE conversation_id = 1 AND label_id = 1" >/dev/null &
UNLABEL=$!
wait_blocked 2 "$UNLABEL"
release_lock
wait "$OPEN"
wait "$UNLABEL"
check "reopened, then unlabelled before the reopen committed"
got=$(sql "SELECT active || '/' || closed FROM label_counts WHERE label_id = 1")
[ "$got" = "0/0" ] || { echo "check failed: an unlabelled label counts $got" >&2; exit 1; }

# 4. Four sessions creating, assigning, reading and closing conversations at once, one transaction
# per statement: the one-row counts and the agents' counts equal a recount afterwards.
reset
for worker in 1 2 3 4; do
    (
        i=0
        while [ $i -lt 40 ]; do
            echo "INSERT INTO whatsapp_conversations (phone_number, unread_count) VALUES ('+1555$worker$i', 1);"
            echo "UPDATE whatsapp_conversations SET assigned_agent_id = $worker, status = 'assigned'
                  WHERE phone_number = '+1555$worker$i';"
            echo "UPDATE whatsapp_conversations SET unread_count = 0 WHERE conversation_id % 3 = $((i % 3));"
            echo "UPDATE whatsapp_conversations SET status = 'closed' WHERE phone_number = '+1555$worker$((i / 2))';"
            echo "UPDATE whatsapp_conversations SET assigned_agent_id = $(((worker % 4) + 1))
                  WHERE phone_number = '+1555$worker$((i / 3))';"
            i=$((i + 1))
        done
    ) | psql -X -q -t -A >/dev/null 2>>"$WORK/errors" &  # a statement that fails is rolled back alone
done
wait
# A multi-row UPDATE locks conversations in its own order and then the counts row: two of them can
# deadlock (PostgreSQL aborts one, SQLSTATE 40P01, which the port must retry). Anything else is a bug.
if grep -v "deadlock detected\|^DETAIL\|^HINT\|^CONTEXT\|Process [0-9]* waits\|^ *$" "$WORK/errors" | grep -q .; then
    echo "check failed: a worker's statement failed:" >&2
    cat "$WORK/errors" >&2
    exit 1
fi
echo "($(grep -c "deadlock detected" "$WORK/errors" || true) statements aborted as deadlocks)"
counted=$(sql "SELECT format('%s %s %s %s %s %s %s', total, open, assigned, closed, unread, unread_active,
                             unassigned_active) FROM conversation_counts")
recount=$(sql "SELECT format('%s %s %s %s %s %s %s', COUNT(*), COUNT(*) FILTER (WHERE status = 'open'),
                      COUNT(*) FILTER (WHERE status = 'assigned'), COUNT(*) FILTER (WHERE status = 'closed'),
                      COUNT(*) FILTER (WHERE unread_count > 0),
                      COUNT(*) FILTER (WHERE status != 'closed' AND unread_count > 0),
                      COUNT(*) FILTER (WHERE status != 'closed' AND assigned_agent_id IS NULL))
               FROM whatsapp_conversations")
[ "$counted" = "$recount" ] || { echo "check failed: conversation_counts $counted, recounted $recount" >&2; exit 1; }
agents=$(sql "SELECT COUNT(*) FROM (
                  SELECT assigned_agent_id, COUNT(*) FROM whatsapp_conversations
                  WHERE assigned_agent_id IS NOT NULL AND status != 'closed' GROUP BY 1
                  EXCEPT SELECT agent_id, active FROM agent_conversation_counts WHERE active != 0) AS d")
[ "$agents" = "0" ] || { echo "check failed: agent_conversation_counts differ from a recount" >&2; exit 1; }
echo "ok: concurrent sessions kept conversation_counts exact ($counted)"

sql "TRUNCATE whatsapp_conversations, labels RESTART IDENTITY CASCADE;
     UPDATE conversation_counts SET total = 0, open = 0, assigned = 0, closed = 0, unread = 0,
            unread_active = 0, unassigned_active = 0;
     TRUNCATE agent_conversation_counts;"
echo "pg_schema_concurrency: every check passed"
