"""SQLite connections: one per request on `g`, schema applied once per file per process, pragmas.

Durability settings (see README "Reliability"):
- journal_mode=WAL: readers never block the writer, so several gunicorn workers share one file.
- synchronous=FULL: a transaction is on disk when COMMIT returns; a webhook answered 200 survives
  a power cut, at the cost of one fsync per delivery (measured in bench/).
- busy_timeout: a worker waits for the write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
BUSY_TIMEOUT_MS = 30_000
SYNCHRONOUS = "FULL"

_initialised: set[str] = set()
_init_lock = threading.Lock()


def connect(path: str, synchronous: str = SYNCHRONOUS) -> sqlite3.Connection:
    """Open a connection with our pragmas; transactions are explicit (BEGIN IMMEDIATE / COMMIT)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    ensure_schema(conn, path)
    return conn


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the tables on first use of this database file in this process."""
    key = str(Path(path).resolve())
    if key in _initialised:
        return
    with _init_lock:
        if key in _initialised:
            return
        conn.execute("PRAGMA journal_mode = WAL")
        with write_transaction(conn):
            for statement in schema_statements():
                conn.execute(statement)
        _initialised.add(key)


def schema_statements() -> list[str]:
    """schema.sql split into complete statements (trigger bodies hold semicolons of their own)."""
    statements, buffer = [], ""
    for line in SCHEMA_PATH.read_text(encoding="utf-8").splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One unit of work: BEGIN IMMEDIATE takes the write lock up front so read-then-write is safe."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use."""
    if "db" not in g:
        settings = current_app.config["SETTINGS"]
        g.db = connect(settings.database_path, current_app.config.get("SQLITE_SYNCHRONOUS", SYNCHRONOUS))
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
