"""schema.sql and schema_postgresql.sql describe the same tables: same columns in the same order, same
index and trigger names (FTS5's tables and triggers excepted: on PostgreSQL they are the indexes
messages_fts, conversations_fts and phones_fts).

Run against a database where schema_postgresql.sql is loaded (psql must be on PATH; the usual PG*
variables select the server):  PGDATABASE=wa python3 tests/pg_schema_parity.py
Exit 0 when the two agree; otherwise one line per difference and exit 1.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from whatsapp.db import schema_statements  # noqa: E402

log = logging.getLogger("pg_schema_parity")

FTS_TABLES = {"messages_fts", "conversations_fts", "phones_fts"}
# PostgreSQL's own, with nothing to match in SQLite: the NOTIFY that wakes every node's event streams.
PG_ONLY_TRIGGERS = {"events_notify"}
PG_CATALOG = """
SELECT json_build_object(
  'columns', (SELECT json_object_agg(table_name, columns) FROM (
      SELECT table_name, json_agg(column_name::text ORDER BY ordinal_position) AS columns
      FROM information_schema.columns WHERE table_schema = current_schema() GROUP BY table_name) AS t),
  'indexes', (SELECT json_agg(indexname::text) FROM pg_indexes WHERE schemaname = current_schema()),
  'triggers', (SELECT json_agg(DISTINCT tgname::text) FROM pg_trigger WHERE NOT tgisinternal))
"""


def sqlite_schema() -> dict[str, object]:
    conn = sqlite3.connect(":memory:")
    for statement in schema_statements():
        conn.execute(statement)
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name != "sqlite_sequence" and not name.startswith(tuple(FTS_TABLES))
    ]

    def names(kind: str) -> set[str]:  # an index without sql is an automatic one (a PRIMARY KEY, UNIQUE)
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ? AND sql IS NOT NULL", (kind,))
        return {name for (name,) in rows}

    return {
        "columns": {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in tables},
        "indexes": names("index"),
        "triggers": names("trigger"),
    }


def postgresql_schema() -> dict[str, object]:
    answer = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", PG_CATALOG],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise SystemExit(f"psql failed: {answer.stderr.strip()}")
    found = json.loads(answer.stdout)
    return {
        "columns": found["columns"] or {},
        # primary keys and UNIQUE column constraints are named by PostgreSQL, by SQLite's autoindexes
        "indexes": {i for i in found["indexes"] or [] if not i.endswith(("_pkey", "_key"))} - FTS_TABLES,
        "triggers": set(found["triggers"] or []),
    }


def differences(lite: dict[str, object], pg: dict[str, object]) -> list[str]:
    found = []
    for table in sorted(set(lite["columns"]) | set(pg["columns"])):
        a, b = lite["columns"].get(table), pg["columns"].get(table)
        if a != b:
            found.append(f"table {table}: schema.sql has {a}, schema_postgresql.sql has {b}")
    for kind in ("indexes", "triggers"):
        for name in sorted(lite[kind] - pg[kind]):
            if kind == "triggers" and name.startswith(tuple(FTS_TABLES)):
                continue  # FTS5's triggers: the PostgreSQL search indexes need none
            found.append(f"{kind[:-1]} {name} is only in schema.sql")
        for name in sorted(pg[kind] - lite[kind]):
            if kind == "triggers" and name in PG_ONLY_TRIGGERS:
                continue
            found.append(f"{kind[:-1]} {name} is only in schema_postgresql.sql")
    return found


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    lite, pg = sqlite_schema(), postgresql_schema()
    found = differences(lite, pg)
    for line in found:
        log.error(line)
    if not found:
        log.info("pg_schema_parity: %d tables, their columns, indexes and triggers agree", len(lite["columns"]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
