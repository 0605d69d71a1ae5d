"""What a backup holds: the counts `flask backup` reports for the copy it made."""

from __future__ import annotations

import sqlite3


def contents(conn: sqlite3.Connection) -> dict[str, int]:
    """How many messages and conversations a database holds (read on the copy, not the live file)."""
    messages = conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0]
    conversations = conn.execute("SELECT COUNT(*) FROM whatsapp_conversations").fetchone()[0]
    return {"messages": int(messages), "conversations": int(conversations)}
