"""Agent actions through HTTP (issue 15): react to a message, retry a failed send, mark a conversation
unread, snooze it until a time, and assign or close several conversations at once."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Response

from .helpers import connection_for, customer_writes, fixture, post_webhook, send_ok, status_update

SEND_PATH = "/v26.0/110293847561029/messages"
PHONE = "+14155550123"
UNDELIVERABLE = [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Receiver is incapable"}}]


@pytest.fixture
def app(settings):
    from app import create_app

    return create_app({**settings, "WHATSAPP_SEND_READ_RECEIPTS": "false"})


def sends(graph) -> list[dict]:
    """What the stand-in Graph API was asked to send, in order."""
    return [request.get_json() for request, _ in graph.log if request.path == SEND_PATH]


def thread(client, conversation_id: int = 1) -> list[dict]:
    return client.get("/api/whatsapp/messages", query_string={"conversation_id": conversation_id}).get_json()[
        "messages"
    ]


def listing(client, **query) -> dict:
    answer = client.get("/api/whatsapp/conversations", query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def ids(answer: dict) -> list[int]:
    return [c["id"] for c in answer["conversations"]]


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_file(settings, sql: str, *params) -> None:
    """Change the database file directly (time passing: what no request can do)."""
    with connection_for(settings) as conn:
        conn.execute(sql, params)


# --- react ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("emoji", ["ok", "a", "👍x", "^", "<b>"])
def test_a_reaction_that_is_not_an_emoji_is_a_400_and_nothing_reaches_meta(client, graph, emoji):
    customer_writes(client, "Thanks!")
    [inbound] = thread(client)
    answer = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": emoji})
    assert answer.status_code == 400 and "one emoji" in answer.get_json()["error"]
    assert sends(graph) == []


@pytest.mark.parametrize("emoji", ["❤️", "👍🏽", "👨‍👩‍👧", "🇩🇪", "1️⃣"])
def test_emoji_with_modifiers_joiners_flags_and_keycaps_are_reactions(client, graph, emoji):
    customer_writes(client, "Thanks!")
    [inbound] = thread(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": emoji})
    assert answer.status_code == 200, answer.get_json()
    assert sends(graph)[0]["reaction"]["emoji"] == emoji


def test_a_reaction_by_message_id_goes_to_meta_as_a_reaction_and_folds_onto_the_message(client, graph):
    customer_writes(client, "Thanks!")
    [inbound] = thread(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": "👍", "agent_id": 2})
    assert answer.status_code == 200, answer.get_json()
    [sent] = sends(graph)
    assert sent["type"] == "reaction"
    assert sent["reaction"] == {"message_id": inbound["whatsapp_message_id"], "emoji": "👍"}
    assert "context" not in sent
    [target] = thread(client)  # the reaction is no bubble of its own
    assert [(r["emoji"], r["direction"], r["agent_id"]) for r in target["reactions"]] == [("👍", "outbound", 2)]
    # "" takes it back
    assert client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": ""}).status_code == 200
    assert thread(client)[0]["reactions"] == []


def test_a_reaction_is_refused_for_no_message_an_unaccepted_one_a_missing_emoji_or_a_reaction(client, graph, settings):
    customer_writes(client)
    [inbound] = thread(client)
    assert client.post("/api/whatsapp/messages/999/react", json={"emoji": "👍"}).status_code == 404
    missing = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={})
    assert missing.status_code == 400 and "emoji" in missing.get_json()["error"]
    too_long = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": "x" * 20})
    assert too_long.status_code == 400
    graph.expect_request(SEND_PATH, method="POST").respond_with_json({"error": {"code": 1, "message": "down"}}, 500)
    failed = client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": "hello"})
    assert failed.status_code == 502
    local = failed.get_json()["message"]["id"]
    unaccepted = client.post(f"/api/whatsapp/messages/{local}/react", json={"emoji": "👍"})
    assert unaccepted.status_code == 409 and "wamid" in unaccepted.get_json()["error"]
    assert len(sends(graph)) == 1


def test_a_reaction_outside_the_24_hour_window_is_refused_before_meta(client, graph, settings):
    customer_writes(client)
    [inbound] = thread(client)
    in_file(settings, "UPDATE whatsapp_conversations SET last_inbound_at = '2020-01-01 00:00:00'")
    answer = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": "👍"})
    assert answer.status_code == 409 and "24-hour" in answer.get_json()["error"]
    assert sends(graph) == []


# --- retry ---------------------------------------------------------------------------------------


def failed_send(client, graph, text: str = "Your order shipped") -> dict:
    """A text Meta took and then reported failed (131026, undeliverable)."""
    customer_writes(client)
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.FIRST"))
    answer = client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": text})
    assert answer.status_code == 200
    assert post_webhook(client, status_update("wamid.FIRST", "failed", errors=UNDELIVERABLE)).status_code == 200
    [message] = [m for m in thread(client) if m["direction"] == "outbound"]
    assert message["status"] == "failed"
    return message


def test_retry_sends_the_same_content_as_a_new_message_and_a_second_click_sends_nothing(client, graph):
    failed = failed_send(client, graph)
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.SECOND"))
    answer = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["success"] is True and body["message_id"] == "wamid.SECOND"
    assert body["message"]["id"] != failed["id"] and body["message"]["text"] == "Your order shipped"
    first, second = sends(graph)
    assert second["text"] == first["text"] and second["to"] == first["to"]
    assert second["biz_opaque_callback_data"] != first["biz_opaque_callback_data"]  # a new attempt
    outbound = [m for m in thread(client) if m["direction"] == "outbound"]
    assert [(m["status"], m["retried_by"]) for m in outbound] == [("failed", body["message"]["id"]), ("sent", None)]
    assert outbound[0]["error"]["code"] == 131026  # the failed one keeps its reason
    again = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert again.status_code == 200
    assert again.get_json()["idempotent_replay"] is True
    assert again.get_json()["message"]["id"] == body["message"]["id"]
    assert len(sends(graph)) == 2


def test_a_retry_meta_did_not_take_is_sent_again_as_the_same_new_message(client, graph):
    failed = failed_send(client, graph)
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json({"error": {"code": 2}}, status=503)
    down = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert down.status_code == 502
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.THIRD"))
    up = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert up.status_code == 200 and up.get_json()["message"]["id"] == down.get_json()["message"]["id"]
    outbound = [m for m in thread(client) if m["direction"] == "outbound"]
    assert [m["status"] for m in outbound] == ["failed", "sent"]  # one new bubble, not two
    assert len(sends(graph)) == 3


def test_a_meta_refusal_of_the_retry_is_answered_and_stored(client, graph):
    failed = failed_send(client, graph)
    refusal = Response(json.dumps(fixture("error_131056")), status=400, content_type="application/json")
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(refusal)
    answer = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert answer.status_code in (422, 429)
    assert answer.get_json()["error_code"] == 131056
    assert answer.get_json()["message"]["status"] == "failed"


def test_retry_keeps_the_24_hour_window(client, graph, settings):
    failed = failed_send(client, graph)
    in_file(settings, "UPDATE whatsapp_conversations SET last_inbound_at = '2020-01-01 00:00:00'")
    answer = client.post(f"/api/whatsapp/messages/{failed['id']}/retry")
    assert answer.status_code == 409 and "24-hour" in answer.get_json()["error"]
    assert len(sends(graph)) == 1
    assert [m["retried_by"] for m in thread(client) if m["direction"] == "outbound"] == [None]


def test_only_a_failed_outbound_message_can_be_retried(client, graph, settings):
    customer_writes(client)
    [inbound] = thread(client)
    assert client.post("/api/whatsapp/messages/12345/retry").status_code == 404
    refused = client.post(f"/api/whatsapp/messages/{inbound['id']}/retry")
    assert refused.status_code == 409 and "sent from this inbox" in refused.get_json()["error"]
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.OK"))
    sent = client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": "fine"}).get_json()["message"]
    delivered = client.post(f"/api/whatsapp/messages/{sent['id']}/retry")
    assert delivered.status_code == 409 and "this one is sent" in delivered.get_json()["error"]
    # an outcome that is not known (Meta's answer lost): WhatsApp may have sent it
    in_file(
        settings, "UPDATE whatsapp_messages SET status = 'pending', send_answer = 504 WHERE message_id = ?", sent["id"]
    )
    unknown = client.post(f"/api/whatsapp/messages/{sent['id']}/retry")
    assert unknown.status_code == 409 and "not known" in unknown.get_json()["error"]
    assert len(sends(graph)) == 1


# --- mark unread ---------------------------------------------------------------------------------


def test_mark_unread_brings_a_read_conversation_back_into_the_unread_tab(client):
    customer_writes(client)
    client.post("/api/whatsapp/mark-read", json={"conversation_id": 1})
    assert listing(client, filter="unread")["counts"]["unread"] == 0
    answer = client.post("/api/whatsapp/mark-unread", json={"conversation_id": 1})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["unread_count"] == 1
    unread = listing(client, filter="unread")
    assert ids(unread) == [1] and unread["counts"]["unread"] == 1 and unread["total"] == 1
    assert client.get("/api/whatsapp/stats").get_json()["stats"]["unread_conversations"] == 1


def test_mark_unread_keeps_a_higher_count_and_refuses_an_unknown_conversation(client):
    for text in ("one", "two", "three"):
        customer_writes(client, text)
    answer = client.post("/api/whatsapp/mark-unread", json={"conversation_id": 1})
    assert answer.get_json()["conversation"]["unread_count"] == 3
    assert client.post("/api/whatsapp/mark-unread", json={"conversation_id": 7}).status_code == 404
    assert client.post("/api/whatsapp/mark-unread", json={}).status_code == 400


# --- snooze --------------------------------------------------------------------------------------


def three_customers(client) -> None:
    for n in range(3):
        customer_writes(client, f"hello {n}", wa_id=f"1415555000{n}")


def test_a_snoozed_conversation_leaves_the_open_tabs_for_the_snoozed_one(client):
    three_customers(client)
    until = later(hours=2)
    answer = client.post("/api/whatsapp/snooze", json={"conversation_id": 2, "until": until})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["conversation"]["snoozed_until"] == until.replace("T", " ").rstrip("Z")
    for tab in ("all", "unread", "unassigned"):
        assert ids(listing(client, filter=tab)) == [3, 1], tab
    snoozed = listing(client, filter="snoozed")
    assert ids(snoozed) == [2] and snoozed["total"] == 1
    assert snoozed["counts"] == {
        "open": 2,
        "all": 2,
        "unread": 2,
        "mine": 0,
        "unassigned": 2,
        "closed": 0,
        "snoozed": 1,
    }
    assert listing(client, filter="all")["total"] == 2


def test_a_snooze_ends_by_itself_when_its_time_passes(client, settings):
    three_customers(client)
    client.post("/api/whatsapp/snooze", json={"conversation_id": 2, "until": later(minutes=30)})
    in_file(
        settings, "UPDATE whatsapp_conversations SET snoozed_until = '2020-01-01 00:00:00' WHERE conversation_id = 2"
    )
    back = listing(client, filter="all")
    assert ids(back) == [3, 2, 1] and back["counts"]["snoozed"] == 0 and back["counts"]["all"] == 3
    assert (
        client.get("/api/whatsapp/conversation?conversation_id=2").get_json()["conversation"]["snoozed_until"] is None
    )


def test_the_customer_writing_unsnoozes_at_once(client):
    three_customers(client)
    client.post("/api/whatsapp/snooze", json={"conversation_id": 1, "until": later(days=1)})
    assert 1 not in ids(listing(client, filter="all"))
    customer_writes(client, "are you there?", wa_id="14155550000")
    awake = listing(client, filter="all")
    assert sorted(ids(awake)) == [1, 2, 3] and awake["counts"]["snoozed"] == 0
    assert [c["snoozed_until"] for c in awake["conversations"]] == [None, None, None]


def test_unsnooze_close_and_reopen_end_a_snooze_and_a_closed_one_cannot_be_snoozed(client):
    three_customers(client)
    for conversation_id in (1, 2):
        client.post("/api/whatsapp/snooze", json={"conversation_id": conversation_id, "until": later(hours=1)})
    assert (
        client.post("/api/whatsapp/unsnooze", json={"conversation_id": 1}).get_json()["conversation"]["snoozed_until"]
        is None
    )
    client.post("/api/whatsapp/close", json={"conversation_id": 2})
    client.post("/api/whatsapp/reopen", json={"conversation_id": 2})
    assert listing(client, filter="snoozed")["counts"]["snoozed"] == 0
    client.post("/api/whatsapp/close", json={"conversation_id": 3})
    closed = client.post("/api/whatsapp/snooze", json={"conversation_id": 3, "until": later(hours=1)})
    assert closed.status_code == 409


@pytest.mark.parametrize(
    "until, error",
    [
        (None, "until is required"),
        ("", "until is required"),
        (12, "until is required"),
        ("tomorrow", "ISO 8601"),
        ("2020-01-01T00:00:00Z", "ahead of now"),
        ("2999-01-01T00:00:00Z", "365 days"),
        ("0001-01-01T00:00:00+01:00", "ISO 8601"),  # an offset that leaves the calendar
        ("9999-12-31T23:59:59-01:00", "ISO 8601"),
    ],
)
def test_a_snooze_time_that_is_missing_malformed_past_or_too_far_is_a_400(client, until, error):
    customer_writes(client)
    answer = client.post("/api/whatsapp/snooze", json={"conversation_id": 1, "until": until})
    assert answer.status_code == 400 and error in answer.get_json()["error"]


def test_a_snooze_time_with_an_offset_is_kept_in_utc(client):
    customer_writes(client)
    moment = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    local = moment.astimezone(__import__("datetime").timezone(timedelta(hours=-5))).isoformat()
    answer = client.post("/api/whatsapp/snooze", json={"conversation_id": 1, "until": local})
    assert answer.get_json()["conversation"]["snoozed_until"] == moment.strftime("%Y-%m-%d %H:%M:%S")


# --- bulk ----------------------------------------------------------------------------------------


def active_agent(runner) -> int:
    result = runner.invoke(args=["create-agent", "Ada"])
    assert result.exit_code == 0
    return int(result.output.split()[1])


def test_bulk_assign_close_and_reopen_answer_per_id(client, runner):
    three_customers(client)
    agent = active_agent(runner)
    answer = client.post(
        "/api/whatsapp/bulk", json={"conversation_ids": [1, 3, 99, 3], "action": "assign", "agent_id": agent}
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert [(r["conversation_id"], r["success"]) for r in body["results"]] == [(1, True), (3, True), (99, False)]
    assert body["results"][2]["error"] == "Conversation not found"
    assert (body["changed"], body["failed"]) == (2, 1)
    assert [r["conversation"]["assigned_agent_id"] for r in body["results"][:2]] == [agent, agent]
    assert listing(client, filter="mine", agent_id=agent)["total"] == 2
    closed = client.post("/api/whatsapp/bulk", json={"conversation_ids": [1, 2], "action": "close"}).get_json()
    assert [r["conversation"]["status"] for r in closed["results"]] == ["closed", "closed"]
    counts = listing(client, agent_id=agent)["counts"]
    assert (counts["all"], counts["closed"], counts["mine"], counts["unassigned"]) == (1, 2, 1, 0)
    reopened = client.post("/api/whatsapp/bulk", json={"conversation_ids": [1, 2], "action": "reopen"}).get_json()
    assert [r["conversation"]["status"] for r in reopened["results"]] == ["assigned", "open"]
    unassigned = client.post("/api/whatsapp/bulk", json={"conversation_ids": [1, 3], "action": "unassign"})
    assert listing(client, agent_id=agent)["counts"]["unassigned"] == 3 and unassigned.get_json()["changed"] == 2


def test_bulk_changes_happen_in_one_transaction(client, settings):
    """Every conversation's change is written together: their events come in one unbroken run."""
    three_customers(client)
    client.post("/api/whatsapp/bulk", json={"conversation_ids": [3, 1, 2], "action": "close"})
    with connection_for(settings) as conn:
        rows = conn.execute("SELECT conversation_id, created_at FROM events ORDER BY event_id DESC LIMIT 3").fetchall()
    assert [r[0] for r in rows] == [2, 1, 3]


@pytest.mark.parametrize(
    "body, error",
    [
        ({"action": "close"}, "conversation_ids is required"),
        ({"conversation_ids": [], "action": "close"}, "conversation_ids is required"),
        ({"conversation_ids": "1,2", "action": "close"}, "conversation_ids is required"),
        ({"conversation_ids": list(range(1, 202)), "action": "close"}, "at most 200"),
        ({"conversation_ids": ["x"], "action": "close"}, "must be an integer"),
        ({"conversation_ids": [0], "action": "close"}, "at least 1"),
        ({"conversation_ids": [1], "action": "delete"}, "action must be one of"),
        ({"conversation_ids": [1], "action": "assign"}, "agent_id is required"),
        ({"conversation_ids": [1], "action": "assign", "agent_id": 42}, "not an active agent"),
    ],
)
def test_a_malformed_bulk_request_is_a_400_and_changes_nothing(client, body, error):
    customer_writes(client)
    answer = client.post("/api/whatsapp/bulk", json=body)
    assert answer.status_code == 400 and error in answer.get_json()["error"], answer.get_json()
    assert listing(client)["conversations"][0]["status"] == "open"


# --- the tabs' counts stay true ------------------------------------------------------------------

AGENTS = [1, 2]


def brute_force_tabs(settings: dict, agent_id: int) -> dict[str, int]:
    moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    awake = f"(snoozed_until IS NULL OR snoozed_until <= '{moment}')"
    with connection_for(settings) as conn:

        def count(where: str, *params) -> int:
            return conn.execute(f"SELECT COUNT(*) FROM whatsapp_conversations WHERE {where}", params).fetchone()[0]

        return {
            "open": count(f"status != 'closed' AND {awake}"),
            "all": count(f"status != 'closed' AND {awake}"),
            "unread": count(f"status != 'closed' AND unread_count > 0 AND {awake}"),
            "mine": count(f"status != 'closed' AND assigned_agent_id = ? AND {awake}", agent_id),
            "unassigned": count(f"status != 'closed' AND assigned_agent_id IS NULL AND {awake}"),
            "closed": count("status = 'closed'"),
            "snoozed": count(f"status != 'closed' AND snoozed_until > '{moment}'"),
        }


@pytest.mark.parametrize("seed", [1, 2])
def test_tab_counts_equal_counting_every_row_through_snoozes_unreads_and_bulk_changes(client, settings, seed):
    rng = random.Random(seed)
    phones = [f"1415555{n:04d}" for n in range(6)]
    for phone in phones:
        customer_writes(client, "hi", wa_id=phone)
    for step in range(60):
        target = rng.randrange(1, len(phones) + 1)
        action = rng.choice(["write", "snooze", "unsnooze", "unread", "read", "bulk-assign", "bulk-close", "reopen"])
        if action == "write":
            customer_writes(client, "again", wa_id=rng.choice(phones))
        elif action == "snooze":
            client.post("/api/whatsapp/snooze", json={"conversation_id": target, "until": later(hours=1)})
        elif action in ("unsnooze", "reopen"):
            client.post(f"/api/whatsapp/{action}", json={"conversation_id": target})
        elif action in ("unread", "read"):
            client.post(f"/api/whatsapp/mark-{action}", json={"conversation_id": target})
        elif action == "bulk-assign":
            picked = rng.sample(range(1, len(phones) + 1), 3)
            agent = rng.choice([*AGENTS, None])
            client.post("/api/whatsapp/bulk", json={"conversation_ids": picked, "action": "assign", "agent_id": agent})
        else:
            picked = rng.sample(range(1, len(phones) + 1), 2)
            client.post("/api/whatsapp/bulk", json={"conversation_ids": picked, "action": "close"})
        if step % 6 == 5:
            agent = rng.choice(AGENTS)
            expected = brute_force_tabs(settings, agent)
            answer = listing(client, agent_id=agent)
            assert answer["counts"] == expected
            for tab in expected:
                assert listing(client, filter=tab, agent_id=agent, limit=200)["total"] == expected[tab], tab
                assert len(listing(client, filter=tab, agent_id=agent, limit=200)["conversations"]) == expected[tab]


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def agents_for_bulk(request, app):
    """The random walk assigns to agents 1 and 2: make them real."""
    if "seed" in request.fixturenames:
        cli = app.test_cli_runner()
        for name in ("One", "Two"):
            assert cli.invoke(args=["create-agent", name]).exit_code == 0


@pytest.mark.sqlite_only  # SQLite's own migration: ADDED_COLUMNS, PRAGMA table_info and user_version
def test_a_database_from_before_snoozes_and_retries_gains_their_columns(client, settings, tmp_path):
    from whatsapp import db

    customer_writes(client)
    path = str(tmp_path / "old.sqlite3")
    with sqlite3.connect(settings["DATABASE_PATH"]) as source, sqlite3.connect(path) as conn:
        source.backup(conn)
        conn.execute("DROP INDEX idx_conversations_snoozed")
        conn.execute("ALTER TABLE whatsapp_conversations DROP COLUMN snoozed_until")
        columns = [r[1] for r in conn.execute("PRAGMA table_info(whatsapp_messages)") if r[1] != "retried_by"]
        conn.execute(f"CREATE TABLE old_messages AS SELECT {', '.join(columns)} FROM whatsapp_messages")
        conn.execute("DROP TABLE whatsapp_messages")
        conn.execute("ALTER TABLE old_messages RENAME TO whatsapp_messages")
        conn.execute("PRAGMA user_version = 0")  # as a database from before them would say
    db.Database(path).prepare()
    with sqlite3.connect(path) as conn:
        assert "snoozed_until" in {r[1] for r in conn.execute("PRAGMA table_info(whatsapp_conversations)")}
        assert "retried_by" in {r[1] for r in conn.execute("PRAGMA table_info(whatsapp_messages)")}
        assert conn.execute("SELECT snoozed_until FROM whatsapp_conversations").fetchall() == [(None,)]
