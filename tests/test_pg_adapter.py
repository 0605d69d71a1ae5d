"""whatsapp/pg.py against a real PostgreSQL: sqlite3-style SQL, rows, transactions and errors behave as
they do on SQLite (several tests run the same statements on both and compare)."""

from __future__ import annotations

import secrets
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from whatsapp import pg

from .postgres import SCRIPT, pg_server_url, pg_url  # noqa: F401  (fixtures)

TABLE = "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, k TEXT NOT NULL UNIQUE, n BIGINT, note TEXT)"
SQLITE_TABLE = "CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, n INTEGER, note TEXT)"


@pytest.fixture
def conn(pg_url: str) -> Iterator[pg.PgConnection]:  # noqa: F811
    """A connection of its own over a fresh `items` table."""
    conn = pg.connect(pg_url)
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(TABLE)
    yield conn
    conn.close()


@pytest.fixture
def lite() -> Iterator[sqlite3.Connection]:
    """The same table on SQLite, opened as whatsapp/db.py opens it, to compare with."""
    lite = sqlite3.connect(":memory:", isolation_level=None)
    lite.row_factory = sqlite3.Row
    lite.execute(SQLITE_TABLE)
    yield lite
    lite.close()


def keys(conn) -> list[str]:
    return [row["k"] for row in conn.execute("SELECT k FROM items ORDER BY k")]


def test_the_script_run_again_prints_only_the_same_url(pg_server_url: str):  # noqa: F811
    again = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120, check=True)
    assert again.stdout == f"DATABASE_URL={pg_server_url}\n"
    assert pg_server_url == "postgresql://wa:wa@127.0.0.1:54329/wa"


@pytest.mark.slow
def test_the_script_starts_a_cluster_anywhere_and_stops_it(pg_server_url: str):  # noqa: F811
    with socket.socket() as probe:  # a free port for a second, separate cluster
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = f"/tmp/wa-pg-test-{secrets.token_hex(4)}"
    try:
        started = subprocess.run([str(SCRIPT), data, "--port", str(port)], capture_output=True, text=True, timeout=120)
        assert started.stdout == f"DATABASE_URL=postgresql://wa:wa@127.0.0.1:{port}/wa\n", started.stderr
        conn = pg.connect(started.stdout.strip().removeprefix("DATABASE_URL="))
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in ("fsync", "max_connections")}
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is True
        conn.close()
        assert settings == {"fsync": "on", "max_connections": "300"}
        subprocess.run([str(SCRIPT), data, "--stop"], capture_output=True, timeout=120, check=True)
        with pytest.raises(sqlite3.OperationalError):
            pg.connect(f"postgresql://wa:wa@127.0.0.1:{port}/wa?connect_timeout=5")
    finally:
        subprocess.run([str(SCRIPT), data, "--stop"], capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)
        Path(f"{data}.lock").unlink(missing_ok=True)


def test_the_script_refuses_a_bad_port_in_one_line():
    refused = subprocess.run([str(SCRIPT), "--port", "nine"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr == "pg-test-server: port must be a number from 1 to 65535, not 'nine'\n"


def test_question_marks_are_parameters_except_in_literals_identifiers_and_comments(conn):
    conn.execute("INSERT INTO items (k, note) VALUES (?, ?)", ("a", "what?"))
    row = conn.execute(
        "SELECT k, '?' AS literal, note AS \"why?\" -- a comment? yes\n FROM items WHERE k = ? /* or ? */",
        ("a",),
    ).fetchone()
    assert tuple(row) == ("a", "?", "what?")
    assert row["why?"] == "what?"


def test_named_parameters_may_repeat_and_casts_and_literals_stay(conn):
    conn.execute("INSERT INTO items (k, n, note) VALUES (:k, :n, ':k stays')", {"k": "a", "n": 7})
    row = conn.execute(
        "SELECT k, n::text AS n_text, note, :n + :n AS twice FROM items WHERE k = :k", {"k": "a", "n": 7}
    ).fetchone()
    assert dict(row) == {"k": "a", "n_text": "7", "note": ":k stays", "twice": 14}


def test_percent_signs_in_like_patterns_need_no_doubling(conn, lite):
    for db in (conn, lite):
        db.executemany("INSERT INTO items (k) VALUES (?)", [("50% off",), ("half price",), ("5 off",)])
    statement = "SELECT k FROM items WHERE k LIKE '%off' AND k LIKE ? || '%' ORDER BY k"
    assert [tuple(r) for r in conn.execute(statement, ("50",))] == [("50% off",)]
    assert [tuple(r) for r in conn.execute(statement, ("50",))] == [tuple(r) for r in lite.execute(statement, ("50",))]
    assert conn.execute("SELECT '100%' || ?", ("!",)).fetchone()[0] == "100%!"


def test_rows_behave_like_sqlite_rows(conn, lite):
    for db in (conn, lite):
        db.execute("INSERT INTO items (k, n, note) VALUES (?, ?, ?)", ("a", 1, None))
    statement = "SELECT id, k AS Name, n, note FROM items"
    row, lite_row = conn.execute(statement).fetchone(), lite.execute(statement).fetchone()
    # PostgreSQL folds an unquoted alias to lower case (SQLite keeps "Name"): store/ SQL writes them so
    assert row.keys() == ["id", "name", "n", "note"] and lite_row.keys() == ["id", "Name", "n", "note"]
    assert dict(row) == {"id": 1, "name": "a", "n": 1, "note": None}
    assert tuple(row) == tuple(lite_row)
    assert (row[0], row[-1], row["NAME"], row["Name"]) == (lite_row[0], lite_row[-1], lite_row["NAME"], "a")
    assert len(row) == 4 and list(row) == [1, "a", 1, None]
    with pytest.raises(IndexError, match="No item with that key"):
        row["missing"]
    with pytest.raises(IndexError):
        lite_row["missing"]


def test_cursors_fetch_and_iterate(conn):
    conn.executemany("INSERT INTO items (k, n) VALUES (?, ?)", [("a", 1), ("b", 2), ("c", 3)])
    assert conn.execute("SELECT k FROM items WHERE k = ?", ("z",)).fetchone() is None
    assert [r["k"] for r in conn.execute("SELECT k FROM items ORDER BY k")] == ["a", "b", "c"]
    cursor = conn.execute("SELECT n FROM items ORDER BY n")
    assert cursor.fetchone()[0] == 1
    assert [r[0] for r in cursor.fetchall()] == [2, 3]
    update = conn.execute("UPDATE items SET n = 0 WHERE k = ?", ("a",))
    assert (update.fetchone(), update.fetchall()) == (None, [])  # no result set, as on SQLite


def test_rowcount_counts_changed_rows_as_on_sqlite(conn, lite):
    statements = [
        ("INSERT INTO items (k, n) VALUES (?, ?), (?, ?)", ("a", 1, "b", 1)),
        ("INSERT INTO items (k) VALUES (?) ON CONFLICT (k) DO NOTHING", ("a",)),
        ("UPDATE items SET n = n + 1 WHERE n = ?", (1,)),
        ("UPDATE items SET n = 0 WHERE k = ?", ("nobody",)),
        ("DELETE FROM items WHERE k = ?", ("a",)),
    ]
    counts = [[db.execute(sql, params).rowcount for sql, params in statements] for db in (conn, lite)]
    assert counts[0] == counts[1] == [2, 0, 2, 0, 1]
    assert conn.executemany("UPDATE items SET n = ? WHERE k = ?", [(5, "b"), (6, "nobody")]).rowcount == 1


def test_insert_returning_gives_the_new_id_and_lastrowid_says_to_use_it(conn):
    first = conn.execute("INSERT INTO items (k) VALUES (?) RETURNING id", ("a",)).fetchone()[0]
    cursor = conn.execute("INSERT INTO items (k) VALUES (?) RETURNING id, k", ("b",))
    assert dict(cursor.fetchone()) == {"id": first + 1, "k": "b"}
    with pytest.raises(sqlite3.NotSupportedError, match="RETURNING"):
        cursor.lastrowid  # noqa: B018


def test_begin_immediate_commit_and_rollback_are_explicit(conn, pg_url):  # noqa: F811
    other = pg.connect(pg_url)
    try:
        assert not conn.in_transaction
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO items (k) VALUES (?)", ("a",))
        assert conn.in_transaction and keys(other) == []  # not committed yet
        conn.execute("COMMIT")
        assert not conn.in_transaction and keys(other) == ["a"]
        conn.execute("BEGIN")
        conn.execute("INSERT INTO items (k) VALUES (?)", ("b",))
        conn.execute("ROLLBACK")
        assert keys(other) == ["a"]
    finally:
        other.close()


def test_transaction_statements_out_of_place_fail_as_on_sqlite(conn, lite):
    for statement in ("COMMIT", "ROLLBACK"):
        for db in (conn, lite):
            with pytest.raises(sqlite3.OperationalError, match="no transaction is active"):
                db.execute(statement)
    for db in (conn, lite):
        db.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="cannot start a transaction within a transaction"):
            db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")


def test_a_savepoint_rolls_back_only_its_own_part(conn):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO items (k) VALUES (?)", ("kept",))
    conn.execute("SAVEPOINT delivery")
    conn.execute("INSERT INTO items (k) VALUES (?)", ("undone",))
    conn.execute("ROLLBACK TO delivery")
    conn.execute("RELEASE delivery")
    assert conn.in_transaction
    conn.execute("COMMIT")
    assert keys(conn) == ["kept"]


def test_a_savepoint_outside_a_transaction_begins_one_and_its_release_commits_as_on_sqlite(conn, lite, pg_url):  # noqa: F811
    other = pg.connect(pg_url)
    try:
        for db in (conn, lite):
            db.execute("SAVEPOINT outer_work")
            db.execute("INSERT INTO items (k) VALUES (?)", ("a",))
            assert db.in_transaction
            db.execute("RELEASE outer_work")
            assert not db.in_transaction
        assert keys(other) == keys(lite) == ["a"]
    finally:
        other.close()


def test_a_unique_violation_is_caught_as_sqlite3_integrity_error_and_the_transaction_goes_on(conn):
    conn.execute("INSERT INTO items (k) VALUES (?)", ("wamid.1",))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("SAVEPOINT delivery")
    with pytest.raises(sqlite3.IntegrityError) as caught:
        conn.execute("INSERT INTO items (k) VALUES (?)", ("wamid.1",))
    conn.execute("ROLLBACK TO delivery")
    conn.execute("INSERT INTO items (k) VALUES (?)", ("wamid.2",))
    conn.execute("COMMIT")
    assert keys(conn) == ["wamid.1", "wamid.2"]
    error = caught.value
    assert isinstance(error, pg.UniqueViolation) and isinstance(error, pg.IntegrityError)
    assert error.sqlstate == "23505" and error.diag.constraint_name == "items_k_key"


def test_other_errors_are_sqlite3_errors_too(conn):
    with pytest.raises(sqlite3.ProgrammingError, match="does not exist"):
        conn.execute("SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.IntegrityError, match="not-null"):
        conn.execute("INSERT INTO items (k) VALUES (NULL)")
    with pytest.raises(sqlite3.DataError):
        conn.execute("SELECT 1 / ?", (0,))


def test_binding_mistakes_are_reported_as_sqlite3_reports_them(conn, lite):
    for db in (conn, lite):
        with pytest.raises(sqlite3.ProgrammingError, match="uses 2, and there are 1 supplied"):
            db.execute("SELECT ?, ?", (1,))
        with pytest.raises(sqlite3.ProgrammingError, match="binding parameter :a"):
            db.execute("SELECT :a", {"b": 1})
    with pytest.raises(sqlite3.ProgrammingError, match="mix"):
        conn.execute("SELECT ?, :a", (1,))


def test_numbers_and_json_come_back_as_sqlite_gives_them(conn):
    conn.executemany("INSERT INTO items (k, n) VALUES (?, ?)", [("a", 1), ("b", 2)])
    row = conn.execute("SELECT SUM(n) AS total, AVG(n) AS mean, '{\"a\": 1}'::jsonb AS doc FROM items").fetchone()
    assert (row["total"], row["mean"], row["doc"]) == (3, 1.5, '{"a": 1}')
    assert type(row["total"]) is int and type(row["mean"]) is float


def test_executescript_runs_several_statements(conn):
    conn.executescript("INSERT INTO items (k) VALUES ('a'); INSERT INTO items (k) VALUES ('b?');")
    assert keys(conn) == ["a", "b?"]


def test_the_translation_is_cached_and_leaves_plain_sql_alone():
    sql = "SELECT k FROM items WHERE k = ? AND note LIKE '%?%'"
    assert pg.translate(sql) is pg.translate(sql)
    assert pg.translate(sql).sql == "SELECT k FROM items WHERE k = $1 AND note LIKE '%?%'"
    assert pg.translate("SELECT 1").sql == "SELECT 1"
    assert pg.translate("begin immediate").sql == "BEGIN"


def test_a_closed_connection_refuses_work(pg_url):  # noqa: F811
    conn = pg.connect(pg_url)
    conn.close()
    conn.close()  # twice is harmless, as on sqlite3
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


def test_the_pool_reuses_a_returned_connection_rolled_back(conn, pg_url):  # noqa: F811
    pool = pg.PgPool(pg_url, min_size=1, max_size=1)
    try:
        first = pool.connect()
        backend = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        first.execute("BEGIN")
        first.execute("INSERT INTO items (k) VALUES (?)", ("never committed",))
        first.close()  # a transaction left open is rolled back when the connection goes back
        second = pool.connect()
        assert second.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        assert not second.in_transaction
        assert keys(second) == []
        second.close()
        assert pool.stats()["pool_size"] == 1
    finally:
        pool.close()


def test_text_holding_nul_comes_back_exactly_as_written(conn):
    """PostgreSQL's text cannot hold U+0000: it is escaped on the way in and back on the way out, so
    what a customer wrote is stored and read verbatim, as on SQLite (the escape itself round-trips)."""
    written = ["a\x00b", "\x00", "\U0010ffff", "\U0010ffff0", "\U0010ffff\U0010ffff\x00", "plain", ""]
    for n, text in enumerate(written):
        conn.execute("INSERT INTO items (id, k, note) VALUES (?, ?, ?)", (n + 1, f"k{n}", text))
    assert [row["note"] for row in conn.execute("SELECT note FROM items ORDER BY id")] == written
    assert conn.execute("SELECT COUNT(*) FROM items WHERE note = ?", ("a\x00b",)).fetchone()[0] == 1
