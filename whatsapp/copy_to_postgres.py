"""`flask copy-to-postgres URL`: copy an SQLite inbox into an empty PostgreSQL database, then verify it.

The target gets its schema first (PostgresDatabase(url).prepare()). Every table of schema.sql that
PostgreSQL has too is copied with its ids, parents before children (the foreign keys of the target),
in batches over COPY, all in one transaction under the writers' advisory lock: a failure leaves the
target as it was. The FTS5 tables have no PostgreSQL table (GIN indexes on the columns fill
themselves), and schema_version is each engine's own.

The tables' user triggers are disabled during the copy (ALTER TABLE ... DISABLE TRIGGER USER, which
the tables' owner may do; foreign keys stay checked), so the triggers that keep counts do not count
the copied rows again: the count tables are copied as they are, and then compared with the source.
Then each identity sequence is moved past the largest id copied (conversation ids past the
merged-away ones too, which are never given again), and the copy is verified in the same transaction,
against the same snapshot of the source: rows per table, the largest id, every count table row for
row, the unread conversations. It is committed only if all of it matches, else rolled back.
"""

from __future__ import annotations

import graphlib
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from . import db, pg
from .db_postgres import WRITE_LOCK, PostgresDatabase, redacted

log = logging.getLogger(__name__)

BATCH = 5000
# Tables whose rows are counts kept by triggers or by the code as things happen: compared row for row.
COUNT_TABLES = (
    "webhook_delivery_counts",
    "conversation_counts",
    "agent_conversation_counts",
    "label_counts",
    "billable_message_counts",
    "report_daily",
)
# What else is compared beyond row counts: the same figure read on each engine.
CHECKS = {
    "unread conversations": "SELECT COUNT(*), COALESCE(SUM(unread_count), 0) FROM whatsapp_conversations "
    "WHERE unread_count > 0",
    "conversations by status": "SELECT status, COUNT(*) FROM whatsapp_conversations GROUP BY status",
    "labelled conversations": "SELECT label_id, COUNT(*) FROM conversation_labels GROUP BY label_id",
}


class CopyError(Exception):
    """Why the copy did not start or did not finish (one line; the target is left as it was)."""


@dataclass
class TableResult:
    name: str
    source: int
    target: int
    source_max: Any = None
    target_max: Any = None

    @property
    def ok(self) -> bool:
        return self.source == self.target and self.source_max == self.target_max


@dataclass
class CopyResult:
    tables: list[TableResult] = field(default_factory=list)
    compared: list[tuple[str, bool]] = field(default_factory=list)  # count tables and checks
    skipped: list[str] = field(default_factory=list)  # tables of schema.sql PostgreSQL lacks
    committed: bool = False  # the copy was kept (everything matched); else it was rolled back

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and all(same for _, same in self.compared)

    def summary(self) -> list[str]:
        width = max([len(t.name) for t in self.tables] + [len(name) for name, _ in self.compared] + [5])
        lines = [f"{'table':<{width}}  {'sqlite':>9}  {'postgresql':>10}"]
        for t in self.tables:
            mark = "ok" if t.ok else "MISMATCH"
            if t.source == t.target and not t.ok:
                mark += f" (largest id {t.source_max} vs {t.target_max})"
            lines.append(f"{t.name:<{width}}  {t.source:>9}  {t.target:>10}  {mark}")
        for name, same in self.compared:
            lines.append(f"{name:<{width}}  {'same' if same else 'MISMATCH'}")
        for name in self.skipped:
            lines.append(f"{name:<{width}}  not copied: PostgreSQL has no such table")
        return lines


def schema_tables() -> list[str]:
    """The ordinary tables schema.sql creates (not the FTS5 virtual tables), in its order."""
    text = db.SCHEMA_PATH.read_text(encoding="utf-8")
    return re.findall(r"^CREATE TABLE IF NOT EXISTS (\w+)", text, flags=re.M)


def _source_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _target_columns(conn: pg.PgConnection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def dependency_order(conn: pg.PgConnection, tables: Iterable[str]) -> list[str]:
    """The tables, each after every table its foreign keys reference (in the target's catalog)."""
    wanted = list(tables)
    graph: dict[str, set[str]] = {name: set() for name in wanted}
    rows = conn.execute(
        "SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_class p ON p.oid = k.confrelid WHERE k.contype = 'f' "
        "AND c.relnamespace = to_regnamespace(current_schema())"
    ).fetchall()
    for child, parent in rows:
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    sorter = graphlib.TopologicalSorter(graph)
    order: list[str] = []
    sorter.prepare()
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=wanted.index)  # schema.sql's order among equals
        order.extend(ready)
        sorter.done(*ready)
    return order


def _value_for(kind: str) -> Callable[[Any], Any]:
    """How a value SQLite gave is written for a column of this PostgreSQL type (SQLite's affinity lets a
    column hold another type than the declared one)."""
    if kind == "bytea":
        return lambda v: v.encode("utf-8") if isinstance(v, str) else v
    if kind == "text":
        return lambda v: v.decode("utf-8") if isinstance(v, bytes) else v
    if kind in ("bigint", "integer", "smallint"):
        return lambda v: int(v) if isinstance(v, float) and v.is_integer() else v
    return lambda v: v


def _rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql).fetchall()]


def _identity_columns(conn: pg.PgConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND is_identity = 'YES'",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _primary_key(conn: pg.PgConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary ORDER BY a.attnum",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def open_source(path: str) -> sqlite3.Connection:
    """The SQLite inbox, its schema made current as the app would, or CopyError."""
    if not Path(path).is_file():
        raise CopyError(f"No SQLite inbox at {path} (DATABASE_PATH)")
    try:
        return db.Database(path).connect()
    except sqlite3.Error as exc:
        raise CopyError(f"Cannot open the SQLite inbox {path}: {exc}") from None


def open_target(url: str) -> tuple[PostgresDatabase, pg.PgConnection]:
    """The PostgreSQL database with its schema (created now if need be), or CopyError."""
    target = PostgresDatabase(url, pool_size=2)
    try:
        pg.connect(url).close()  # fails at once where the pool would keep trying for its timeout
        target.prepare()
        return target, target.open()
    except Exception as exc:  # psycopg's errors, which pg.py also makes sqlite3 ones
        target.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CopyError(f"Cannot use the PostgreSQL database {redacted(url)}: {first}") from None


def _refuse_unless_empty(conn: pg.PgConnection, url: str) -> None:
    conversations = conn.execute("SELECT COUNT(*) FROM whatsapp_conversations").fetchone()[0]
    messages = conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0]
    if conversations or messages:
        raise CopyError(
            f"{redacted(url)} already holds {conversations} conversations and {messages} messages: "
            "copy-to-postgres copies into an empty database only"
        )


def copy_to_postgres(
    sqlite_path: str, url: str, batch: int = BATCH, progress: Callable[[str], object] = log.info
) -> CopyResult:
    """Copy the inbox at sqlite_path into the empty PostgreSQL database at url and verify it: committed
    only if everything matches (`result.committed`), else rolled back, the target left as it was."""
    source = open_source(sqlite_path)
    target, conn = None, None
    try:
        target, conn = open_target(url)
        _refuse_unless_empty(conn, url)
        present = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        }
        result = CopyResult()
        wanted = []
        for name in schema_tables():
            (wanted if name in present else result.skipped).append(name)
        order = dependency_order(conn, wanted)
        try:
            _copy(source, conn, url, order, batch, progress, result)
        except (sqlite3.Error, psycopg.Error) as exc:  # most psycopg errors are sqlite3 ones too (pg.py)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CopyError(f"The copy failed and was rolled back: {first}") from None
        return result
    finally:
        source.close()
        if conn is not None:
            conn.close()
        if target is not None:
            target.close()


def _copy(
    source: sqlite3.Connection,
    conn: pg.PgConnection,
    url: str,
    order: list[str],
    batch: int,
    progress: Callable[[str], object],
    result: CopyResult,
) -> None:
    source.execute("BEGIN")  # one snapshot of the source for the copy and its check, whatever its app writes
    try:
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))  # no app node writes meanwhile
            _refuse_unless_empty(conn, url)
            # What is there (the zero counts the schema seeds, a secret made by an app that started on
            # it) is replaced by the source's.
            conn.execute(f"TRUNCATE {', '.join(order)}")
            for table in order:
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for table in order:
                copied = _copy_table(source, conn, table, batch)
                progress(f"{table}: {copied} rows copied")
            for table in order:
                conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            _move_sequences(conn, order)
            _verify(source, conn, order, result)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if result.ok else "ROLLBACK")
        result.committed = result.ok
    finally:
        source.execute("ROLLBACK")


def _copy_table(source: sqlite3.Connection, conn: pg.PgConnection, table: str, batch: int) -> int:
    columns = _target_columns(conn, table)
    names = _source_columns(source, table)
    missing = [name for name in names if name not in columns]
    if missing:
        raise CopyError(f"PostgreSQL's {table} has no column {', '.join(missing)}: its schema is not this version's")
    convert = [_value_for(columns[name]) for name in names]
    cursor = source.execute(f"SELECT {', '.join(names)} FROM {table}")
    copied = 0
    with conn.raw.cursor() as pg_cursor:
        with pg_cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            while rows := cursor.fetchmany(batch):
                for row in rows:
                    copy.write_row([None if v is None else f(v) for f, v in zip(convert, row, strict=True)])
                copied += len(rows)
    return copied


def _move_sequences(conn: pg.PgConnection, order: list[str]) -> None:
    """Each identity past the largest id copied; a conversation's past the merged-away ids too (never
    given again, as store/customers.py's rule says on SQLite)."""
    for table in order:
        for column in _identity_columns(conn, table):
            largest = f"SELECT COALESCE(MAX({column}), 0) FROM {table}"
            if table == "whatsapp_conversations":
                largest = f"SELECT GREATEST(({largest}), (SELECT COALESCE(MAX(merged_from), 0) FROM events))"
            conn.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), ({largest}) + 1, false)", (table, column))


def _verify(source: sqlite3.Connection, conn: pg.PgConnection, order: list[str], result: CopyResult) -> None:
    for table in order:
        key = _primary_key(conn, table)
        top = f", MAX({key[0]})" if len(key) == 1 else ", NULL"
        sql = f"SELECT COUNT(*){top} FROM {table}"
        (source_count, source_max), (target_count, target_max) = _rows(source, sql)[0], _rows(conn, sql)[0]
        result.tables.append(TableResult(table, source_count, target_count, source_max, target_max))
    for table in COUNT_TABLES:
        if table not in order:
            continue
        names = _source_columns(source, table)
        sql = f"SELECT {', '.join(names)} FROM {table}"
        result.compared.append((f"{table} (rows)", _same(source, conn, sql)))
    for name, sql in CHECKS.items():
        result.compared.append((name, _same(source, conn, sql)))


def _same(source: sqlite3.Connection, conn: pg.PgConnection, sql: str) -> bool:
    """Whether a query gives the same rows on both engines (in any order: collations may differ)."""
    return sorted(_rows(source, sql), key=repr) == sorted(_rows(conn, sql), key=repr)
