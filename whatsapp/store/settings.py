"""The team's settings: one JSON object per name (routing, business hours, ...), read whole."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .common import now, one


def get_setting(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The stored object for this name, or None when it was never set."""
    row = one(conn, "SELECT value FROM settings WHERE name = ?", name)
    if row is None:
        return None
    value = json.loads(row["value"])
    return value if isinstance(value, dict) else None


def put_setting(conn: sqlite3.Connection, name: str, value: dict[str, Any], agent_id: int | None = None) -> None:
    """Store (replace) the object for this name; call inside a write transaction."""
    conn.execute(
        """INSERT INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
                                            updated_by = excluded.updated_by""",
        (name, json.dumps(value, ensure_ascii=False, sort_keys=True), now(), agent_id),
    )
