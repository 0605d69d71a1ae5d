"""Typing indicators to the customer (POST /typing, GET/PUT /typing-settings) through HTTP against a
real SQLite file, with the stand-in Graph API checking each read call as Meta does
(whatsapp/standin_typing.py, Meta's Typing indicators guide; tests/fixtures/typing_indicator_request.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from whatsapp import standin_typing

from .helpers import (
    AGENT_KEY,
    agent_key,
    bearer,
    connection_for,
    customer_writes,
    fixture,
    now_ts,
    post_webhook,
    serve_meta_messages,
    text_message,
    wamid,
)

TYPING = "/api/whatsapp/typing"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def received() -> set[str]:
    return set()


@pytest.fixture
def reads(graph, received):
    return serve_meta_messages(graph, received)


def customer_message(client, received: set[str], *, age: int = 5, known: bool = True) -> str:
    """A customer's message `age` seconds ago; Meta knows its wamid unless known=False."""
    message_id = wamid()
    if known:
        received.add(message_id)
    answer = post_webhook(client, text_message("Where is my order?", message_id=message_id, timestamp=now_ts() - age))
    assert answer.status_code == 200
    return message_id


def typing(client, conversation_id: int = 1) -> dict:
    answer = client.post(TYPING, json={"conversation_id": conversation_id})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def set_sent_at(settings, seconds_ago: int) -> None:
    with connection_for(settings) as conn:
        conn.execute(
            "UPDATE typing_indicators SET typing_sent_at = ?",
            (stamp(datetime.now(UTC) - timedelta(seconds=seconds_ago)),),
        )


def test_an_unanswered_message_gets_metas_typing_indicator_with_the_exact_body(client, reads, received):
    message_id = customer_message(client, received)
    answer = typing(client)
    assert answer == {"success": True, "conversation_id": 1, "sent": True, "reason": None, "message_id": message_id}
    assert reads == [{"body": {**fixture("typing_indicator_request"), "message_id": message_id}, "status": 200}]
    assert reads[0]["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
        "typing_indicator": {"type": "text"},
    }


def test_an_agents_reaction_is_no_answer(client, reads, received):
    message_id = customer_message(client, received)
    inbound = client.get("/api/whatsapp/messages", query_string={"conversation_id": 1}).get_json()["messages"][0]
    reacted = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": "👍"})
    assert reacted.status_code == 200, reacted.get_json()
    answer = typing(client)
    assert (answer["sent"], answer["message_id"]) == (True, message_id)


def test_no_indicator_when_the_window_is_closed(client, reads, received):
    customer_message(client, received, age=25 * 3600)
    answer = typing(client)
    assert (answer["sent"], answer["reason"]) == (False, "window_closed")
    assert reads == []


def test_no_indicator_once_the_message_is_answered(client, reads, received):
    customer_message(client, received)
    sent = client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": "On its way!"})
    assert sent.status_code == 200, sent.get_json()
    answer = typing(client)
    assert (answer["sent"], answer["reason"]) == (False, "answered")
    assert reads == []
    # the customer writes again: unanswered once more
    customer_message(client, received, age=1)
    assert typing(client)["sent"] is True


def test_imported_history_is_no_customer_message_to_type_to(client, reads):
    answer = post_webhook(client, fixture("history_phase0_chunk1"))  # coexistence: the app's chat history
    assert answer.status_code == 200
    answer = client.post(TYPING, json={"phone_number": "+14155550123"})
    assert answer.status_code == 200
    assert (answer.get_json()["sent"], answer.get_json()["reason"]) == (False, "no_inbound_message")
    assert reads == []


def test_a_second_call_within_20_seconds_is_not_sent_and_after_20_seconds_it_is_renewed(
    client, reads, received, settings
):
    customer_message(client, received)
    assert typing(client)["sent"] is True
    again = typing(client)
    assert (again["sent"], again["reason"]) == (False, "recently_sent")
    assert len(reads) == 1
    set_sent_at(settings, 19)
    assert typing(client)["reason"] == "recently_sent"
    set_sent_at(settings, 21)
    assert typing(client)["sent"] is True
    assert len(reads) == 2


def test_the_20_second_limit_holds_across_workers_because_it_is_decided_in_the_database(
    client, reads, received, settings
):
    customer_message(client, received)
    other_worker = create_app(settings)  # another process's app over the same file
    try:
        other = other_worker.test_client()
        other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        assert typing(client)["sent"] is True
        assert typing(other)["reason"] == "recently_sent"
    finally:
        other_worker.extensions["media"].stop()
    assert len(reads) == 1


def test_switched_off_by_an_admin_no_indicator_is_sent(client, app, reads, received):
    customer_message(client, received)
    assert client.get("/api/whatsapp/typing-settings").get_json() == {
        "success": True,
        "typing_indicators": {"enabled": True},
    }
    runner = app.test_cli_runner()
    agent = bearer(agent_key(runner, "Ana"))
    refused = client.put("/api/whatsapp/typing-settings", json={"enabled": False}, headers=agent)
    assert refused.status_code == 403
    assert client.put("/api/whatsapp/typing-settings", json={"enabled": "no"}).status_code == 400
    admin = bearer(agent_key(runner, "Ada", "--admin"))
    put = client.put("/api/whatsapp/typing-settings", json={"enabled": False}, headers=admin)
    assert put.status_code == 200 and put.get_json()["typing_indicators"] == {"enabled": False}
    assert client.get("/api/whatsapp/typing-settings", headers=agent).get_json()["typing_indicators"] == {
        "enabled": False
    }
    answer = typing(client)
    assert (answer["sent"], answer["reason"]) == (False, "disabled")
    assert reads == []
    client.put("/api/whatsapp/typing-settings", json={"enabled": True}, headers=admin)
    assert typing(client)["sent"] is True


def test_metas_refusal_is_answered_sent_false_with_its_message_and_frees_the_claim(client, reads, received):
    message_id = customer_message(client, received, known=False)  # Meta does not know this wamid
    answer = typing(client)
    assert (answer["sent"], answer["reason"]) == (False, "meta_error")
    assert "Invalid message_id" in answer["meta_error"] and "100" in answer["meta_error"]
    assert reads[0]["status"] == 400
    received.add(message_id)
    assert typing(client)["sent"] is True  # the failed call did not hold the 20 s


def test_meta_unreachable_is_sent_false_not_a_500(client, graph):
    customer_writes(client)
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_data("", status=503)
    answer = typing(client)
    assert (answer["sent"], answer["reason"]) == (False, "meta_error") and answer["meta_error"]


def test_bad_requests_are_4xx(client):
    assert client.post(TYPING, json=[1]).status_code == 400
    assert client.post(TYPING, json={}).status_code == 400
    assert client.post(TYPING, json={"conversation_id": 999}).status_code == 404


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"status": "read", "message_id": "wamid.A", "typing_indicator": {"type": "text"}}, "messaging_product"),
        ({"messaging_product": "whatsapp", "status": "typing", "message_id": "wamid.A"}, "status must be read"),
        ({"messaging_product": "whatsapp", "status": "read"}, "message_id is required"),
        ({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.B"}, "Invalid message_id"),
        (
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.A",
                "typing_indicator": {"type": "audio"},
            },
            "typing_indicator[type]",
        ),
        (
            {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A", "typing_indicator": "text"},
            "typing_indicator[type]",
        ),
    ],
)
def test_the_stand_in_refuses_read_calls_meta_would_refuse(body, details):
    status, answer = standin_typing.answer(body, {"wamid.A"}.__contains__)
    assert status == 400
    assert answer["error"]["code"] == 100 and answer["error"]["type"] == "OAuthException"
    assert details in answer["error"]["error_data"]["details"]


def test_the_stand_in_takes_metas_documented_request():
    body = {**fixture("typing_indicator_request"), "message_id": "wamid.A"}
    assert standin_typing.answer(body, {"wamid.A"}.__contains__) == (200, fixture("typing_indicator_response"))
    assert json.loads(json.dumps(body))["typing_indicator"] == {"type": "text"}
