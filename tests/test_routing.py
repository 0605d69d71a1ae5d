"""Presence and auto-assignment (issue 16), through HTTP: heartbeats, away, who is online; the
routing rules (round-robin, least-loaded, capacity, returning customer), the backlog drained oldest
first, business hours holding assignment back, the events and their reasons, admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from whatsapp import presence

from .helpers import agent_key, bearer, now_ts, post_webhook, text_message

API = "/api/whatsapp"


class Team:
    """Agents created with the CLI, each with their key and id (learned from a heartbeat)."""

    def __init__(self, anon, runner) -> None:
        self.anon, self.runner = anon, runner
        self.keys: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.admin = agent_key(runner, "Admin", "--admin")

    def add(self, name: str, online: bool = True) -> int:
        self.keys[name] = agent_key(self.runner, name)
        answer = self.beat(name)
        self.ids[name] = answer["presence"]["agent_id"]
        if not online:
            self.stale(name)
        return self.ids[name]

    def beat(self, name: str, body: dict | None = None) -> dict:
        kwargs = {"json": body} if body is not None else {}
        answer = self.anon.post(f"{API}/presence", headers=bearer(self.keys[name]), **kwargs)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    def stale(self, name: str) -> None:
        """The agent's last heartbeat is older than the timeout (their dashboard closed a while ago)."""
        with self.anon.application.extensions["database"].connection() as conn:
            conn.execute(
                "UPDATE agent_presence SET online_until = '2000-01-01 00:00:00' WHERE agent_id = ?",
                (self.ids[name],),
            )

    def rules(self, **rules) -> dict:
        answer = self.anon.put(f"{API}/routing", json=rules, headers=bearer(self.admin))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    def name_of(self, agent_id: int | None) -> str | None:
        return next((n for n, i in self.ids.items() if i == agent_id), None)


@pytest.fixture
def team(anon, runner) -> Team:
    return Team(anon, runner)


def write(client, phone: str, text: str = "Hello", ago: int = 5) -> int:
    answer = post_webhook(client, text_message(text, wa_id=phone, timestamp=now_ts() - ago))
    assert answer.status_code == 200
    found = client.get(f"{API}/conversations", query_string={"q": phone[-6:]}).get_json()["conversations"]
    return next(c["id"] for c in found if c["phone_number"] == "+" + phone)


def holder(client, conversation_id: int) -> int | None:
    return client.get(f"{API}/conversation", query_string={"conversation_id": conversation_id}).get_json()[
        "conversation"
    ]["assigned_agent_id"]


def status(client, conversation_id: int) -> str:
    return client.get(f"{API}/conversation", query_string={"conversation_id": conversation_id}).get_json()[
        "conversation"
    ]["status"]


def events(client, kind: str) -> list[dict]:
    page = client.get(f"{API}/events", query_string={"after": 0, "limit": 500}).get_json()
    return [e for e in page["events"] if e["kind"] == kind]


# --- presence ------------------------------------------------------------------------------------


def test_a_heartbeat_puts_an_agent_online_and_away_stays_until_changed(client, team):
    ada = team.add("Ada")
    team.add("Bo", online=False)
    team.keys["Cy"] = agent_key(team.runner, "Cy")  # never opened the dashboard
    listing = client.get(f"{API}/presence").get_json()
    assert listing["timeout_seconds"] == 60
    states = {a["name"]: a["state"] for a in listing["agents"]}
    assert states == {"Admin": "offline", "Ada": "online", "Bo": "offline", "Cy": "offline"}
    assert next(a for a in listing["agents"] if a["name"] == "Cy")["last_seen_at"] is None

    away = team.beat("Ada", {"away": True})
    assert away["presence"]["state"] == "away" and away["changed"] is True
    assert team.beat("Ada")["presence"]["state"] == "away"  # a plain heartbeat keeps it
    assert team.beat("Ada", {})["presence"]["state"] == "away"
    back = team.beat("Ada", {"away": False})
    assert back["presence"]["state"] == "online" and back["changed"] is True
    assert presence.online_agent_ids(_conn(client)) == [ada]


def test_presence_events_only_when_the_state_changes(client, team):
    ada = team.add("Ada")  # offline -> online
    for _ in range(3):
        assert team.beat("Ada")["changed"] is False
    team.beat("Ada", {"away": True})  # online -> away
    team.beat("Ada", {"away": True})
    team.beat("Ada", {"away": False})  # away -> online
    team.stale("Ada")
    team.beat("Ada")  # offline -> online again
    seen = [(e["agent_id"], e["detail"]["state"], e["conversation_id"]) for e in events(client, "presence.updated")]
    assert seen == [(ada, "online", None), (ada, "away", None), (ada, "online", None), (ada, "online", None)]


def test_online_agent_ids_leaves_out_away_offline_and_deactivated_agents(client, team):
    ada, _bo, cy = team.add("Ada"), team.add("Bo"), team.add("Cy")
    team.beat("Bo", {"away": True})
    team.stale("Cy")
    assert presence.online_agent_ids(_conn(client)) == [ada]
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert presence.online_agent_ids(_conn(client), later) == []
    result = team.runner.invoke(args=["deactivate-agent", str(ada)])
    assert result.exit_code == 0, result.output
    assert presence.online_agent_ids(_conn(client)) == []
    assert cy not in [
        a["agent_id"] for a in client.get(f"{API}/presence").get_json()["agents"] if a["state"] != "offline"
    ]


def test_the_service_key_has_no_presence_and_bad_bodies_are_400(client, team):
    refused = client.post(f"{API}/presence")
    assert refused.status_code == 403
    assert "service key has no presence" in refused.get_json()["error"]
    team.add("Ada")
    key = bearer(team.keys["Ada"])
    for body, says in (([1], "JSON object"), ({"away": "yes"}, "true or false"), ({"state": "x"}, "unknown")):
        answer = team.anon.post(f"{API}/presence", json=body, headers=key)
        assert answer.status_code == 400, body
        assert says in answer.get_json()["error"]
    junk = team.anon.post(f"{API}/presence", data="{not json", headers={**key, "Content-Type": "application/json"})
    assert junk.status_code == 400


def _conn(client):
    """The app's connection of this thread (whichever the engine), closed with the app."""
    return client.application.extensions["database"].thread_connection()


# --- the rules -------------------------------------------------------------------------------------


def test_rules_are_off_by_default_and_only_admins_change_them(client, team):
    team.add("Ada")
    read = team.anon.get(f"{API}/routing", headers=bearer(team.keys["Ada"])).get_json()
    assert read["routing"] == {"mode": "off", "capacity": 10, "capacities": {}, "returning_customer": False}
    refused = team.anon.put(f"{API}/routing", json={"mode": "round_robin"}, headers=bearer(team.keys["Ada"]))
    assert refused.status_code == 403 and refused.get_json()["success"] is False
    stored = team.rules(mode="least_loaded", capacity=3, capacities={str(team.ids["Ada"]): 1}, returning_customer=True)
    assert stored["routing"] == {
        "mode": "least_loaded",
        "capacity": 3,
        "capacities": {str(team.ids["Ada"]): 1},
        "returning_customer": True,
    }
    assert client.get(f"{API}/routing").get_json()["routing"] == stored["routing"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1], "JSON object"),
        ({"mode": "random"}, "mode must be one of"),
        ({"capacity": -1}, "capacity must be"),
        ({"capacity": 1.5}, "capacity must be"),
        ({"capacity": True}, "capacity must be"),
        ({"capacities": [1]}, "capacities must be an object"),
        ({"capacities": {"abc": 1}}, "is not an agent id"),
        ({"capacities": {"999": 1}}, "not an active agent"),
        ({"returning_customer": "yes"}, "true or false"),
        ({"mode": "off", "speed": 1}, "unknown field"),
    ],
)
def test_bad_rules_are_400(client, body, says):
    answer = client.put(f"{API}/routing", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert says in answer.get_json()["error"]


def test_off_assigns_nothing(client, team):
    team.add("Ada")
    conversation = write(client, "14155550101")
    assert holder(client, conversation) is None
    assert events(client, "conversation.assigned") == []


def test_round_robin_takes_turns_among_online_agents_only(client, team):
    ada, bo, _cy, _dee = team.add("Ada"), team.add("Bo"), team.add("Cy", online=False), team.add("Dee")
    team.beat("Dee", {"away": True})
    team.rules(mode="round_robin")
    given = [holder(client, write(client, f"141555502{n:02d}")) for n in range(6)]
    assert given == [ada, bo, ada, bo, ada, bo]
    assigned = events(client, "conversation.assigned")
    assert [e["agent_id"] for e in assigned] == given
    assert {e["detail"]["reason"] for e in assigned} == {"round-robin"}
    assert status(client, assigned[0]["conversation_id"]) == "assigned"


def test_round_robin_turns_outlive_the_process(client, team, app, settings):
    """The turn is kept in the database (agent_routing), not in a worker's memory."""
    ada, bo = team.add("Ada"), team.add("Bo")
    team.rules(mode="round_robin")
    assert holder(client, write(client, "14155550301")) == ada
    from app import create_app

    other = create_app(settings)  # another worker on the same file
    try:
        other_client = other.test_client()
        other_client.environ_base["HTTP_AUTHORIZATION"] = client.environ_base["HTTP_AUTHORIZATION"]
        assert holder(other_client, write(other_client, "14155550302")) == bo
    finally:
        other.extensions["media"].stop()


def test_least_loaded_picks_the_fewest_open_conversations_then_round_robin(client, team):
    ada, bo = team.add("Ada"), team.add("Bo")
    for n in range(2):
        held = write(client, f"141555504{n:02d}")
        assert client.post(f"{API}/assign-agent", json={"conversation_id": held, "agent_id": ada}).status_code == 200
    team.rules(mode="least_loaded")
    given = [holder(client, write(client, f"141555505{n:02d}")) for n in range(4)]
    # Bo has none: Bo twice (2-2), then a tie: Bo took the latest turn, so Ada, then Bo
    assert given == [bo, bo, ada, bo]
    assert {e["detail"]["reason"] for e in events(client, "conversation.assigned")} == {"least-loaded"}


def test_capacity_holds_and_a_close_hands_the_oldest_waiting_on(client, team):
    ada = team.add("Ada")
    team.rules(mode="round_robin", capacity=1)
    first = write(client, "14155550601", ago=30)
    second = write(client, "14155550602", ago=20)
    third = write(client, "14155550603", ago=10)
    assert [holder(client, c) for c in (first, second, third)] == [ada, None, None]
    assert [status(client, c) for c in (second, third)] == ["open", "open"]
    assert client.post(f"{API}/close", json={"conversation_id": first}).status_code == 200
    assert holder(client, second) == ada and holder(client, third) is None
    last = events(client, "conversation.assigned")[-1]
    assert (last["conversation_id"], last["agent_id"], last["detail"]) == (second, ada, {"reason": "backlog"})
    # unassigning frees room too: the oldest waiting (third, not the one just let go) is next
    assert client.post(f"{API}/bulk", json={"conversation_ids": [second], "action": "close"}).status_code == 200
    assert holder(client, third) == ada


def test_an_agent_coming_online_takes_the_oldest_waiting_first(client, team):
    team.rules(mode="round_robin", capacity=2)
    middle = write(client, "14155550702", ago=200)
    newest = write(client, "14155550703", ago=100)
    oldest = write(client, "14155550701", ago=300)
    assert [holder(client, c) for c in (oldest, middle, newest)] == [None, None, None]
    ada = team.add("Ada")  # its first heartbeat
    assert [holder(client, c) for c in (oldest, middle, newest)] == [ada, ada, None]
    assigned = events(client, "conversation.assigned")
    assert [(e["conversation_id"], e["detail"]["reason"]) for e in assigned] == [
        (oldest, "backlog"),
        (middle, "backlog"),
    ]
    # back from away drains too
    team.add("Bo")
    bo = team.ids["Bo"]
    assert holder(client, newest) == bo


def test_away_agents_get_nothing_until_they_come_back(client, team):
    ada = team.add("Ada")
    team.beat("Ada", {"away": True})
    team.rules(mode="least_loaded")
    waiting = write(client, "14155550801")
    assert holder(client, waiting) is None
    team.beat("Ada", {"away": False})
    assert holder(client, waiting) == ada


def test_a_reassignment_away_from_a_full_agent_frees_their_room(client, team):
    ada = team.add("Ada")
    team.add("Bo", online=False)
    team.rules(mode="round_robin", capacity=1)
    mine = write(client, "14155550901", ago=20)
    waiting = write(client, "14155550902", ago=10)
    assert (holder(client, mine), holder(client, waiting)) == (ada, None)
    moved = client.post(f"{API}/assign-agent", json={"conversation_id": mine, "agent_id": team.ids["Bo"]})
    assert moved.status_code == 200
    assert holder(client, waiting) == ada


def test_a_returning_customer_goes_back_to_their_agent(client, team):
    ada, bo = team.add("Ada"), team.add("Bo")
    team.rules(mode="round_robin", returning_customer=True)
    conversation = write(client, "14155551001")
    assert holder(client, conversation) == ada
    client.post(f"{API}/close", json={"conversation_id": conversation})
    write(client, "14155551002")  # Bo's turn is taken by someone else; Ada would be next
    write(client, "14155551003")  # -> Ada; Bo is next in turn
    write(client, "14155551001", "I'm back")  # Bo's turn, but Ada had them
    assert holder(client, conversation) == ada
    assert status(client, conversation) == "assigned"
    assert events(client, "conversation.assigned")[-1]["detail"] == {"reason": "returning customer"}
    assert bo in [e["agent_id"] for e in events(client, "conversation.assigned")]


def test_a_returning_customer_whose_agent_is_away_is_routed_again(client, team):
    ada, bo = team.add("Ada"), team.add("Bo")
    team.rules(mode="round_robin", returning_customer=True)
    conversation = write(client, "14155551101")
    assert holder(client, conversation) == ada
    client.post(f"{API}/close", json={"conversation_id": conversation})
    team.beat("Ada", {"away": True})
    write(client, "14155551101", "Hello again")
    assert holder(client, conversation) == bo
    assert events(client, "conversation.assigned")[-1]["detail"] == {"reason": "round-robin"}


def test_without_returning_customer_a_reopened_conversation_follows_the_rules(client, team):
    ada, bo = team.add("Ada"), team.add("Bo")
    team.rules(mode="round_robin")
    conversation = write(client, "14155551201")
    assert holder(client, conversation) == ada
    client.post(f"{API}/close", json={"conversation_id": conversation})
    write(client, "14155551201", "Me again")
    assert holder(client, conversation) == bo


def test_outside_business_hours_conversations_wait_for_the_opening(client, team):
    today = datetime.now(UTC).date()
    closed = {
        "enabled": True,
        "timezone": "UTC",
        "week": {
            day: [{"open": "00:00", "close": "24:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        "holidays": [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)],
    }
    assert client.put(f"{API}/business-hours", json=closed).status_code == 200
    ada = team.add("Ada")
    team.rules(mode="round_robin")
    waiting = write(client, "14155551301")
    team.beat("Ada")
    assert holder(client, waiting) is None
    # opening time (here: the holiday is taken off): the next heartbeat of an online agent drains it
    assert client.put(f"{API}/business-hours", json={**closed, "holidays": []}).status_code == 200
    assert holder(client, waiting) is None
    team.beat("Ada")
    assert holder(client, waiting) == ada
    assert events(client, "conversation.assigned")[-1]["detail"] == {"reason": "backlog"}


def test_a_conversation_answered_or_snoozed_is_not_waiting(client, team, graph):
    from .helpers import PHONE_NUMBER_ID, send_ok

    graph.expect_request(f"/v26.0/{PHONE_NUMBER_ID}/messages", method="POST").respond_with_json(send_ok("14155551401"))
    team.rules(mode="round_robin")
    answered = write(client, "14155551401", ago=30)
    snoozed = write(client, "14155551402", ago=20)
    sent = client.post(f"{API}/send", json={"conversation_id": answered, "type": "text", "text": "On it"})
    assert sent.status_code == 200, sent.get_json()
    until = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post(f"{API}/snooze", json={"conversation_id": snoozed, "until": until}).status_code == 200
    ada = team.add("Ada")
    assert (holder(client, answered), holder(client, snoozed)) == (None, None)
    waiting = write(client, "14155551403")
    assert holder(client, waiting) == ada


def test_a_new_rule_drains_the_waiting_at_once(client, team):
    ada = team.add("Ada")
    waiting = write(client, "14155551501")
    assert holder(client, waiting) is None
    answer = team.rules(mode="least_loaded")
    assert answer["assigned"] == 1
    assert holder(client, waiting) == ada


def test_an_unassigned_conversation_is_not_handed_straight_back(client, team):
    ada = team.add("Ada")
    team.rules(mode="round_robin", capacity=5)
    cid = write(client, "14155551501")
    assert holder(client, cid) == ada
    answer = client.post(f"{API}/unassign", json={"conversation_id": cid})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["assigned_agent_id"] is None
    assert holder(client, cid) is None and status(client, cid) == "open"


def test_a_deactivated_agents_conversation_goes_to_an_active_one_when_the_customer_writes(client, team):
    ada = team.add("Ada")
    team.rules(mode="round_robin", capacity=5)
    cid = write(client, "14155551601", ago=30)
    assert holder(client, cid) == ada
    bo = team.add("Bo")
    assert team.anon.post(f"{API}/agents/{ada}/deactivate", headers=bearer(team.admin)).status_code == 200
    write(client, "14155551601", "Anyone there?", ago=5)
    assert holder(client, cid) == bo
