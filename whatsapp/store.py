"""All SQL: customers and conversations, inbound messages, status transitions, sends, queries.

Every function takes the connection; callers own the transaction (`db.write_transaction`), so one
webhook delivery or one send step is one unit of work.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import phones
from .updates import ANNOTATION_TYPES, Delivery, InboundMessage, StatusUpdate

log = logging.getLogger(__name__)

# Outbound statuses only ever move up this ladder; 'failed' is terminal and outranks them all.
STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
CONVERSATION_STATUSES = ("open", "closed", "assigned")
LOCAL_PREFIX = "local."


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def preview(message_type: str, text: str | None) -> str:
    """The one line the conversation list shows for a message."""
    if message_type == "reaction":
        return f"Reacted {text}" if text else "Removed a reaction"
    if text:
        return text if len(text) <= 200 else text[:199] + "…"
    return f"[{message_type}]"


def emit(conn: sqlite3.Connection, kind: str, conversation_id: int | None, message_id: int | None = None) -> None:
    """Append to the event log, in the caller's transaction (so an event exists iff its change does)."""
    conn.execute(
        "INSERT INTO events (created_at, kind, conversation_id, message_id) VALUES (?, ?, ?, ?)",
        (now(), kind, conversation_id, message_id),
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


# --- customers and conversations -------------------------------------------------------------


def resolve_conversation(
    conn: sqlite3.Connection,
    phone_number: str | None,
    user_id: str | None,
    *,
    name: str | None = None,
    username: str | None = None,
) -> int:
    """The conversation of the customer known by this phone and/or BSUID, created if new.

    Call inside a write transaction. When the phone and the BSUID belong to two threads (a phone
    thread an agent started and a username thread Meta sent), they are merged into one.
    """
    by_user = _one(conn, "SELECT * FROM whatsapp_conversations WHERE user_id = ?", user_id) if user_id else None
    by_phone = None
    if phone_number:
        forms = phones.variants(phone_number)
        marks = ",".join("?" * len(forms))
        by_phone = conn.execute(
            f"SELECT * FROM whatsapp_conversations WHERE phone_number IN ({marks}) ORDER BY conversation_id LIMIT 1",
            forms,
        ).fetchone()
    if by_user and by_phone and by_user["conversation_id"] != by_phone["conversation_id"]:
        keep, drop = sorted((by_user, by_phone), key=lambda r: r["conversation_id"])
        _merge(conn, keep["conversation_id"], drop["conversation_id"])
        by_user = by_phone = _one(
            conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", keep["conversation_id"]
        )
    row = by_user or by_phone
    stamp = now()
    if row is None:
        cur = conn.execute(
            """INSERT INTO whatsapp_conversations
               (phone_number, user_id, username, contact_name, contact_profile_name, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (phone_number, user_id, username, name, name, stamp, stamp),
        )
        return int(cur.lastrowid)
    conversation_id = int(row["conversation_id"])
    changes: dict[str, Any] = {}
    if phone_number and row["phone_number"] != phone_number:
        changes["phone_number"] = phone_number
    if user_id and row["user_id"] != user_id:
        changes["user_id"] = user_id
    if username and row["username"] != username:
        changes["username"] = username
    if name and row["contact_profile_name"] != name:
        changes["contact_profile_name"] = name
    if name and not row["contact_name"]:
        changes["contact_name"] = name
    if changes:
        _update_conversation(conn, conversation_id, changes)
    return conversation_id


def _update_conversation(conn: sqlite3.Connection, conversation_id: int, changes: dict[str, Any]) -> None:
    changes = {**changes, "updated_at": now()}
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(
        f"UPDATE whatsapp_conversations SET {assignments} WHERE conversation_id = ?",
        (*changes.values(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


def _merge(conn: sqlite3.Connection, keep: int, drop: int) -> None:
    """Fold conversation `drop` into `keep`: messages move, counters add up, identifiers join."""
    log.info("Merging conversation %s into %s (same customer)", drop, keep)
    gone = _one(conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", drop)
    conn.execute("UPDATE whatsapp_messages SET conversation_id = ? WHERE conversation_id = ?", (keep, drop))
    conn.execute("DELETE FROM whatsapp_conversations WHERE conversation_id = ?", (drop,))
    conn.execute(
        """UPDATE whatsapp_conversations SET
             phone_number = COALESCE(phone_number, :phone),
             user_id = COALESCE(user_id, :user_id),
             username = COALESCE(username, :username),
             contact_name = COALESCE(contact_name, :contact_name),
             contact_profile_name = COALESCE(contact_profile_name, :profile),
             unread_count = unread_count + :unread,
             last_message = CASE WHEN last_message_at IS NULL OR :last_at > last_message_at
                                 THEN :last_message ELSE last_message END,
             last_message_type = CASE WHEN last_message_at IS NULL OR :last_at > last_message_at
                                 THEN :last_type ELSE last_message_type END,
             last_message_at = MAX(COALESCE(last_message_at, :last_at), COALESCE(:last_at, last_message_at)),
             last_inbound_at = MAX(COALESCE(last_inbound_at, :inbound_at), COALESCE(:inbound_at, last_inbound_at)),
             assigned_agent_id = COALESCE(assigned_agent_id, :agent),
             created_at = MIN(created_at, :created_at),
             updated_at = :now
           WHERE conversation_id = :keep""",
        {
            "phone": gone["phone_number"],
            "user_id": gone["user_id"],
            "username": gone["username"],
            "contact_name": gone["contact_name"],
            "profile": gone["contact_profile_name"],
            "unread": gone["unread_count"],
            "last_at": gone["last_message_at"],
            "last_message": gone["last_message"],
            "last_type": gone["last_message_type"],
            "inbound_at": gone["last_inbound_at"],
            "agent": gone["assigned_agent_id"],
            "created_at": gone["created_at"],
            "now": now(),
            "keep": keep,
        },
    )
    emit(conn, "conversation.merged", keep)


def find_conversation(
    conn: sqlite3.Connection,
    conversation_id: int | None = None,
    phone_number: str | None = None,
    user_id: str | None = None,
) -> sqlite3.Row | None:
    """Look a conversation up by id, by phone (any WhatsApp variant of it) or by BSUID."""
    if conversation_id is not None:
        return _one(conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id)
    if user_id:
        row = _one(conn, "SELECT * FROM whatsapp_conversations WHERE user_id = ?", user_id)
        if row is not None or not phone_number:
            return row
    if phone_number:
        forms = phones.variants(phone_number)
        marks = ",".join("?" * len(forms))
        return conn.execute(
            f"SELECT * FROM whatsapp_conversations WHERE phone_number IN ({marks}) ORDER BY conversation_id LIMIT 1",
            forms,
        ).fetchone()
    return None


def _touch_conversation(
    conn: sqlite3.Connection,
    conversation_id: int,
    timestamp: str,
    summary: str,
    message_type: str,
    *,
    unread: int = 0,
    inbound: bool = False,
    opens_window: bool = False,
) -> None:
    """Record a message's effect on its conversation; out-of-order arrivals never move time back."""
    conn.execute(
        """UPDATE whatsapp_conversations SET
             unread_count = unread_count + :unread,
             last_message = CASE WHEN last_message_at IS NULL OR :ts >= last_message_at
                                 THEN :summary ELSE last_message END,
             last_message_type = CASE WHEN last_message_at IS NULL OR :ts >= last_message_at
                                 THEN :type ELSE last_message_type END,
             last_message_at = MAX(COALESCE(last_message_at, :ts), :ts),
             last_inbound_at = CASE WHEN :opens THEN MAX(COALESCE(last_inbound_at, :ts), :ts)
                                    ELSE last_inbound_at END,
             status = CASE WHEN :inbound AND status = 'closed'
                           THEN (CASE WHEN assigned_agent_id IS NULL THEN 'open' ELSE 'assigned' END)
                           ELSE status END,
             updated_at = :now
           WHERE conversation_id = :id""",
        {
            "unread": unread,
            "ts": timestamp,
            "summary": summary,
            "type": message_type,
            "opens": 1 if opens_window else 0,
            "inbound": 1 if inbound else 0,
            "now": now(),
            "id": conversation_id,
        },
    )


# --- webhook deliveries ------------------------------------------------------------------------


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    statuses_applied: int = 0
    statuses_parked: int = 0
    media_message_ids: list[int] = field(default_factory=list)


def apply_delivery(conn: sqlite3.Connection, delivery: Delivery) -> IngestResult:
    """Store everything one webhook delivery carried. Idempotent; call inside one transaction."""
    result = IngestResult()
    for message in delivery.messages:
        message_id = store_inbound(conn, message)
        if message_id is None:
            result.duplicates += 1
            continue
        result.stored += 1
        if message.media and message.media.id:
            result.media_message_ids.append(message_id)
    for status in delivery.statuses:
        if apply_status(conn, status):
            result.statuses_applied += 1
        else:
            result.statuses_parked += 1
    return result


def store_inbound(conn: sqlite3.Connection, message: InboundMessage) -> int | None:
    """Insert one inbound message and bump its conversation; None if this wamid was seen before."""
    seen = _one(conn, "SELECT 1 FROM whatsapp_messages WHERE whatsapp_message_id = ?", message.wamid)
    if seen is not None:
        return None
    contact = message.contact
    conversation_id = _customer_for(conn, message)
    media = message.media
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, phone_number, user_id, direction, message_type,
            message_text, media_url, media_type, media_id, media_sha256, media_filename, status,
            timestamp, created_at, context_message_id, raw_json, media_state, media_next_attempt_at)
           VALUES (?, ?, ?, ?, 'inbound', ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?, ?)
           ON CONFLICT (whatsapp_message_id) DO NOTHING""",
        (
            conversation_id,
            message.wamid,
            message.phone_number or (contact.phone_number if contact else None),
            message.user_id,
            message.type,
            message.text,
            media.url if media else None,
            media.mime_type if media else None,
            media.id if media else None,
            media.sha256 if media else None,
            media.filename if media else None,
            message.timestamp,
            now(),
            message.context_id,
            message.raw_json,
            "pending" if media and media.id else None,
            now() if media and media.id else None,
        ),
    )
    if cur.rowcount != 1:
        return None
    message_id = int(cur.lastrowid)
    if message.is_annotation:
        _annotated(conn, message.reaction_to)
        return message_id
    emit(conn, "message.created", conversation_id, message_id)
    _touch_conversation(
        conn,
        conversation_id,
        message.timestamp,
        preview(message.type, message.text),
        message.type,
        unread=1 if message.counts_as_unread else 0,
        inbound=message.type != "system",
        opens_window=message.opens_window,
    )
    return message_id


def _annotated(conn: sqlite3.Connection, target_wamid: str | None) -> None:
    """A reaction, edit or deletion arrived: tell listeners that its target message changed."""
    target = _one(conn, "SELECT message_id FROM whatsapp_messages WHERE whatsapp_message_id = ?", target_wamid)
    if target is not None:
        emit_message(conn, "message.updated", int(target["message_id"]))


def _customer_for(conn: sqlite3.Connection, message: InboundMessage) -> int:
    """The conversation an inbound message belongs to, applying identity changes it announces."""
    contact = message.contact
    change = message.identity_change
    if change is None:
        return resolve_conversation(
            conn,
            message.phone_number,
            message.user_id,
            name=contact.name if contact else None,
            username=contact.username if contact else None,
        )
    # The system message comes from the old identity; find that thread, then rename it in place.
    old_user = change.previous_user_id or message.user_id
    row = find_conversation(conn, phone_number=message.phone_number, user_id=old_user)
    if row is None:
        return resolve_conversation(
            conn, change.new_phone_number or message.phone_number, change.new_user_id or message.user_id
        )
    conversation_id = int(row["conversation_id"])
    changes: dict[str, Any] = {}
    if change.new_phone_number and change.new_phone_number != row["phone_number"]:
        _release_identifier(conn, "phone_number", change.new_phone_number, conversation_id)
        changes["phone_number"] = change.new_phone_number
    if change.new_user_id and change.new_user_id != row["user_id"]:
        _release_identifier(conn, "user_id", change.new_user_id, conversation_id)
        changes["user_id"] = change.new_user_id
    if changes:
        log.info("Customer of conversation %s changed identity (%s)", conversation_id, change.kind)
        _update_conversation(conn, conversation_id, changes)
    return conversation_id


def _release_identifier(conn: sqlite3.Connection, column: str, value: str, owner: int) -> None:
    """If another thread already holds this identifier, fold it into the owner's thread."""
    other = _one(conn, f"SELECT conversation_id FROM whatsapp_conversations WHERE {column} = ?", value)
    if other is not None and other["conversation_id"] != owner:
        conn.execute(
            f"UPDATE whatsapp_conversations SET {column} = NULL WHERE conversation_id = ?", (other["conversation_id"],)
        )
        _merge(conn, owner, int(other["conversation_id"]))


def apply_status(conn: sqlite3.Connection, status: StatusUpdate) -> bool:
    """Apply a status to its outbound message; park it (False) if the message is not stored yet."""
    row = _one(
        conn,
        "SELECT message_id FROM whatsapp_messages WHERE whatsapp_message_id = ? AND direction = 'outbound'",
        status.wamid,
    )
    if row is None and status.local_id:
        row = _one(
            conn, "SELECT message_id, whatsapp_message_id FROM whatsapp_messages WHERE local_id = ?", status.local_id
        )
        if row is not None and row["whatsapp_message_id"].startswith(LOCAL_PREFIX):
            # Our process died (or is still waiting) between Meta's answer and our write:
            # Meta's echo of our own id tells us which message this wamid is.
            conn.execute(
                "UPDATE whatsapp_messages SET whatsapp_message_id = ? WHERE message_id = ?",
                (status.wamid, row["message_id"]),
            )
    if row is None:
        if _one(conn, "SELECT 1 FROM whatsapp_messages WHERE whatsapp_message_id = ?", status.wamid):
            log.info("Ignoring a %s status for inbound message %s", status.status, status.wamid)
            return True
        conn.execute(
            """INSERT INTO parked_statuses
               (whatsapp_message_id, local_id, status, timestamp, error_code, error_title, error_details, received_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (whatsapp_message_id, status) DO NOTHING""",
            (
                status.wamid,
                status.local_id,
                status.status,
                status.timestamp,
                status.error_code,
                status.error_title,
                status.error_details,
                now(),
            ),
        )
        log.info("Parked a %s status for unknown message %s", status.status, status.wamid)
        return False
    _transition(
        conn,
        int(row["message_id"]),
        status.status,
        status.timestamp,
        status.error_code,
        status.error_title,
        status.error_details,
    )
    return True


def _transition(
    conn: sqlite3.Connection,
    message_id: int,
    status: str,
    timestamp: str,
    error_code: int | None = None,
    error_title: str | None = None,
    error_details: str | None = None,
) -> None:
    """Move a message up the status ladder (never down); keep the first time Meta gave for each."""
    column = f"{status}_at"
    if status == "failed":
        conn.execute(
            f"""UPDATE whatsapp_messages SET status = 'failed', {column} = COALESCE({column}, ?),
                  error_code = COALESCE(?, error_code), error_title = COALESCE(?, error_title),
                  error_details = COALESCE(?, error_details)
                WHERE message_id = ?""",
            (timestamp, error_code, error_title, error_details, message_id),
        )
        emit_message(conn, "message.updated", message_id)
        return
    rank = STATUS_RANK[status]
    ladder = " ".join(f"WHEN '{name}' THEN {value}" for name, value in STATUS_RANK.items())
    conn.execute(
        f"""UPDATE whatsapp_messages SET
              {column} = COALESCE({column}, :ts),
              status = CASE WHEN status != 'failed' AND (CASE status {ladder} ELSE -1 END) < :rank
                            THEN :status ELSE status END
            WHERE message_id = :id""",
        {"ts": timestamp, "rank": rank, "status": status, "id": message_id},
    )
    emit_message(conn, "message.updated", message_id)


def apply_parked(conn: sqlite3.Connection, message_id: int, wamid: str, local_id: str | None) -> int:
    """Apply statuses that arrived before their message was stored; returns how many."""
    rows = conn.execute(
        "SELECT * FROM parked_statuses WHERE whatsapp_message_id = ? OR (local_id IS NOT NULL AND local_id = ?)",
        (wamid, local_id),
    ).fetchall()
    for row in rows:
        _transition(
            conn,
            message_id,
            row["status"],
            row["timestamp"],
            row["error_code"],
            row["error_title"],
            row["error_details"],
        )
        conn.execute("DELETE FROM parked_statuses WHERE parked_id = ?", (row["parked_id"],))
    return len(rows)


# --- journal of raw deliveries -------------------------------------------------------------------


def journal_insert(conn: sqlite3.Connection, body: bytes) -> int:
    cur = conn.execute(
        "INSERT INTO webhook_deliveries (received_at, body, state, attempts) VALUES (?, ?, 'pending', 0)",
        (now(), body),
    )
    return int(cur.lastrowid)


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


def journal_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state").fetchall()
    return {row["state"]: row["n"] for row in rows}


# --- sending -----------------------------------------------------------------------------------


def new_local_id() -> str:
    return LOCAL_PREFIX + uuid.uuid4().hex


def find_by_client_id(conn: sqlite3.Connection, client_message_id: str) -> sqlite3.Row | None:
    return _one(conn, "SELECT * FROM whatsapp_messages WHERE client_message_id = ?", client_message_id)


def create_outbound(
    conn: sqlite3.Connection,
    conversation_id: int,
    *,
    message_type: str,
    text: str | None,
    agent_id: int | None,
    local_id: str,
    client_message_id: str | None = None,
    context_message_id: str | None = None,
    media: dict[str, Any] | None = None,
    raw: str | None = None,
) -> int:
    """Write the outbound message as 'pending' before Meta is called, so no send is ever untracked."""
    conv = _one(
        conn, "SELECT phone_number, user_id FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id
    )
    stamp = now()
    media = media or {}
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, phone_number, user_id, direction, message_type,
            message_text, media_url, media_type, media_id, media_filename, status, timestamp,
            created_at, agent_id, context_message_id, local_id, client_message_id, raw_json,
            media_path, media_size, media_state)
           VALUES (?, ?, ?, ?, 'outbound', ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            conversation_id,
            local_id,
            conv["phone_number"],
            conv["user_id"],
            message_type,
            text,
            media.get("url"),
            media.get("mime_type"),
            media.get("id"),
            media.get("filename"),
            stamp,
            stamp,
            agent_id,
            context_message_id,
            local_id,
            client_message_id,
            raw,
            media.get("path"),
            media.get("size"),
            "ready" if media.get("path") else None,
        ),
    )
    if message_type in ANNOTATION_TYPES:
        _annotated(conn, context_message_id)
    else:
        _touch_conversation(conn, conversation_id, stamp, preview(message_type, text), message_type)
        emit(conn, "message.created", conversation_id, int(cur.lastrowid))
    return int(cur.lastrowid)


def mark_accepted(
    conn: sqlite3.Connection, message_id: int, wamid: str, wa_id: str | None, user_id: str | None
) -> None:
    """Meta accepted the send: record its wamid, adopt the wa_id/BSUID it resolved, apply parked statuses."""
    row = _one(conn, "SELECT * FROM whatsapp_messages WHERE message_id = ?", message_id)
    conn.execute(
        """UPDATE whatsapp_messages SET whatsapp_message_id = ?,
             status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,
             error_code = NULL, error_title = NULL, error_details = NULL
           WHERE message_id = ?""",
        (wamid, message_id),
    )
    _adopt_identity(conn, int(row["conversation_id"]), phones.from_wa_id(wa_id), user_id)
    emit_message(conn, "message.updated", message_id)
    apply_parked(conn, message_id, wamid, row["local_id"])


def _adopt_identity(conn: sqlite3.Connection, conversation_id: int, phone: str | None, user_id: str | None) -> None:
    """Adopt the wa_id and BSUID Meta resolved for a send: replies will come from exactly those."""
    row = _one(
        conn, "SELECT phone_number, user_id FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id
    )
    changes: dict[str, Any] = {}
    if phone and row["phone_number"] != phone:
        other = find_conversation(conn, phone_number=phone)
        if other is None or other["conversation_id"] == conversation_id:
            changes["phone_number"] = phone
    if user_id and row["user_id"] != user_id:
        _release_identifier(conn, "user_id", user_id, conversation_id)
        changes["user_id"] = user_id
    if changes:
        _update_conversation(conn, conversation_id, changes)


def mark_failed(conn: sqlite3.Connection, message_id: int, code: int | None, title: str, details: str | None) -> None:
    conn.execute(
        """UPDATE whatsapp_messages SET status = 'failed', failed_at = COALESCE(failed_at, ?),
             error_code = ?, error_title = ?, error_details = ?
           WHERE message_id = ? AND status = 'pending'""",
        (now(), code, title, details, message_id),
    )
    emit_message(conn, "message.updated", message_id)


def mark_unknown(conn: sqlite3.Connection, message_id: int, reason: str) -> None:
    """Meta may or may not have sent it (a timeout): keep it pending with the reason, until a status says."""
    conn.execute(
        "UPDATE whatsapp_messages SET error_title = ? WHERE message_id = ? AND status = 'pending'",
        (reason, message_id),
    )
    emit_message(conn, "message.updated", message_id)


# --- media files ------------------------------------------------------------------------------


def claim_media(conn: sqlite3.Connection, message_id: int, force: bool, stale_before: str) -> sqlite3.Row | None:
    """Take a message's media download for this worker (inside a write transaction), or None if
    it is ready, not due, or another worker holds a fresh claim."""
    due = "" if force else "AND (media_next_attempt_at IS NOT NULL AND media_next_attempt_at <= :now)"
    cur = conn.execute(
        f"""UPDATE whatsapp_messages SET media_state = 'downloading', media_next_attempt_at = :now
            WHERE message_id = :id AND media_id IS NOT NULL AND (
                (media_state IN ('pending', 'failed') {due})
                OR (media_state = 'downloading' AND media_next_attempt_at <= :stale))""",
        {"id": message_id, "now": now(), "stale": stale_before},
    )
    return get_message(conn, message_id) if cur.rowcount == 1 else None


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


# --- agent actions -----------------------------------------------------------------------------


def mark_read(conn: sqlite3.Connection, conversation_id: int) -> str | None:
    """Zero the unread count; returns the wamid of the customer's latest message (for blue ticks)."""
    conn.execute(
        "UPDATE whatsapp_conversations SET unread_count = 0, updated_at = ? WHERE conversation_id = ?",
        (now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)
    row = _one(
        conn,
        """SELECT whatsapp_message_id FROM whatsapp_messages
           WHERE conversation_id = ? AND direction = 'inbound' AND message_type != 'system'
           ORDER BY timestamp DESC, message_id DESC LIMIT 1""",
        conversation_id,
    )
    return row["whatsapp_message_id"] if row else None


def assign(conn: sqlite3.Connection, conversation_id: int, agent_id: int | None) -> None:
    """Assign (status 'assigned') or, with None, unassign (back to 'open')."""
    conn.execute(
        """UPDATE whatsapp_conversations SET assigned_agent_id = ?,
             status = CASE WHEN status = 'closed' THEN 'closed' WHEN ? IS NULL THEN 'open' ELSE 'assigned' END,
             updated_at = ?
           WHERE conversation_id = ?""",
        (agent_id, agent_id, now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


def set_status(conn: sqlite3.Connection, conversation_id: int, status: str) -> None:
    """Close or reopen; reopening goes back to 'assigned' when an agent still holds it."""
    if status == "closed":
        value = "'closed'"
    else:
        value = "CASE WHEN assigned_agent_id IS NULL THEN 'open' ELSE 'assigned' END"
    conn.execute(
        f"UPDATE whatsapp_conversations SET status = {value}, updated_at = ? WHERE conversation_id = ?",
        (now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


# --- queries for the API -----------------------------------------------------------------------


TABS = ("all", "unread", "mine", "unassigned", "closed")


def list_conversations(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    unread_only: bool = False,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[sqlite3.Row]:
    """Conversations, newest activity first, filtered by status, unread, a dashboard tab or ids."""
    clauses, params = _conversation_filters(status, unread_only, tab, agent_id, ids)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return conn.execute(
        f"""SELECT * FROM whatsapp_conversations {where}
            ORDER BY last_message_at DESC, conversation_id DESC LIMIT ? OFFSET ?""",
        (*params, limit, offset),
    ).fetchall()


def count_conversations(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    unread_only: bool = False,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
) -> int:
    clauses, params = _conversation_filters(status, unread_only, tab, agent_id, ids)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return int(conn.execute(f"SELECT COUNT(*) FROM whatsapp_conversations {where}", params).fetchone()[0])


def tab_counts(conn: sqlite3.Connection, agent_id: int | None) -> dict[str, int]:
    """How many conversations sit behind each dashboard tab, in one pass over a covering index."""
    row = conn.execute(
        """SELECT COALESCE(SUM(status != 'closed'), 0),
                  COALESCE(SUM(status != 'closed' AND unread_count > 0), 0),
                  COALESCE(SUM(status != 'closed' AND assigned_agent_id = ?), 0),
                  COALESCE(SUM(status != 'closed' AND assigned_agent_id IS NULL), 0),
                  COALESCE(SUM(status = 'closed'), 0)
           FROM whatsapp_conversations""",
        (agent_id,),
    ).fetchone()
    return dict(zip(TABS, (int(v) for v in row), strict=True))


def _conversation_filters(
    status: str | None,
    unread_only: bool,
    tab: str | None = None,
    agent_id: int | None = None,
    ids: list[int] | None = None,
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if unread_only:
        clauses.append("unread_count > 0")
    if tab == "closed":
        clauses.append("status = 'closed'")
    elif tab in ("all", "unread", "mine", "unassigned"):
        clauses.append("status != 'closed'")
        if tab == "unread":
            clauses.append("unread_count > 0")
        elif tab == "mine":
            clauses.append("assigned_agent_id = ?")
            params.append(agent_id)
        elif tab == "unassigned":
            clauses.append("assigned_agent_id IS NULL")
    if ids is not None:
        clauses.append(f"conversation_id IN ({','.join('?' * len(ids))})" if ids else "0")
        params.extend(ids)
    return clauses, params


def search(conn: sqlite3.Connection, query: str, limit: int = 200) -> dict[int, str | None]:
    """Conversations matching a search (names, number, message text), best message matches first.

    Returns {conversation_id: snippet of the matching message or None}. Accent-insensitive.
    """
    words = re.findall(r"\w+", query)
    found: dict[int, str | None] = {}
    if not words:
        return found
    match = " ".join(f'"{w}"*' for w in words)
    for row in conn.execute(
        """SELECT m.conversation_id, snippet(messages_fts, 0, '**', '**', '…', 12) AS snippet
           FROM messages_fts JOIN whatsapp_messages m ON m.message_id = messages_fts.rowid
           WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?""",
        (match, limit * 5),
    ):
        found.setdefault(int(row["conversation_id"]), row["snippet"])
    for row in conn.execute(
        "SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ? LIMIT ?", (match, limit)
    ):
        found.setdefault(int(row["rowid"]), None)
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4:
        for row in conn.execute(
            "SELECT conversation_id FROM whatsapp_conversations WHERE phone_number LIKE ? LIMIT ?",
            (f"%{digits}%", limit),
        ):
            found.setdefault(int(row["conversation_id"]), None)
    return found


def list_messages(
    conn: sqlite3.Connection,
    conversation_id: int,
    limit: int = 50,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[sqlite3.Row]:
    """A page of a thread, oldest first: the newest `limit`, or those just before/after a message.

    Reactions, edits and deletions are not bubbles of their own: see `annotations_for`.
    """
    hidden = ",".join(f"'{t}'" for t in ANNOTATION_TYPES)
    where = f"conversation_id = ? AND message_type NOT IN ({hidden})"
    cursor = "(SELECT timestamp, message_id FROM whatsapp_messages WHERE message_id = ?)"
    if after_id is not None:
        return conn.execute(
            f"""SELECT * FROM whatsapp_messages WHERE {where} AND (timestamp, message_id) > {cursor}
                ORDER BY timestamp, message_id LIMIT ?""",
            (conversation_id, after_id, limit),
        ).fetchall()
    params: tuple[Any, ...] = (conversation_id, limit)
    if before_id is not None:
        where += f" AND (timestamp, message_id) < {cursor}"
        params = (conversation_id, before_id, limit)
    rows = conn.execute(
        f"SELECT * FROM whatsapp_messages WHERE {where} ORDER BY timestamp DESC, message_id DESC LIMIT ?", params
    ).fetchall()
    rows.reverse()
    return rows


def annotations_for(conn: sqlite3.Connection, wamids: list[str]) -> dict[str, list[sqlite3.Row]]:
    """Reactions, edits and deletions of these messages, oldest first, keyed by the target's wamid."""
    found: dict[str, list[sqlite3.Row]] = {}
    kinds = ",".join(f"'{t}'" for t in ANNOTATION_TYPES)
    for start in range(0, len(wamids), 500):
        chunk = wamids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"""SELECT * FROM whatsapp_messages WHERE context_message_id IN ({marks})
                AND message_type IN ({kinds}) ORDER BY timestamp, message_id""",
            chunk,
        ).fetchall()
        for row in rows:
            found.setdefault(row["context_message_id"], []).append(row)
    return found


def messages_by_wamid(conn: sqlite3.Connection, wamids: list[str]) -> dict[str, sqlite3.Row]:
    """The stored messages among these wamids (for the quoted message of a reply)."""
    found: dict[str, sqlite3.Row] = {}
    for start in range(0, len(wamids), 500):
        chunk = wamids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT * FROM whatsapp_messages WHERE whatsapp_message_id IN ({marks})", chunk
        ).fetchall():
            found[row["whatsapp_message_id"]] = row
    return found


def message_in_conversation(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> bool:
    row = _one(conn, "SELECT conversation_id FROM whatsapp_messages WHERE message_id = ?", message_id)
    return row is not None and row["conversation_id"] == conversation_id


def get_message(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row | None:
    return _one(conn, "SELECT * FROM whatsapp_messages WHERE message_id = ?", message_id)


def stats(conn: sqlite3.Connection) -> dict[str, int]:
    row = conn.execute(
        """SELECT COUNT(*) AS total_conversations,
                  COALESCE(SUM(unread_count > 0), 0) AS unread_conversations,
                  COALESCE(SUM(status = 'open'), 0) AS open_conversations,
                  COALESCE(SUM(status = 'assigned'), 0) AS assigned_conversations,
                  COALESCE(SUM(status = 'closed'), 0) AS closed_conversations
           FROM whatsapp_conversations"""
    ).fetchone()
    recent = conn.execute("SELECT COUNT(*) FROM whatsapp_messages WHERE timestamp >= ?", (_ago(24),)).fetchone()[0]
    result = {key: int(row[key]) for key in row.keys()}
    result["messages_last_24h"] = int(recent)
    return result


def _one(conn: sqlite3.Connection, sql: str, *params: Any) -> sqlite3.Row | None:
    return conn.execute(sql, params).fetchone()
