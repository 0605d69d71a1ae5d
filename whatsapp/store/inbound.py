"""What webhooks bring: inbound messages, identity changes, statuses up the ladder, parked statuses."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..updates import Delivery, InboundMessage, Pricing, StatusUpdate
from .common import LOCAL_PREFIX, STATUS_RANK, emit, emit_message, now, one, preview
from .customers import (
    find_conversation,
    learn_identity,
    release_identifier,
    resolve_conversation,
    touch_conversation,
    update_conversation,
)
from .group_threads import note_participant, resolve_group
from .pricing import record_pricing
from .reports import customer_wrote, reply_accepted

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    statuses_applied: int = 0
    statuses_parked: int = 0
    media_message_ids: list[int] = field(default_factory=list)
    away_replies: int = 0  # automatic replies queued (the webhook wakes their sender after the commit)


def apply_delivery(conn: sqlite3.Connection, delivery: Delivery) -> IngestResult:
    """Store everything one webhook delivery carried. Idempotent; call inside one transaction."""
    result = IngestResult()
    for message in delivery.messages:
        message_id = store_inbound(conn, message, result)
        if message_id is None:
            result.duplicates += 1
            continue
        result.stored += 1
        if message.media and message.media.downloadable:
            result.media_message_ids.append(message_id)
    for status in delivery.statuses:
        if apply_status(conn, status):
            result.statuses_applied += 1
        else:
            result.statuses_parked += 1
    for update in delivery.updates:
        apply = APPLIERS.get(type(update))
        if apply is None:  # a parser without its applier: the batch fails and is journaled for replay
            raise TypeError(f"no applier for {type(update).__name__}")
        apply(conn, update, result)
    return result


# The other fields' typed updates (updates.FIELD_PARSERS) -> apply(conn, update, result), inside
# the delivery's transaction. Registered by the store modules that own them, with @applies.
Applier = Callable[[sqlite3.Connection, Any, IngestResult], None]
APPLIERS: dict[type, Applier] = {}


def applies(*kinds: type) -> Callable[[Applier], Applier]:
    def register(apply: Applier) -> Applier:
        for kind in kinds:
            if kind in APPLIERS:
                raise ValueError(f"{kind.__name__} already has an applier")
            APPLIERS[kind] = apply
        return apply

    return register


def store_inbound(conn: sqlite3.Connection, message: InboundMessage, result: IngestResult | None = None) -> int | None:
    """Insert one inbound message and bump its conversation; None if this wamid was seen before."""
    seen = one(conn, "SELECT 1 FROM whatsapp_messages WHERE whatsapp_message_id = ?", message.wamid)
    if seen is not None:
        return None
    contact = message.contact
    conversation_id = customer_for(conn, message)
    media = message.media
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, phone_number, user_id, direction, message_type,
            message_text, media_url, media_type, media_id, media_sha256, media_filename, status,
            timestamp, created_at, context_message_id, raw_json, media_state, media_next_attempt_at,
            media_error, error_code, error_title, error_details, group_id, sender_name)
           VALUES (?, ?, ?, ?, 'inbound', ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (whatsapp_message_id) DO NOTHING
           RETURNING message_id""",
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
            # A media id that is not Meta's (a URL, a path) is failed at once, never fetched.
            ("pending" if media.downloadable else "failed") if media and media.id else None,
            now() if media and media.downloadable else None,
            media.id_error if media else None,
            *(message.error or (None, None, None)),
            message.group_id,
            (contact.name if contact else None) if message.group_id else None,
        ),
    )
    inserted = cur.fetchone()
    if inserted is None:
        return None
    message_id = int(inserted[0])
    if message.is_annotation:
        annotated(conn, message.reaction_to)
        return message_id
    emit(conn, "message.created", conversation_id, message_id)
    before = one(
        conn,
        "SELECT status, assigned_agent_id, kind FROM whatsapp_conversations WHERE conversation_id = ?",
        conversation_id,
    )
    touch_conversation(
        conn,
        conversation_id,
        message.timestamp,
        preview(message.type, message.text),
        message.type,
        unread=1 if message.counts_as_unread else 0,
        inbound=message.type != "system",
        opens_window=message.opens_window,
    )
    customer_wrote(conn, conversation_id, message.timestamp, waits=message.counts_as_unread)
    if message.type != "system":
        from .. import routing  # the rules read settings and business hours: pure SQL on this connection

        routing.customer_wrote(conn, conversation_id, before)
    from .away_reply import queue_away_reply  # here: away_reply's module imports this one

    if queue_away_reply(conn, conversation_id, message) is not None and result is not None:
        result.away_replies += 1
    return message_id


def annotated(conn: sqlite3.Connection, target_wamid: str | None) -> None:
    """A reaction, edit or deletion arrived: tell listeners that its target message changed."""
    target = one(conn, "SELECT message_id FROM whatsapp_messages WHERE whatsapp_message_id = ?", target_wamid)
    if target is not None:
        emit_message(conn, "message.updated", int(target["message_id"]))


def customer_for(conn: sqlite3.Connection, message: InboundMessage) -> int:
    """The conversation an inbound message belongs to, applying identity changes it announces.

    A message written in a group belongs to the group's thread; its sender's own thread (if any) is
    neither created nor touched: an answer from there would go privately to one member.
    """
    contact = message.contact
    if message.group_id:
        conversation_id = resolve_group(conn, message.group_id)
        note_participant(
            conn,
            conversation_id,
            message.phone_number,
            message.user_id,
            username=contact.username if contact else None,
            name=contact.name if contact else None,
        )
        return conversation_id
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
        release_identifier(conn, "phone_number", change.new_phone_number, conversation_id)
        changes["phone_number"] = change.new_phone_number
    if change.new_user_id and change.new_user_id != row["user_id"]:
        release_identifier(conn, "user_id", change.new_user_id, conversation_id)
        changes["user_id"] = change.new_user_id
    if changes:
        log.info("Customer of conversation %s changed identity (%s)", conversation_id, change.kind)
        update_conversation(conn, conversation_id, changes)
    return conversation_id


def apply_status(conn: sqlite3.Connection, status: StatusUpdate) -> bool:
    """Apply a status to its outbound message; park it (False) if the message is not stored yet."""
    row = one(
        conn,
        "SELECT message_id, conversation_id FROM whatsapp_messages WHERE whatsapp_message_id = ? "
        "AND direction = 'outbound'",
        status.wamid,
    )
    if row is None and status.local_id:
        row = one(conn, "SELECT * FROM whatsapp_messages WHERE local_id = ?", status.local_id)
        if row is not None and row["whatsapp_message_id"].startswith(LOCAL_PREFIX):
            if status.status != "failed":
                reply_accepted(conn, row)  # Meta took it: its answer was lost, its status tells
            # Our process died (or is still waiting) between Meta's answer and our write:
            # Meta's echo of our own id tells us which message this wamid is.
            conn.execute(
                "UPDATE whatsapp_messages SET whatsapp_message_id = ? WHERE message_id = ?",
                (status.wamid, row["message_id"]),
            )
    if row is None:
        if one(conn, "SELECT 1 FROM whatsapp_messages WHERE whatsapp_message_id = ?", status.wamid):
            log.info("Ignoring a %s status for inbound message %s", status.status, status.wamid)
            return True
        pricing = status.pricing
        conn.execute(
            """INSERT INTO parked_statuses
               (whatsapp_message_id, local_id, status, timestamp, error_code, error_title, error_details, received_at,
                pricing_billable, pricing_model, pricing_category, pricing_type, entry_expires_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
                None if pricing is None or pricing.billable is None else int(pricing.billable),
                pricing.pricing_model if pricing else None,
                pricing.category if pricing else None,
                pricing.type if pricing else None,
                pricing.entry_expires_at if pricing else None,
            ),
        )
        log.info("Parked a %s status for unknown message %s", status.status, status.wamid)
        return False
    if status.user_id or status.phone_number:
        learn_identity(conn, int(row["conversation_id"]), status.phone_number, status.user_id)
    if status.pricing is not None:
        record_pricing(conn, int(row["message_id"]), status.pricing, status.timestamp)
    if status.group_id and status.status == "failed" and _reached_group(conn, int(row["message_id"])):
        # Meta sends a status per member of a group: one member's failure is not the message's. It
        # keeps its ticks and carries the error, naming the member.
        member = f"Not delivered to {status.participant}" if status.participant else "Not delivered to a member"
        conn.execute(
            "UPDATE whatsapp_messages SET error_code = ?, error_title = ?, error_details = ? WHERE message_id = ?",
            (
                status.error_code,
                f"{member} of the group" + (f": {status.error_title}" if status.error_title else ""),
                status.error_details,
                int(row["message_id"]),
            ),
        )
        emit_message(conn, "message.updated", int(row["message_id"]))
        return True
    transition(
        conn,
        int(row["message_id"]),
        status.status,
        status.timestamp,
        status.error_code,
        status.error_title,
        status.error_details,
    )
    return True


def _reached_group(conn: sqlite3.Connection, message_id: int) -> bool:
    """Whether Meta took a group send (a status of sent or beyond came, or its answer did)."""
    row = one(conn, "SELECT status FROM whatsapp_messages WHERE message_id = ?", message_id)
    return row is not None and row["status"] in ("sent", "delivered", "read", "played")


def transition(
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
                            THEN :status ELSE status END,
              -- Meta confirms a send that timed out: its provisional "may not have been sent" goes
              error_code = CASE WHEN status = 'pending' THEN NULL ELSE error_code END,
              error_title = CASE WHEN status = 'pending' THEN NULL ELSE error_title END,
              error_details = CASE WHEN status = 'pending' THEN NULL ELSE error_details END
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
        priced = (row["pricing_model"], row["pricing_category"], row["pricing_type"], row["pricing_billable"])
        if any(value is not None for value in priced):
            billable = row["pricing_billable"]
            pricing = Pricing(
                billable=None if billable is None else bool(billable),
                pricing_model=row["pricing_model"],
                category=row["pricing_category"],
                type=row["pricing_type"],
                entry_expires_at=row["entry_expires_at"],
            )
            record_pricing(conn, message_id, pricing, row["timestamp"])
        transition(
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
