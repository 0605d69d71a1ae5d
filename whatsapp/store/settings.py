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


def _stored_text(conn: sqlite3.Connection, name: str) -> str | None:
    """The setting's stored JSON text. Inside a write transaction it is read once: no other writer can
    change it meanwhile (writers take turns) and put_setting forgets it, so a group commit's deliveries
    do not each read routing, business hours and the automatic reply again (a round trip each on
    PostgreSQL)."""
    cache = getattr(conn, "settings_read", None)
    if cache is not None and name in cache:
        return cache[name]
    row = one(conn, "SELECT value FROM settings WHERE name = ?", name)
    text = None if row is None else row["value"]
    if cache is not None:
        cache[name] = text
    return text


def get_setting(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The stored object for this name, or None when it was never set."""
    text = _stored_text(conn, name)
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


def put_setting(conn: sqlite3.Connection, name: str, value: dict[str, Any], agent_id: int | None = None) -> None:
    """Store (replace) the object for this name; call inside a write transaction."""
    cache = getattr(conn, "settings_read", None)
    if cache is not None:
        cache.pop(name, None)
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
    text = _stored_text(conn, name)
    if text is None:
        return None
    key = (name, text)
    with _parsed_lock:
        if key in _parsed:
            return _parsed[key]
    value = json.loads(text)
    result = parse(value if isinstance(value, dict) else {})
    with _parsed_lock:
        if len(_parsed) >= MAX_PARSED:
            _parsed.clear()
        _parsed[key] = result
    return result
