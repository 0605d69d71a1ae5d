"""The event log: a JSON page for integrations and a Server-Sent Events stream that resumes."""

from __future__ import annotations

import json

import pytest

from .helpers import AGENT_KEY, customer_writes, post_webhook, send_ok, status_update, text_message

SEND_PATH = "/v26.0/110293847561029/messages"
SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def short_streams(app):
    """Streams that poll fast and end after a moment, so a test can read one to its end."""
    app.config.update(EVENT_POLL_SECONDS=0.02, EVENT_STREAM_SECONDS=0.3, EVENT_HEARTBEAT_SECONDS=0.1)
    return app


def parse_stream(text: str) -> list[dict]:
    """The events of an SSE body: each with its `id:` and its decoded `data:`."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            events.append({"id": int(fields["id"]), **json.loads(fields["data"])})
    return events


def test_a_webhook_message_is_an_event_with_its_conversation_and_message(client):
    customer_writes(client, "Where is my order?")
    answer = client.get("/api/whatsapp/events?after=0").get_json()
    created = [e for e in answer["events"] if e["kind"] == "message.created"]
    assert len(created) == 1
    message = client.get("/api/whatsapp/messages?conversation_id=1").get_json()["messages"][0]
    assert created[0]["conversation_id"] == 1 and created[0]["message_id"] == message["id"]
    assert answer["last_event_id"] == answer["events"][-1]["id"] == answer["next_after"]


def test_events_page_by_cursor_without_repeats(client):
    for n in range(3):
        customer_writes(client, f"message {n}")
    everything = client.get("/api/whatsapp/events?after=0").get_json()["events"]
    first = client.get("/api/whatsapp/events?after=0&limit=2").get_json()
    rest = client.get(f"/api/whatsapp/events?after={first['next_after']}").get_json()
    assert [e["id"] for e in first["events"] + rest["events"]] == [e["id"] for e in everything]
    assert [e["id"] for e in everything] == sorted({e["id"] for e in everything})


def test_status_sends_assignment_and_reads_are_all_in_the_log(client, graph):
    customer_writes(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.EV1"))
    client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": "On its way"})
    after = client.get("/api/whatsapp/events").get_json()["last_event_id"]
    post_webhook(client, status_update("wamid.EV1", "delivered"))
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": 1, "agent_id": 3})
    kinds = [e["kind"] for e in client.get(f"/api/whatsapp/events?after={after}").get_json()["events"]]
    assert kinds == ["message.updated", "conversation.updated"]


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "after=١", "limit=0", "limit=501", "after=1e3"])
def test_bad_cursors_get_400(client, query):
    answer = client.get(f"/api/whatsapp/events?{query}")
    assert answer.status_code == 400 and answer.get_json()["success"] is False


def test_the_event_routes_need_credentials(anon):
    assert anon.get("/api/whatsapp/events").status_code == 401
    assert anon.get("/api/whatsapp/events/stream", headers=SSE).status_code == 401


def test_the_stream_sends_ids_and_resumes_after_last_event_id(client, short_streams):
    for n in range(3):
        customer_writes(client, f"message {n}")
    everything = client.get("/api/whatsapp/events?after=0").get_json()["events"]
    resume_from = everything[1]["id"]
    answer = client.get("/api/whatsapp/events/stream", headers={**SSE, "Last-Event-ID": str(resume_from)})
    assert answer.status_code == 200
    assert answer.mimetype == "text/event-stream" and answer.headers["Cache-Control"].startswith("no-cache")
    streamed = parse_stream(answer.get_data(as_text=True))
    assert [e["id"] for e in streamed] == [e["id"] for e in everything if e["id"] > resume_from]
    assert streamed[0]["kind"] and "conversation_id" in streamed[0]


def test_the_stream_takes_after_as_a_query_parameter_too(client, short_streams):
    customer_writes(client, "one")
    customer_writes(client, "two")
    streamed = parse_stream(client.get("/api/whatsapp/events/stream?after=0", headers=SSE).get_data(as_text=True))
    assert [e["id"] for e in streamed] == [e["id"] for e in client.get("/api/whatsapp/events").get_json()["events"]]


def test_a_new_stream_without_a_cursor_starts_from_now(client, short_streams):
    customer_writes(client, "old news")
    streamed = parse_stream(client.get("/api/whatsapp/events/stream", headers=SSE).get_data(as_text=True))
    assert streamed == []


def test_an_idle_stream_sends_heartbeats_and_tells_the_browser_how_soon_to_retry(client, short_streams):
    text = client.get("/api/whatsapp/events/stream", headers=SSE).get_data(as_text=True)
    assert text.startswith("retry: ")
    assert ": keep-alive" in text
    assert text.rstrip().endswith(": reconnect")


def test_the_stream_refuses_clients_that_do_not_ask_for_events(client):
    answer = client.get("/api/whatsapp/events/stream")
    assert answer.status_code == 406 and answer.get_json()["success"] is False


def test_a_worker_with_all_its_stream_threads_taken_refuses_another_stream_with_503(client, app):
    app.config["EVENT_MAX_STREAMS"] = 0
    answer = client.get("/api/whatsapp/events/stream", headers=SSE)
    assert answer.status_code == 503 and answer.get_json()["retry_after"] == 2


def test_a_merge_names_the_conversation_folded_in(client):
    post_webhook(client, text_message("by user id", wa_id=None, user_id="US.4242", username="@ada"))
    post_webhook(client, text_message("by phone", wa_id="15551234567", user_id=None))
    ids = sorted(c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"])
    post_webhook(client, text_message("both", wa_id="15551234567", user_id="US.4242"))
    [merged] = [
        e for e in client.get("/api/whatsapp/events?after=0").get_json()["events"] if e["kind"] == "conversation.merged"
    ]
    assert sorted([merged["conversation_id"], merged["merged_from"]]) == ids
    gone = client.get("/api/whatsapp/conversation", query_string={"conversation_id": merged["merged_from"]})
    assert gone.status_code == 404
    assert gone.get_json()["merged_into"] == merged["conversation_id"]  # where a client holding the id goes
    kept = client.get("/api/whatsapp/conversation", query_string={"conversation_id": merged["conversation_id"]})
    assert kept.get_json()["conversation"]["user_id"] == "US.4242"


@pytest.mark.sqlite_only  # an SQLite file from before the column (db.ADDED_COLUMNS); PostgreSQL's schema began with it
def test_an_event_log_from_before_merged_from_gains_the_column(settings):
    import sqlite3

    from app import create_app

    with sqlite3.connect(settings["DATABASE_PATH"]) as old:
        old.execute(
            """CREATE TABLE events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TIMESTAMP NOT NULL,
               kind TEXT NOT NULL, conversation_id INTEGER, message_id INTEGER)"""
        )
        old.execute("INSERT INTO events (created_at, kind, conversation_id) VALUES ('2026-11-01 10:00:00', 'x', 7)")
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    customer_writes(client)
    events = client.get("/api/whatsapp/events?after=0").get_json()["events"]
    assert events[0]["kind"] == "x" and events[0]["merged_from"] is None
    assert [e["kind"] for e in events[1:]].count("message.created") == 1


def test_a_conversation_merged_twice_answers_404_with_where_it_finally_went(client):
    def thread_of(**ids) -> int:
        post_webhook(client, text_message("hi", **ids))
        return max(c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"])

    first = thread_of(wa_id=None, user_id="US.777", username="@lu")
    second = thread_of(wa_id="15550007777", user_id=None)
    post_webhook(client, text_message("both", wa_id="15550007777", user_id="US.777"))
    [kept] = [c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]]
    dropped = first if kept == second else second
    for path in ("/api/whatsapp/conversation", "/api/whatsapp/messages"):
        answer = client.get(path, query_string={"conversation_id": dropped})
        assert answer.status_code == 404 and answer.get_json()["merged_into"] == kept
    send = client.post("/api/whatsapp/send", json={"conversation_id": dropped, "message": "hello"})
    assert send.status_code == 404 and send.get_json()["merged_into"] == kept
    never = client.get("/api/whatsapp/conversation", query_string={"conversation_id": 9999})
    assert never.status_code == 404 and "merged_into" not in never.get_json()

    # The kept thread is later folded into a third: the first id now leads there.
    from whatsapp.db import write_transaction
    from whatsapp.store.customers import merge

    third = thread_of(wa_id="15550008888", user_id=None)
    assert third > max(first, second)  # the merged-away id is never given to another customer
    with client.application.extensions["database"].connection() as conn, write_transaction(conn):
        merge(conn, keep=third, drop=kept)
    answer = client.get("/api/whatsapp/conversation", query_string={"conversation_id": dropped})
    assert answer.get_json()["merged_into"] == third


def _read_until(chunks, marker: str, limit: int = 500) -> str:
    """Read a live stream's chunks until `marker` appears (or the stream ends)."""
    text = ""
    for _ in range(limit):
        try:
            text += next(chunks).decode()
        except StopIteration:
            break
        if marker in text:
            break
    return text


@pytest.mark.parametrize("revoke", ["sign-out", "deactivate", "reset-key"])
def test_an_open_stream_ends_when_its_session_or_key_is_revoked(app, runner, revoke):
    """Sign-out, deactivation and a key reset end the streams already open, not minutes later."""
    from .test_auth import create_agent, sign_in

    app.config.update(EVENT_POLL_SECONDS=0.02, EVENT_STREAM_SECONDS=30, EVENT_RECHECK_SECONDS=0.05)
    key = create_agent(runner, "Ana Souza")
    browser, csrf = sign_in(app, key)
    by_key = app.test_client()
    by_key.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    streams = [
        browser.get("/api/whatsapp/events/stream", headers=SSE, buffered=False),
        by_key.get("/api/whatsapp/events/stream", headers=SSE, buffered=False),
    ]
    chunks = [iter(s.response) for s in streams]
    assert all(": connected" in _read_until(c, "connected") for c in chunks)
    if revoke == "sign-out":
        assert browser.post("/logout", headers={"X-CSRF-Token": csrf}).status_code in (200, 303)
        ended = [chunks[0]]
    else:
        command = ["deactivate-agent", "1"] if revoke == "deactivate" else ["reset-agent-key", "1"]
        assert runner.invoke(args=command).exit_code == 0
        ended = chunks
    for stream in ended:
        assert "event: revoked" in _read_until(stream, "event: revoked")
        assert next(stream, None) is None  # and it is over: the browser's reconnect then meets a 401
    if revoke == "sign-out":  # the agent's key was not revoked: its stream goes on
        assert browser.get("/api/whatsapp/events/stream", headers=SSE).status_code == 401
    for stream in streams:
        stream.close()
