"""The SQL behind each agent read, and SQLite's plan for it: proof of indexes, not of luck."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from whatsapp import db

SKIP = re.compile(r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|--)", re.IGNORECASE)
TABLES = ("whatsapp_messages", "whatsapp_conversations", "webhook_deliveries")


def capture(app: Any, paths: dict[str, str], key: str) -> dict[str, list[str]]:
    """The statements each request runs, as SQLite saw them (parameters filled in)."""
    seen: list[str] = []
    with db.database(app).tracing(seen.append):
        client = app.test_client()
        statements: dict[str, list[str]] = {}
        for name, path in paths.items():
            seen.clear()
            answer = client.get(path, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
            statements[name] = [s for s in seen if not SKIP.match(s)]
        return statements


def plan(database: Path, sql: str) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


def partial_indexes(database: Path) -> set[str]:
    """Indexes with a WHERE: walking one whole reads only the rows its condition picks."""
    with sqlite3.connect(database) as conn:
        return {
            index[1]
            for table in TABLES
            for index in conn.execute(f"PRAGMA index_list({table})")
            if index[4]  # the 'partial' column
        }


def full_scans(sql: str, lines: list[str], partial: set[str] = frozenset()) -> list[str]:
    """Plan lines that read all of a big table (messages, conversations, the journal): a SCAN without
    an index, or a walk of a whole index (a SCAN ... USING INDEX that no LIMIT stops) unless the
    index is partial."""
    found = []
    for line in lines:
        if not any(line.startswith(f"SCAN {table}") for table in TABLES):
            continue
        index = re.search(r"USING (?:COVERING )?INDEX (\w+)", line)
        if index and index.group(1) in partial:
            continue
        if "USING" not in line or not re.search(r"\bLIMIT\b", sql, re.IGNORECASE):
            found.append(line)
    return found


def explain(app: Any, database: Path, paths: dict[str, str], key: str) -> dict[str, list[dict[str, Any]]]:
    """{read: [{sql, plan, full_scans}]} for every statement each read runs."""
    report: dict[str, list[dict[str, Any]]] = {}
    partial = partial_indexes(database)
    for name, statements in capture(app, paths, key).items():
        report[name] = []
        for sql in statements:
            lines = plan(database, sql)
            found = full_scans(sql, lines, partial)
            report[name].append({"sql": " ".join(sql.split()), "plan": lines, "full_scans": found})
    return report
