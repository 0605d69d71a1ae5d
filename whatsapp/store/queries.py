"""Read queries for the API: conversation lists, tabs, search, threads, stats."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from ..updates import ANNOTATION_TYPES, SQLITE_MAX_INT
from .actions import snoozed_counts
from .common import ago, now, one
from .engine import postgres
from .pricing import billable_by_category

# The dashboard's tabs. "open" is every conversation not closed; "all" is its older name, still accepted
# (it never held the closed ones). unread, mine and unassigned are open ones too.
TABS = ("open", "all", "unread", "mine", "unassigned", "closed", "snoozed")
# The tabs of conversations to work on: a snoozed one leaves them until its time passes (then it is back).
AWAKE_TABS = ("open", "all", "unread", "mine", "unassigned")
# A label on more conversations than this is listed by walking the activity index (its rows are
# common: a page is found soon); a rarer one through its own index (a sort of at most this many rows).
LABEL_WALK_FROM = 1000


def list_conversations(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    unread_only: bool = False,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
    label_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[sqlite3.Row]:
    """Conversations, newest activity first, filtered by status, unread, a dashboard tab, ids or a label."""
    if ids == []:
        return []
    walk = label_id is not None and ids is None and _label_size(conn, label_id) > LABEL_WALK_FROM
    clauses, params = conversation_filters(
        status, unread_only, tab, agent_id, ids, label_id, walk=walk and not postgres(conn)
    )
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # Snoozed ones come in the order they wake up, read straight from idx_conversations_snoozed. A
    # conversation with no message yet comes last (SQLite's order; PostgreSQL needs it said, and its
    # activity indexes are declared so).
    nulls = " NULLS LAST" if postgres(conn) else ""
    order = (
        "snoozed_until, conversation_id" if tab == "snoozed" else f"last_message_at DESC{nulls}, conversation_id DESC"
    )
    return conn.execute(
        f"""SELECT * FROM whatsapp_conversations {where}
            ORDER BY {order} LIMIT ? OFFSET ?""",
        (*params, limit, offset),
    ).fetchall()


def count_conversations(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    unread_only: bool = False,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
    label_id: int | None = None,
    counts: dict[str, int] | None = None,
) -> int:
    """How many conversations match: from the trigger-kept counts for a plain filter or tab (or a label
    alone, or with the 'closed' tab); otherwise counted, through the label's index with one. (The open
    tabs leave out snoozed conversations, which label_counts does not know of.)"""
    if ids == []:
        return 0
    if label_id is not None and ids is None and not status and not unread_only and tab in (None, "closed"):
        row = conn.execute("SELECT active, closed FROM label_counts WHERE label_id = ?", (label_id,)).fetchone()
        active, closed = (int(row[0]), int(row[1])) if row else (0, 0)
        return closed if tab == "closed" else active + closed
    if label_id is None and ids is None and not (status and (unread_only or tab)) and not (unread_only and tab):
        counts = counts or conversation_counts(conn)
        if status:
            return counts[status]
        if unread_only:
            return counts["unread"]
        if tab is None:
            return counts["total"]
        return tab_counts(conn, agent_id, counts)[tab]
    clauses, params = conversation_filters(status, unread_only, tab, agent_id, ids, label_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return int(conn.execute(f"SELECT COUNT(*) FROM whatsapp_conversations {where}", params).fetchone()[0])


def _label_size(conn: sqlite3.Connection, label_id: int) -> int:
    """How many conversations carry a label (label_counts: one row)."""
    row = conn.execute("SELECT active + closed FROM label_counts WHERE label_id = ?", (label_id,)).fetchone()
    return int(row[0]) if row else 0


def conversation_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """The row of conversation_counts (schema.sql keeps it by triggers)."""
    row = conn.execute("SELECT * FROM conversation_counts WHERE id = 1").fetchone()
    return {key: int(row[key]) for key in row.keys() if key != "id"}


def tab_counts(conn: sqlite3.Connection, agent_id: int | None, counts: dict[str, int] | None = None) -> dict[str, int]:
    """How many conversations sit behind each dashboard tab: two rows read, whatever the inbox's size, less
    the conversations snoozed right now (a range of a partial index: only those are read)."""
    counts = counts or conversation_counts(conn)
    mine = conn.execute("SELECT active FROM agent_conversation_counts WHERE agent_id = ?", (agent_id,)).fetchone()
    asleep = snoozed_counts(conn, agent_id)
    return {
        "open": counts["total"] - counts["closed"] - asleep["snoozed"],
        "all": counts["total"] - counts["closed"] - asleep["snoozed"],
        "unread": counts["unread_active"] - asleep["unread"],
        "mine": (int(mine[0]) if mine else 0) - asleep["mine"],
        "unassigned": counts["unassigned_active"] - asleep["unassigned"],
        "closed": counts["closed"],
        "snoozed": asleep["snoozed"],
    }


def conversation_filters(
    status: str | None,
    unread_only: bool,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
    label_id: int | None = None,
    *,
    walk: bool = False,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses of a list or count. `walk`: the label is a filter only (`+` keeps SQLite from
    driving the query by the label's rows), so a page walks the activity index and stops at the limit
    (SQLite only: PostgreSQL's planner chooses from its statistics, and a `+` would mean nothing)."""
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if unread_only:
        clauses.append("unread_count > 0")
    if tab == "closed":
        clauses.append("status = 'closed'")
    elif tab in ("open", "all", "unread", "mine", "unassigned"):
        clauses.append("status != 'closed'")
        if tab == "unread":
            clauses.append("unread_count > 0")
        elif tab == "mine":
            clauses.append("assigned_agent_id = ?")
            params.append(agent_id)
        elif tab == "unassigned":
            clauses.append("assigned_agent_id IS NULL")
    if tab in AWAKE_TABS:
        clauses.append("(snoozed_until IS NULL OR snoozed_until <= ?)")
        params.append(now())
    elif tab == "snoozed":
        clauses.extend(("status != 'closed'", "snoozed_until > ?"))
        params.append(now())
    if ids is not None:
        clauses.append(f"conversation_id IN ({','.join('?' * len(ids))})" if ids else "FALSE")
        params.extend(ids)
    if label_id is not None:  # through conversation_labels' index by label
        column = "+conversation_id" if walk else "conversation_id"
        clauses.append(f"{column} IN (SELECT conversation_id FROM conversation_labels WHERE label_id = ?)")
        params.append(label_id)
    return clauses, params


def search(conn: sqlite3.Connection, query: str, limit: int = 200) -> dict[int, int | None]:
    """Conversations matching a search (names, number, message text), newest matching message first.

    Returns {conversation_id: message_id of its newest matching message, or None for a name or
    number match}; `snippets` makes the snippets of the page shown. Accent-insensitive. Whole words
    come first; when they are too few, words of three letters or more also match as prefixes
    ('caf' finds 'Café'). FTS5 walks its index newest first and stops at the limit, so the cost
    does not grow with the inbox (a prefix is dearer: it merges every word it starts, hence second).
    On PostgreSQL the same queries go through the GIN indexes of schema_postgresql.sql ("Search").
    """
    found: dict[int, int | None] = {}
    matches = _matches(conn, query)
    if not matches:  # no words
        return found
    # Matching messages newest first, a chunk at a time: most searches fill the list from the first
    # chunk, so only its messages are looked up (at most limit * 5 are, as a cap on rare words' cost).
    for ids in _matching_messages(conn, matches, wanted=limit * 5, chunk=limit + limit // 4):
        marks = ",".join("?" * len(ids))
        owners = dict(
            conn.execute(
                f"SELECT message_id, conversation_id FROM whatsapp_messages WHERE message_id IN ({marks})", ids
            ).fetchall()
        )
        for message_id in ids:
            if message_id in owners:
                found.setdefault(int(owners[message_id]), message_id)
        if len(found) >= limit:  # later matches would fall beyond the cut below
            break
    # Names the same way: whole words, newest first (FTS5 stops at the limit), then word beginnings
    # only when those are too few (a prefix merges every word it starts: its cost follows the inbox).
    # What is found past the limit is cut below, so once the list is full nothing else is looked up.
    for match in matches:
        if len(found) >= limit:
            break
        for (conversation_id,) in conn.execute(_NAMES[postgres(conn)], (*match, limit)):
            found.setdefault(int(conversation_id), None)
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4 and len(found) < limit:  # any run of the number's digits, through the trigram index
        for (conversation_id,) in conn.execute(_PHONES[postgres(conn)], (f"%{digits}%", limit)):
            found.setdefault(int(conversation_id), None)
    return dict(list(found.items())[:limit])


# Each search statement for SQLite's FTS5 tables (False) and PostgreSQL's GIN indexes (True); a match
# is ('"w1" "w2"*',) for FTS5 and (query, prefix) for wa_search_query (see `_matches`).
# PostgreSQL's `ORDER BY id + 0`: the planner cannot know how rare a word is (a lexeme outside its
# statistics is estimated at 0.5 % of the rows), so with a plain ORDER BY id it walks the primary
# key newest first, computing each row's vector, and a word found in a few messages, or none, costs
# a walk of the whole table (37 s at a million messages). Ordering by an expression sends it to the
# GIN index instead, whose cost follows the matches (8 ms for a rare word there, under a second for
# one in 15 % of the messages; BENCHMARKS.md).
_NAMES = {
    False: "SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
    True: """SELECT conversation_id FROM whatsapp_conversations
             WHERE wa_names_vector(contact_name, contact_profile_name, username) @@ wa_search_query(?, ?)
             ORDER BY conversation_id + 0 DESC LIMIT ?""",
}
_PHONES = {
    False: "SELECT rowid FROM phones_fts WHERE phone_number LIKE ? ORDER BY rowid DESC LIMIT ?",
    True: """SELECT conversation_id FROM whatsapp_conversations WHERE phone_number LIKE ?
             ORDER BY conversation_id DESC LIMIT ?""",
}
_MESSAGES = {
    False: "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
    True: """SELECT message_id FROM whatsapp_messages
             WHERE wa_search_vector(message_text) @@ wa_search_query(?, ?) AND message_id < ?
             ORDER BY message_id + 0 DESC LIMIT ?""",
}
_SNIPPETS = {
    # `+rowid IN` filters without steering FTS5 (an IN it would serve by one lookup per id).
    False: """SELECT rowid, snippet(messages_fts, 0, '**', '**', '…', 12) FROM messages_fts
              WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN ({marks})""",
    # A text of up to 12 words is shown whole, as FTS5's snippet shows it; a longer one, its fragment.
    True: """SELECT message_id, CASE
                 WHEN array_length(regexp_split_to_array(btrim(message_text), '[[:space:]]+'), 1) <= 12
                 THEN ts_headline('wa_search', message_text, wa_search_query(?, ?),
                      'StartSel=**, StopSel=**, HighlightAll=true')
                 ELSE ts_headline('wa_search', message_text, wa_search_query(?, ?),
                      'StartSel=**, StopSel=**, MaxWords=12, MinWords=6, MaxFragments=1, FragmentDelimiter=…')
             END
             FROM whatsapp_messages
             WHERE wa_search_vector(message_text) @@ wa_search_query(?, ?) AND message_id IN ({marks})""",
}


def _matches(conn: sqlite3.Connection, query: str) -> list[tuple[Any, ...]]:
    """The passes of a search, as parameters of its statements: whole words, then (unless that is the
    same: no word of 3+ letters) word beginnings. Empty when the query has no word."""
    exact, prefix = match_expression(query, prefix=False), match_expression(query, prefix=True)
    if exact is None:  # no words: prefix is None too
        return []
    passes = [(exact, False)] if prefix == exact else [(exact, False), (prefix, True)]
    if postgres(conn):  # wa_search_query splits, unaccents and marks prefixes itself
        return [(query, is_prefix) for _, is_prefix in passes]
    return [(expression,) for expression, _ in passes]


def _matching_messages(
    conn: sqlite3.Connection, matches: list[tuple[Any, ...]], *, wanted: int, chunk: int
) -> Iterator[list[int]]:
    """Ids of matching messages in chunks, newest first: whole words, then (while fewer than `wanted`
    were found) word beginnings not matched already; `wanted` in all at most."""
    seen: set[int] = set()
    for match in matches:
        examined, before = 0, None
        while examined < wanted and len(seen) < wanted:
            size = min(chunk, wanted - examined)
            rows = _newest_matches(conn, match, size, before)
            examined += len(rows)
            new = [i for i in rows if i not in seen][: wanted - len(seen)]
            seen.update(new)
            if new:
                yield new
            if len(rows) < size:
                break
            before = rows[-1]


def _newest_matches(
    conn: sqlite3.Connection, match: tuple[Any, ...], limit: int, before: int | None = None
) -> list[int]:
    """Newest first: FTS5 walks its index backwards from `before` and stops at the limit (PostgreSQL:
    the GIN index gives every match, sorted then; see _MESSAGES)."""
    rows = conn.execute(_MESSAGES[postgres(conn)], (*match, before if before is not None else SQLITE_MAX_INT, limit))
    return [int(r[0]) for r in rows]


def match_expression(query: str, *, prefix: bool) -> str | None:
    """Every word of the query, all required; with `prefix`, words of 3+ letters as prefixes too."""
    words = re.findall(r"\w+", query)
    if not words:
        return None
    return " ".join(f'"{w}"*' if prefix and len(w) >= 3 else f'"{w}"' for w in words)


def snippets(conn: sqlite3.Connection, query: str, message_ids: list[int]) -> dict[int, str]:
    """The matching words of these messages in context, **marked**: only for the page shown.

    One pass over the rowid range of the page (FTS5 re-reads a prefix's words for each single-row
    lookup), whole words first, then prefixes for the messages whole words did not match.
    """
    found: dict[int, str] = {}
    pg = postgres(conn)
    for match in _matches(conn, query):
        wanted = sorted(set(message_ids) - set(found))
        if not wanted:
            break
        sql = _SNIPPETS[pg].format(marks=",".join("?" * len(wanted)))
        params = (*match, *match, *match, *wanted) if pg else (*match, wanted[0], wanted[-1], *wanted)
        for message_id, snippet in conn.execute(sql, params):
            found[int(message_id)] = snippet
    return found


def list_messages(
    conn: sqlite3.Connection,
    conversation_id: int,
    limit: int = 50,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[sqlite3.Row]:
    """A page of a thread, oldest first: the newest `limit`, or those just before/after a message.

    Reactions, edits and deletions are not bubbles of their own: see `annotations_for`.
    """
    hidden = ",".join(f"'{t}'" for t in ANNOTATION_TYPES)
    where = f"conversation_id = ? AND message_type NOT IN ({hidden})"
    cursor = "(SELECT timestamp, message_id FROM whatsapp_messages WHERE message_id = ?)"
    if after_id is not None:
        return conn.execute(
            f"""SELECT * FROM whatsapp_messages WHERE {where} AND (timestamp, message_id) > {cursor}
                ORDER BY timestamp, message_id LIMIT ?""",
            (conversation_id, after_id, limit),
        ).fetchall()
    params: tuple[Any, ...] = (conversation_id, limit)
    if before_id is not None:
        where += f" AND (timestamp, message_id) < {cursor}"
        params = (conversation_id, before_id, limit)
    rows = conn.execute(
        f"SELECT * FROM whatsapp_messages WHERE {where} ORDER BY timestamp DESC, message_id DESC LIMIT ?", params
    ).fetchall()
    rows.reverse()
    return rows


def annotations_for(conn: sqlite3.Connection, wamids: list[str]) -> dict[str, list[sqlite3.Row]]:
    """Reactions, edits and deletions of these messages, oldest first, keyed by the target's wamid."""
    found: dict[str, list[sqlite3.Row]] = {}
    kinds = ",".join(f"'{t}'" for t in ANNOTATION_TYPES)
    for start in range(0, len(wamids), 500):
        chunk = wamids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"""SELECT * FROM whatsapp_messages WHERE context_message_id IN ({marks})
                AND message_type IN ({kinds}) ORDER BY timestamp, message_id""",
            chunk,
        ).fetchall()
        for row in rows:
            found.setdefault(row["context_message_id"], []).append(row)
    return found


def messages_by_wamid(conn: sqlite3.Connection, wamids: list[str]) -> dict[str, sqlite3.Row]:
    """The stored messages among these wamids (for the quoted message of a reply)."""
    found: dict[str, sqlite3.Row] = {}
    for start in range(0, len(wamids), 500):
        chunk = wamids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT * FROM whatsapp_messages WHERE whatsapp_message_id IN ({marks})", chunk
        ).fetchall():
            found[row["whatsapp_message_id"]] = row
    return found


def message_in_conversation(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> bool:
    row = one(conn, "SELECT conversation_id FROM whatsapp_messages WHERE message_id = ?", message_id)
    return row is not None and row["conversation_id"] == conversation_id


def get_message(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row | None:
    return one(conn, "SELECT * FROM whatsapp_messages WHERE message_id = ?", message_id)


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    counts = conversation_counts(conn)
    since = ago(24 * 29)[:10]  # today and the 29 days before it
    billable = billable_by_category(conn, since)
    recent = conn.execute("SELECT COUNT(*) FROM whatsapp_messages WHERE timestamp >= ?", (ago(24),)).fetchone()[0]
    return {
        "total_conversations": counts["total"],
        "unread_conversations": counts["unread"],
        "open_conversations": counts["open"],
        "assigned_conversations": counts["assigned"],
        "closed_conversations": counts["closed"],
        "messages_last_24h": int(recent),
        "billable_last_30_days": {"total": sum(billable.values()), "by_category": billable, "since": since},
    }
