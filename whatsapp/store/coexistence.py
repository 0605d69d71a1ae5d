"""Coexistence: echoes of what the owner sends from the WhatsApp Business app, the imported chat history,
and the owner's names for customers. Applied in the delivery's transaction; each one idempotent."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from ..updates import InboundMessage
from ..updates_coexistence import ContactSync, Echo, HistoryChunk, HistoryMessage
from .common import emit, emit_message, now, one, preview
from .customers import find_conversation, resolve_conversation, touch_conversation, update_conversation
from .group_threads import resolve_group
from .inbound import IngestResult, annotated, applies, apply_parked
from .reports import answered_in_app

log = logging.getLogger(__name__)

BUSINESS_APP = "business_app"
HISTORY = "history"
MEDIA_PLACEHOLDER = "media_placeholder"


def _insert(
    conn: sqlite3.Connection,
    conversation_id: int,
    message: InboundMessage,
    direction: str,
    status: str,
    origin: str,
) -> int | None:
    """Store one message of the app; None when its wamid is stored already (an echo of our own send,
    a delivery or a chunk seen before)."""
    media = message.media
    # Inbound media is downloaded like a customer's; the business's own is fetched when opened.
    pending = media is not None and media.downloadable and direction == "inbound"
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, phone_number, user_id, direction, message_type,
            message_text, media_url, media_type, media_id, media_sha256, media_filename, status,
            timestamp, created_at, context_message_id, raw_json, media_state, media_next_attempt_at,
            media_error, sent_at, origin)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (whatsapp_message_id) DO NOTHING
           RETURNING message_id""",
        (
            conversation_id,
            message.wamid,
            message.phone_number,
            message.user_id,
            direction,
            message.type,
            message.text,
            media.url if media else None,
            media.mime_type if media else None,
            media.id if media else None,
            media.sha256 if media else None,
            media.filename if media else None,
            status,
            message.timestamp,
            now(),
            message.context_id,
            message.raw_json,
            "pending" if pending else None,
            now() if pending else None,
            media.id_error if media else None,
            message.timestamp if direction == "outbound" else None,
            origin,
        ),
    )
    inserted = cur.fetchone()
    return int(inserted[0]) if inserted is not None else None


def _seen(conn: sqlite3.Connection, wamid: str) -> sqlite3.Row | None:
    return one(conn, "SELECT message_id, message_type FROM whatsapp_messages WHERE whatsapp_message_id = ?", wamid)


# --- echoes ------------------------------------------------------------------------------------


@applies(Echo)
def apply_echo(conn: sqlite3.Connection, echo: Echo, result: IngestResult) -> None:
    """The owner's message from the app, as outbound in the customer's thread: no unread, no window."""
    message = echo.message
    if _seen(conn, message.wamid) is not None:  # twice, or the echo of a send of this inbox
        result.duplicates += 1
        return
    contact = message.contact
    if message.group_id:  # the owner wrote in a group from the app
        conversation_id = resolve_group(conn, message.group_id)
    else:
        conversation_id = resolve_conversation(
            conn,
            message.phone_number,
            message.user_id,
            name=contact.name if contact else None,
            username=contact.username if contact else None,
        )
    message_id = _insert(conn, conversation_id, message, "outbound", "sent", BUSINESS_APP)
    if message_id is None:
        result.duplicates += 1
        return
    result.stored += 1
    if message.is_annotation:  # an edit or deletion made in the app: it changes the stored message
        annotated(conn, message.reaction_to)
        return
    emit(conn, "message.created", conversation_id, message_id)
    touch_conversation(conn, conversation_id, message.timestamp, preview(message.type, message.text), message.type)
    answered_in_app(conn, conversation_id, message.timestamp)
    apply_parked(conn, message_id, message.wamid, None)


# --- history -----------------------------------------------------------------------------------


@applies(HistoryChunk)
def apply_history(conn: sqlite3.Connection, chunk: HistoryChunk, result: IngestResult) -> None:
    """Import a chunk of chat history: into the customers' threads, quietly (no unread, no window, no
    reordering by import time, no message.created), then one `history.imported` event if anything was new."""
    _record_chunk(conn, chunk)
    threads: dict[tuple[str | None, str | None], int] = {}
    newest: dict[int, HistoryMessage] = {}
    before = result.stored
    for item in sorted(chunk.messages, key=lambda m: m.message.timestamp):
        message = item.message
        seen = _seen(conn, message.wamid)
        if seen is not None:
            if seen["message_type"] == MEDIA_PLACEHOLDER and message.type != MEDIA_PLACEHOLDER:
                _fill_placeholder(conn, int(seen["message_id"]), item, result)
            else:
                result.duplicates += 1
            continue
        key = (message.phone_number, message.user_id)
        if key not in threads:
            row = find_conversation(conn, phone_number=message.phone_number, user_id=message.user_id)
            threads[key] = (
                int(row["conversation_id"])
                if row is not None
                else resolve_conversation(conn, message.phone_number, message.user_id)
            )
        conversation_id = threads[key]
        message_id = _insert(conn, conversation_id, message, item.direction, item.status, HISTORY)
        if message_id is None:
            result.duplicates += 1
            continue
        result.stored += 1
        if message.media and message.media.downloadable and item.direction == "inbound":
            result.media_message_ids.append(message_id)
        if not message.is_annotation and message.type != "system":
            newest[conversation_id] = item  # sorted by time: the last one kept is the newest
    for conversation_id, item in newest.items():
        _catch_up(conn, conversation_id, item.message)
    if result.stored > before:  # a chunk delivered again changes nothing, not even the event log
        emit(conn, "history.imported", None)


def _record_chunk(conn: sqlite3.Connection, chunk: HistoryChunk) -> None:
    phase = chunk.phase if chunk.phase is not None else -1
    order = chunk.chunk_order if chunk.chunk_order is not None else -1
    conn.execute(
        """INSERT INTO history_chunks (phase, chunk_order, progress, messages, error_code, error_title, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (phase, chunk_order) DO UPDATE SET
             progress = CASE WHEN history_chunks.progress >= COALESCE(excluded.progress, history_chunks.progress)
                             THEN history_chunks.progress ELSE excluded.progress END,
             messages = CASE WHEN history_chunks.messages >= excluded.messages
                             THEN history_chunks.messages ELSE excluded.messages END,
             error_code = COALESCE(excluded.error_code, history_chunks.error_code),
             error_title = COALESCE(excluded.error_title, history_chunks.error_title)""",
        (phase, order, chunk.progress, len(chunk.messages), chunk.error_code, chunk.error_title, now()),
    )
    if chunk.error_code is not None:
        log.warning("History import: WhatsApp answered error %s (%s)", chunk.error_code, chunk.error_title)


def _catch_up(conn: sqlite3.Connection, conversation_id: int, message: InboundMessage) -> None:
    """The list's last message moves forward to the newest imported one, by its own time, never to now;
    unread counts, the 24-hour window and the status stay as they are."""
    conn.execute(
        """UPDATE whatsapp_conversations SET
             last_message = CASE WHEN last_message_at IS NULL OR :ts > last_message_at
                                 THEN :summary ELSE last_message END,
             last_message_type = CASE WHEN last_message_at IS NULL OR :ts > last_message_at
                                 THEN :type ELSE last_message_type END,
             last_message_at = CASE WHEN last_message_at > :ts THEN last_message_at ELSE :ts END
           WHERE conversation_id = :id""",
        {
            "ts": message.timestamp,
            "summary": preview(message.type, message.text),
            "type": message.type,
            "id": conversation_id,
        },
    )


def _fill_placeholder(conn: sqlite3.Connection, message_id: int, item: HistoryMessage, result: IngestResult) -> None:
    """Meta sends history media first as a placeholder, then (for the last 14 days) the media itself."""
    message, media = item.message, item.message.media
    pending = media is not None and media.downloadable and item.direction == "inbound"
    conn.execute(
        """UPDATE whatsapp_messages SET message_type = ?, message_text = ?, raw_json = ?, media_id = ?,
             media_type = ?, media_sha256 = ?, media_filename = ?, media_url = ?, media_state = ?,
             media_next_attempt_at = ?, media_error = ?
           WHERE message_id = ? AND message_type = ?""",
        (
            message.type,
            message.text,
            message.raw_json,
            media.id if media else None,
            media.mime_type if media else None,
            media.sha256 if media else None,
            media.filename if media else None,
            media.url if media else None,
            "pending" if pending else None,
            now() if pending else None,
            media.id_error if media else None,
            message_id,
            MEDIA_PLACEHOLDER,
        ),
    )
    result.stored += 1
    if pending:
        result.media_message_ids.append(message_id)
    emit_message(conn, "message.updated", message_id)


def history_import(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The chat history import's progress for /health, or None when no chunk ever arrived."""
    totals = conn.execute(
        """SELECT COUNT(*) AS chunks, COALESCE(SUM(messages), 0) AS messages, MAX(progress) AS progress,
                  MAX(received_at) AS last_at
           FROM history_chunks"""
    ).fetchone()
    if not totals["chunks"]:
        return None
    latest = one(
        conn,
        "SELECT phase, chunk_order FROM history_chunks WHERE phase >= 0 ORDER BY phase DESC, chunk_order DESC LIMIT 1",
    )
    error = one(
        conn,
        """SELECT error_code, error_title FROM history_chunks WHERE error_code IS NOT NULL
           ORDER BY received_at DESC LIMIT 1""",
    )
    progress = totals["progress"]
    return {
        "phase": latest["phase"] if latest else None,
        "chunk_order": latest["chunk_order"] if latest else None,
        "progress": progress,
        "complete": progress is not None and progress >= 100,
        "chunks": int(totals["chunks"]),
        "messages": int(totals["messages"]),
        "last_chunk_at": totals["last_at"],
        "error": {"code": error["error_code"], "title": error["error_title"]} if error else None,
    }


# --- the owner's contacts ----------------------------------------------------------------------


@applies(ContactSync)
def apply_contact(conn: sqlite3.Connection, sync: ContactSync, result: IngestResult) -> None:
    """The owner's name for a customer becomes the conversation's contact_name (removing it falls back to
    the WhatsApp profile name). A customer without a conversation gets none: the name is kept for when
    they write, or an agent writes to them."""
    cur = conn.execute(
        """INSERT INTO business_contacts (phone_number, name, synced_at) VALUES (?, ?, ?)
           ON CONFLICT (phone_number) DO UPDATE SET name = excluded.name, synced_at = excluded.synced_at
           WHERE excluded.synced_at >= business_contacts.synced_at""",
        (sync.phone_number, sync.name, sync.timestamp),
    )
    if cur.rowcount != 1:  # an older change than the one applied already
        return
    row = find_conversation(conn, phone_number=sync.phone_number)
    if row is None:
        return
    name = sync.name if not sync.removed else row["contact_profile_name"]
    if row["contact_name"] != name:
        update_conversation(conn, int(row["conversation_id"]), {"contact_name": name})
