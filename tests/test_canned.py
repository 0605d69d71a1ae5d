"""Canned replies (issue 15): admins manage the team's snippets, every agent searches them, and the
render route fills their variables for a conversation the same way for the dashboard and scripts."""

from __future__ import annotations

import pytest

from whatsapp import canned

from .helpers import agent_key as key_of
from .helpers import customer_writes, send_ok

API = "/api/whatsapp/canned-replies"
SEND = "/v26.0/110293847561029/messages"
REFUND = {"code": "refund", "title": "Refund on its way", "body": "Hi {{contact.name}}, this is {{agent.name}}."}


@pytest.fixture
def keys(runner) -> dict[str, dict[str, str]]:
    """Authorization headers of an admin (Ada) and an agent (Bo)."""
    admin, agent = key_of(runner, "Ada", "--admin"), key_of(runner, "Bo")
    return {"admin": {"Authorization": f"Bearer {admin}"}, "agent": {"Authorization": f"Bearer {agent}"}}


def create(client, reply: dict, headers: dict | None = None):
    return client.post(API, json=reply, headers=headers or {})


def test_an_admin_creates_edits_and_deletes_and_an_agent_may_only_read(anon, keys):
    made = create(anon, REFUND, keys["admin"])
    assert made.status_code == 201, made.get_json()
    reply = made.get_json()["canned_reply"]
    assert reply["code"] == "refund" and reply["created_by"] == 1
    assert reply["variables"] == ["contact.name", "agent.name"]
    rid = reply["id"]

    for method, path, body in (
        ("post", API, {**REFUND, "code": "other"}),
        ("patch", f"{API}/{rid}", {"title": "Changed"}),
        ("delete", f"{API}/{rid}", None),
    ):
        refused = getattr(anon, method)(path, json=body, headers=keys["agent"])
        assert refused.status_code == 403, (method, refused.get_json())
        assert refused.get_json() == {
            "success": False,
            "error": "Only an admin can manage canned replies; ask an admin of this inbox",
        }
    listed = anon.get(API, headers=keys["agent"]).get_json()
    assert [r["code"] for r in listed["canned_replies"]] == ["refund"] and listed["count"] == 1
    assert anon.get(f"{API}/{rid}", headers=keys["agent"]).get_json()["canned_reply"]["title"] == REFUND["title"]

    changed = anon.patch(f"{API}/{rid}", json={"title": "Refund sent", "code": "refund-sent"}, headers=keys["admin"])
    assert changed.status_code == 200
    assert changed.get_json()["canned_reply"]["code"] == "refund-sent"
    assert changed.get_json()["canned_reply"]["body"] == REFUND["body"]
    assert anon.delete(f"{API}/{rid}", headers=keys["admin"]).get_json() == {"success": True, "deleted": rid}
    assert anon.get(f"{API}/{rid}", headers=keys["agent"]).status_code == 404
    assert anon.delete(f"{API}/{rid}", headers=keys["admin"]).status_code == 404


def test_the_service_key_counts_as_admin(client):
    made = create(client, REFUND)
    assert made.status_code == 201
    assert made.get_json()["canned_reply"]["created_by"] is None


@pytest.mark.parametrize(
    "change,error",
    [
        ({"code": "Refund"}, "code must be 1 to 32 of a-z"),
        ({"code": "re fund"}, "code must be 1 to 32 of a-z"),
        ({"code": "x" * 33}, "code must be 1 to 32 of a-z"),
        ({"code": None}, "code must be 1 to 32 of a-z"),
        ({"title": ""}, "title is required"),
        ({"title": "t" * 101}, "title is longer than 100 characters"),
        ({"body": "   "}, "body is required"),
        ({"body": 7}, "body is required"),
        ({"body": "b" * 4097}, "body is longer than 4096 characters"),
        ({"body": "Hi {{contact.email}} and {{ 1 }}"}, "Unknown variable {{contact.email}}, {{1}} in body"),
    ],
)
def test_a_bad_canned_reply_is_refused_with_a_sentence(client, change, error):
    answer = create(client, {**REFUND, **change})
    assert answer.status_code == 400
    assert answer.get_json()["success"] is False and answer.get_json()["error"].startswith(error)


def test_a_code_is_unique_on_create_and_on_rename(client):
    assert create(client, REFUND).status_code == 201
    taken = create(client, {**REFUND, "title": "Another"})
    assert taken.status_code == 409 and "/refund is taken" in taken.get_json()["error"]
    other = create(client, {**REFUND, "code": "hello"}).get_json()["canned_reply"]["id"]
    assert client.patch(f"{API}/{other}", json={"code": "refund"}).status_code == 409
    assert client.patch(f"{API}/{other}", json={"code": "hello"}).status_code == 200  # its own code
    assert client.patch(f"{API}/{other}", json={}).status_code == 400
    assert client.patch(f"{API}/{other}", json=["x"]).status_code == 400
    assert client.patch(f"{API}/999", json={"title": "x"}).status_code == 404


def test_search_matches_a_code_prefix_or_every_word_of_title_and_body(client):
    for code, title, body in (
        ("refund", "Refund on its way", "Your money is coming back."),
        ("hours", "Opening hours", "We open at 9, refund desk at 10."),
        ("ship", "Shipping", "Your parcel left 100% on time_ly."),
    ):
        assert create(client, {"code": code, "title": title, "body": body}).status_code == 201

    def codes(q: str) -> list[str]:
        answer = client.get(API, query_string={"q": q})
        assert answer.status_code == 200
        return [r["code"] for r in answer.get_json()["canned_replies"]]

    assert codes("") == ["hours", "refund", "ship"]
    assert codes("/ref") == ["refund", "hours"]  # the code's prefix first, then a body holding the word
    assert codes("REFUND desk") == ["hours"]
    assert codes("parcel time") == ["ship"]
    assert codes("100%") == ["ship"] and codes("r_f") == []  # LIKE's wildcards are plain characters
    assert codes("nothing") == []
    assert client.get(API, query_string={"q": "x" * 201}).status_code == 400


def test_render_fills_the_variables_for_the_conversation_and_the_acting_agent(anon, client, keys):
    customer_writes(client, name="Maria Lopez")
    body = "Hi {{contact.name}} ({{ contact.phone }}), {{agent.name}} here about #{{conversation.id}}."
    rid = create(client, {"code": "hi", "title": "Hi", "body": body}).get_json()["canned_reply"]["id"]

    filled = anon.post(f"{API}/{rid}/render", json={"phone_number": "+14155550123"}, headers=keys["agent"])
    assert filled.status_code == 200, filled.get_json()
    assert filled.get_json() == {
        "success": True,
        "text": "Hi Maria Lopez (+14155550123), Bo here about #1.",
        "canned_reply_id": rid,
        "code": "hi",
        "conversation_id": 1,
        "missing": [],
    }
    # the service key names the agent with agent_id (Ada is agent 1); without it, agent.name is missing
    by_script = client.post(f"{API}/{rid}/render", json={"conversation_id": 1, "agent_id": 1}).get_json()
    assert by_script["text"] == "Hi Maria Lopez (+14155550123), Ada here about #1."
    unnamed = client.post(f"{API}/{rid}/render", json={"conversation_id": 1}).get_json()
    assert unnamed["text"] == "Hi Maria Lopez (+14155550123),  here about #1." and unnamed["missing"] == ["agent.name"]


def test_render_uses_the_business_name_and_says_what_is_missing(client):
    customer_writes(client, name=None, wa_id=None, user_id="US.13491208655302741918")
    rid = create(client, {"code": "hi", "title": "Hi", "body": "Hi {{contact.name}} {{contact.phone}}"})
    rid = rid.get_json()["canned_reply"]["id"]
    answer = client.post(f"{API}/{rid}/render", json={"user_id": "US.13491208655302741918"}).get_json()
    assert answer["text"] == "Hi  " and answer["missing"] == ["contact.name", "contact.phone"]
    client.post("/api/whatsapp/contact", json={"conversation_id": 1, "name": "Big customer"})
    answer = client.post(f"{API}/{rid}/render", json={"conversation_id": 1}).get_json()
    assert answer["text"] == "Hi Big customer " and answer["missing"] == ["contact.phone"]


def test_render_errors_are_json_4xx(client):
    customer_writes(client)
    rid = create(client, REFUND).get_json()["canned_reply"]["id"]
    assert client.post(f"{API}/999/render", json={"conversation_id": 1}).status_code == 404
    assert client.post(f"{API}/{rid}/render", json={"conversation_id": 99}).status_code == 404
    assert client.post(f"{API}/{rid}/render", json={}).status_code == 400
    assert client.post(f"{API}/{rid}/render", data="nope").status_code == 400
    assert client.post(f"{API}/{rid}/render", json={"conversation_id": 1, "agent_id": "x"}).status_code == 400
    assert client.post(f"{API}/{2**64}/render", json={"conversation_id": 1}).status_code == 404


def test_the_filled_text_is_what_the_normal_send_sends(client, graph):
    customer_writes(client, name="Maria Lopez")
    rid = create(client, {"code": "hi", "title": "Hi", "body": "Hello {{contact.name}}!"}).get_json()
    text = client.post(f"{API}/{rid['canned_reply']['id']}/render", json={"conversation_id": 1}).get_json()["text"]
    graph.expect_request(SEND, method="POST").respond_with_json(send_ok())
    sent = client.post("/api/whatsapp/send", json={"conversation_id": 1, "message": text})
    assert sent.status_code == 200, sent.get_json()
    assert graph.log[-1][0].get_json()["text"]["body"] == "Hello Maria Lopez!"


def test_an_inbox_holds_at_most_the_limit(client, monkeypatch):
    monkeypatch.setattr(canned, "MAX_REPLIES", 2)
    assert create(client, {**REFUND, "code": "a"}).status_code == 201
    assert create(client, {**REFUND, "code": "b"}).status_code == 201
    full = create(client, {**REFUND, "code": "c"})
    assert full.status_code == 409 and "2 canned replies already" in full.get_json()["error"]


def test_rendering_pure_function_leaves_unknown_names_and_lists_missing_once():
    text, missing = canned.render("{{x}} {{agent.name}}{{agent.name}} {{contact.name}}", {"contact.name": "M"})
    assert text == "{{x}}  M" and missing == ["agent.name"]
    assert canned.unknown_variables("{{a}} {{ b }} {{a}} {{contact.name}} {single}") == ["a", "b"]


def test_real_answers_match_the_openapi_document(client, anon):
    from .test_openapi import conforms

    doc = anon.get("/api/whatsapp/openapi.json").get_json()
    customer_writes(client)
    made = conforms(doc, API, "post", create(client, REFUND))
    one = f"{API}/{{canned_reply_id}}"
    rid = made["canned_reply"]["id"]
    conforms(doc, API, "get", client.get(API, query_string={"q": "ref"}))
    conforms(doc, one, "get", client.get(f"{API}/{rid}"))
    conforms(doc, one, "patch", client.patch(f"{API}/{rid}", json={"body": "Hi {{contact.phone}}"}))
    conforms(doc, f"{one}/render", "post", client.post(f"{API}/{rid}/render", json={"conversation_id": 1}))
    conforms(doc, API, "post", create(client, REFUND))  # 409
    conforms(doc, one, "delete", client.delete(f"{API}/{rid}"))
