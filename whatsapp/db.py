"""SQLite connections: one per request on `g`, schema applied once per file per process, pragmas.

Durability settings (see README "Reliability"):
- journal_mode=WAL: readers never block the writer, so several gunicorn workers share one file.
- synchronous=FULL: a transaction is on disk when COMMIT returns; a webhook answered 200 survives
  a power cut, at the cost of one fsync per delivery (measured in bench/, see BENCHMARKS.md);
  SQLITE_SYNCHRONOUS=NORMAL trades that for speed.
- busy_timeout: a worker waits for the write lock instead of failing with "database is locked"
  (SQLITE_BUSY_TIMEOUT seconds, default 30).

Start-up needs no write lock when the schema is current: schema.sql's fingerprint is kept in
PRAGMA user_version, and a read of it is all a worker does before serving. Only a new or older
database is written to, and then a worker waits for the lock as long as it takes (logging as it
waits) rather than fail to boot: gunicorn stops for good when a worker fails to boot.

Two measured changes from the one-connection-per-request of Flask's tutorial (BENCHMARKS.md):
- Each thread keeps its connection between requests (`get_db`): opening one costs little, but closing
  the last connection to a WAL database checkpoints it, which cost a third of a webhook's time.
- Writers queue for a file lock (`write_lock`) before BEGIN IMMEDIATE: the kernel wakes the next one
  the moment the lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from flask import Flask, current_app, g

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
BUSY_TIMEOUT_MS = 30_000  # this process's; init_app sets it from SQLITE_BUSY_TIMEOUT
SYNCHRONOUS = "FULL"
RETRY_PAUSE = 1.0  # seconds between start-up attempts on a locked database

_initialised: set[str] = set()
_init_lock = threading.Lock()


class Connection(sqlite3.Connection):
    """A connection that remembers the file it was opened on (its write lock is that file's)."""

    path = ""


def connect(path: str, synchronous: str = SYNCHRONOUS) -> sqlite3.Connection:
    """Open a connection with our pragmas; transactions are explicit (BEGIN IMMEDIATE / COMMIT)."""
    conn = open_connection(path, synchronous)
    ensure_schema(conn, path)
    return conn


def open_connection(path: str, synchronous: str = SYNCHRONOUS) -> sqlite3.Connection:
    """A connection with our pragmas, the schema not checked (none of this takes a lock)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False, factory=Connection
    )
    conn.path = conn.execute("PRAGMA database_list").fetchone()[2]
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """On first use of this database file in this process: check the schema with a read, and
    create or upgrade the tables only if it is not current."""
    key = str(Path(path).resolve())
    if key in _initialised:
        return
    with _init_lock:
        if key in _initialised:
            return
        if not schema_current(conn):
            apply_schema(conn)
        _initialised.add(key)


def schema_version() -> int:
    """A fingerprint of schema.sql and the added columns, as stored in PRAGMA user_version (never 0,
    the version of a database this code has not met)."""
    text = SCHEMA_PATH.read_bytes() + repr(ADDED_COLUMNS).encode()
    return zlib.crc32(text) & 0x7FFFFFFF or 1


def schema_current(conn: sqlite3.Connection) -> bool:
    """Whether this file already has our schema, in WAL mode (two reads, no write lock)."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        return False
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) == schema_version()


def apply_schema(conn: sqlite3.Connection) -> None:
    """Create the tables (every statement is idempotent) and record the schema's version."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    version = schema_version()
    with write_transaction(conn):
        for table, column, kind in ADDED_COLUMNS:  # before the statements, which may use them
            add_column(conn, table, column, kind)
        for statement in schema_statements():
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")


def is_locked(exc: BaseException) -> bool:
    """Whether an error is SQLite's "database is locked" (or busy): another process holds the lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def retry_while_locked(action: Callable[[], T], what: str) -> T:
    """`action()`, attempted again for as long as the database is locked (for start-up, which must
    not fail for a lock that some other process holds for a while)."""
    attempt = 1
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            log.warning(
                "The database is locked by another process, so this process cannot %s yet "
                "(attempt %d, %s); trying again in %.0f s",
                what,
                attempt,
                exc,
                RETRY_PAUSE,
            )
        attempt += 1
        time.sleep(RETRY_PAUSE)


def prepare(path: str, synchronous: str = SYNCHRONOUS) -> None:
    """At start-up: the schema checked with a read, and written (waiting for the lock) only if it
    is not current."""
    conn = open_connection(path, synchronous)
    try:
        retry_while_locked(lambda: ensure_schema(conn, path), "check or create its tables")
    finally:
        conn.close()


# Columns added to a table after its first release: a database made before them gains them.
ADDED_COLUMNS = [
    ("events", "merged_from", "INTEGER"),
    ("events", "note_id", "INTEGER"),
    ("events", "agent_id", "INTEGER"),
    ("agents", "role", "TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('admin', 'agent'))"),
    ("whatsapp_messages", "idempotency_scope", "TEXT"),
    ("whatsapp_messages", "idempotency_key", "TEXT"),
    ("whatsapp_messages", "request_hash", "TEXT"),
    ("whatsapp_messages", "send_answer", "INTEGER"),
    ("whatsapp_messages", "send_error", "TEXT"),
    ("whatsapp_messages", "attempted_at", "TIMESTAMP"),
    ("whatsapp_messages", "origin", "TEXT"),
    ("whatsapp_messages", "pricing_billable", "INTEGER"),
    ("whatsapp_messages", "pricing_model", "TEXT"),
    ("whatsapp_messages", "pricing_category", "TEXT"),
    ("whatsapp_messages", "pricing_type", "TEXT"),
    ("whatsapp_messages", "pricing_charged", "INTEGER"),
    ("whatsapp_messages", "pricing_day", "TEXT"),
    ("parked_statuses", "pricing_billable", "INTEGER"),
    ("parked_statuses", "pricing_model", "TEXT"),
    ("parked_statuses", "pricing_category", "TEXT"),
    ("parked_statuses", "pricing_type", "TEXT"),
    ("parked_statuses", "entry_expires_at", "TIMESTAMP"),
    ("whatsapp_conversations", "blocked_at", "TIMESTAMP"),
    ("whatsapp_conversations", "free_entry_until", "TIMESTAMP"),
    ("whatsapp_conversations", "kind", "TEXT NOT NULL DEFAULT 'individual' CHECK (kind IN ('individual', 'group'))"),
    ("whatsapp_conversations", "group_id", "TEXT"),
    ("whatsapp_messages", "group_id", "TEXT"),
    ("whatsapp_messages", "sender_name", "TEXT"),
    ("whatsapp_conversations", "marketing_opt_out", "INTEGER NOT NULL DEFAULT 0"),
    ("whatsapp_conversations", "marketing_preference_at", "TIMESTAMP"),
    ("whatsapp_conversations", "snoozed_until", "TIMESTAMP"),
    ("whatsapp_messages", "retried_by", "INTEGER"),
    ("events", "detail", "TEXT"),
    ("whatsapp_conversations", "away_replied_at", "TIMESTAMP"),
    ("whatsapp_messages", "automatic", "INTEGER NOT NULL DEFAULT 0"),
]


def add_column(conn: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    existing = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if existing and column not in existing:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


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


class Recent(Generic[K, V]):
    """This process's one object per key, built on first use; only the most recently used `size`
    are kept (a service uses one database file; the test suite, hundreds)."""

    def __init__(self, build: Callable[[K], V], size: int = 8) -> None:
        self.build = build
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: K) -> V:
        with self.lock:
            item = self.items.get(key)
            if item is None:
                item = self.items[key] = self.build(key)
                while len(self.items) > self.size:
                    self.items.popitem(last=False)  # its users keep it until they are done
            else:
                self.items.move_to_end(key)
            return item


class WriteLock:
    """Writers of one database file take turns: a thread lock within a process, flock across them."""

    def __init__(self, path: str) -> None:
        self.threads = threading.Lock()
        self.fd = os.open(path + "-writelock", os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        self.threads.acquire()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()

    def __del__(self) -> None:
        if hasattr(self, "fd"):
            os.close(self.fd)


# Keyed by process too: flock locks an open file, which a forked worker would share with its parent.
_write_locks: Recent[tuple[int, str], WriteLock] = Recent(lambda key: WriteLock(key[1]))


def write_lock(conn: sqlite3.Connection) -> WriteLock:
    """This process's lock for the file behind `conn` (opened after a fork: flock is per open file)."""
    path = getattr(conn, "path", "") or conn.execute("PRAGMA database_list").fetchone()[2]
    return _write_locks.get((os.getpid(), path))


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One unit of work: BEGIN IMMEDIATE takes the write lock up front so read-then-write is safe."""
    with write_lock(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


_threads = threading.local()


def synchronous_level(app: Flask | None = None) -> str:
    """The app's (by default the current one's) SQLite synchronous level (SQLITE_SYNCHRONOUS; tests
    may set it in app.config)."""
    config = (app or current_app).config
    return config.get("SQLITE_SYNCHRONOUS", config["SETTINGS"].sqlite_synchronous.upper())


def get_db() -> sqlite3.Connection:
    """The request's connection: this thread's, kept from one request to the next."""
    if "db" not in g:
        settings = current_app.config["SETTINGS"]
        level = synchronous_level()
        key = (os.getpid(), settings.database_path, level)
        cached = getattr(_threads, "db", None)
        if cached is None or cached[0] != key:
            if cached is not None:
                cached[1].close()  # one cached connection a thread (tests switch files constantly)
            _threads.db = (key, connect(settings.database_path, level))
        g.db = _threads.db[1]
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """End of request: the connection stays open for the thread's next request, never mid-transaction."""
    conn = g.pop("db", None)
    if conn is not None and conn.in_transaction:
        conn.execute("ROLLBACK")


def init_app(app: Flask) -> None:
    """The busy timeout, the request teardown, and the schema, ready before the first request."""
    global BUSY_TIMEOUT_MS
    settings = app.config["SETTINGS"]
    BUSY_TIMEOUT_MS = int(settings.sqlite_busy_timeout * 1000)
    app.teardown_appcontext(close_db)
    prepare(settings.database_path, settings.sqlite_synchronous.upper())
