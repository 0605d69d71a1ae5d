"""All SQL of private notes and the mentions in them (callers own the transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .common import now, one


def _event(conn: sqlite3.Connection, kind: str, conversation_id: int, note_id: int, agent_id: int | None) -> None:
    conn.execute(
        "INSERT INTO events (created_at, kind, conversation_id, note_id, agent_id) VALUES (?, ?, ?, ?, ?)",
        (now(), kind, conversation_id, note_id, agent_id),
    )


def add_note(
    conn: sqlite3.Connection, conversation_id: int, agent_id: int | None, body: str, mentioned: Iterable[int]
) -> int:
    """Store a note and a mention for each agent named in it; emit note.created and a mention.created
    for each of those agents. Returns the note's id."""
    stamp = now()
    note_id = int(
        conn.execute(
            "INSERT INTO notes (conversation_id, agent_id, body, created_at) VALUES (?, ?, ?, ?) RETURNING note_id",
            (conversation_id, agent_id, body, stamp),
        ).fetchone()[0]
    )
    _event(conn, "note.created", conversation_id, note_id, agent_id)
    for mentioned_id in mentioned:
        added = conn.execute(
            """INSERT INTO mentions (note_id, agent_id, created_at) VALUES (?, ?, ?)
               ON CONFLICT (note_id, agent_id) DO NOTHING""",
            (note_id, mentioned_id, stamp),
        )
        if added.rowcount:
            _event(conn, "mention.created", conversation_id, note_id, mentioned_id)
    return note_id


_NOTE = """SELECT notes.*, agents.name AS agent_name FROM notes
           LEFT JOIN agents ON agents.agent_id = notes.agent_id"""


def get_note(conn: sqlite3.Connection, note_id: int) -> sqlite3.Row | None:
    """A note that is not deleted, with its author's name."""
    return conn.execute(f"{_NOTE} WHERE notes.note_id = ? AND notes.deleted_at IS NULL", (note_id,)).fetchone()


def list_notes(
    conn: sqlite3.Connection, conversation_id: int, limit: int, before_id: int | None = None
) -> list[sqlite3.Row]:
    """A conversation's newest `limit` notes (before `before_id`), oldest first."""
    rows = conn.execute(
        f"""{_NOTE} WHERE notes.conversation_id = ? AND notes.note_id < ? AND notes.deleted_at IS NULL
            ORDER BY notes.note_id DESC LIMIT ?""",
        (conversation_id, before_id or 2**63 - 1, limit),
    ).fetchall()
    return rows[::-1]


def mentions_of_notes(conn: sqlite3.Connection, note_ids: list[int]) -> dict[int, list[sqlite3.Row]]:
    """The agents each note mentions (note id -> rows of agent_id, name), in order of mention."""
    out: dict[int, list[sqlite3.Row]] = {}
    if not note_ids:
        return out
    marks = ",".join("?" * len(note_ids))
    rows = conn.execute(
        f"""SELECT mentions.note_id, mentions.agent_id, agents.name FROM mentions
            JOIN agents ON agents.agent_id = mentions.agent_id
            WHERE mentions.note_id IN ({marks}) ORDER BY mentions.mention_id""",
        note_ids,
    ).fetchall()
    for row in rows:
        out.setdefault(int(row["note_id"]), []).append(row)
    return out


def delete_note(conn: sqlite3.Connection, note_id: int) -> None:
    """Mark a note deleted and drop its mentions (they no longer point at anything to read); other agents'
    dashboards hear `note.deleted` and take it out of the thread."""
    row = one(conn, "SELECT conversation_id, agent_id FROM notes WHERE note_id = ? AND deleted_at IS NULL", note_id)
    conn.execute("UPDATE notes SET deleted_at = ? WHERE note_id = ?", (now(), note_id))
    conn.execute("DELETE FROM mentions WHERE note_id = ?", (note_id,))
    if row is not None:
        _event(conn, "note.deleted", int(row["conversation_id"]), note_id, row["agent_id"])


def move_notes(conn: sqlite3.Connection, keep: int, drop: int) -> None:
    """A merge: the notes of conversation `drop` go with its messages to `keep`."""
    conn.execute("UPDATE notes SET conversation_id = ? WHERE conversation_id = ?", (keep, drop))


def list_mentions(
    conn: sqlite3.Connection, agent_id: int, *, unread_only: bool, limit: int, before_id: int | None = None
) -> list[sqlite3.Row]:
    """An agent's mentions, newest first, with the note, its author and the conversation."""
    unread = "AND mentions.read_at IS NULL" if unread_only else ""
    return conn.execute(
        f"""SELECT mentions.*, notes.conversation_id, notes.body, notes.agent_id AS author_id,
                   notes.created_at AS note_created_at, authors.name AS author_name,
                   c.contact_name, c.contact_profile_name, c.phone_number, c.username
            FROM mentions
            JOIN notes ON notes.note_id = mentions.note_id
            JOIN whatsapp_conversations c ON c.conversation_id = notes.conversation_id
            LEFT JOIN agents authors ON authors.agent_id = notes.agent_id
            WHERE mentions.agent_id = ? AND mentions.mention_id < ? {unread}
            ORDER BY mentions.mention_id DESC LIMIT ?""",
        (agent_id, before_id or 2**63 - 1, limit),
    ).fetchall()


def unread_mentions(conn: sqlite3.Connection, agent_id: int) -> int:
    return int(
        conn.execute("SELECT COUNT(*) FROM mentions WHERE agent_id = ? AND read_at IS NULL", (agent_id,)).fetchone()[0]
    )


def mark_mentions_read(conn: sqlite3.Connection, agent_id: int, mention_ids: list[int] | None) -> int:
    """Mark an agent's mentions read (all unread ones when `mention_ids` is None); how many changed."""
    only = ""
    params: list[object] = [now(), agent_id]
    if mention_ids is not None:
        if not mention_ids:
            return 0
        only = f"AND mention_id IN ({','.join('?' * len(mention_ids))})"
        params += mention_ids
    cur = conn.execute(f"UPDATE mentions SET read_at = ? WHERE agent_id = ? AND read_at IS NULL {only}", params)
    return cur.rowcount
