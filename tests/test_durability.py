"""The journal of raw deliveries: nothing answered 200 is lost, failures can be replayed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from whatsapp import store, surrogates
from whatsapp.api_shapes import AccountHealth

from .helpers import app_connection, fixture_bytes, post_webhook, text_message


def journal(app):
    with app_connection(app) as conn:
        rows = conn.execute("SELECT delivery_id, state, error, attempts FROM webhook_deliveries").fetchall()
        return [tuple(r) for r in rows]


def test_every_verified_delivery_is_journaled_with_its_raw_body(app, client):
    raw = fixture_bytes("text")
    post_webhook(client, raw)
    with app_connection(app) as conn:
        [(body, state)] = conn.execute("SELECT body, state FROM webhook_deliveries").fetchall()
    assert body == raw and state == "processed"


def test_a_refused_delivery_is_not_journaled(app, client):
    post_webhook(client, fixture_bytes("text"), signature="sha256=" + "0" * 64)
    assert journal(app) == []


def test_a_delivery_that_fails_to_process_is_kept_answered_200_and_replayable(app, client, runner, monkeypatch):
    real = store.apply_delivery
    calls = {"n": 0}

    def broken_once(conn, delivery):
        calls["n"] += 1
        # Write something first, to prove the failed attempt's writes are rolled back whole.
        real(conn, delivery)
        raise RuntimeError("a bug met in production")

    monkeypatch.setattr(store, "apply_delivery", broken_once)
    answer = post_webhook(client, fixture_bytes("image"))
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "failed"
    [(delivery_id, state, error, attempts)] = journal(app)
    assert state == "failed" and "a bug met in production" in error and attempts == 1
    assert client.get("/api/whatsapp/stats").get_json()["stats"]["total_conversations"] == 0

    monkeypatch.setattr(store, "apply_delivery", real)
    result = runner.invoke(args=["replay-webhooks"])
    assert result.exit_code == 0, result.output
    assert "1 processed, 0 failed" in result.output
    assert journal(app) == [(delivery_id, "processed", None, 2)]
    conv = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert len(conv) == 1 and conv[0]["unread_count"] == 1

    again = runner.invoke(args=["replay-webhooks", "--all"])
    assert "1 processed" in again.output
    assert client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["unread_count"] == 1


def test_replay_with_nothing_pending_does_nothing(runner, client):
    post_webhook(client, text_message("hi"))
    result = runner.invoke(args=["replay-webhooks"])
    assert "Replayed 0 deliveries" in result.output


@pytest.mark.sqlite_only  # the SQLite file's own catalogue (sqlite_master) and its WAL journal mode
def test_init_db_creates_the_tables(runner, app):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    conn = sqlite3.connect(app.config["SETTINGS"].database_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert {"whatsapp_conversations", "whatsapp_messages", "webhook_deliveries", "parked_statuses"} <= tables
    assert mode == "wal"


def test_health_reports_the_last_delivery_and_what_is_waiting(client):
    empty = client.get("/api/whatsapp/health").get_json()["health"]
    assert empty["alerts"] == []  # the account signals: tests/test_account_signals.py
    signals = AccountHealth.__required_keys__ | AccountHealth.__optional_keys__
    assert {key: value for key, value in empty.items() if key not in signals} == {
        "last_webhook_at": None,
        "sends_pending_over_10_min": 0,
        "webhook_fields": {},
        "deliveries": {},
        "parked_statuses": 0,
        "media_pending": 0,
        "media_failed": 0,
        "failed_sends_last_24h": 0,
        "last_send_error": None,
        "history_import": None,
    }
    post_webhook(client, fixture_bytes("image"))
    post_webhook(client, fixture_bytes("status_read"))
    health = client.get("/api/whatsapp/health").get_json()["health"]
    assert health["last_webhook_at"] is not None
    assert health["deliveries"] == {"processed": 2}
    assert health["parked_statuses"] == 1 and health["media_pending"] == 1
    assert health["webhook_fields"]["messages"]["deliveries"] == 2


def test_health_shows_the_last_delivery_of_each_webhook_field(client):
    post_webhook(client, fixture_bytes("text"))
    template_update = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "109283746501928",
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_name": "order_update"},
                    }
                ],
            }
        ],
    }
    assert post_webhook(client, template_update).status_code == 200
    assert post_webhook(client, template_update).status_code == 200
    fields = client.get("/api/whatsapp/health").get_json()["health"]["webhook_fields"]
    assert set(fields) == {"messages", "message_template_status_update"}
    assert fields["messages"]["deliveries"] == 1
    assert fields["message_template_status_update"]["deliveries"] == 2
    assert fields["messages"]["last_received_at"] <= fields["message_template_status_update"]["last_received_at"]


# --- signed bodies this service cannot read are kept, never answered 500 -------------------


def deep_text_message(depth: int) -> bytes:
    """A text message carrying a `depth`-deep list, and \\u escapes: one a lone surrogate, so the
    whole value is searched for them (stored as U+FFFD)."""
    marker = '"DEEP"'
    body = json.dumps(text_message("caf\u00e9 \ud800", extra={"deep": "DEEP"}), ensure_ascii=True)
    assert "\\u00e9" in body and "\\ud800" in body
    return body.replace(marker, "[" * depth + "1" + "]" * depth).encode()


def test_a_signed_webhook_600_deep_with_an_escape_is_processed(app, client):
    answer = post_webhook(client, deep_text_message(600))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["state"] == "processed"
    thread = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    assert [m["text"] for m in thread["messages"]] == ["caf\u00e9 \ufffd"]


def test_a_signed_webhook_too_deep_to_read_is_journaled_failed_answered_200_and_stays_failed(app, client, runner):
    answer = post_webhook(client, deep_text_message(100_000))
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "failed"
    [(delivery_id, state, error, attempts)] = journal(app)
    assert state == "failed" and "nested deeper" in error and attempts == 1
    health = client.get("/api/whatsapp/health").get_json()["health"]
    assert health["deliveries"] == {"failed": 1}
    result = runner.invoke(args=["replay-webhooks"])
    assert result.exit_code == 0, result.output
    assert "0 processed, 1 failed" in result.output and "nested deeper" in result.output
    assert journal(app) == [(delivery_id, "failed", error, 2)]


def test_a_bug_in_reading_a_signed_body_keeps_it_for_a_replay_after_the_fix(app, client, runner, monkeypatch):
    real = surrogates.replace

    def recursive_bug(value):  # what the recursive U+FFFD replacement did 600 levels down
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(surrogates, "replace", recursive_bug)
    answer = post_webhook(client, deep_text_message(3))
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "failed"
    [(delivery_id, state, error, _)] = journal(app)
    assert state == "failed" and error.startswith("RecursionError")

    monkeypatch.setattr(surrogates, "replace", real)  # the fix is deployed
    result = runner.invoke(args=["replay-webhooks"])
    assert "1 processed, 0 failed" in result.output, result.output
    assert journal(app) == [(delivery_id, "processed", None, 2)]
    thread = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    assert [m["text"] for m in thread["messages"]] == ["caf\u00e9 \ufffd"]


def test_a_delivery_whose_journal_row_fails_after_processing_is_kept_as_failed(app, client, monkeypatch):
    real = store.journal_insert

    def refuse_processed(conn, body, state="pending", error=None):
        if state == "processed":
            raise RuntimeError("a bug after processing")
        return real(conn, body, state, error)

    monkeypatch.setattr(store, "journal_insert", refuse_processed)
    answer = post_webhook(client, fixture_bytes("text"))
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "failed"
    [(_, state, error, _)] = journal(app)
    assert state == "failed" and "a bug after processing" in error
    # The processing's writes went with it: a replay applies them once.
    assert client.get("/api/whatsapp/stats").get_json()["stats"]["total_conversations"] == 0


def test_a_delivery_that_cannot_be_journaled_at_all_is_a_503_for_meta_to_retry(app, client, monkeypatch):
    def disk_failure(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "journal_insert", disk_failure)
    answer = post_webhook(client, fixture_bytes("text"))
    assert answer.status_code == 503
    assert answer.get_json()["success"] is False
    assert journal(app) == []
