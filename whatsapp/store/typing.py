"""Typing indicators to customers: the message one is for, and the claim that keeps them to one per
conversation per renewal period across every worker (decided in the caller's write transaction)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from .common import one, stamp


def latest_inbound(conn: sqlite3.Connection, conversation_id: int) -> sqlite3.Row | None:
    """The customer's latest message (not imported history, not a system notice): its id, wamid, time."""
    return one(
        conn,
        """SELECT message_id, whatsapp_message_id, timestamp FROM whatsapp_messages
           WHERE conversation_id = ? AND direction = 'inbound' AND message_type != 'system'
             AND (origin IS NULL OR origin != 'history')
           ORDER BY timestamp DESC, message_id DESC LIMIT 1""",
        conversation_id,
    )


def answered(conn: sqlite3.Connection, conversation_id: int, message: sqlite3.Row) -> bool:
    """Whether a reply (an outbound message that did not fail, not the automatic reply outside business
    hours) was stored after this customer message
    arrived. (By arrival: a message the customer sent while the reply was on its way is unanswered.)"""
    return (
        one(
            conn,
            """SELECT 1 FROM whatsapp_messages
               WHERE conversation_id = ? AND timestamp >= ? AND message_id > ?
                 AND direction = 'outbound' AND status != 'failed' AND automatic = 0
                 AND message_type NOT IN ('reaction', 'edit', 'revoke')
               LIMIT 1""",
            conversation_id,
            message["timestamp"],
            message["message_id"],
        )
        is not None
    )


def claim_typing(
    conn: sqlite3.Connection, conversation_id: int, wamid: str, renew: timedelta, at: datetime | None = None
) -> tuple[bool, str | None]:
    """Take the right to send an indicator now: False when one went out less than `renew` ago.
    Returns (claimed, the previous time, to give back with release_typing if the call fails)."""
    moment = at or datetime.now(UTC)
    row = one(conn, "SELECT typing_sent_at FROM typing_indicators WHERE conversation_id = ?", conversation_id)
    previous = row["typing_sent_at"] if row else None
    # Times are kept to the second: strictly older than `renew` seconds keeps calls `renew` apart.
    if previous is not None and previous >= stamp(moment - renew):
        return False, previous
    conn.execute(
        """INSERT INTO typing_indicators (conversation_id, typing_sent_at, whatsapp_message_id) VALUES (?, ?, ?)
           ON CONFLICT (conversation_id) DO UPDATE SET typing_sent_at = excluded.typing_sent_at,
                                                       whatsapp_message_id = excluded.whatsapp_message_id""",
        (conversation_id, stamp(moment), wamid),
    )
    return True, previous


def release_typing(conn: sqlite3.Connection, conversation_id: int, claimed_at: datetime, previous: str | None) -> None:
    """Meta did not take the indicator: give the claim back (unless another call renewed it since)."""
    if previous is None:
        conn.execute(
            "DELETE FROM typing_indicators WHERE conversation_id = ? AND typing_sent_at = ?",
            (conversation_id, stamp(claimed_at)),
        )
    else:
        conn.execute(
            "UPDATE typing_indicators SET typing_sent_at = ? WHERE conversation_id = ? AND typing_sent_at = ?",
            (previous, conversation_id, stamp(claimed_at)),
        )
