"""Admins manage the team's agents through the API (issue 15): create (the key answered once), deactivate,
activate, reset a key (answered once), change a role. An agent gets a 403; the CLI still works."""

from __future__ import annotations

import pytest

from .helpers import AGENT_KEY, bearer
from .helpers import agent_key as key_of

BASE = "/api/whatsapp/agents"


@pytest.fixture
def admin(runner) -> str:
    return key_of(runner, "Ada", "--admin")  # agent 1


def me(anon, key: str):
    return anon.get("/api/whatsapp/me", headers=bearer(key))


def test_an_admin_creates_an_agent_whose_key_is_answered_once_and_works(anon, admin):
    answer = anon.post(BASE, json={"name": "  Bo  "}, headers=bearer(admin))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["agent"]["name"] == "Bo" and body["agent"]["role"] == "agent" and body["agent"]["active"] is True
    assert body["key"].startswith("wak_")
    assert me(anon, body["key"]).get_json()["agent"]["id"] == body["agent"]["id"]
    listed = anon.get(BASE, query_string={"include_inactive": "true"}, headers=bearer(admin)).get_json()["agents"]
    assert [a["name"] for a in listed] == ["Ada", "Bo"]
    assert all("key" not in a and "key_hash" not in a for a in listed)  # the key is never shown again
    made_admin = anon.post(BASE, json={"name": "Cy", "role": "admin"}, headers=bearer(admin)).get_json()
    assert made_admin["agent"]["role"] == "admin"


def test_deactivating_stops_the_key_and_activating_brings_it_back(anon, admin, runner):
    key = key_of(runner, "Bo")  # agent 2
    answer = anon.post(f"{BASE}/2/deactivate", headers=bearer(admin))
    assert answer.status_code == 200 and answer.get_json()["agent"]["active"] is False
    assert me(anon, key).status_code == 401
    assert [a["name"] for a in anon.get(BASE, headers=bearer(admin)).get_json()["agents"]] == ["Ada"]
    everyone = anon.get(BASE, query_string={"include_inactive": "true"}, headers=bearer(admin)).get_json()
    assert [(a["name"], a["active"]) for a in everyone["agents"]] == [("Ada", True), ("Bo", False)]
    assert anon.post(f"{BASE}/2/activate", headers=bearer(admin)).get_json()["agent"]["active"] is True
    assert me(anon, key).status_code == 200
    assert "2\tBo\tagent\tactive" in runner.invoke(args=["list-agents"]).output  # the CLI sees the same


def test_a_reset_key_is_answered_once_and_the_old_one_stops_working(anon, admin, runner):
    old = key_of(runner, "Bo")
    answer = anon.post(f"{BASE}/2/reset-key", headers=bearer(admin))
    assert answer.status_code == 200
    new = answer.get_json()["key"]
    assert new != old and me(anon, old).status_code == 401 and me(anon, new).status_code == 200


def test_a_role_is_changed_and_an_admin_cannot_demote_or_deactivate_themself(anon, admin, runner):
    key_of(runner, "Bo")
    promoted = anon.post(f"{BASE}/2/role", json={"role": "admin"}, headers=bearer(admin))
    assert promoted.status_code == 200 and promoted.get_json()["agent"]["role"] == "admin"
    assert anon.post(f"{BASE}/2/role", json={"role": "agent"}, headers=bearer(admin)).get_json()["agent"]["role"] == (
        "agent"
    )
    for path, body in (("1/deactivate", None), ("1/role", {"role": "agent"})):
        refused = anon.post(f"{BASE}/{path}", json=body, headers=bearer(admin))
        assert refused.status_code == 409 and "yourself" in refused.get_json()["error"], path
    assert me(anon, admin).get_json()["agent"]["role"] == "admin"
    # the service key may do anything (it is nobody's own account)
    assert anon.post(f"{BASE}/1/role", json={"role": "agent"}, headers=bearer(AGENT_KEY)).status_code == 200


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", BASE, {"name": "Eve"}),
        ("post", f"{BASE}/1/deactivate", None),
        ("post", f"{BASE}/1/activate", None),
        ("post", f"{BASE}/1/reset-key", None),
        ("post", f"{BASE}/1/role", {"role": "agent"}),
        ("get", f"{BASE}?include_inactive=true", None),
    ],
)
def test_an_agent_cannot_manage_agents(anon, admin, runner, method, path, body):
    agent = key_of(runner, "Bo")
    answer = getattr(anon, method)(path, json=body, headers=bearer(agent))
    assert answer.status_code == 403
    assert answer.get_json()["error"].startswith("Only an admin can")
    assert me(anon, admin).get_json()["agent"]["role"] == "admin"  # nothing changed
    assert len(anon.get(BASE, query_string={"include_inactive": "1"}, headers=bearer(admin)).get_json()["agents"]) == 2


def test_an_agent_still_lists_the_active_agents_for_the_assign_picker(anon, admin, runner):
    agent = key_of(runner, "Bo")
    listed = anon.get(BASE, headers=bearer(agent)).get_json()["agents"]
    assert listed == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bo"}]
    full = anon.get(BASE, query_string={"include_inactive": "true"}, headers=bearer(admin)).get_json()["agents"]
    assert [(a["id"], a["role"], a["active"]) for a in full] == [(1, "admin", True), (2, "agent", True)]


@pytest.mark.parametrize(
    "path, body, status, error",
    [
        (BASE, {}, 400, "name is required"),
        (BASE, {"name": "   "}, 400, "name is required"),
        (BASE, {"name": 5}, 400, "name is required"),
        (BASE, {"name": "x" * 101}, 400, "longer than 100"),
        (BASE, {"name": "Eve", "role": "owner"}, 400, "role must be one of"),
        (BASE, {"name": "Eve\u200b"}, 400, "plain text"),
        (BASE, {"name": "Eve\nMallory"}, 200, ""),  # a line break is a space: 'Eve Mallory'
        (BASE, {"name": "@Eve"}, 400, "no @"),
        (BASE, {"name": " ada "}, 409, "already named 'Ada'"),  # Ada is the admin: @ada would name both
        (f"{BASE}/99/deactivate", None, 404, "Agent not found"),
        (f"{BASE}/99/activate", None, 404, "Agent not found"),
        (f"{BASE}/99/reset-key", None, 404, "Agent not found"),
        (f"{BASE}/99/role", {"role": "admin"}, 404, "Agent not found"),
        (f"{BASE}/1/role", {}, 400, "role must be one of"),
        (f"{BASE}/1/role", {"role": None}, 400, "role must be one of"),
    ],
)
def test_bad_agent_requests_are_4xx_with_a_reason(anon, admin, path, body, status, error):
    answer = anon.post(path, json=body, headers=bearer(admin))
    if status == 200:
        assert answer.status_code == 201 and answer.get_json()["agent"]["name"] == "Eve Mallory", answer.get_json()
        return
    assert answer.status_code == status and error in answer.get_json()["error"], answer.get_json()


def test_the_cli_refuses_a_second_agent_of_the_same_name(runner):
    assert runner.invoke(args=["create-agent", "Ana"]).exit_code == 0
    again = runner.invoke(args=["create-agent", "ANA"])
    assert again.exit_code != 0 and "already named 'Ana'" in again.output


def test_include_inactive_must_be_a_boolean(anon, admin):
    answer = anon.get(BASE, query_string={"include_inactive": "maybe"}, headers=bearer(admin))
    assert answer.status_code == 400


def test_a_name_taken_between_the_check_and_the_create_is_refused(app):
    from whatsapp import agents

    from .helpers import app_connection

    with app_connection(app) as conn:
        name = agents.checked_name("Dee")
        agents.create(conn, "DEE")  # another request, after this one checked the name
        with pytest.raises(agents.NameTaken):
            agents.create(conn, name)
        assert [row["name"] for row in conn.execute("SELECT name FROM agents")] == ["DEE"]


def test_admins_creating_the_same_name_at_once_get_one_agent_and_409s(app, admin):
    import threading

    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def create() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(BASE, json={"name": "Eve"}, headers=bearer(admin)).status_code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]
    client = app.test_client()
    listed = client.get(BASE, headers=bearer(admin)).get_json()["agents"]
    assert [a["name"] for a in listed].count("Eve") == 1
