"""What Meta charges: each status's `pricing` kept on its message, charged messages counted per day and
category (for /stats), free entry point windows on their conversation, and blocked customers."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from ..updates import Pricing
from .common import emit, now, one, stamp

# A reply to a customer who came from an ad or a Page button opens a free entry point window this long.
ENTRY_WINDOW = timedelta(hours=72)


def record_pricing(conn: sqlite3.Connection, message_id: int, pricing: Pricing, timestamp: str) -> None:
    """Keep a status's pricing on its message; count the message once when it becomes charged.

    Idempotent whatever the order: the sent status and one of delivered/read carry the same object,
    and the count moves only when the message's charged flag (or its category) changes.
    """
    row = one(
        conn,
        "SELECT conversation_id, pricing_charged, pricing_category, pricing_day FROM whatsapp_messages "
        "WHERE message_id = ?",
        message_id,
    )
    if row is None:
        return
    charged = 1 if pricing.charged else 0
    category = pricing.category or row["pricing_category"] or "unknown"
    was_counted = row["pricing_charged"] == 1
    day = (row["pricing_day"] if was_counted else None) or timestamp[:10]
    if was_counted and (not charged or row["pricing_category"] != category):
        _count(conn, row["pricing_day"], row["pricing_category"] or "unknown", -1)
    if charged and (not was_counted or row["pricing_category"] != category):
        _count(conn, day, category, 1)
    conn.execute(
        """UPDATE whatsapp_messages SET
             pricing_billable = COALESCE(?, pricing_billable),
             pricing_model = COALESCE(?, pricing_model),
             pricing_category = ?,
             pricing_type = COALESCE(?, pricing_type),
             pricing_charged = ?,
             pricing_day = ?
           WHERE message_id = ?""",
        (
            None if pricing.billable is None else int(pricing.billable),
            pricing.pricing_model,
            category,
            pricing.type,
            charged,
            day if charged else None,
            message_id,
        ),
    )
    if pricing.type == "free_entry_point":
        open_entry_window(conn, int(row["conversation_id"]), pricing.entry_expires_at, timestamp)


def _count(conn: sqlite3.Connection, day: str, category: str, delta: int) -> None:
    conn.execute(
        """INSERT INTO billable_message_counts (day, category, n) VALUES (?, ?, ?)
           ON CONFLICT (day, category) DO UPDATE SET n = billable_message_counts.n + excluded.n""",
        (day, category, delta),
    )


def open_entry_window(conn: sqlite3.Connection, conversation_id: int, expires_at: str | None, timestamp: str) -> None:
    """A free entry point window: until Meta's expiration, else 72 hours from the first such status."""
    if expires_at:
        cur = conn.execute(
            """UPDATE whatsapp_conversations SET free_entry_until = ?
               WHERE conversation_id = ? AND (free_entry_until IS NULL OR free_entry_until < ?)""",
            (expires_at, conversation_id, expires_at),
        )
    else:
        until = stamp(datetime.fromisoformat(timestamp) + ENTRY_WINDOW)
        cur = conn.execute(
            """UPDATE whatsapp_conversations SET free_entry_until = ?
               WHERE conversation_id = ? AND (free_entry_until IS NULL OR free_entry_until < ?)""",
            (until, conversation_id, timestamp),
        )
    if cur.rowcount:
        emit(conn, "conversation.updated", conversation_id)


def billable_by_category(conn: sqlite3.Connection, since_day: str) -> dict[str, int]:
    """Charged messages per pricing category since this UTC day ('YYYY-MM-DD'), from the daily counts."""
    rows = conn.execute(
        "SELECT category, SUM(n) FROM billable_message_counts WHERE day >= ? GROUP BY category ORDER BY category",
        (since_day,),
    ).fetchall()
    return {str(category): int(total) for category, total in rows if total}


def set_blocked(conn: sqlite3.Connection, conversation_id: int, blocked: bool) -> None:
    """Record that Meta blocked (or unblocked) this customer."""
    conn.execute(
        """UPDATE whatsapp_conversations SET blocked_at = CASE WHEN ? = 1 THEN COALESCE(blocked_at, ?) END,
             updated_at = ? WHERE conversation_id = ?""",
        (1 if blocked else 0, now(), now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)
