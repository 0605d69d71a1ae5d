"""Agent actions on a conversation beyond assigning and closing: mark unread, snooze, and the link from a
failed send to the message that sent it again."""

from __future__ import annotations

import sqlite3

from .common import emit, emit_message, now


def mark_unread(conn: sqlite3.Connection, conversation_id: int) -> None:
    """At least one unread message again (the count is kept when there are more): the tabs' counts
    follow by the conversation_counts triggers."""
    conn.execute(
        """UPDATE whatsapp_conversations SET unread_count = CASE WHEN unread_count > 0 THEN unread_count ELSE 1 END,
             updated_at = ? WHERE conversation_id = ?""",
        (now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


def snooze(conn: sqlite3.Connection, conversation_id: int, until: str | None) -> None:
    """Snooze until `until` (stored time), or with None wake it now."""
    conn.execute(
        "UPDATE whatsapp_conversations SET snoozed_until = ?, updated_at = ? WHERE conversation_id = ?",
        (until, now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


def snoozed_counts(conn: sqlite3.Connection, agent_id: int | None, moment: str | None = None) -> dict[str, int]:
    """How many conversations that are not closed sleep now, and how many of them each open tab would hold:
    a range of idx_conversations_snoozed (only the conversations snoozed right now are read)."""
    row = conn.execute(
        """SELECT COUNT(*),
                  COALESCE(SUM(CASE WHEN unread_count > 0 THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(CASE WHEN assigned_agent_id IS NULL THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(CASE WHEN assigned_agent_id = ? THEN 1 ELSE 0 END), 0)
           FROM whatsapp_conversations WHERE snoozed_until > ? AND status != 'closed'""",
        (agent_id, moment or now()),
    ).fetchone()
    return {"snoozed": int(row[0]), "unread": int(row[1]), "unassigned": int(row[2]), "mine": int(row[3])}


def note_retry(conn: sqlite3.Connection, failed_id: int, new_id: int) -> None:
    """Link a failed send to the message that sends it again (its Retry is done: the dashboard hides it)."""
    conn.execute(
        "UPDATE whatsapp_messages SET retried_by = ? WHERE message_id = ? AND retried_by IS NULL", (new_id, failed_id)
    )
    emit_message(conn, "message.updated", failed_id)
