"""Fixtures for tests against a real PostgreSQL: the server from scripts/pg-test-server, a fresh database
per test module. Tests using them are skipped only when WA_TEST_POSTGRES is unset (CI sets it)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg-test-server"


def start_server() -> str:
    """The DATABASE_URL that scripts/pg-test-server prints (it starts the server if it is not up)."""
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"scripts/pg-test-server failed: {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("DATABASE_URL="), done.stdout
    return lines[0].removeprefix("DATABASE_URL=")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The test server's own database `wa` (do not fill it: use pg_url)."""
    if not os.environ.get("WA_TEST_POSTGRES"):
        pytest.skip("PostgreSQL tests run only with WA_TEST_POSTGRES=1 (scripts/pg-test-server starts the server)")
    return start_server()


@pytest.fixture(scope="module")
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh empty database for this test module, dropped after it."""
    import psycopg

    name = f"wa_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield pg_server_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def create_database(server_url: str, name: str, template: str = "template0") -> str:
    """CREATE DATABASE name (UTF8, C.UTF-8 as schema_postgresql.sql asks) from a template; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} ENCODING 'UTF8' LOCALE 'C.UTF-8'")
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> Iterator[str]:
    """A database with the current schema, which each test's database is copied from (a copy takes
    milliseconds; creating the schema, a second)."""
    from whatsapp.db_postgres import PostgresDatabase

    name = f"wa_template_{secrets.token_hex(6)}"
    url = create_database(pg_server_url, name)
    database = PostgresDatabase(url, pool_size=2)
    database.prepare()
    database.close()
    yield name
    drop_database(pg_server_url, name)


class Reusable:
    """One database of the current schema that every test of the run starts from empty: emptied
    (every table but schema_version, the sequences back to 1, the rows the schema seeds put back) in
    a few milliseconds, where creating a database from the template takes about a second."""

    def __init__(self, server_url: str, template: str) -> None:
        import psycopg

        self.server_url = server_url
        self.template = template
        self.name = f"wa_run_{secrets.token_hex(6)}"
        self.url = create_database(server_url, self.name, template=template)
        with psycopg.connect(self.url, autocommit=True) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version'"
                )
            ]
            sequences = [
                row[0] for row in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ]
            seeds = []
            for table in tables:
                for row in conn.execute(f"SELECT * FROM {table}").fetchall():
                    marks = ", ".join(["%s"] * len(row))
                    seeds.append((f"INSERT INTO {table} VALUES ({marks})", tuple(row)))
        self.reset_sql = (
            "SET lock_timeout = '5s'; SET session_replication_role = replica; BEGIN; "
            + " ".join(f"DELETE FROM {table};" for table in tables)
            + " ".join(f"SELECT setval('{sequence}', 1, false);" for sequence in sequences)
        )
        self.seeds = seeds

    def reset(self) -> str:
        """The database emptied for the next test (a fresh copy if something still holds its tables)."""
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(self.reset_sql)
                for sql, values in self.seeds:
                    conn.execute(sql, values)
                conn.execute("COMMIT")
        except psycopg.errors.LockNotAvailable:
            drop_database(self.server_url, self.name)
            self.name = f"wa_run_{secrets.token_hex(6)}"
            self.url = create_database(self.server_url, self.name, template=self.template)
        return self.url

    def drop(self) -> None:
        drop_database(self.server_url, self.name)


@pytest.fixture(scope="session")
def pg_reusable(pg_server_url: str, pg_template: str) -> Iterator[Reusable]:
    reusable = Reusable(pg_server_url, pg_template)
    yield reusable
    reusable.drop()
