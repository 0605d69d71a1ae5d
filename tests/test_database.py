"""The Database object: one per app, owning its connections, write lock and group commit, and
starting afresh in a forked child."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app import create_app
from whatsapp import db

from .helpers import post_webhook, text_message


def test_each_app_has_one_database_that_its_requests_and_deliveries_use(settings, engine):
    app = create_app(settings)
    database = app.extensions["database"]
    assert isinstance(database, db.BaseDatabase) and database.engine == engine
    client = app.test_client()
    assert post_webhook(client, text_message("hello")).status_code == 200
    with app.app_context():
        assert db.get_db() is database.thread_connection()
        assert db.get_db().database is database
    assert database.group_commit.conn is not None and database.group_commit.conn.database is database


def test_close_ends_every_threads_kept_connection_and_the_next_use_reconnects(settings):
    app = create_app(settings)
    database = app.extensions["database"]
    kept = []
    thread = threading.Thread(target=lambda: kept.append(database.thread_connection()))
    thread.start()
    thread.join()
    mine = database.thread_connection()
    database.close()
    for conn in [*kept, mine]:
        try:
            conn.execute("SELECT 1")
        except Exception as exc:
            assert "closed" in str(exc)
        else:
            raise AssertionError("a kept connection was still open after close()")
    assert database.thread_connection() is not mine
    assert database.thread_connection().execute("SELECT count(*) FROM whatsapp_messages").fetchone()[0] == 0


@pytest.mark.sqlite_only
def test_a_forked_child_writes_with_a_lock_of_its_own_even_while_the_parent_holds_it(tmp_path):
    """A thread of the parent holds the write lock (its thread lock and its flock) at the moment of
    the fork; the child waits for the flock like any other process, then writes, instead of hanging
    on its copy of the parent's thread lock for ever. (No SQLite connection is open in the parent
    at the fork: SQLite's own state must never cross one, which gunicorn respects.)"""
    database = db.Database(str(tmp_path / "inbox.sqlite3"))
    database.prepare()
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        with database.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            with database.connection() as conn, database.write(conn):
                conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('forked', '{}', 'now')")
            code = 0
        except BaseException as exc:
            print("child:", repr(exc), file=sys.stderr)
        finally:
            os._exit(code)
    threading.Timer(0.5, release.set).start()  # the parent lets go; the child gets the flock then
    _, status = os.waitpid(pid, 0)
    holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
    with database.connection() as conn:
        assert [tuple(row) for row in conn.execute("SELECT name FROM settings")] == [("forked",)]


def test_a_forked_child_opens_its_own_postgresql_connections_and_leaves_the_parents_alone(settings, engine):
    """On PostgreSQL a child must not use (nor close) its parent's pooled sessions: it opens a pool
    of its own, and the parent's connection still works after the child has exited."""
    if engine != "postgresql":
        pytest.skip("PostgreSQL's pool; SQLite's fork is the test above")
    database = create_app(settings).extensions["database"]
    conn = database.thread_connection()
    parent_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with database.connection() as child, database.write(child):
                if child.execute("SELECT pg_backend_pid()").fetchone()[0] != parent_pid:
                    child.execute("INSERT INTO settings (name, value, updated_at) VALUES ('forked', '{}', 'now')")
                    code = 0
        except BaseException as exc:
            print("child:", repr(exc), file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == parent_pid  # still the parent's session
    assert [tuple(row) for row in conn.execute("SELECT name FROM settings")] == [("forked",)]


def test_flask_backup_on_postgresql_points_to_pg_dump(settings, engine):
    if engine != "postgresql":
        pytest.skip("on SQLite, tests/test_backup.py")
    result = create_app(settings).test_cli_runner().invoke(args=["backup", "/tmp/never-written.sqlite3"])
    assert result.exit_code == 1 and "pg_dump" in result.output
