"""The event log keeps events EVENTS_RETENTION_DAYS days, conversation.merged events for ever."""

from __future__ import annotations

import json

import pytest

from app import create_app
from whatsapp import ingest
from whatsapp.config import ConfigError
from whatsapp.store.common import ago

from .helpers import app_connection, customer_writes, post_webhook, text_message

SSE = {"Accept": "text/event-stream"}


def age_events(app, days: float, *, below: int | None = None) -> None:
    """Make every event (or those with an id below `below`) look created `days` days ago."""
    with app_connection(app) as conn:
        conn.execute(
            "UPDATE events SET created_at = ? WHERE event_id < ?",
            (ago(24 * days), below if below is not None else 2**62),
        )


def event_rows(app) -> list[tuple[int, str, int | None]]:
    with app_connection(app) as conn:
        return [tuple(r) for r in conn.execute("SELECT event_id, kind, merged_from FROM events ORDER BY event_id")]


def merge_two_threads(client) -> tuple[int, int]:
    """Two threads of one customer (by user id, then by phone) folded into one: (kept, dropped)."""
    post_webhook(client, text_message("by user id", wa_id=None, user_id="US.4242", username="@ada"))
    post_webhook(client, text_message("by phone", wa_id="15551234567", user_id=None))
    post_webhook(client, text_message("both", wa_id="15551234567", user_id="US.4242"))
    [merged] = [
        e for e in client.get("/api/whatsapp/events?after=0").get_json()["events"] if e["kind"] == "conversation.merged"
    ]
    return merged["conversation_id"], merged["merged_from"]


def test_pruning_removes_only_old_events_in_bounded_batches_and_keeps_merges_and_the_newest(app, client):
    merge_two_threads(client)
    for n in range(6):
        customer_writes(client, f"later {n}", wa_id="15550000001")
    before = event_rows(app)
    newest = before[-1][0]
    recent_from = before[-3][0]
    age_events(app, 31, below=recent_from)  # all but the last three are past 30 days
    old_plain = [e for e in before if e[0] < recent_from and e[2] is None]
    assert len(old_plain) >= 5

    with app_connection(app) as conn:
        removed = []
        while n := ingest.prune_events(conn, 30, limit=2):
            assert n <= 2  # a little at a time
            removed.append(n)
    assert sum(removed) == len(old_plain) and len(removed) == (len(old_plain) + 1) // 2

    after = event_rows(app)
    assert [e for e in after if e[1] == "conversation.merged"] == [e for e in before if e[1] == "conversation.merged"]
    assert [e[0] for e in after if e[1] != "conversation.merged"] == [e[0] for e in before[-3:]]
    assert after[-1][0] == newest

    answer = client.get("/api/whatsapp/events?after=0").get_json()
    assert answer["oldest_event_id"] == recent_from
    assert answer["gap"] is True  # a cursor from before what is kept is told it may have missed events
    assert [e["kind"] for e in answer["events"]][0] == "conversation.merged"
    assert answer["last_event_id"] == newest
    current = client.get(f"/api/whatsapp/events?after={recent_from - 1}").get_json()
    assert current["gap"] is False and [e["id"] for e in current["events"]] == [e[0] for e in before[-3:]]


def test_a_pruned_log_never_gives_a_merged_away_id_again_and_still_answers_merged_into(app, client, runner):
    kept, dropped = merge_two_threads(client)
    assert dropped > kept  # the highest id given so far is the merged-away one
    age_events(app, 400)
    result = runner.invoke(args=["prune-events"])  # EVENTS_RETENTION_DAYS defaults to 30
    assert result.exit_code == 0, result.output
    assert "Pruned" in result.output
    rows = event_rows(app)
    assert len(rows) == 2 and rows[0][1] == "conversation.merged"  # the merge, and the newest event

    gone = client.get("/api/whatsapp/conversation", query_string={"conversation_id": dropped})
    assert gone.status_code == 404 and gone.get_json()["merged_into"] == kept
    customer_writes(client, "a new customer", wa_id="15559990000", name="Someone Else")
    newest = max(c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"])
    assert newest == dropped + 1  # not `dropped` again: whoever holds that id never sees another customer
    assert (
        client.get("/api/whatsapp/conversation", query_string={"conversation_id": dropped}).get_json()["merged_into"]
        == kept
    )


def test_the_webhook_prunes_old_events_as_deliveries_arrive(app, client, monkeypatch):
    monkeypatch.setattr(ingest, "PRUNE_EVERY", 3)
    monkeypatch.setattr(ingest, "_answered", iter(range(1, 10**6)))
    customer_writes(client, "one")
    customer_writes(client, "two")
    old = event_rows(app)
    age_events(app, 45)
    raw = post_webhook(client, text_message("third"))  # the third answered delivery prunes
    assert event_rows(app)[: len(old)] == old  # not before the response is closed (Meta has its answer)
    raw.close()
    remaining = {e[0] for e in event_rows(app)}
    assert remaining and not remaining & {e[0] for e in old}


def _stream_blocks(text: str) -> list[dict[str, str]]:
    return [
        dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        for block in text.split("\n\n")
    ]


def test_a_stream_resumed_from_before_the_oldest_event_kept_is_told_of_the_gap(app, client, runner):
    app.config.update(EVENT_POLL_SECONDS=0.02, EVENT_STREAM_SECONDS=0.2, EVENT_HEARTBEAT_SECONDS=0.1)
    for n in range(3):
        customer_writes(client, f"old {n}")
    age_events(app, 60)
    customer_writes(client, "new")
    assert runner.invoke(args=["prune-events", "--days", "30"]).exit_code == 0
    oldest = client.get("/api/whatsapp/events").get_json()["oldest_event_id"]
    assert oldest > 2

    text = client.get("/api/whatsapp/events/stream", headers={**SSE, "Last-Event-ID": "1"}).get_data(as_text=True)
    blocks = [b for b in _stream_blocks(text) if "data" in b]
    assert blocks[0]["event"] == "gap"
    assert json.loads(blocks[0]["data"]) == {"after": 1, "oldest_event_id": oldest}
    assert [int(b["id"]) for b in blocks[1:]][0] == oldest  # then what is kept, in order

    text = client.get("/api/whatsapp/events/stream", headers={**SSE, "Last-Event-ID": str(oldest - 1)}).get_data(
        as_text=True
    )
    assert "event: gap" not in text and f"id: {oldest}\n" in text


def test_zero_days_keeps_events_forever(settings, monkeypatch):
    app = create_app({**settings, "EVENTS_RETENTION_DAYS": "0"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + settings["AGENT_API_KEY"]
    monkeypatch.setattr(ingest, "_answered", iter(range(1, 10**6)))
    monkeypatch.setattr(ingest, "PRUNE_EVERY", 1)
    customer_writes(client, "one")
    old = event_rows(app)
    age_events(app, 400)
    post_webhook(client, text_message("later")).close()
    assert event_rows(app)[: len(old)] == old
    result = app.test_cli_runner().invoke(args=["prune-events"])
    assert "kept forever" in result.output and event_rows(app)[: len(old)] == old
    assert client.get("/api/whatsapp/events?after=0").get_json()["gap"] is False


@pytest.mark.parametrize("value", ["-1", "thirty"])
def test_a_bad_events_retention_is_refused(settings, value):
    with pytest.raises(ConfigError, match="EVENTS_RETENTION_DAYS"):
        create_app({**settings, "EVENTS_RETENTION_DAYS": value})
