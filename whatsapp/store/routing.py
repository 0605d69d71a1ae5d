"""SQL of auto-assignment (whatsapp/routing.py decides): candidates, the waiting queue, turns."""

from __future__ import annotations

import sqlite3

from .common import emit, now


def candidates(conn: sqlite3.Connection, moment: str) -> list[sqlite3.Row]:
    """Active agents online at `moment` and not away, with their open assigned conversations (`load`,
    from agent_conversation_counts) and their round-robin `turn` (0: never auto-assigned)."""
    return conn.execute(
        """SELECT p.agent_id, COALESCE(c.active, 0) AS load, COALESCE(r.turn, 0) AS turn
           FROM agent_presence p
           JOIN agents a ON a.agent_id = p.agent_id
           LEFT JOIN agent_conversation_counts c ON c.agent_id = p.agent_id
           LEFT JOIN agent_routing r ON r.agent_id = p.agent_id
           WHERE p.online_until > ? AND p.away = 0 AND a.active = 1""",
        (moment,),
    ).fetchall()


def waiting(conn: sqlite3.Connection, moment: str, limit: int) -> list[int]:
    """Conversations waiting for an agent, oldest customer message first: open (not closed), nobody
    assigned, not snoozed, an individual customer (not a group), and the last message the customer's or
    the automatic reply outside business hours (store/away_reply.py keeps away_replied_at at that
    reply's time): what came in overnight is handed out at opening time."""
    rows = conn.execute(
        """SELECT conversation_id FROM whatsapp_conversations
           WHERE status = 'open' AND assigned_agent_id IS NULL
             AND kind = 'individual'
             AND (snoozed_until IS NULL OR snoozed_until <= ?)
             AND last_inbound_at IS NOT NULL
             AND (last_inbound_at >= last_message_at OR away_replied_at >= last_message_at)
           ORDER BY last_inbound_at, conversation_id LIMIT ?""",
        (moment, limit),
    ).fetchall()
    return [int(row[0]) for row in rows]


def auto_assign(conn: sqlite3.Connection, conversation_id: int, agent_id: int, reason: str) -> bool:
    """Give a waiting conversation to an agent, take the agent's turn and emit conversation.assigned."""
    cur = conn.execute(
        """UPDATE whatsapp_conversations SET assigned_agent_id = ?, status = 'assigned', updated_at = ?
           WHERE conversation_id = ? AND status = 'open' AND assigned_agent_id IS NULL""",
        (agent_id, now(), conversation_id),
    )
    if cur.rowcount != 1:
        return False
    conn.execute(
        """INSERT INTO agent_routing (agent_id, turn, last_auto_assigned_at)
           VALUES (?, (SELECT COALESCE(MAX(turn), 0) + 1 FROM agent_routing), ?)
           ON CONFLICT (agent_id) DO UPDATE SET turn = excluded.turn,
             last_auto_assigned_at = excluded.last_auto_assigned_at""",
        (agent_id, now()),
    )
    emit(conn, "conversation.assigned", conversation_id, agent_id=agent_id, detail={"reason": reason})
    return True


def release(conn: sqlite3.Connection, conversation_id: int) -> None:
    """Nobody assigned any more (a closed conversation the customer reopened, for routing to decide)."""
    conn.execute(
        """UPDATE whatsapp_conversations SET assigned_agent_id = NULL,
             status = CASE WHEN status = 'closed' THEN 'closed' ELSE 'open' END, updated_at = ?
           WHERE conversation_id = ?""",
        (now(), conversation_id),
    )


def agent_active(conn: sqlite3.Connection, agent_id: int) -> bool:
    row = conn.execute("SELECT active FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    return row is not None and bool(row[0])
