"""Versioned schema on PostgreSQL, as on SQLite (tests/test_migrations.py): a new database records
every version, an older one runs each migration once, in order, one process at a time (an advisory
lock), and a failed migration leaves it as it was."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp.db_postgres import PostgresDatabase

from .postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_url(pg_server_url):
    name = f"wa_mig_{secrets.token_hex(6)}"
    yield create_database(pg_server_url, name)
    drop_database(pg_server_url, name)


def migration(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(sql, encoding="utf-8")


def query(url: str, sql: str) -> list[tuple]:
    database = PostgresDatabase(url, pool_size=2)
    try:
        conn = database.open()
        try:
            return [tuple(row) for row in conn.execute(sql)]
        finally:
            conn.close()
    finally:
        database.close()


def prepare(url: str, folder: Path) -> None:
    database = PostgresDatabase(url, pool_size=2, migrations=folder)
    try:
        database.prepare()
    finally:
        database.close()


def columns(url: str, table: str) -> set[str]:
    rows = query(url, f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'")
    return {row[0] for row in rows}


def test_a_new_database_records_every_version_without_running_the_files(empty_url, tmp_path):
    folder = tmp_path / "migrations"
    migration(folder, "0002_agent_nickname.sql", "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    prepare(empty_url, folder)
    assert query(empty_url, "SELECT version, name FROM schema_version ORDER BY version") == [
        (1, "baseline"),
        (2, "agent_nickname"),
    ]
    assert "nickname" not in columns(empty_url, "agents")  # schema_postgresql.sql made it whole


UPGRADE = """
import sys
from pathlib import Path
from whatsapp.db_postgres import PostgresDatabase
database = PostgresDatabase(sys.argv[1], pool_size=2, migrations=Path(sys.argv[2]))
database.prepare()
database.close()
"""


def test_processes_starting_together_apply_each_migration_once_in_order(empty_url, tmp_path):
    prepare(empty_url, tmp_path / "none")  # the database as the release before the migrations left it
    query(empty_url, "INSERT INTO agents (name, key_hash, created_at) VALUES ('Ana', 'h', '2026-01-01 00:00:00')")
    folder = tmp_path / "migrations"
    migration(folder, "0003_fill_nickname.sql", "UPDATE agents SET nickname = 'the ' || name;\n")
    migration(folder, "0002_agent_nickname.sql", "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    migration(folder, "0004_count_upgrades.sql", "CREATE TABLE upgrades (n INTEGER);\nINSERT INTO upgrades VALUES (1);")
    starts = [
        subprocess.Popen([sys.executable, "-c", UPGRADE, empty_url, str(folder)], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], errors
    assert query(empty_url, "SELECT nickname FROM agents") == [("the Ana",)]  # 0003 after 0002, once
    assert query(empty_url, "SELECT COUNT(*) FROM upgrades") == [(1,)]
    assert [v for (v,) in query(empty_url, "SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]


def test_a_failing_migration_leaves_the_database_as_it_was(empty_url, tmp_path):
    prepare(empty_url, tmp_path / "none")
    folder = tmp_path / "migrations"
    migration(folder, "0002_agent_nickname.sql", "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    migration(folder, "0003_broken.sql", "UPDATE no_such_table SET x = 1;\n")
    with pytest.raises(Exception, match="no_such_table"):
        prepare(empty_url, folder)
    assert "nickname" not in columns(empty_url, "agents")  # not even 0002's column: one transaction
    assert [v for (v,) in query(empty_url, "SELECT version FROM schema_version")] == [1]
    migration(folder, "0003_broken.sql", "UPDATE agents SET nickname = name;\n")  # the fix is deployed
    prepare(empty_url, folder)
    assert [v for (v,) in query(empty_url, "SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
