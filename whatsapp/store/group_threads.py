"""Group conversations: one thread per WhatsApp group id, its members, and its system lines."""

from __future__ import annotations

import json
import sqlite3

from .common import emit, now, one, preview
from .customers import conversation_taken, new_conversation_id, touch_conversation, update_conversation

SYSTEM_PREFIX = "group."  # the id of a line the inbox writes for a group event (never Meta's wamid)


def resolve_group(conn: sqlite3.Connection, group_id: str, subject: str | None = None) -> int:
    """The conversation of this group, created on its first message or event; a subject renames it."""
    row = one(conn, "SELECT conversation_id, contact_name FROM whatsapp_conversations WHERE group_id = ?", group_id)
    if row is not None:
        if subject and row["contact_name"] != subject:
            update_conversation(conn, int(row["conversation_id"]), {"contact_name": subject})
        return int(row["conversation_id"])
    stamp = now()
    # The same id rule as customers.resolve_conversation: past every id ever given, merged ones too.
    conversation_id = new_conversation_id(conn)
    conn.execute(
        """INSERT INTO whatsapp_conversations (conversation_id, kind, group_id, contact_name, created_at, updated_at)
           VALUES (?, 'group', ?, ?, ?, ?)""",
        (conversation_id, group_id, subject, stamp, stamp),
    )
    conversation_taken(conn, conversation_id)
    emit(conn, "conversation.updated", conversation_id)
    return conversation_id


def find_participant(
    conn: sqlite3.Connection, conversation_id: int, phone_number: str | None, user_id: str | None
) -> sqlite3.Row | None:
    """A member by phone or BSUID (Meta names the same person by either, depending on the webhook)."""
    return one(
        conn,
        """SELECT * FROM group_participants WHERE conversation_id = ?
           AND ((phone_number IS NOT NULL AND phone_number = ?) OR (user_id IS NOT NULL AND user_id = ?))
           ORDER BY participant_key LIMIT 1""",
        conversation_id,
        phone_number,
        user_id,
    )


def note_participant(
    conn: sqlite3.Connection,
    conversation_id: int,
    phone_number: str | None,
    user_id: str | None,
    *,
    username: str | None = None,
    name: str | None = None,
    state: str | None = None,
    at: str | None = None,
) -> None:
    """Record a member: what Meta told of them fills in; `state` ('member'/'left') only when given.

    A message from someone makes them known (as a member if new) but never re-adds one who left:
    a late message must not undo a removal.
    """
    row = find_participant(conn, conversation_id, phone_number, user_id)
    key = row["participant_key"] if row is not None else (phone_number or user_id)
    if key is None:
        return
    stamp = now()
    conn.execute(
        """INSERT INTO group_participants
           (conversation_id, participant_key, phone_number, user_id, username, name, state, joined_at, left_at,
            updated_at)
           VALUES (:conv, :key, :phone, :user, :username, :name, COALESCE(:state, 'member'),
                   CASE WHEN COALESCE(:state, 'member') = 'member' THEN :at END,
                   CASE WHEN :state = 'left' THEN :at END, :now)
           ON CONFLICT (conversation_id, participant_key) DO UPDATE SET
             phone_number = COALESCE(excluded.phone_number, group_participants.phone_number),
             user_id = COALESCE(excluded.user_id, group_participants.user_id),
             username = COALESCE(excluded.username, group_participants.username),
             name = COALESCE(excluded.name, group_participants.name),
             state = COALESCE(:state, group_participants.state),
             joined_at = CASE WHEN :state = 'member' THEN :at ELSE group_participants.joined_at END,
             left_at = CASE WHEN :state = 'left' THEN :at WHEN :state = 'member' THEN NULL
                            ELSE group_participants.left_at END,
             updated_at = :now""",
        {
            "conv": conversation_id,
            "key": key,
            "phone": phone_number,
            "user": user_id,
            "username": username,
            "name": name,
            "state": state,
            "at": at or stamp,
            "now": stamp,
        },
    )


def participant_label(conn: sqlite3.Connection, conversation_id: int, phone: str | None, user_id: str | None) -> str:
    """How a system line names a member: their profile name when a message told it, else their number."""
    row = find_participant(conn, conversation_id, phone, user_id)
    if row is not None and row["name"]:
        return str(row["name"])
    if row is not None and row["username"]:
        return "@" + str(row["username"])
    return phone or user_id or "Someone"


def system_line(
    conn: sqlite3.Connection,
    conversation_id: int,
    group_id: str,
    key: str,
    timestamp: str,
    kind: str,
    body: str,
) -> bool:
    """A centred line in the group's thread ("Ana joined"); False if this event was written before."""
    raw = {"type": "system", "group_id": group_id, "system": {"type": kind, "body": body}}
    cur = conn.execute(
        """INSERT INTO whatsapp_messages
           (conversation_id, whatsapp_message_id, direction, message_type, message_text, status, timestamp,
            created_at, raw_json, group_id)
           VALUES (?, ?, 'inbound', 'system', ?, 'received', ?, ?, ?, ?)
           ON CONFLICT (whatsapp_message_id) DO NOTHING
           RETURNING message_id""",
        (conversation_id, SYSTEM_PREFIX + key, body, timestamp, now(), json.dumps(raw, ensure_ascii=False), group_id),
    )
    inserted = cur.fetchone()
    if inserted is None:
        return False
    emit(conn, "message.created", conversation_id, int(inserted[0]))
    touch_conversation(conn, conversation_id, timestamp, preview("system", body), "system")
    return True


def participants(conn: sqlite3.Connection, conversation_id: int) -> list[sqlite3.Row]:
    """A group's members, current ones first, by name."""
    return conn.execute(
        """SELECT * FROM group_participants WHERE conversation_id = ?
           ORDER BY CASE state WHEN 'member' THEN 0 ELSE 1 END, COALESCE(name, phone_number, user_id) NULLS FIRST""",
        (conversation_id,),
    ).fetchall()
