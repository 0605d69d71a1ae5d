"""The automatic reply outside business hours: decided inside a delivery's transaction, queued, and
claimed by a background worker (whatsapp/away_reply.py) that sends it after the commit.

Pure SQL on the delivery's connection (it may run in the writer process): the decision reads the
`away_reply` and `business_hours` settings and the conversation, and takes the conversation's
`away_replied_at` with one conditional UPDATE, so two deliveries at once for the same customer queue
one reply, never two.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta

from ..updates import InboundMessage
from .common import LOCAL_PREFIX, now, one, stamp
from .outbound import create_outbound, mark_unknown, new_local_id

log = logging.getLogger(__name__)


def queue_away_reply(conn: sqlite3.Connection, conversation_id: int, message: InboundMessage) -> int | None:
    """After a customer's message is stored: queue the automatic reply if the team is outside its
    hours, the reply is switched on and this conversation had none in the period; its message id.

    Never for a group's thread (many writers: one would answer the whole group), for system
    messages, reactions, edits and deletions (they do not open the window), nor for a blocked
    customer. Imported history and echoes never come here (store/coexistence.py stores them).
    """
    if message.group_id or not message.opens_window:
        return None
    from .. import business_hours, present  # here: both import this package
    from ..away_reply import load as load_reply

    reply = load_reply(conn)
    if reply is None or not reply.enabled:
        return None
    moment = datetime.now(UTC)
    schedule = business_hours.load(conn)
    if schedule is None or schedule.is_open(moment):  # a schedule switched off is never outside hours
        return None
    conv = one(
        conn,
        "SELECT kind, blocked_at, last_inbound_at FROM whatsapp_conversations WHERE conversation_id = ?",
        conversation_id,
    )
    if conv is None or conv["kind"] != "individual" or conv["blocked_at"]:
        return None
    if not present.window(conv["last_inbound_at"], moment)[1]:  # a late redelivery of an old message
        return None
    taken = conn.execute(
        """UPDATE whatsapp_conversations SET away_replied_at = ?
           WHERE conversation_id = ? AND (away_replied_at IS NULL OR away_replied_at <= ?)""",
        (now(), conversation_id, stamp(moment - timedelta(hours=reply.period_hours))),
    )
    if taken.rowcount != 1:
        return None
    body = {"body": reply.text, "preview_url": False}
    message_id = create_outbound(
        conn,
        conversation_id,
        message_type="text",
        text=reply.text,
        agent_id=None,
        local_id=new_local_id(),
        raw=json.dumps({"text": body}, ensure_ascii=False),
    )
    conn.execute("UPDATE whatsapp_messages SET automatic = 1 WHERE message_id = ?", (message_id,))
    # away_replied_at at the reply's own place in the thread: while the reply is the last message the
    # customer still waits for an agent (routing's backlog hands the conversation out at opening time)
    conn.execute(
        "UPDATE whatsapp_conversations SET away_replied_at = last_message_at WHERE conversation_id = ?",
        (conversation_id,),
    )
    conn.execute(
        "INSERT INTO away_reply_queue (message_id, state, queued_at) VALUES (?, 'queued', ?)", (message_id, now())
    )
    log.info("Queued the automatic reply %s to conversation %s (outside business hours)", message_id, conversation_id)
    return message_id


def away_replies_due(conn: sqlite3.Connection, limit: int = 50) -> list[int]:
    """Queued automatic replies no worker has claimed, oldest first."""
    rows = conn.execute(
        "SELECT message_id FROM away_reply_queue WHERE state = 'queued' ORDER BY message_id LIMIT ?", (limit,)
    ).fetchall()
    return [int(row[0]) for row in rows]


def away_replies_waiting(conn: sqlite3.Connection) -> bool:
    """Whether any reply is queued or being sent (by any worker)."""
    return one(conn, "SELECT 1 FROM away_reply_queue LIMIT 1") is not None


def away_replies_abandoned(conn: sqlite3.Connection, claimed_before: str, limit: int = 50) -> list[int]:
    """Replies claimed before this time and never settled: their worker died while sending them."""
    rows = conn.execute(
        """SELECT message_id FROM away_reply_queue WHERE state = 'sending' AND claimed_at < ?
           ORDER BY message_id LIMIT ?""",
        (claimed_before, limit),
    ).fetchall()
    return [int(row[0]) for row in rows]


def claim_away_reply(conn: sqlite3.Connection, message_id: int) -> bool:
    """Take a queued reply for sending (in a write transaction); False if another worker has it."""
    cur = conn.execute(
        "UPDATE away_reply_queue SET state = 'sending', claimed_at = ? WHERE message_id = ? AND state = 'queued'",
        (now(), message_id),
    )
    return cur.rowcount == 1


def settle_away_reply(conn: sqlite3.Connection, message_id: int) -> None:
    """The send's outcome is stored (sent, failed or unknown): the reply leaves the queue."""
    conn.execute("DELETE FROM away_reply_queue WHERE message_id = ?", (message_id,))


def abandon_away_reply(conn: sqlite3.Connection, message_id: int, reason: str) -> None:
    """A claim whose worker died: Meta may or may not have the reply, so it is never sent again; a
    status carrying its local id settles it. One already settled only leaves the queue."""
    row = one(conn, "SELECT status, whatsapp_message_id FROM whatsapp_messages WHERE message_id = ?", message_id)
    if row is not None and row["status"] == "pending" and row["whatsapp_message_id"].startswith(LOCAL_PREFIX):
        mark_unknown(conn, message_id, reason)
    settle_away_reply(conn, message_id)
