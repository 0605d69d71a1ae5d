"""All SQL of sign-in: agents (a sha256 of each key, never the key), their dashboard sessions (a sha256
of each session id) and the shared session secret."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta

from .api_shapes import Agent
from .db import retry_while_locked, write_transaction
from .store import now, stamp

KEY_PREFIX = "wak_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A random agent key (256 bits); only its hash is stored."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


ROLES = ("admin", "agent")
MAX_NAME = 100


class NameTaken(ValueError):
    """Another active agent has this name (whatever its case): @mentions could not tell them apart."""


def checked_name(value: str) -> str:
    """A new agent's name, spaces tidied: plain text, at most MAX_NAME characters (ValueError). Whether
    an active agent has it already, `create` checks under its write lock (NameTaken)."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValueError("name is required")
    if len(name) > MAX_NAME:
        raise ValueError(f"name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name) or "@" in name:
        raise ValueError("name must be plain text (no control or invisible characters, no @)")
    return name


def refuse_taken(conn: sqlite3.Connection, name: str) -> None:
    """NameTaken if an active agent already has this (tidied) name, letter case aside."""
    for row in conn.execute("SELECT name FROM agents WHERE active = 1"):
        if " ".join(unicodedata.normalize("NFC", row["name"]).split()).casefold() == name.casefold():
            raise NameTaken(f"An active agent is already named {row['name']!r}; choose another name")


def create(conn: sqlite3.Connection, name: str, role: str = "agent") -> tuple[sqlite3.Row, str]:
    """Add an agent (its name from checked_name); returns its row and the key, which exists nowhere
    else afterwards. NameTaken if another agent took the name since it was checked."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = new_key()
    with write_transaction(conn):
        refuse_taken(conn, name)  # again under the write lock: two requests may have checked at once
        cur = conn.execute(
            "INSERT INTO agents (name, key_hash, created_at, active, role) VALUES (?, ?, ?, 1, ?) RETURNING *",
            (name, hash_key(key), now(), role),
        )
        row = cur.fetchone()
    return row, key


def by_key(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    """The active agent holding this key (looked up by hash, so the key is never compared as text)."""
    return conn.execute("SELECT * FROM agents WHERE key_hash = ? AND active = 1", (hash_key(key),)).fetchone()


def list_all(conn: sqlite3.Connection, include_inactive: bool = False) -> list[sqlite3.Row]:
    where = "" if include_inactive else "WHERE active = 1"
    return conn.execute(f"SELECT * FROM agents {where} ORDER BY lower(name), agent_id").fetchall()


def set_role(conn: sqlite3.Connection, agent_id: int, role: str) -> bool:
    """Make an agent an admin or an agent; False if there is no such agent."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with write_transaction(conn):
        cur = conn.execute("UPDATE agents SET role = ? WHERE agent_id = ?", (role, agent_id))
    return cur.rowcount > 0


def set_active(conn: sqlite3.Connection, agent_id: int, active: bool) -> bool:
    """Activate or deactivate an agent; deactivating ends every session of theirs."""
    with write_transaction(conn):
        cur = conn.execute("UPDATE agents SET active = ? WHERE agent_id = ?", (1 if active else 0, agent_id))
        if not active:
            conn.execute("DELETE FROM agent_sessions WHERE agent_id = ?", (agent_id,))
    return cur.rowcount > 0


def reset_key(conn: sqlite3.Connection, agent_id: int) -> str | None:
    """Give an agent a new key (returned, not stored) and end their sessions; None if no such agent."""
    key = new_key()
    with write_transaction(conn):
        cur = conn.execute("UPDATE agents SET key_hash = ? WHERE agent_id = ?", (hash_key(key), agent_id))
        conn.execute("DELETE FROM agent_sessions WHERE agent_id = ?", (agent_id,))
    return key if cur.rowcount > 0 else None


def start_session(conn: sqlite3.Connection, agent_id: int, lifetime: timedelta) -> str:
    """A new session for the agent; returns its random id (the cookie's), of which only a hash is kept."""
    session_id = secrets.token_urlsafe(32)
    moment = datetime.now(UTC)
    with write_transaction(conn):
        conn.execute("DELETE FROM agent_sessions WHERE expires_at <= ?", (stamp(moment),))
        conn.execute(
            "INSERT INTO agent_sessions (session_hash, agent_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (hash_key(session_id), agent_id, stamp(moment), stamp(moment + lifetime)),
        )
    return session_id


def by_session(conn: sqlite3.Connection, session_id: str) -> sqlite3.Row | None:
    """The active agent of a live session (one read; nothing is written)."""
    return conn.execute(
        "SELECT agents.* FROM agent_sessions JOIN agents ON agents.agent_id = agent_sessions.agent_id"
        " WHERE agent_sessions.session_hash = ? AND agent_sessions.expires_at > ? AND agents.active = 1",
        (hash_key(session_id), stamp(datetime.now(UTC))),
    ).fetchone()


def end_session(conn: sqlite3.Connection, session_id: str) -> None:
    with write_transaction(conn):
        conn.execute("DELETE FROM agent_sessions WHERE session_hash = ?", (hash_key(session_id),))


def public(row: sqlite3.Row) -> Agent:
    """An agent as the API shows it (never the hash)."""
    return {
        "id": row["agent_id"],
        "name": row["name"],
        "created_at": row["created_at"],
        "active": bool(row["active"]),
        "role": row["role"],
    }


def shared_secret(conn: sqlite3.Connection, name: str) -> str:
    """A random secret generated once per database and read by every worker (first writer wins).

    Read first, so a worker starting while another process holds the write lock needs no lock; only
    the first start of a database writes it. Start-up waits out a locked database (db.retry_while_locked)."""

    def read_or_create() -> str:
        row = conn.execute("SELECT value FROM service_secrets WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row["value"])
        with write_transaction(conn):
            conn.execute(
                "INSERT INTO service_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(32), now()),
            )
            return str(conn.execute("SELECT value FROM service_secrets WHERE name = ?", (name,)).fetchone()["value"])

    return retry_while_locked(read_or_create, f"read or create the shared secret {name!r}")
