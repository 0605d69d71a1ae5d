"""Customers and their conversations: identity (phone and BSUID), merging, agent actions."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from .. import phones
from .common import emit, now, one
from .engine import postgres
from .labels import move_labels
from .notes import move_notes
from .reports import merged as merge_reports
from .reports import status_changing

log = logging.getLogger(__name__)


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
    by_user = one(conn, "SELECT * FROM whatsapp_conversations WHERE user_id = ?", user_id) if user_id else None
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
        merge(conn, keep["conversation_id"], drop["conversation_id"])
        by_user = by_phone = one(
            conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", keep["conversation_id"]
        )
    row = by_user or by_phone
    stamp = now()
    if row is None:
        conversation_id = new_conversation_id(conn)
        conn.execute(
            """INSERT INTO whatsapp_conversations
               (conversation_id, phone_number, user_id, username, contact_name, contact_profile_name,
                created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                conversation_id,
                phone_number,
                user_id,
                username,
                owner_name(conn, phone_number) or name,
                name,
                stamp,
                stamp,
            ),
        )
        conversation_taken(conn, conversation_id)
        return conversation_id
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
        update_conversation(conn, conversation_id, changes)
    return conversation_id


def new_conversation_id(conn: sqlite3.Connection) -> int:
    """A new conversation id past every id ever given, merged-away ones included: SQLite would reuse
    the highest after a merge deleted it, and whoever still held that id would see another customer.
    Call inside a write transaction (writers take turns on both engines, so read-then-insert is safe)."""
    row = conn.execute(
        """SELECT COALESCE((SELECT MAX(conversation_id) FROM whatsapp_conversations), 0),
                  COALESCE((SELECT MAX(merged_from) FROM events WHERE merged_from IS NOT NULL), 0)"""
    ).fetchone()
    return 1 + max(int(row[0]), int(row[1]))


def conversation_taken(conn: sqlite3.Connection, conversation_id: int) -> None:
    """After inserting an explicit conversation id: on PostgreSQL, move the identity's sequence to it,
    so that an insert leaving the id to the database never gets a taken (or merged-away) one."""
    if postgres(conn):
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('whatsapp_conversations', 'conversation_id'), ?)",
            (conversation_id,),
        )


def owner_name(conn: sqlite3.Connection, phone_number: str | None) -> str | None:
    """The name the business owner gave this customer in the WhatsApp Business app (coexistence), if any."""
    if not phone_number:
        return None
    forms = phones.variants(phone_number)
    marks = ",".join("?" * len(forms))
    row = conn.execute(
        f"SELECT name FROM business_contacts WHERE phone_number IN ({marks}) AND name IS NOT NULL"
        " ORDER BY synced_at DESC LIMIT 1",
        forms,
    ).fetchone()
    return row["name"] if row else None


def update_conversation(conn: sqlite3.Connection, conversation_id: int, changes: dict[str, Any]) -> None:
    changes = {**changes, "updated_at": now()}
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(
        f"UPDATE whatsapp_conversations SET {assignments} WHERE conversation_id = ?",
        (*changes.values(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)


def merge(conn: sqlite3.Connection, keep: int, drop: int) -> None:
    """Fold conversation `drop` into `keep`: messages move, counters add up, identifiers join."""
    log.info("Merging conversation %s into %s (same customer)", drop, keep)
    gone = one(conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", drop)
    conn.execute("UPDATE whatsapp_messages SET conversation_id = ? WHERE conversation_id = ?", (keep, drop))
    move_notes(conn, keep, drop)
    move_labels(conn, keep, drop)  # the union of both threads' labels
    merge_reports(conn, keep, drop)
    # the contact panel's attributes join too (the kept thread's own value wins on the same key)
    conn.execute(
        """INSERT INTO conversation_attributes (conversation_id, attr_key, value, updated_at, updated_by)
           SELECT ?, attr_key, value, updated_at, updated_by FROM conversation_attributes WHERE conversation_id = ?
           ON CONFLICT (conversation_id, attr_key) DO NOTHING""",
        (keep, drop),
    )
    conn.execute("DELETE FROM conversation_attributes WHERE conversation_id = ?", (drop,))
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
             last_message_at = CASE WHEN last_message_at >= COALESCE(:last_at, last_message_at)
                               THEN last_message_at ELSE :last_at END,
             last_inbound_at = CASE WHEN last_inbound_at >= COALESCE(:inbound_at, last_inbound_at)
                               THEN last_inbound_at ELSE :inbound_at END,
             assigned_agent_id = COALESCE(assigned_agent_id, :agent),
             blocked_at = COALESCE(blocked_at, :blocked_at),
             free_entry_until = CASE WHEN free_entry_until >= COALESCE(:entry, free_entry_until)
                                THEN free_entry_until ELSE :entry END,
             -- the customer's latest marketing choice (user_preferences) of the two threads
             marketing_opt_out = CASE WHEN :preference_at > COALESCE(marketing_preference_at, '')
                                      THEN :opt_out ELSE marketing_opt_out END,
             marketing_preference_at = CASE WHEN :preference_at > COALESCE(marketing_preference_at, '')
                                            THEN :preference_at ELSE marketing_preference_at END,
             created_at = CASE WHEN created_at <= COALESCE(:created_at, created_at) THEN created_at
                               ELSE COALESCE(:created_at, created_at) END,
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
            "blocked_at": gone["blocked_at"],
            "entry": gone["free_entry_until"],
            "opt_out": gone["marketing_opt_out"],
            "preference_at": gone["marketing_preference_at"],
            "created_at": gone["created_at"],
            "now": now(),
            "keep": keep,
        },
    )
    emit(conn, "conversation.merged", keep, merged_from=drop)


def merged_into(conn: sqlite3.Connection, conversation_id: int) -> int | None:
    """The live conversation a deleted one was folded into (following later merges), or None."""
    current, seen = conversation_id, {conversation_id}
    while True:
        row = conn.execute(
            """SELECT conversation_id FROM events WHERE merged_from = ? AND kind = 'conversation.merged'
               ORDER BY event_id DESC LIMIT 1""",
            (current,),
        ).fetchone()
        if row is None or row[0] in seen:
            return None if current == conversation_id else current
        current = row[0]
        seen.add(current)
        if conn.execute("SELECT 1 FROM whatsapp_conversations WHERE conversation_id = ?", (current,)).fetchone():
            return current


def find_conversation(
    conn: sqlite3.Connection,
    conversation_id: int | None = None,
    phone_number: str | None = None,
    user_id: str | None = None,
) -> sqlite3.Row | None:
    """Look a conversation up by id, by phone (any WhatsApp variant of it) or by BSUID."""
    if conversation_id is not None:
        return one(conn, "SELECT * FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id)
    if user_id:
        row = one(conn, "SELECT * FROM whatsapp_conversations WHERE user_id = ?", user_id)
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


def touch_conversation(
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
             last_message_at = CASE WHEN last_message_at > :ts THEN last_message_at ELSE :ts END,
             last_inbound_at = CASE WHEN :opens = 1 AND (last_inbound_at IS NULL OR last_inbound_at < :ts) THEN :ts
                                    ELSE last_inbound_at END,
             status = CASE WHEN :inbound = 1 AND status = 'closed'
                           THEN (CASE WHEN assigned_agent_id IS NULL THEN 'open' ELSE 'assigned' END)
                           ELSE status END,
             -- the customer writing wakes a snoozed conversation at once
             snoozed_until = CASE WHEN :inbound = 1 THEN NULL ELSE snoozed_until END,
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


def release_identifier(conn: sqlite3.Connection, column: str, value: str, owner: int) -> None:
    """If another thread already holds this identifier, fold it into the owner's thread."""
    other = one(conn, f"SELECT conversation_id FROM whatsapp_conversations WHERE {column} = ?", value)
    if other is not None and other["conversation_id"] != owner:
        conn.execute(
            f"UPDATE whatsapp_conversations SET {column} = NULL WHERE conversation_id = ?", (other["conversation_id"],)
        )
        merge(conn, owner, int(other["conversation_id"]))


def adopt_identity(conn: sqlite3.Connection, conversation_id: int, phone: str | None, user_id: str | None) -> None:
    """Adopt the wa_id and BSUID Meta resolved for a send: replies will come from exactly those."""
    row = one(
        conn, "SELECT phone_number, user_id FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id
    )
    changes: dict[str, Any] = {}
    if phone and row["phone_number"] != phone:
        other = find_conversation(conn, phone_number=phone)
        if other is None or other["conversation_id"] == conversation_id:
            changes["phone_number"] = phone
    if user_id and row["user_id"] != user_id:
        release_identifier(conn, "user_id", user_id, conversation_id)
        changes["user_id"] = user_id
    if changes:
        update_conversation(conn, conversation_id, changes)


def learn_identity(conn: sqlite3.Connection, conversation_id: int, phone: str | None, user_id: str | None) -> None:
    """Fill in identifiers a thread lacks from a status webhook (never overwrite: statuses arrive late).

    A BSUID already held by another thread (the same customer writing without a phone) joins them.
    """
    row = one(
        conn, "SELECT phone_number, user_id FROM whatsapp_conversations WHERE conversation_id = ?", conversation_id
    )
    changes: dict[str, Any] = {}
    if user_id and not row["user_id"]:
        release_identifier(conn, "user_id", user_id, conversation_id)
        changes["user_id"] = user_id
    if phone and not row["phone_number"] and find_conversation(conn, phone_number=phone) is None:
        changes["phone_number"] = phone
    if changes:
        update_conversation(conn, conversation_id, changes)


def mark_read(conn: sqlite3.Connection, conversation_id: int) -> str | None:
    """Zero the unread count; returns the wamid of the customer's latest message (for blue ticks)."""
    conn.execute(
        "UPDATE whatsapp_conversations SET unread_count = 0, updated_at = ? WHERE conversation_id = ?",
        (now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)
    row = one(
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
             status = CASE WHEN status = 'closed' THEN 'closed' WHEN CAST(? AS BIGINT) IS NULL THEN 'open'
                           ELSE 'assigned' END,
             updated_at = ?
           WHERE conversation_id = ?""",
        (agent_id, agent_id, now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)
    # an agent letting a conversation go does not get it straight back from this very drain
    _room_may_have_freed(conn, exclude=conversation_id if agent_id is None else None)


def set_status(conn: sqlite3.Connection, conversation_id: int, status: str) -> None:
    """Close or reopen; reopening goes back to 'assigned' when an agent still holds it. Either ends a snooze."""
    status_changing(conn, conversation_id, status)
    if status == "closed":
        value = "'closed'"
    else:
        value = "CASE WHEN assigned_agent_id IS NULL THEN 'open' ELSE 'assigned' END"
    conn.execute(
        f"UPDATE whatsapp_conversations SET status = {value}, snoozed_until = NULL, updated_at = ?"
        " WHERE conversation_id = ?",
        (now(), conversation_id),
    )
    emit(conn, "conversation.updated", conversation_id)
    if status == "closed":
        _room_may_have_freed(conn)


def _room_may_have_freed(conn: sqlite3.Connection, exclude: int | None = None) -> None:
    """An agent may be under capacity now (closed, unassigned, reassigned): routing drains the waiting
    conversations, oldest first, in this transaction (`exclude`: one just unassigned, left waiting)."""
    from .. import routing

    routing.drain(conn, exclude=exclude)
