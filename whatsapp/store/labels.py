"""Labels and the conversations that carry them (schema.sql keeps label_counts by triggers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .common import emit, now, one


class LabelExists(Exception):
    """Another label already has this name (names are unique whatever their case)."""


def name_key(name: str) -> str:
    """What makes two names the same label: case does not count ('VIP' is 'vip'), in any script."""
    return name.casefold()


def all_labels(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every label with how many conversations carry it (open and closed), by name."""
    return conn.execute(
        """SELECT l.*, COALESCE(c.active, 0) AS active, COALESCE(c.closed, 0) AS closed
           FROM labels l LEFT JOIN label_counts c ON c.label_id = l.label_id
           ORDER BY l.name_key, l.label_id"""
    ).fetchall()


def get_label(conn: sqlite3.Connection, label_id: int) -> sqlite3.Row | None:
    return one(
        conn,
        """SELECT l.*, COALESCE(c.active, 0) AS active, COALESCE(c.closed, 0) AS closed
           FROM labels l LEFT JOIN label_counts c ON c.label_id = l.label_id WHERE l.label_id = ?""",
        label_id,
    )


def find_label(conn: sqlite3.Connection, ref: int | str) -> sqlite3.Row | None:
    """A label by id (an int, or a string of digits that is an id) or by name, whatever its case."""
    if isinstance(ref, int) or ref.isascii() and ref.isdigit():
        row = get_label(conn, int(ref)) if int(ref) < 2**63 else None
        if row is not None or isinstance(ref, int):
            return row
    found = one(conn, "SELECT label_id FROM labels WHERE name_key = ?", name_key(str(ref)))
    return get_label(conn, found["label_id"]) if found else None


def create_label(conn: sqlite3.Connection, name: str, colour: str) -> int:
    """Add a label; LabelExists when its name is taken. Call inside a write transaction."""
    if one(conn, "SELECT 1 FROM labels WHERE name_key = ?", name_key(name)):
        raise LabelExists(name)
    label_id = int(
        conn.execute(
            "INSERT INTO labels (name, name_key, colour, created_at) VALUES (?, ?, ?, ?) RETURNING label_id",
            (name, name_key(name), colour, now()),
        ).fetchone()[0]
    )
    conn.execute("INSERT INTO label_counts (label_id, active, closed) VALUES (?, 0, 0)", (label_id,))
    emit(conn, "labels.updated", None)
    return label_id


def update_label(conn: sqlite3.Connection, label_id: int, name: str | None, colour: str | None) -> None:
    """Rename and/or recolour; LabelExists when the new name belongs to another label."""
    changes: dict[str, Any] = {}
    if name is not None:
        taken = one(conn, "SELECT label_id FROM labels WHERE name_key = ?", name_key(name))
        if taken is not None and taken["label_id"] != label_id:
            raise LabelExists(name)
        changes.update(name=name, name_key=name_key(name))
    if colour is not None:
        changes["colour"] = colour
    if not changes:
        return
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(f"UPDATE labels SET {assignments} WHERE label_id = ?", (*changes.values(), label_id))
    emit(conn, "labels.updated", None)


def delete_label(conn: sqlite3.Connection, label_id: int) -> int:
    """Delete a label and take it off every conversation; how many conversations carried it."""
    removed = conn.execute("DELETE FROM conversation_labels WHERE label_id = ?", (label_id,)).rowcount
    conn.execute("DELETE FROM label_counts WHERE label_id = ?", (label_id,))
    conn.execute("DELETE FROM labels WHERE label_id = ?", (label_id,))
    emit(conn, "labels.updated", None)
    return int(removed)


def add_label(conn: sqlite3.Connection, conversation_id: int, label_id: int) -> bool:
    """Put a label on a conversation; False when it was there already (nothing changes then)."""
    cur = conn.execute(
        """INSERT INTO conversation_labels (conversation_id, label_id, added_at) VALUES (?, ?, ?)
           ON CONFLICT (conversation_id, label_id) DO NOTHING""",
        (conversation_id, label_id, now()),
    )
    if cur.rowcount:
        emit(conn, "conversation.updated", conversation_id)
    return cur.rowcount > 0


def remove_label(conn: sqlite3.Connection, conversation_id: int, label_id: int) -> bool:
    """Take a label off a conversation; False when it did not carry it."""
    cur = conn.execute(
        "DELETE FROM conversation_labels WHERE conversation_id = ? AND label_id = ?", (conversation_id, label_id)
    )
    if cur.rowcount:
        emit(conn, "conversation.updated", conversation_id)
    return cur.rowcount > 0


def move_labels(conn: sqlite3.Connection, keep: int, drop: int) -> None:
    """A merge: `keep` carries every label either thread had (before `drop` is deleted)."""
    conn.execute(
        """INSERT INTO conversation_labels (conversation_id, label_id, added_at)
           SELECT ?, label_id, added_at FROM conversation_labels WHERE conversation_id = ?
           ON CONFLICT (conversation_id, label_id) DO NOTHING""",
        (keep, drop),
    )


def labels_for(conn: sqlite3.Connection, conversation_ids: Iterable[int]) -> dict[int, list[sqlite3.Row]]:
    """The labels of these conversations (a page of the list), by name, in one query."""
    ids = list(conversation_ids)
    found: dict[int, list[sqlite3.Row]] = {cid: [] for cid in ids}
    if not ids:
        return found
    marks = ",".join("?" * len(ids))
    for row in conn.execute(
        f"""SELECT cl.conversation_id, l.label_id, l.name, l.colour
            FROM conversation_labels cl JOIN labels l ON l.label_id = cl.label_id
            WHERE cl.conversation_id IN ({marks}) ORDER BY l.name_key, l.label_id""",
        ids,
    ):
        found[int(row["conversation_id"])].append(row)
    return found


def label_counts(conn: sqlite3.Connection, moment: str | None = None) -> dict[str, int]:
    """Conversations in the Open tab (not closed, not snoozed now) carrying each label, by label id: one
    row a label, less the labelled conversations snoozed right now (a range of idx_conversations_snoozed)."""
    counts = {str(row[0]): int(row[1]) for row in conn.execute("SELECT label_id, active FROM label_counts")}
    for label_id, asleep in conn.execute(
        """SELECT label_id, COUNT(*) FROM conversation_labels
           WHERE conversation_id IN (SELECT conversation_id FROM whatsapp_conversations
                                     WHERE snoozed_until > ? AND status != 'closed')
           GROUP BY label_id""",
        (moment or now(),),
    ):
        key = str(label_id)
        if key in counts:
            counts[key] -= int(asleep)
    return counts
