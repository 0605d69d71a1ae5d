"""PostgreSQL, the second engine (DATABASE_URL=postgresql://...): the same Database object as SQLite's
(db.BaseDatabase), on psycopg 3 connections from a pool (pg.py turns them into sqlite3-like ones, so
store/ runs unchanged where its SQL is portable; docs/postgresql-port.md).

Writers take turns as on SQLite: `write()` begins a transaction and takes one transaction-level
advisory lock, the counterpart of SQLite's BEGIN IMMEDIATE. Every read-then-write the code does under
a write transaction (a new customer's conversation, an Idempotency-Key send, routing's capacity, the
login throttle) stays as safe as on SQLite, on every node sharing the database, and event ids become
visible in the order they were given, which the event stream's cursor relies on. Reads never wait
for it.

The schema is schema_postgresql.sql, versioned like SQLite's (migrations/README.md): the fingerprint
of the schema is kept as the comment of the schema_version table, and an upgrade runs under an
advisory lock of its own, so one process at a time migrates and the others then find it current.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import db, pg

log = logging.getLogger(__name__)

SCHEMA_PATH = db.ROOT / "schema_postgresql.sql"
MIGRATIONS_DIR = db.ROOT / "migrations" / "postgresql"
WRITE_LOCK = 0x7761_0001  # the advisory lock key writers queue for ("wa" 1)
SCHEMA_LOCK = 0x7761_0002  # and the one an upgrade of the schema holds


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class PostgresDatabase(db.BaseDatabase):
    """One PostgreSQL database: a pool of connections, transactions, the writers' lock, the schema."""

    engine = "postgresql"
    schema_file = SCHEMA_PATH

    def __init__(self, url: str, pool_size: int = 48, migrations: Any = MIGRATIONS_DIR) -> None:
        self.url = url
        self.path = redacted(url)
        self.pool_size = pool_size
        self.migrations = migrations
        self._pool: pg.PgPool | None = None
        self._pool_lock = threading.Lock()
        super().__init__()

    def __repr__(self) -> str:
        return f"<Database postgresql {self.path}>"

    def _connections(self) -> pg.PgPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = pg.PgPool(self.url, min_size=1, max_size=self.pool_size)
            return self._pool

    def open(self) -> pg.PgConnection:
        """A connection from the pool (its close() gives it back), schema not checked."""
        conn = self._connections().connect()
        conn.database = self
        return conn

    @contextmanager
    def write(self, conn: pg.PgConnection) -> Iterator[pg.PgConnection]:
        """One unit of work, writers one at a time (the advisory lock is let go at COMMIT/ROLLBACK)."""
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            conn.settings_read = {}
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.settings_read = None
        conn.execute("COMMIT")

    def close(self) -> None:
        """Give back every kept connection and close the pool (opened again on next use)."""
        super().close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _forget(self) -> None:
        """In a forked child: the parent's pool (its sockets and threads) is left alone, never closed
        here (closing would end the parent's sessions); the child opens its own."""
        super()._forget()
        if self._pool is not None:
            db._inherited.append(self._pool)  # type: ignore[arg-type]
        self._pool, self._pool_lock = None, threading.Lock()

    # --------------------------------------------------------------------------------- schema

    def schema_current(self, conn: pg.PgConnection) -> bool:
        row = conn.execute("SELECT obj_description(to_regclass('schema_version'), 'pg_class')").fetchone()
        return row is not None and row[0] == str(self.schema_fingerprint())

    def apply_schema(self, conn: pg.PgConnection) -> list[int]:
        """As SQLite's (db.Database.apply_schema): a new database from schema_postgresql.sql, an older
        one through each migration not applied yet, then the schema file (idempotent), in one
        transaction under the schema lock; the versions applied now."""
        fingerprint = self.schema_fingerprint()
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            if self.schema_current(conn):  # another process did it while this one waited
                conn.execute("COMMIT")
                return []
            fresh = conn.execute("SELECT to_regclass('whatsapp_messages') IS NULL").fetchone()[0]
            applied = self.migrate(conn, fresh, conn.executescript)
            conn.executescript(f"COMMENT ON TABLE schema_version IS '{fingerprint}'")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return applied
