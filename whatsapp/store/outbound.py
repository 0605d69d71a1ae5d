"""Outbound messages: written pending before Meta is called, then accepted or failed."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import phones
from ..updates import ANNOTATION_TYPES
from .common import LOCAL_PREFIX, emit, emit_message, now, one, preview, stamp
from .customers import adopt_identity, touch_conversation
from .inbound import annotated, apply_parked
from .reports import reply_accepted

log = logging.getLogger(__name__)

# Answers to a failed send that mean Meta did not take the message and the same request may succeed
# later (throttled; unreachable, failing on its side, or a token to replace): a repeat of its key sends
# again. Any other failure (409, 422) is Meta refusing this request, and a repeat replays it.
RETRYABLE_ANSWERS = (429, 502)


def new_local_id() -> str:
    return LOCAL_PREFIX + uuid.uuid4().hex


# A key stored before keys were scoped (global, with no request hash to tell another request by) is
# honoured this long after its send, as Stripe keeps its keys, and then forgotten.
LEGACY_KEY_LIFETIME = timedelta(hours=24)


def find_by_key(conn: sqlite3.Connection, scope: str, key: str) -> sqlite3.Row | None:
    """The message sent under this credential's Idempotency-Key, or one sent under the key before
    keys were scoped, in the 24 hours after it was sent."""
    row = one(conn, "SELECT * FROM whatsapp_messages WHERE idempotency_scope = ? AND idempotency_key = ?", scope, key)
    if row is not None:
        return row
    since = stamp(datetime.now(UTC) - LEGACY_KEY_LIFETIME)
    return one(conn, "SELECT * FROM whatsapp_messages WHERE client_message_id = ? AND created_at >= ?", key, since)


def create_outbound(
    conn: sqlite3.Connection,
    conversation_id: int,
    *,
    message_type: str,
    text: str | None,
    agent_id: int | None,
    local_id: str,
    idempotency: tuple[str, str, str] | None = None,
    context_message_id: str | None = None,
    media: dict[str, Any] | None = None,
    raw: str | None = None,
) -> int:
    """Write the outbound message as 'pending' before Meta is called, so no send is ever untracked."""
    conv = one(
        conn,
        "SELECT phone_number, user_id, group_id FROM whatsapp_conversations WHERE conversation_id = ?",
        conversation_id,
    )
    stamp = now()
    media = media or {}
    scope, key, request_hash = idempotency or (None, None, None)
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, phone_number, user_id, direction, message_type,
            message_text, media_url, media_type, media_id, media_filename, status, timestamp,
            created_at, agent_id, context_message_id, local_id, raw_json,
            media_path, media_size, media_state, idempotency_scope, idempotency_key, request_hash, group_id)
           VALUES (?, ?, ?, ?, 'outbound', ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           RETURNING message_id""",
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
            raw,
            media.get("path"),
            media.get("size"),
            "ready" if media.get("path") else None,
            scope,
            key,
            request_hash,
            conv["group_id"],
        ),
    )
    message_id = int(cur.fetchone()[0])
    if message_type in ANNOTATION_TYPES:
        annotated(conn, context_message_id)
    else:
        touch_conversation(conn, conversation_id, stamp, preview(message_type, text), message_type)
        emit(conn, "message.created", conversation_id, message_id)
    return message_id


def mark_accepted(
    conn: sqlite3.Connection, message_id: int, wamid: str, wa_id: str | None, user_id: str | None
) -> None:
    """Meta accepted the send: record its wamid, adopt the wa_id/BSUID it resolved, apply parked statuses."""
    row = one(conn, "SELECT * FROM whatsapp_messages WHERE message_id = ?", message_id)
    taken = one(
        conn,
        "SELECT message_id FROM whatsapp_messages WHERE whatsapp_message_id = ? AND message_id <> ?",
        wamid,
        message_id,
    )
    if taken is not None:
        # Meta's ids are unique, so this is a stand-in that reuses them (or a bug on Meta's side): the
        # message was accepted, but keeps its local id, since statuses for that wamid are the other's.
        log.warning("Meta answered message %s with wamid %s, which message %s has", message_id, wamid, taken[0])
        conn.execute(
            """UPDATE whatsapp_messages SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,
                 error_title = ? WHERE message_id = ?""",
            (f"WhatsApp answered with a message id another message already has ({wamid})", message_id),
        )
        emit_message(conn, "message.updated", message_id)
        return
    conn.execute(
        """UPDATE whatsapp_messages SET whatsapp_message_id = ?,
             status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,
             -- a 'failed' status that beat this write (matched by our local id) keeps Meta's reason
             error_code = CASE WHEN status = 'failed' THEN error_code END,
             error_title = CASE WHEN status = 'failed' THEN error_title END,
             error_details = CASE WHEN status = 'failed' THEN error_details END
           WHERE message_id = ?""",
        (wamid, message_id),
    )
    if row["status"] != "failed":
        reply_accepted(conn, row)
    if row["group_id"] is None:  # a group's answer names the group (its `input`), no customer
        adopt_identity(conn, int(row["conversation_id"]), phones.from_wa_id(wa_id), user_id)
    emit_message(conn, "message.updated", message_id)
    apply_parked(conn, message_id, wamid, row["local_id"])


def mark_failed(
    conn: sqlite3.Connection,
    message_id: int,
    code: int | None,
    title: str,
    details: str | None,
    *,
    answer: int | None = None,
    error: str | None = None,
) -> None:
    """Meta did not take the send: the reason, and the answer given (`answer`, `error`) for replays."""
    conn.execute(
        """UPDATE whatsapp_messages SET status = 'failed', failed_at = COALESCE(failed_at, ?),
             error_code = ?, error_title = ?, error_details = ?, send_answer = ?, send_error = ?
           WHERE message_id = ? AND status = 'pending'""",
        (now(), code, title, details, answer, error, message_id),
    )
    emit_message(conn, "message.updated", message_id)


def mark_unknown(conn: sqlite3.Connection, message_id: int, reason: str) -> None:
    """Meta may or may not have sent it (a timeout, a broken connection, an answer without a message
    id): keep it pending with the reason until a status says; a repeat of its key answers 409."""
    conn.execute(
        "UPDATE whatsapp_messages SET error_title = ?, send_answer = 504 WHERE message_id = ? AND status = 'pending'",
        (reason, message_id),
    )
    emit_message(conn, "message.updated", message_id)


def reopen_for_retry(conn: sqlite3.Connection, message_id: int) -> bool:
    """Claim a send that failed without Meta taking it (a refused connection, throttling, a 5xx) for
    another attempt: the same row goes back to 'pending' (one bubble, not two). False if another
    request claimed it first or it is no longer such a failure."""
    cur = conn.execute(
        """UPDATE whatsapp_messages SET status = 'pending', failed_at = NULL, error_code = NULL,
             error_title = NULL, error_details = NULL, send_answer = NULL, send_error = NULL, attempted_at = ?
           WHERE message_id = ? AND status = 'failed' AND whatsapp_message_id LIKE ? AND send_answer IN (?, ?)""",
        (now(), message_id, LOCAL_PREFIX + "%", *RETRYABLE_ANSWERS),
    )
    if cur.rowcount != 1:
        return False
    emit_message(conn, "message.updated", message_id)
    return True
