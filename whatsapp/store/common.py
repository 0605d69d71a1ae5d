"""Shared pieces of the storage layer: time, the event log, constants."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}


CONVERSATION_STATUSES = ("open", "closed", "assigned")


LOCAL_PREFIX = "local."


def stamp(moment: datetime) -> str:
    """A moment as the database keeps it (UTC, to the second, sortable as text)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


_second: tuple[int, str] = (0, "")


def now() -> str:
    """The current time as stored; formatted once a second (a delivery asks for it several times)."""
    global _second
    second = int(time.time())
    if _second[0] != second:
        _second = (second, stamp(datetime.fromtimestamp(second, UTC)))
    return _second[1]


# A send still pending after this long lost its answer from Meta (the process stopped mid-send).
STALE_PENDING = timedelta(minutes=10)


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def preview(message_type: str, text: str | None) -> str:
    """The one line the conversation list shows for a message."""
    if message_type == "reaction":
        return f"Reacted {text}" if text else "Removed a reaction"
    if text:
        return text if len(text) <= 200 else text[:199] + "…"
    return f"[{message_type}]"


def emit(
    conn: sqlite3.Connection,
    kind: str,
    conversation_id: int | None,
    message_id: int | None = None,
    merged_from: int | None = None,
    *,
    agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the event log, in the caller's transaction (so an event exists iff its change does).
    `detail` is a small JSON object of the kind's own facts (e.g. {"reason": "round-robin"})."""
    conn.execute(
        """INSERT INTO events (created_at, kind, conversation_id, message_id, merged_from, agent_id, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            now(),
            kind,
            conversation_id,
            message_id,
            merged_from,
            agent_id,
            json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail is not None else None,
        ),
    )


def emit_message(conn: sqlite3.Connection, kind: str, message_id: int) -> None:
    conn.execute(
        """INSERT INTO events (created_at, kind, conversation_id, message_id)
           SELECT ?, ?, conversation_id, message_id FROM whatsapp_messages WHERE message_id = ?""",
        (now(), kind, message_id),
    )


def events_after(conn: sqlite3.Connection, after: int, limit: int = 500) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?", (after, limit)).fetchall()


def last_event_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0])


def oldest_event_id(conn: sqlite3.Connection) -> int:
    """The oldest event kept other than `conversation.merged` ones (kept forever): ids below it may have
    been pruned. One past the newest when there is none (a new inbox)."""
    row = conn.execute("SELECT event_id FROM events WHERE merged_from IS NULL ORDER BY event_id LIMIT 1").fetchone()
    return int(row[0]) if row else last_event_id(conn) + 1


def events_prune(conn: sqlite3.Connection, created_before: str, limit: int) -> int:
    """Delete up to `limit` of the oldest events created before the cutoff, oldest first.

    Never a `conversation.merged` event (merged_from NOT NULL): those keep a merged-away conversation
    id from being given again and answer its 404 with merged_into. Never the newest event either, so
    the log's last id (what a new stream starts from) does not go back. Only the oldest `limit` rows
    are read: the walk stops at the first event younger than the cutoff."""
    rows = conn.execute(
        "SELECT event_id, created_at FROM events WHERE merged_from IS NULL ORDER BY event_id LIMIT ?", (limit,)
    ).fetchall()
    through = None
    for event_id, created_at in rows:
        if created_at >= created_before:
            break
        through = event_id
    if through is None:
        return 0
    cur = conn.execute(
        """DELETE FROM events WHERE event_id <= ? AND merged_from IS NULL
           AND event_id < (SELECT MAX(event_id) FROM events)""",
        (through,),
    )
    return cur.rowcount


def one(conn: sqlite3.Connection, sql: str, *params: Any) -> sqlite3.Row | None:
    return conn.execute(sql, params).fetchone()
