"""Media download bookkeeping: claims, due retries, outcomes."""

from __future__ import annotations

import sqlite3

from .common import emit_message, now
from .queries import get_message


def claim_media(conn: sqlite3.Connection, message_id: int, force: bool, stale_before: str) -> sqlite3.Row | None:
    """Take a message's media download for this worker (inside a write transaction), or None if
    it is not due, or another worker holds a fresh claim. `force` claims a ready one too (its file
    went missing, or an agent asked)."""
    # Due: its backoff step has passed (a pending one without a time, from older versions, is due).
    due = (
        ""
        if force
        else """AND ((media_next_attempt_at IS NOT NULL AND media_next_attempt_at <= :now)
                     OR (media_state = 'pending' AND media_next_attempt_at IS NULL))"""
    )
    states = "'pending', 'failed', 'ready'" if force else "'pending', 'failed'"
    cur = conn.execute(
        f"""UPDATE whatsapp_messages SET media_state = 'downloading', media_next_attempt_at = :now
            WHERE message_id = :id AND media_id IS NOT NULL AND (
                (media_state IN ({states}) {due})
                OR (media_state = 'downloading' AND media_next_attempt_at <= :stale))""",
        {"id": message_id, "now": now(), "stale": stale_before},
    )
    return get_message(conn, message_id) if cur.rowcount == 1 else None


def media_fetchable(conn: sqlite3.Connection, message_id: int) -> None:
    """Let an outbound message's media (sent by Meta media id) be downloaded like an inbound one's."""
    conn.execute(
        """UPDATE whatsapp_messages SET media_state = 'pending', media_next_attempt_at = ?
           WHERE message_id = ? AND media_state IS NULL AND media_id IS NOT NULL""",
        (now(), message_id),
    )


def media_due(conn: sqlite3.Connection, stale_before: str, limit: int = 20) -> list[int]:
    rows = conn.execute(
        """SELECT message_id FROM whatsapp_messages
           WHERE media_state IN ('pending', 'failed', 'downloading') AND media_next_attempt_at IS NOT NULL
             AND ((media_state != 'downloading' AND media_next_attempt_at <= ?)
                  OR (media_state = 'downloading' AND media_next_attempt_at <= ?))
           ORDER BY media_next_attempt_at LIMIT ?""",
        (now(), stale_before, limit),
    ).fetchall()
    return [int(r["message_id"]) for r in rows]


def media_ready(conn: sqlite3.Connection, message_id: int, path: str, size: int, mime_type: str | None) -> None:
    conn.execute(
        """UPDATE whatsapp_messages SET media_state = 'ready', media_path = ?, media_size = ?,
             media_type = COALESCE(media_type, ?), media_error = NULL, media_next_attempt_at = NULL,
             media_attempts = media_attempts + 1
           WHERE message_id = ?""",
        (path, size, mime_type, message_id),
    )
    emit_message(conn, "message.updated", message_id)


def media_failed(conn: sqlite3.Connection, message_id: int, error: str, next_attempt_at: str | None) -> None:
    conn.execute(
        """UPDATE whatsapp_messages SET media_state = 'failed', media_error = ?, media_next_attempt_at = ?,
             media_attempts = media_attempts + 1
           WHERE message_id = ?""",
        (error, next_attempt_at, message_id),
    )
    emit_message(conn, "message.updated", message_id)
