"""The journal of raw webhook deliveries."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from .coexistence import history_import
from .common import STALE_PENDING, ago, now


def journal_insert(conn: sqlite3.Connection, body: bytes, state: str = "pending", error: str | None = None) -> int:
    """Journal a body, already processed ('processed' or 'failed', in the same transaction) or not."""
    at = now()
    cur = conn.execute(
        """INSERT INTO webhook_deliveries (received_at, body, state, error, attempts, processed_at)
           VALUES (?, ?, ?, ?, ?, ?)
           RETURNING delivery_id""",
        (at, body, state, error, int(state != "pending"), at if state == "processed" else None),
    )
    return int(cur.fetchone()[0])


def journal_finish(conn: sqlite3.Connection, delivery_id: int, state: str, error: str | None) -> None:
    conn.execute(
        """UPDATE webhook_deliveries SET state = ?, error = ?, attempts = attempts + 1,
             processed_at = CASE WHEN ? = 'processed' THEN ? ELSE processed_at END
           WHERE delivery_id = ?""",
        (state, error, state, now(), delivery_id),
    )


def journal_unprocessed(conn: sqlite3.Connection, include_processed: bool = False) -> list[sqlite3.Row]:
    where = "" if include_processed else "WHERE state != 'processed'"
    return conn.execute(f"SELECT delivery_id, body FROM webhook_deliveries {where} ORDER BY delivery_id").fetchall()


def journal_prune(conn: sqlite3.Connection, processed_before: str, limit: int) -> int:
    """Delete up to `limit` bodies processed before the cutoff (their rows live on in the inbox)."""
    cur = conn.execute(
        """DELETE FROM webhook_deliveries WHERE delivery_id IN (
               SELECT delivery_id FROM webhook_deliveries
               WHERE state = 'processed' AND processed_at < ? ORDER BY processed_at LIMIT ?)""",
        (processed_before, limit),
    )
    return cur.rowcount


def note_fields(conn: sqlite3.Connection, counts: Mapping[str, int]) -> None:
    """Count deliveries under each webhook field they carried: {field: deliveries}."""
    for name, deliveries in counts.items():
        conn.execute(
            """INSERT INTO webhook_fields (field, last_received_at, deliveries) VALUES (?, ?, ?)
               ON CONFLICT (field) DO UPDATE SET last_received_at = excluded.last_received_at,
                                                 deliveries = webhook_fields.deliveries + excluded.deliveries""",
            (name, now(), deliveries),
        )


def delivery_health(conn: sqlite3.Connection) -> dict[str, Any]:
    """What an operator checks first when messages stop arriving."""
    # The newest delivery by id (MAX(received_at) would read every body); the fields' counter keeps
    # the time once old deliveries are pruned.
    last = conn.execute(
        """SELECT MAX(at) FROM (
               SELECT received_at AS at FROM webhook_deliveries
               WHERE delivery_id = (SELECT MAX(delivery_id) FROM webhook_deliveries)
               UNION ALL SELECT MAX(last_received_at) FROM webhook_fields) AS latest"""
    ).fetchone()[0]
    parked = conn.execute("SELECT COUNT(*) FROM parked_statuses").fetchone()[0]
    media = conn.execute(
        """SELECT COUNT(*) FILTER (WHERE media_state IN ('pending', 'downloading')),
                  COUNT(*) FILTER (WHERE media_state = 'failed')
           FROM whatsapp_messages WHERE media_state IN ('pending', 'downloading', 'failed')"""
    ).fetchone()
    # An expired token (190) or a blocked account fails every send: show Meta's latest refusal.
    since = ago(24)
    failed_sends = conn.execute(
        """SELECT COUNT(*) FROM whatsapp_messages
           WHERE timestamp >= ? AND direction = 'outbound' AND status = 'failed'""",
        (since,),
    ).fetchone()[0]
    last_error = conn.execute(
        """SELECT error_code, error_title, error_details, COALESCE(failed_at, timestamp) AS at
           FROM whatsapp_messages
           WHERE timestamp >= ? AND direction = 'outbound' AND status = 'failed'
           ORDER BY timestamp DESC, message_id DESC LIMIT 1""",
        (since,),
    ).fetchone()
    by_field = {
        row["field"]: {"last_received_at": row["last_received_at"], "deliveries": row["deliveries"]}
        for row in conn.execute("SELECT * FROM webhook_fields ORDER BY field LIMIT 100")
    }
    # Sends whose process stopped between writing them and hearing from Meta.
    stuck = conn.execute(
        "SELECT COUNT(*) FROM whatsapp_messages WHERE status = 'pending' AND COALESCE(attempted_at, timestamp) < ?",
        (ago(STALE_PENDING.total_seconds() / 3600),),
    ).fetchone()[0]
    return {
        "last_webhook_at": last,
        "sends_pending_over_10_min": int(stuck),
        "webhook_fields": by_field,
        "deliveries": journal_counts(conn),
        "parked_statuses": int(parked),
        "media_pending": int(media[0]),
        "media_failed": int(media[1]),
        "failed_sends_last_24h": int(failed_sends),
        "last_send_error": (
            {
                "code": last_error["error_code"],
                "title": last_error["error_title"],
                "details": last_error["error_details"],
                "at": last_error["at"],
            }
            if last_error
            else None
        ),
        "history_import": history_import(conn),
    }


def journal_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Deliveries in the journal by state (kept by triggers: one small read however big it is)."""
    rows = conn.execute("SELECT state, n FROM webhook_delivery_counts WHERE n > 0 ORDER BY state").fetchall()
    return {row["state"]: row["n"] for row in rows}
