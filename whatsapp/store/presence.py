"""Presence rows (agent_presence): heartbeats, the away flag, and who is online at a moment."""

from __future__ import annotations

import sqlite3

from .common import one


def presence_row(conn: sqlite3.Connection, agent_id: int) -> sqlite3.Row | None:
    return one(
        conn, "SELECT agent_id, away, last_seen_at, online_until FROM agent_presence WHERE agent_id = ?", agent_id
    )


def record_heartbeat(
    conn: sqlite3.Connection, agent_id: int, seen_at: str, online_until: str, away: bool | None
) -> None:
    """The agent's dashboard is open now; `away` None keeps the flag as it was."""
    conn.execute(
        """INSERT INTO agent_presence (agent_id, away, last_seen_at, online_until) VALUES (?, ?, ?, ?)
           ON CONFLICT (agent_id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
             online_until = excluded.online_until,
             away = CASE WHEN CAST(? AS INTEGER) IS NULL THEN agent_presence.away ELSE excluded.away END""",
        (agent_id, 1 if away else 0, seen_at, online_until, None if away is None else 1),
    )


def presence_of_agents(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every active agent with their presence row's columns (NULL when they never sent a heartbeat)."""
    return conn.execute(
        """SELECT a.agent_id, a.name, p.away, p.last_seen_at, p.online_until
           FROM agents a LEFT JOIN agent_presence p ON p.agent_id = a.agent_id
           WHERE a.active = 1 ORDER BY a.name, a.agent_id"""
    ).fetchall()


def online_ids(conn: sqlite3.Connection, moment: str) -> list[int]:
    """Active agents online at `moment` (heartbeat fresh) and not away."""
    rows = conn.execute(
        """SELECT p.agent_id FROM agent_presence p JOIN agents a ON a.agent_id = p.agent_id
           WHERE p.online_until > ? AND p.away = 0 AND a.active = 1 ORDER BY p.agent_id""",
        (moment,),
    ).fetchall()
    return [int(row[0]) for row in rows]
