"""The team's settings: one JSON object per name (routing, business hours, ...), read whole."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .common import now, one

T = TypeVar("T")
_parsed: dict[tuple[str, str], Any] = {}
_parsed_lock = threading.Lock()
MAX_PARSED = 64


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


def parsed_setting(conn: sqlite3.Connection, name: str, parse: Callable[[dict[str, Any]], T]) -> T | None:
    """The setting as `parse` makes it (a Schedule, routing Rules...), None when never set. Parsed once
    per stored text and process: every inbound message reads routing, business hours and the automatic
    reply while the write lock is held, and parsing (dates, time zones) costs far more than the SELECT.
    `parse` may raise; nothing is cached then."""
    row = one(conn, "SELECT value FROM settings WHERE name = ?", name)
    if row is None:
        return None
    key = (name, row["value"])
    with _parsed_lock:
        if key in _parsed:
            return _parsed[key]
    value = json.loads(row["value"])
    result = parse(value if isinstance(value, dict) else {})
    with _parsed_lock:
        if len(_parsed) >= MAX_PARSED:
            _parsed.clear()
        _parsed[key] = result
    return result
