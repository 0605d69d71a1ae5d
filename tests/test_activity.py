"""Agents seeing each other in a thread (POST/GET /activity): viewing and typing expire unless renewed,
and an activity.updated event goes out only when an agent's state there changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .helpers import agent_key, bearer, connection_for, customer_writes

ACTIVITY = "/api/whatsapp/activity"


@pytest.fixture
def agents(app, client):
    customer_writes(client)
    runner = app.test_cli_runner()
    return bearer(agent_key(runner, "Ana Souza")), bearer(agent_key(runner, "Bruno Lima"))


def activity_events(client) -> list[tuple[int, str]]:
    events = client.get("/api/whatsapp/events", query_string={"after": 0, "limit": 500}).get_json()["events"]
    return [(e["agent_id"], e["detail"]["state"]) for e in events if e["kind"] == "activity.updated"]


def say(client, headers, state: str, conversation_id: int = 1) -> dict:
    answer = client.post(ACTIVITY, json={"conversation_id": conversation_id, "state": state}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_viewing_typing_and_leaving_are_events_only_when_the_state_changes(client, agents):
    ana, bruno = agents
    assert say(client, ana, "viewing")["changed"] is True
    assert say(client, ana, "viewing")["changed"] is False  # a renewal
    assert say(client, bruno, "viewing")["changed"] is True
    assert say(client, ana, "typing")["changed"] is True
    assert say(client, ana, "typing")["changed"] is False
    assert activity_events(client) == [(1, "viewing"), (2, "viewing"), (1, "typing")]
    listed = client.get(ACTIVITY, query_string={"conversation_id": 1}, headers=bruno).get_json()
    assert [(a["agent_id"], a["agent_name"], a["state"]) for a in listed["activity"]] == [
        (1, "Ana Souza", "typing"),
        (2, "Bruno Lima", "viewing"),
    ]
    assert say(client, ana, "left")["changed"] is True
    assert say(client, ana, "left")["changed"] is False
    assert activity_events(client)[-1] == (1, "left")
    assert [a["agent_id"] for a in say(client, bruno, "viewing")["activity"]] == [2]


def test_a_state_not_renewed_expires_and_coming_back_is_a_change(client, agents, settings):
    ana, bruno = agents
    say(client, ana, "typing")
    with connection_for(settings) as conn:  # 30 s passed without a renewal
        gone = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        conn.execute("UPDATE conversation_activity SET until = ?", (gone,))
    assert client.get(ACTIVITY, query_string={"conversation_id": 1}, headers=bruno).get_json()["activity"] == []
    assert say(client, ana, "typing")["changed"] is True
    assert activity_events(client) == [(1, "typing"), (1, "typing")]


def test_the_service_key_names_the_agent_and_bad_input_is_a_4xx(client, agents):
    assert client.post(ACTIVITY, json={"conversation_id": 1, "state": "viewing"}).status_code == 400
    ok = client.post(ACTIVITY, json={"conversation_id": 1, "state": "viewing", "agent_id": 2})
    assert ok.status_code == 200 and ok.get_json()["activity"][0]["agent_id"] == 2
    assert client.post(ACTIVITY, json={"conversation_id": 1, "state": "dancing", "agent_id": 2}).status_code == 400
    assert client.post(ACTIVITY, json={"conversation_id": 99, "state": "viewing", "agent_id": 2}).status_code == 404
    assert client.post(ACTIVITY, json={"conversation_id": 1, "state": "viewing", "agent_id": "x"}).status_code == 400
    assert client.post(ACTIVITY, json=["x"]).status_code == 400
    ghost = client.post(ACTIVITY, json={"conversation_id": 1, "state": "typing", "agent_id": 424242})
    assert ghost.status_code == 400 and "not an active agent" in ghost.get_json()["error"]
    assert client.get(ACTIVITY).status_code == 400
    assert client.get(ACTIVITY, query_string={"conversation_id": 99}).status_code == 404
