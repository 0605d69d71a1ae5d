"""The journal keeps processed bodies WEBHOOK_JOURNAL_DAYS days, failed ones until replayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from bench import plans
from whatsapp import ingest, store
from whatsapp.config import ConfigError
from whatsapp.store.common import ago

from .helpers import AGENT_KEY, app_connection, post_webhook, text_message


def deliver(client, count: int) -> list[int]:
    ids = []
    for n in range(count):
        answer = post_webhook(client, text_message(f"message {n}"))
        assert answer.status_code == 200
        ids.append(answer.get_json()["delivery_id"])
    return ids


def age(app, delivery_ids: list[int], days: float, state: str = "processed") -> None:
    """Make deliveries look processed (or failed) `days` days ago."""
    with app_connection(app) as conn:
        for delivery_id in delivery_ids:
            conn.execute(
                "UPDATE webhook_deliveries SET processed_at = ?, state = ? WHERE delivery_id = ?",
                (ago(24 * days), state, delivery_id),
            )


def journal_ids(app) -> list[int]:
    with app_connection(app) as conn:
        return [row[0] for row in conn.execute("SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id")]


def test_prune_removes_only_bodies_processed_before_the_cutoff(app, client, runner):
    old, failed, recent = deliver(client, 2), deliver(client, 1), deliver(client, 2)
    age(app, old, 31)
    age(app, failed, 90, state="failed")
    age(app, recent[:1], 29)

    result = runner.invoke(args=["prune-webhooks"])  # WEBHOOK_JOURNAL_DAYS defaults to 30
    assert result.exit_code == 0, result.output
    assert "Pruned 2 bodies" in result.output
    assert journal_ids(app) == failed + recent
    # The messages those bodies carried are still in the inbox.
    with app_connection(app) as conn:
        assert conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0] == 5

    assert "Pruned 1 bodies" in runner.invoke(args=["prune-webhooks", "--days", "7"]).output
    assert journal_ids(app) == failed + recent[1:]


def test_prune_works_in_bounded_chunks(app, client):
    ids = deliver(client, 5)
    age(app, ids, 40)
    with app_connection(app) as conn:
        assert ingest.prune(conn, 30, limit=2) == 2
        assert ingest.prune(conn, 30, limit=2) == 2
        assert ingest.prune(conn, 30, limit=2) == 1
        assert ingest.prune(conn, 30, limit=2) == 0
    assert journal_ids(app) == []


def test_the_webhook_prunes_the_journal_as_deliveries_arrive(app, client, monkeypatch):
    monkeypatch.setattr(ingest, "PRUNE_EVERY", 3)
    monkeypatch.setattr(ingest, "_answered", iter(range(1, 10**6)))
    old = deliver(client, 2)
    age(app, old, 45)
    # The third answered delivery prunes once its response is closed (after Meta has it).
    raw = post_webhook(client, text_message("third"))
    assert journal_ids(app)[:2] == old  # the test client has not closed the response yet
    raw.close()
    assert journal_ids(app) == [raw.get_json()["delivery_id"]]


def test_zero_days_keeps_the_journal_forever(settings, monkeypatch):
    app = create_app({**settings, "WEBHOOK_JOURNAL_DAYS": "0"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + settings["AGENT_API_KEY"]
    monkeypatch.setattr(ingest, "_answered", iter(range(1, 10**6)))
    monkeypatch.setattr(ingest, "PRUNE_EVERY", 1)
    ids = deliver(client, 2)
    age(app, ids, 400)
    post_webhook(client, text_message("later")).close()
    assert journal_ids(app)[:2] == ids
    result = app.test_cli_runner().invoke(args=["prune-webhooks"])
    assert "kept forever" in result.output and journal_ids(app)[:2] == ids


def test_a_negative_retention_is_refused(settings):
    with pytest.raises(ConfigError, match="WEBHOOK_JOURNAL_DAYS"):
        create_app({**settings, "WEBHOOK_JOURNAL_DAYS": "-1"})


def brute_force_counts(app) -> dict[str, int]:
    with app_connection(app) as conn:
        rows = conn.execute("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state ORDER BY state")
        return dict(rows.fetchall())


def test_health_counts_deliveries_by_state_as_they_are_journaled_failed_replayed_and_pruned(
    app, client, runner, monkeypatch
):
    def health_counts() -> dict[str, int]:
        return client.get("/api/whatsapp/health").get_json()["health"]["deliveries"]

    assert health_counts() == {}
    ids = deliver(client, 4)
    assert health_counts() == brute_force_counts(app) == {"processed": 4}

    def broken(conn, delivery):
        raise RuntimeError("a bug")

    real = store.apply_delivery
    monkeypatch.setattr(store, "apply_delivery", broken)
    failed = deliver(client, 2)
    assert health_counts() == brute_force_counts(app) == {"failed": 2, "processed": 4}
    monkeypatch.setattr(store, "apply_delivery", real)
    assert runner.invoke(args=["replay-webhooks"]).exit_code == 0
    assert health_counts() == brute_force_counts(app) == {"processed": 6}

    age(app, ids[:3] + failed[:1], 60)
    assert "Pruned 4 bodies" in runner.invoke(args=["prune-webhooks"]).output
    assert health_counts() == brute_force_counts(app) == {"processed": 2}


@pytest.mark.sqlite_only  # an SQLite file from before the counts table (user_version, SQLite's migrations)
def test_an_older_database_gets_its_delivery_counts_from_the_journal(settings, client, app):
    deliver(client, 3)
    with app_connection(app) as conn:
        conn.execute("DROP TABLE webhook_delivery_counts")
        conn.execute("PRAGMA user_version = 0")  # as a database from before that table would say
    reopened = create_app(settings).test_client()
    reopened.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    assert reopened.get("/api/whatsapp/health").get_json()["health"]["deliveries"] == {"processed": 3}


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN (bench/plans.py)
def test_no_health_query_reads_a_whole_table(app, client):
    deliver(client, 3)
    database = Path(app.config["SETTINGS"].database_path)
    report = plans.explain(app, database, {"health": "/api/whatsapp/health"}, AGENT_KEY)
    statements = report["health"]
    assert any("webhook_deliveries" in s["sql"] for s in statements)
    assert [s for s in statements if s["full_scans"]] == []
    answer = client.get("/api/whatsapp/health").get_json()["health"]
    assert answer["last_webhook_at"] is not None and answer["deliveries"] == {"processed": 3}


def test_health_still_knows_the_last_delivery_once_the_journal_is_pruned(app, client, runner):
    [delivery_id] = deliver(client, 1)
    before = client.get("/api/whatsapp/health").get_json()["health"]["last_webhook_at"]
    age(app, [delivery_id], 40)
    assert "Pruned 1 bodies" in runner.invoke(args=["prune-webhooks"]).output
    assert client.get("/api/whatsapp/health").get_json()["health"]["last_webhook_at"] == before
