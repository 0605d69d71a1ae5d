"""Canned replies: the team's shared snippets (a small table, at most canned.MAX_REPLIES rows)."""

from __future__ import annotations

import sqlite3
from typing import Any

from .common import now, one

COLUMNS = "canned_reply_id, code, title, body, created_by, created_at, updated_at"


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_canned(conn: sqlite3.Connection, words: list[str]) -> list[sqlite3.Row]:
    """Every reply, by code; with words, those whose title or body holds every word (case-insensitive)
    and, for one word, those whose code starts with it, first."""
    if not words:
        return conn.execute(f"SELECT {COLUMNS} FROM canned_replies ORDER BY code").fetchall()
    # a code has no spaces: only a one-word query can be its start
    prefix = _like(words[0])[1:] if len(words) == 1 else ""
    every = " AND ".join("(LOWER(title) LIKE ? ESCAPE '\\' OR LOWER(body) LIKE ? ESCAPE '\\')" for _ in words)
    params: list[Any] = [prefix]
    for word in words:
        params += [_like(word), _like(word)]
    return conn.execute(
        f"""SELECT {COLUMNS} FROM canned_replies
            WHERE (code LIKE ? ESCAPE '\\') OR ({every})
            ORDER BY CASE WHEN code LIKE ? ESCAPE '\\' THEN 0 ELSE 1 END, code""",
        (*params, prefix),
    ).fetchall()


def get_canned(conn: sqlite3.Connection, canned_reply_id: int) -> sqlite3.Row | None:
    return one(conn, f"SELECT {COLUMNS} FROM canned_replies WHERE canned_reply_id = ?", canned_reply_id)


def canned_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM canned_replies").fetchone()[0])


def create_canned(conn: sqlite3.Connection, code: str, title: str, body: str, agent_id: int | None) -> int | None:
    """The new reply's id, or None when the code is taken."""
    stamp = now()
    row = conn.execute(
        """INSERT INTO canned_replies (code, title, body, created_by, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING RETURNING canned_reply_id""",
        (code, title, body, agent_id, stamp, stamp),
    ).fetchone()
    return int(row[0]) if row is not None else None


def code_taken(conn: sqlite3.Connection, code: str, other_than: int) -> bool:
    row = one(conn, "SELECT 1 FROM canned_replies WHERE code = ? AND canned_reply_id != ?", code, other_than)
    return row is not None


def update_canned(conn: sqlite3.Connection, canned_reply_id: int, changes: dict[str, str]) -> None:
    changes = {**changes, "updated_at": now()}
    assignments = ", ".join(f"{column} = ?" for column in changes)
    conn.execute(
        f"UPDATE canned_replies SET {assignments} WHERE canned_reply_id = ?", (*changes.values(), canned_reply_id)
    )


def delete_canned(conn: sqlite3.Connection, canned_reply_id: int) -> bool:
    return conn.execute("DELETE FROM canned_replies WHERE canned_reply_id = ?", (canned_reply_id,)).rowcount == 1
