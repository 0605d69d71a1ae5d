"""The team's settings as the write path reads them: once per write transaction, never stale after it."""

from __future__ import annotations

from whatsapp.db import write_transaction
from whatsapp.store.settings import get_setting, parsed_setting, put_setting

from .helpers import app_connection, statements_seen


def reads_of(seen: list[str], name: str) -> int:
    return sum(1 for statement in seen if "FROM settings" in statement and name in statement)


def test_a_write_transaction_reads_each_setting_once_and_sees_its_own_change(app):
    with app_connection(app) as conn:
        with write_transaction(conn):
            put_setting(conn, "cache_probe", {"level": 1})
        with statements_seen(app) as seen:
            with app_connection(app) as conn:
                with write_transaction(conn):
                    first = get_setting(conn, "cache_probe")
                    again = get_setting(conn, "cache_probe")
                    parsed = parsed_setting(conn, "cache_probe", lambda value: value["level"] * 10)
                    missing = get_setting(conn, "never_set")
                    missing_again = get_setting(conn, "never_set")
                    put_setting(conn, "cache_probe", {"level": 2})
                    changed = get_setting(conn, "cache_probe")
    assert first == again == {"level": 1}
    assert parsed == 10
    assert missing is None and missing_again is None
    assert changed == {"level": 2}, "a change made in the transaction is read back in it"
    assert reads_of(seen, "cache_probe") == 2, seen  # once, then again after put_setting
    assert reads_of(seen, "never_set") == 1, seen


def test_the_next_transaction_and_plain_reads_see_another_connections_change(app):
    with app_connection(app) as writer, app_connection(app) as reader:
        with write_transaction(writer):
            put_setting(writer, "cache_probe", {"level": 1})
        with write_transaction(reader):
            assert get_setting(reader, "cache_probe") == {"level": 1}
        with write_transaction(writer):
            put_setting(writer, "cache_probe", {"level": 3})
        with write_transaction(reader):
            assert get_setting(reader, "cache_probe") == {"level": 3}
        assert get_setting(reader, "cache_probe") == {"level": 3}  # outside a transaction: read each time
        with write_transaction(writer):
            put_setting(writer, "cache_probe", {"level": 4})
        assert get_setting(reader, "cache_probe") == {"level": 4}


def test_a_rolled_back_transaction_leaves_no_cached_value_behind(app):
    with app_connection(app) as conn:
        try:
            with write_transaction(conn):
                put_setting(conn, "cache_probe", {"level": 9})
                assert get_setting(conn, "cache_probe") == {"level": 9}
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        assert get_setting(conn, "cache_probe") is None
        with write_transaction(conn):
            assert get_setting(conn, "cache_probe") is None
