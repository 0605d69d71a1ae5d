"""Agents' activity in a thread (viewing, typing): one row per agent and conversation, renewed by the
dashboard, read as gone once its `until` has passed; an event only when an agent's state changes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from .common import emit, one, stamp

STATES = ("viewing", "typing", "left")


def set_activity(
    conn: sqlite3.Connection,
    conversation_id: int,
    agent_id: int,
    state: str,
    lasts: timedelta,
    at: datetime | None = None,
) -> bool:
    """Record (or renew) the agent's state; 'left' removes it. Emits `activity.updated` and returns
    True only when the state the others see changed (an expired row counts as gone). Call inside a
    write transaction."""
    moment = at or datetime.now(UTC)
    current = stamp(moment)
    row = one(
        conn,
        "SELECT state, until FROM conversation_activity WHERE conversation_id = ? AND agent_id = ?",
        conversation_id,
        agent_id,
    )
    before = row["state"] if row and row["until"] > current else "left"
    if state == "left":
        conn.execute(
            "DELETE FROM conversation_activity WHERE conversation_id = ? AND agent_id = ?", (conversation_id, agent_id)
        )
    else:
        conn.execute(
            """INSERT INTO conversation_activity (conversation_id, agent_id, state, until) VALUES (?, ?, ?, ?)
               ON CONFLICT (conversation_id, agent_id) DO UPDATE SET state = excluded.state, until = excluded.until""",
            (conversation_id, agent_id, state, stamp(moment + lasts)),
        )
    if before == state:
        return False
    emit(conn, "activity.updated", conversation_id, agent_id=agent_id, detail={"state": state})
    return True


def activity_in(conn: sqlite3.Connection, conversation_id: int, at: datetime | None = None) -> list[sqlite3.Row]:
    """Who is viewing or typing in the conversation now (expired rows left out), with their names."""
    current = stamp(at or datetime.now(UTC))
    return conn.execute(
        """SELECT a.agent_id, a.state, a.until, agents.name AS agent_name
           FROM conversation_activity AS a LEFT JOIN agents ON agents.agent_id = a.agent_id
           WHERE a.conversation_id = ? AND a.until > ?
           ORDER BY a.agent_id""",
        (conversation_id, current),
    ).fetchall()
