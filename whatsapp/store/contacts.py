"""The contact panel: the business's name for a customer, their free attributes, their conversations."""

from __future__ import annotations

import sqlite3
from typing import Literal

from .. import phones
from .common import emit, now, one
from .customers import owner_name, update_conversation

__all__ = ["owner_name"]

MAX_ATTRIBUTES = 50
MAX_CONVERSATIONS = 100


def set_contact_name(conn: sqlite3.Connection, row: sqlite3.Row, name: str | None) -> None:
    """The business's name for the customer (None clears it: the WhatsApp profile name shows again).

    For a customer with a phone it is also the business's name in business_contacts, the table the
    WhatsApp Business app's contact syncs (coexistence) write: the newest change wins either way, so a
    late sync older than the agent's edit does not undo it, and a new conversation for that phone
    starts with it. Call inside a write transaction."""
    conversation_id = int(row["conversation_id"])
    if row["phone_number"]:
        forms = phones.variants(row["phone_number"])
        marks = ",".join("?" * len(forms))
        stamp = now()
        cur = conn.execute(
            f"UPDATE business_contacts SET name = ?, synced_at = ? WHERE phone_number IN ({marks})",
            (name, stamp, *forms),
        )
        if cur.rowcount == 0:
            conn.execute(
                """INSERT INTO business_contacts (phone_number, name, synced_at) VALUES (?, ?, ?)
                   ON CONFLICT (phone_number) DO UPDATE SET name = excluded.name, synced_at = excluded.synced_at""",
                (row["phone_number"], name, stamp),
            )
    shown = name if name else row["contact_profile_name"]
    if row["contact_name"] != shown:
        update_conversation(conn, conversation_id, {"contact_name": shown})


def attributes(conn: sqlite3.Connection, conversation_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT attr_key, value, updated_at, updated_by FROM conversation_attributes
           WHERE conversation_id = ? ORDER BY attr_key""",
        (conversation_id,),
    ).fetchall()


def set_attribute(
    conn: sqlite3.Connection, conversation_id: int, key: str, value: str, agent_id: int | None
) -> Literal["created", "updated", "unchanged", "full"]:
    """Create or change one attribute; 'full' when the customer has MAX_ATTRIBUTES already. Call inside
    a write transaction (the count and the insert are one step)."""
    old = one(
        conn,
        "SELECT value FROM conversation_attributes WHERE conversation_id = ? AND attr_key = ?",
        conversation_id,
        key,
    )
    if old is not None and old["value"] == value:
        return "unchanged"
    if old is None:
        count = conn.execute(
            "SELECT COUNT(*) FROM conversation_attributes WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        if count >= MAX_ATTRIBUTES:
            return "full"
    conn.execute(
        """INSERT INTO conversation_attributes (conversation_id, attr_key, value, updated_at, updated_by)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (conversation_id, attr_key) DO UPDATE SET
             value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
        (conversation_id, key, value, now(), agent_id),
    )
    emit(conn, "conversation.updated", conversation_id)
    return "created" if old is None else "updated"


def delete_attribute(conn: sqlite3.Connection, conversation_id: int, key: str) -> bool:
    cur = conn.execute(
        "DELETE FROM conversation_attributes WHERE conversation_id = ? AND attr_key = ?", (conversation_id, key)
    )
    if cur.rowcount:
        emit(conn, "conversation.updated", conversation_id)
    return cur.rowcount == 1


CONVERSATION_COLUMNS = """c.conversation_id, c.kind, c.status, c.last_message_at, c.last_message,
    c.contact_name, c.contact_profile_name, c.phone_number, c.user_id, c.group_id"""


def customer_conversations(conn: sqlite3.Connection, row: sqlite3.Row) -> list[tuple[sqlite3.Row, str | None]]:
    """Every conversation of this customer: those under their phone (any WhatsApp form of it) or BSUID,
    closed ones too, and the groups they are (or were) a member of with their membership state ('member',
    'left'; None for their own threads). Newest activity first. A group conversation has only itself."""
    if row["kind"] == "group":
        return [(row, None)]
    keys = [("phone_number", phones.variants(row["phone_number"]) if row["phone_number"] else [])]
    keys.append(("user_id", [row["user_id"]] if row["user_id"] else []))
    found: dict[int, tuple[sqlite3.Row, str | None]] = {int(row["conversation_id"]): (row, None)}
    for column, values in keys:  # one query per identifier: each an index search
        if not values:
            continue
        marks = ",".join("?" * len(values))
        for r in conn.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM whatsapp_conversations c WHERE c.{column} IN ({marks})", values
        ):
            found.setdefault(int(r["conversation_id"]), (r, None))
        for r in conn.execute(
            f"""SELECT {CONVERSATION_COLUMNS}, p.state FROM group_participants p
                JOIN whatsapp_conversations c ON c.conversation_id = p.conversation_id
                WHERE p.{column} IN ({marks}) LIMIT {MAX_CONVERSATIONS}""",
            values,
        ):
            found.setdefault(int(r["conversation_id"]), (r, r["state"]))
    ordered = sorted(
        found.values(), key=lambda item: (item[0]["last_message_at"] or "", item[0]["conversation_id"]), reverse=True
    )
    return ordered[:MAX_CONVERSATIONS]
