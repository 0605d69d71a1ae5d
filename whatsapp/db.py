"""The database: one `Database` object per app owns its connections, transactions, write lock,
group commit and schema (after Datasette's `Database` class).

`create_app` makes it (`open_database`) and keeps it in `app.extensions["database"]`; every caller
goes through it: requests with `get_db()` (this thread's kept connection), background workers and
commands with `database.connection()`, writers with `database.write(conn)` (or
`write_transaction(conn)`, the same for a connection the Database made). The SQL stays in `store/`.
After a fork (a gunicorn worker) a Database forgets what belonged to its parent process: its
threads' connections, its write lock's file handle and its group commit (`os.register_at_fork`).

Durability settings (see README "Reliability"):
- journal_mode=WAL: readers never block the writer, so several gunicorn workers share one file.
- synchronous=FULL: a transaction is on disk when COMMIT returns; a webhook answered 200 survives
  a power cut, at the cost of one fsync per delivery (measured in bench/, see BENCHMARKS.md);
  SQLITE_SYNCHRONOUS=NORMAL trades that for speed.
- busy_timeout: a worker waits for the write lock instead of failing with "database is locked"
  (SQLITE_BUSY_TIMEOUT seconds, default 30).

The schema is versioned (`migrations/README.md`): schema.sql creates a new database, the numbered
files of `migrations/sqlite/` bring an existing one up to it, and the `schema_version` table lists
what was applied. Start-up needs no write lock when the schema is current: a fingerprint of schema.sql
and the migrations is kept in PRAGMA user_version, and a read of it is all a worker does before
serving. Only a new or older database is written to, by one process at a time (under the write
lock), and then a worker waits for the lock as long as it takes (logging as it waits) rather than
fail to boot: gunicorn stops for good when a worker fails to boot.

Two measured changes from the one-connection-per-request of Flask's tutorial (BENCHMARKS.md):
- Each thread keeps its connection between requests (`thread_connection`): opening one costs little,
  but closing the last connection to a WAL database checkpoints it, which cost a third of a webhook's
  time.
- Writers queue for a file lock (`WriteLock`) before BEGIN IMMEDIATE: the kernel wakes the next one
  the moment the lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, current_app, g

if TYPE_CHECKING:
    from .ingest import GroupCommit

log = logging.getLogger(__name__)

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schema.sql"
MIGRATIONS_DIR = ROOT / "migrations" / "sqlite"
SYNCHRONOUS = "FULL"
BUSY_TIMEOUT = 30.0  # seconds; SQLITE_BUSY_TIMEOUT sets an app's
RETRY_PAUSE = 1.0  # seconds between start-up attempts on a locked database
BASELINE = 1  # the schema version of schema.sql when versions began (issue 17): no file of its own


class Connection(sqlite3.Connection):
    """A connection that knows its Database (whose write lock its writers take) and its file."""

    database: Database
    path = ""
    settings_read: dict[str, Any] | None = None  # the settings read in this write transaction (store/settings.py)


class WriteLock:
    """Writers of one database file take turns: a thread lock within a process, flock across them
    (flock locks an open file, so the file is opened on first use in each process)."""

    def __init__(self, path: str) -> None:
        self.path = path + "-writelock"
        self.threads = threading.Lock()
        self.fd: int | None = None

    def __enter__(self) -> None:
        self.threads.acquire()
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        assert self.fd is not None
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()

    def forget(self) -> None:
        """In a forked child: the parent's open file is not this process's to lock or unlock."""
        self.threads = threading.Lock()
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # the parent's copy, and its lock if it holds one, are untouched

    def __del__(self) -> None:
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)  # type: ignore[arg-type]


class BaseDatabase:
    """What both engines' Database objects do alike: connections for requests (one kept per thread),
    jobs and commands, the group commit, closing, forgetting a parent's after a fork. An engine
    gives `open()`, `write(conn)` and the schema (`schema_current`, `apply_schema`)."""

    engine = ""
    path = ""  # what names the database in logs and messages (never a password)
    schema_file = SCHEMA_PATH  # the whole schema of a new database
    migrations = MIGRATIONS_DIR  # the steps that bring an older one to it

    def __init__(self) -> None:
        self.schema_ready = False
        self._schema_lock = threading.Lock()
        self._local = threading.local()
        self._kept: list[Any] = []  # every thread's kept connection, for close()
        self._kept_lock = threading.Lock()
        self._group_commit: GroupCommit | None = None
        self._trace: Callable[[str], object] | None = None
        _live.add(self)

    def open(self) -> Any:
        raise NotImplementedError

    def write(self, conn: Any) -> Any:
        raise NotImplementedError

    def schema_current(self, conn: Any) -> bool:
        raise NotImplementedError

    def apply_schema(self, conn: Any) -> list[int]:
        raise NotImplementedError

    def migrate(self, conn: Any, fresh: bool, run_script: Callable[[str], object]) -> list[int]:
        """The versioned part of apply_schema, inside its transaction: the schema_version table, each
        migration not applied yet, in order (none on a new database: the schema file makes it whole),
        then the schema file's statements (all idempotent), and a row for each version applied now;
        their numbers. `run_script` runs a file's statements."""
        run_script(SCHEMA_VERSION_TABLE)
        applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        done = []
        for version, name, path in migration_files(self.migrations):
            if version in applied:
                continue
            if not fresh:
                run_script(path.read_text(encoding="utf-8"))
                log.info("Database %s: applied migration %04d %s", self.path, version, name)
            done.append((version, name))
        run_script(self.schema_file.read_text(encoding="utf-8"))
        if BASELINE not in applied:
            done.insert(0, (BASELINE, "baseline"))
        for version, name in done:
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (version, name, now),
            )
        return [version for version, _ in done]

    def connect(self) -> Any:
        """A new connection, the schema made current first; the caller closes it."""
        conn = self.open()
        try:
            self.ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection of its own for a background job or a command, closed at the end."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def thread_connection(self) -> Any:
        """This thread's connection, kept from one request to the next."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._kept_lock:
                self._kept.append(conn)
        return conn

    @contextmanager
    def tracing(self, callback: Callable[[str], object]) -> Iterator[None]:
        """Every statement of the connections opened meanwhile goes to `callback` (bench/plans.py
        shows each request's SQL this way); the threads' kept connections are opened anew."""
        self.close()
        self._trace = callback
        try:
            yield
        finally:
            self._trace = None
            self.close()

    @property
    def group_commit(self) -> GroupCommit:
        """This process's group commit for webhook deliveries (ingest.GroupCommit)."""
        if self._group_commit is None:
            from .ingest import GroupCommit

            with self._kept_lock:
                if self._group_commit is None:
                    self._group_commit = GroupCommit(self)
        return self._group_commit

    def close(self) -> None:
        """Close the connections this process's threads keep (each reconnects on next use)."""
        with self._kept_lock:
            kept, self._kept = self._kept, []
            committer, self._group_commit = self._group_commit, None
        self._local = threading.local()
        for conn in kept:
            conn.close()
        if committer is not None:
            committer.close()

    def _forget(self) -> None:
        """In a forked child: nothing the parent opened is used (connections must not cross a fork);
        they are left open, never closed here, so the parent's stay intact."""
        _inherited.extend(self._kept)
        if self._group_commit is not None and self._group_commit.conn is not None:
            _inherited.append(self._group_commit.conn)
        self._kept, self._group_commit = [], None
        self._local = threading.local()
        self._kept_lock = threading.Lock()
        self._schema_lock = threading.Lock()

    def prepare(self) -> None:
        """At start-up: the schema checked with a read, and written (waiting for the lock) only if it
        is not current."""
        conn = self.open()
        try:
            retry_while_locked(lambda: self.ensure_schema(conn), "check or create its tables")
        finally:
            conn.close()

    def schema_fingerprint(self) -> int:
        """A fingerprint of the engine's schema file, the columns added before versions began and
        the migrations (never 0, the version of a database this code has not met)."""
        text = self.schema_file.read_bytes() + repr(ADDED_COLUMNS).encode()
        for version, name, path in migration_files(self.migrations):
            text += f"\0{version}\0{name}\0".encode() + path.read_bytes()
        return zlib.crc32(text) & 0x7FFFFFFF or 1

    def ensure_schema(self, conn: Any) -> None:
        """On this Database's first connection: check the schema with a read, and create or migrate
        the tables only if it is not current."""
        if self.schema_ready:
            return
        with self._schema_lock:
            if not self.schema_ready:
                if not self.schema_current(conn):
                    self.apply_schema(conn)
                self.schema_ready = True


class Database(BaseDatabase):
    """One SQLite database file: its connections, transactions, write lock, group commit, schema."""

    engine = "sqlite"

    def __init__(
        self,
        path: str,
        synchronous: str = SYNCHRONOUS,
        busy_timeout: float = BUSY_TIMEOUT,
        migrations: Path = MIGRATIONS_DIR,
    ) -> None:
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.migrations = migrations
        self.lock = WriteLock(self.path)
        super().__init__()

    def __repr__(self) -> str:
        return f"<Database sqlite {self.path} synchronous={self.synchronous}>"

    def open(self) -> Connection:
        """A connection with our pragmas, the schema not checked (none of this takes a lock);
        transactions are explicit (BEGIN IMMEDIATE / COMMIT)."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False, factory=Connection
        )
        assert isinstance(conn, Connection)
        conn.database = self
        conn.path = conn.execute("PRAGMA database_list").fetchone()[2]
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if self._trace is not None:
            conn.set_trace_callback(self._trace)
        return conn

    @contextmanager
    def write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One unit of work: the file's write lock, then BEGIN IMMEDIATE, so read-then-write is safe."""
        with self.lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.settings_read = {}
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.settings_read = None
            conn.execute("COMMIT")

    def _forget(self) -> None:
        super()._forget()
        self.lock.forget()

    # --------------------------------------------------------------------------------- schema

    def schema_current(self, conn: sqlite3.Connection) -> bool:
        """Whether this file already has our schema, in WAL mode (two reads, no write lock)."""
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return False
        return int(conn.execute("PRAGMA user_version").fetchone()[0]) == self.schema_fingerprint()

    def apply_schema(self, conn: sqlite3.Connection) -> list[int]:
        """Create a new database from schema.sql, or bring an older one up to it (the columns added
        before versions began, then each migration not applied yet, in order, then schema.sql's
        statements, all idempotent), in one transaction; the versions applied now."""
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        fingerprint = self.schema_fingerprint()
        with self.write(conn):
            fresh = not _has_table(conn, "whatsapp_messages")
            for table, column, kind in ADDED_COLUMNS:  # before the statements, which may use them
                add_column(conn, table, column, kind)

            def run_script(text: str) -> None:
                for statement in sql_statements(text):
                    conn.execute(statement)

            applied = self.migrate(conn, fresh, run_script)
            conn.execute(f"PRAGMA user_version = {fingerprint}")
        return applied


SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""

_live: weakref.WeakSet[BaseDatabase] = weakref.WeakSet()
_inherited: list[sqlite3.Connection] = []  # a parent's connections met in a forked child: never used


def _after_fork_in_child() -> None:
    for database in list(_live):
        database._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def migration_files(folder: Path) -> list[tuple[int, str, Path]]:
    """The numbered migrations of a folder (`0002_what_it_does.sql`), in order."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")) if folder.is_dir() else []:
        number, _, name = path.stem.partition("_")
        found.append((int(number), name, path))
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions) or any(version <= BASELINE for version in versions):
        raise RuntimeError(f"Migrations in {folder} must have distinct numbers above {BASELINE:04d}")
    return found


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


# Columns added to a table after its first release and before versions began: a database made
# before them gains them. New columns go in a migration (migrations/README.md), not here.
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


def sql_statements(text: str) -> list[str]:
    """A script split into complete statements (trigger bodies hold semicolons of their own)."""
    statements, buffer = [], ""
    for line in text.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def schema_statements() -> list[str]:
    """schema.sql split into complete statements."""
    return sql_statements(SCHEMA_PATH.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ the app's database


def open_database(settings: Any) -> BaseDatabase:
    """The Database the settings name: DATABASE_URL=postgresql://... for PostgreSQL
    (db_postgres.py), else the SQLite file DATABASE_PATH (SQLITE_SYNCHRONOUS, SQLITE_BUSY_TIMEOUT)."""
    if settings.database_url:
        from .db_postgres import PostgresDatabase

        return PostgresDatabase(settings.database_url, settings.database_pool_size)
    return Database(settings.database_path, settings.sqlite_synchronous, float(settings.sqlite_busy_timeout))


def database(app: Flask | None = None) -> BaseDatabase:
    """The app's (by default the current one's) Database."""
    return (app or current_app).extensions["database"]


def connect(path: str, synchronous: str = SYNCHRONOUS) -> Connection:
    """A connection of its own on a database file, for tools and tests (`Database(path).connect()`)."""
    return Database(path, synchronous).connect()


def open_connection(path: str, synchronous: str = SYNCHRONOUS) -> Connection:
    """A connection on a database file, the schema not checked (no lock taken)."""
    return Database(path, synchronous).open()


def write_transaction(conn: sqlite3.Connection) -> Any:
    """`conn.database.write(conn)`: one transaction under its database's write lock."""
    owner = getattr(conn, "database", None)
    if owner is None:
        raise TypeError("write_transaction needs a connection made by a Database")
    return owner.write(conn)


def get_db() -> Any:
    """The request's connection: this thread's, kept from one request to the next."""
    if "db" not in g:
        g.db = database().thread_connection()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """End of request: the connection stays open for the thread's next request, never mid-transaction."""
    conn = g.pop("db", None)
    if conn is not None and conn.in_transaction:
        conn.execute("ROLLBACK")


def init_app(app: Flask) -> None:
    """The app's Database, the request teardown, and the schema, ready before the first request."""
    app.extensions["database"] = open_database(app.config["SETTINGS"])
    app.teardown_appcontext(close_db)
    app.extensions["database"].prepare()
