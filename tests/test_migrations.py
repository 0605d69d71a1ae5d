"""Versioned schema: a database of any earlier version is brought to the current one, once, by one
process at a time, and a failed migration leaves it as it was (migrations/README.md)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp import db

from .helpers import FIXTURES

pytestmark = pytest.mark.sqlite_only  # the SQLite file's migrations (PostgreSQL's: test_migrations_postgres.py)

ROOT = Path(__file__).resolve().parent.parent


def structure(path: Path) -> dict[str, object]:
    """What a schema is made of: each table's columns (name, type, not null, default, key), each
    index's table, columns and condition, each trigger's table."""
    with sqlite3.connect(path) as conn:
        found: dict[str, object] = {}
        for kind, name, table, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
            if kind == "table":
                found[f"table {name}"] = [tuple(row[1:]) for row in conn.execute(f"PRAGMA table_info({name})")]
            elif kind == "index":
                columns = [row[2] for row in conn.execute(f"PRAGMA index_info({name})")]
                where = (sql or "").partition(" WHERE ")[2]
                found[f"index {name}"] = (table, columns, " ".join(where.split()))
            else:
                found[f"{kind} {name}"] = table
        return found


def baseline_database(path: Path) -> None:
    """A database as the release before versions began left it: version 1's schema, an old
    fingerprint in user_version, no schema_version table."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript((FIXTURES / "schema_v1.sql").read_text(encoding="utf-8"))
        conn.execute("PRAGMA user_version = 123456789")
        conn.execute(
            "INSERT INTO whatsapp_conversations (phone_number, last_message_at, created_at) "
            "VALUES ('+14155550100', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )


def versions(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute("SELECT version, name FROM schema_version ORDER BY version")]


def migration(folder: Path, name: str, sql: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(sql, encoding="utf-8")
    return path


def test_a_database_from_before_versions_is_upgraded_to_the_schema_of_a_new_one(tmp_path):
    old, new = tmp_path / "old.sqlite3", tmp_path / "new.sqlite3"
    baseline_database(old)
    db.Database(str(old)).prepare()
    db.Database(str(new)).prepare()
    assert structure(old) == structure(new)
    known = [(1, "baseline")] + [(n, name) for n, name, _ in db.migration_files(db.MIGRATIONS_DIR)]
    assert versions(old) == versions(new) == known
    with sqlite3.connect(old) as conn:  # its rows are kept
        assert conn.execute("SELECT phone_number FROM whatsapp_conversations").fetchall() == [("+14155550100",)]


def test_version_2_indexes_the_captions_that_version_1_left_out_of_search(tmp_path):
    """Version 1 had no update trigger: a history placeholder filled in by its captioned media kept
    no search entry. The upgrade rebuilds the index, and from then on a changed text is re-indexed."""
    from whatsapp import store

    path = tmp_path / "old.sqlite3"
    baseline_database(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO whatsapp_messages (conversation_id, whatsapp_message_id, phone_number, direction, "
            "message_type, message_text, status, timestamp, created_at) VALUES (1, 'wamid.H1', '+14155550100', "
            "'inbound', 'media_placeholder', NULL, 'received', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        conn.execute("UPDATE whatsapp_messages SET message_type = 'image', message_text = 'the quokka receipt'")
        assert conn.execute("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'quokka'").fetchone() == (0,)
    database = db.Database(str(path))
    database.prepare()
    with database.connection() as conn:
        [message_id] = [row[0] for row in conn.execute("SELECT message_id FROM whatsapp_messages")]
        assert store.search(conn, "quokka") == {1: message_id}
        with database.write(conn):
            conn.execute("UPDATE whatsapp_messages SET message_text = 'a wombat receipt'")
        assert store.search(conn, "quokka") == {}
        assert store.search(conn, "wombat") == store.search(conn, "receipt") == {1: message_id}
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")  # raises if not
    database.close()


def test_each_migration_runs_once_in_order_and_a_new_database_only_records_them(tmp_path):
    folder = tmp_path / "migrations"
    migration(folder, "0003_fill_nickname.sql", "UPDATE agents SET nickname = 'the ' || name;\n")
    migration(folder, "0002_agent_nickname.sql", "-- a nickname\nALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    path = tmp_path / "inbox.sqlite3"
    baseline_database(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO agents (name, key_hash, created_at) VALUES ('Ana', 'h', '2026-01-01 00:00:00')")
    database = db.Database(str(path), migrations=folder)
    conn = database.open()
    try:
        assert database.apply_schema(conn) == [1, 2, 3]
        assert database.apply_schema(conn) == []  # nothing is applied twice
    finally:
        conn.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT nickname FROM agents").fetchall() == [("the Ana",)]
    assert versions(path) == [(1, "baseline"), (2, "agent_nickname"), (3, "fill_nickname")]
    fresh = tmp_path / "fresh.sqlite3"  # made whole by schema.sql: the files are recorded, not run
    db.Database(str(fresh), migrations=folder).prepare()
    assert [v for v, _ in versions(fresh)] == [1, 2, 3]
    with sqlite3.connect(fresh) as conn:
        assert "nickname" not in {row[1] for row in conn.execute("PRAGMA table_info(agents)")}


def test_a_failing_migration_leaves_the_database_as_it_was_and_start_up_fails(tmp_path):
    folder = tmp_path / "migrations"
    migration(folder, "0002_agent_nickname.sql", "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    migration(folder, "0003_broken.sql", "UPDATE no_such_table SET x = 1;\n")
    path = tmp_path / "inbox.sqlite3"
    baseline_database(path)
    before = structure(path)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        db.Database(str(path), migrations=folder).prepare()
    assert structure(path) == before  # not even 0002's column: one transaction
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (123456789,)
    migration(folder, "0003_broken.sql", "UPDATE agents SET nickname = name;\n")  # the fix is deployed
    db.Database(str(path), migrations=folder).prepare()
    assert [v for v, _ in versions(path)] == [1, 2, 3]


def test_migration_numbers_must_be_distinct_and_above_the_baseline(tmp_path):
    folder = tmp_path / "migrations"
    migration(folder, "0001_again.sql", "SELECT 1;\n")
    with pytest.raises(RuntimeError, match="distinct numbers above 0001"):
        db.migration_files(folder)


UPGRADE = """
import sys
from whatsapp import db
from pathlib import Path
db.Database(sys.argv[1], migrations=Path(sys.argv[2])).prepare()
"""


def test_processes_starting_together_apply_each_migration_once(tmp_path):
    folder = tmp_path / "migrations"
    migration(folder, "0002_agent_nickname.sql", "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    migration(folder, "0003_count_upgrades.sql", "CREATE TABLE upgrades (n INTEGER);\nINSERT INTO upgrades VALUES (1);")
    path = tmp_path / "inbox.sqlite3"
    baseline_database(path)
    starts = [
        subprocess.Popen([sys.executable, "-c", UPGRADE, str(path), str(folder)], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], errors
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM upgrades").fetchone() == (1,)  # a second run would fail or add
    assert [v for v, _ in versions(path)] == [1, 2, 3]
