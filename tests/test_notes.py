"""Private notes (issue 15): stored in the thread, never sent to WhatsApp; @name mentions give the
mentioned agent a mention (GET /mentions) and an event on the stream."""

from __future__ import annotations

import json
import sqlite3

import pytest

from .helpers import AGENT_KEY, bearer, customer_writes, meta_calls, post_webhook, text_message
from .helpers import agent_key as key_of

NOTES = "/api/whatsapp/notes"
MENTIONS = "/api/whatsapp/mentions"


@pytest.fixture
def team(runner) -> dict[str, str]:
    """Agents 1-4: Ana Souza, Ana Lima, Bo (keys by first name) and Cy, an admin."""
    return {
        "ana": key_of(runner, "Ana Souza"),
        "lima": key_of(runner, "Ana Lima"),
        "bo": key_of(runner, "Bo"),
        "cy": key_of(runner, "Cy", "--admin"),
    }


@pytest.fixture
def cid(client) -> int:
    customer_writes(client, "My parcel never came")
    return client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["id"]


def write(anon, key: str, cid: int, body: str):
    return anon.post(NOTES, json={"conversation_id": cid, "body": body}, headers=bearer(key))


def test_a_note_is_kept_in_the_thread_and_nothing_reaches_whatsapp(anon, client, graph, team, cid):
    before = client.get("/api/whatsapp/conversation", query_string={"conversation_id": cid}).get_json()
    answer = write(anon, team["bo"], cid, "Refund approved <b>by finance</b>")
    assert answer.status_code == 201
    note = answer.get_json()["note"]
    assert note["body"] == "Refund approved <b>by finance</b>"  # stored as text, shown as text
    assert (note["type"], note["direction"], note["agent_id"], note["agent_name"]) == ("note", "internal", 3, "Bo")
    assert meta_calls(graph) == []  # the Graph stand-in was never called
    listed = client.get(NOTES, query_string={"conversation_id": cid}).get_json()
    assert [n["id"] for n in listed["notes"]] == [note["id"]] and listed["conversation_id"] == cid
    # GET /messages and the conversation list are as they were: a note is no message
    thread = client.get("/api/whatsapp/messages", query_string={"conversation_id": cid}).get_json()
    assert [m["direction"] for m in thread["messages"]] == ["inbound"]
    after = client.get("/api/whatsapp/conversation", query_string={"conversation_id": cid}).get_json()
    assert after == before


def test_notes_come_oldest_first_and_page_back(client, cid):
    ids = []
    for n in range(3):
        answer = client.post(NOTES, json={"conversation_id": cid, "body": f"note {n}", "agent_id": 9})
        ids.append(answer.get_json()["note"]["id"])
    page = client.get(NOTES, query_string={"conversation_id": cid, "limit": 2}).get_json()["notes"]
    assert [n["body"] for n in page] == ["note 1", "note 2"] and page[0]["agent_id"] == 9
    older = client.get(NOTES, query_string={"conversation_id": cid, "before_id": ids[1]}).get_json()["notes"]
    assert [n["body"] for n in older] == ["note 0"]


def test_mentions_match_active_agents_by_name_whatever_the_case(anon, runner, client, team, cid):
    note = write(anon, team["bo"], cid, '@"ana souza" and @BO (me) and @nobody, mail ana@example.com').get_json()
    assert note["note"]["mentions"] == [{"agent_id": 1, "name": "Ana Souza"}]  # never the author
    # an unquoted first name two agents share mentions both of them
    both = write(anon, team["bo"], cid, "@ana, can one of you call back?").get_json()["note"]["mentions"]
    assert sorted(m["agent_id"] for m in both) == [1, 2]
    assert runner.invoke(args=["deactivate-agent", "2"]).exit_code == 0
    only = write(anon, team["bo"], cid, "@Ana again").get_json()["note"]["mentions"]
    assert [m["name"] for m in only] == ["Ana Souza"]  # a deactivated agent is not mentioned
    cy = write(anon, team["bo"], cid, "thanks @Cy.").get_json()["note"]["mentions"]
    assert [m["name"] for m in cy] == ["Cy"]


def test_the_mentioned_agent_lists_their_mentions_newest_first_and_marks_them_read(anon, client, team, cid):
    first = write(anon, team["bo"], cid, "@Cy look at this").get_json()["note"]
    second = write(anon, team["bo"], cid, '@"Ana Souza" and @Cy').get_json()["note"]
    mine = anon.get(MENTIONS, headers=bearer(team["cy"])).get_json()
    assert mine["agent_id"] == 4 and mine["unread"] == 2
    assert [m["note"]["id"] for m in mine["mentions"]] == [second["id"], first["id"]]
    top = mine["mentions"][0]
    assert top["read"] is False and top["note"]["agent_name"] == "Bo"
    assert top["conversation"] == {
        "id": cid,
        "contact_name": "Maria Lopez",
        "contact_profile_name": "Maria Lopez",
        "phone_number": "+14155550123",
        "username": None,
    }
    # an agent sees their own, whatever agent_id they pass
    assert anon.get(MENTIONS + "?agent_id=4", headers=bearer(team["bo"])).get_json()["count"] == 0
    marked = anon.post(MENTIONS + "/read", json={"mention_ids": [top["id"]]}, headers=bearer(team["cy"]))
    assert marked.get_json() == {"success": True, "marked": 1, "unread": 1, "agent_id": 4}
    unread = anon.get(MENTIONS + "?unread_only=true", headers=bearer(team["cy"])).get_json()
    assert [m["note"]["id"] for m in unread["mentions"]] == [first["id"]]
    # Ana's mention is hers: Cy marking it changes nothing
    assert (
        anon.post(MENTIONS + "/read", json={"mention_ids": [2]}, headers=bearer(team["cy"])).get_json()["marked"] == 0
    )
    everything = anon.post(MENTIONS + "/read", json={}, headers=bearer(team["cy"])).get_json()
    assert (everything["marked"], everything["unread"]) == (1, 0)
    assert anon.get(MENTIONS, headers=bearer(team["ana"])).get_json()["unread"] == 1


def test_the_service_key_names_the_agent_whose_mentions(client, anon, team, cid):
    write(anon, team["bo"], cid, "@Cy hi")
    assert client.get(MENTIONS).status_code == 400
    assert client.get(MENTIONS + "?agent_id=4").get_json()["count"] == 1
    done = client.post(MENTIONS + "/read", json={"agent_id": 4}).get_json()
    assert done["marked"] == 1 and done["unread"] == 0


def test_a_note_and_its_mentions_are_events_naming_the_agent(anon, client, team, cid):
    start = client.get("/api/whatsapp/events").get_json()["last_event_id"]
    note = write(anon, team["bo"], cid, "@Cy and @Bo").get_json()["note"]
    events = client.get(f"/api/whatsapp/events?after={start}").get_json()["events"]
    assert [(e["kind"], e["conversation_id"], e["note_id"], e["agent_id"]) for e in events] == [
        ("note.created", cid, note["id"], 3),
        ("mention.created", cid, note["id"], 4),
    ]


def test_a_signed_in_agent_writes_notes_as_themselves_with_the_csrf_token(app, anon, team, cid):
    browser = app.test_client()
    csrf = browser.post("/login", json={"key": team["ana"]}).get_json()["csrf_token"]
    body = {"conversation_id": cid, "body": "mine", "agent_id": 3}
    assert browser.post(NOTES, json=body).status_code == 403
    note = browser.post(NOTES, json=body, headers={"X-CSRF-Token": csrf}).get_json()["note"]
    assert (note["agent_id"], note["agent_name"]) == (1, "Ana Souza")


def test_the_author_or_an_admin_deletes_a_note_and_its_mentions_go_with_it(anon, client, team, cid):
    first = write(anon, team["bo"], cid, "@Cy wrong thread").get_json()["note"]["id"]
    second = write(anon, team["bo"], cid, "@Cy also").get_json()["note"]["id"]
    refused = anon.delete(f"{NOTES}/{first}", headers=bearer(team["ana"]))
    assert refused.status_code == 403 and refused.get_json()["success"] is False
    assert anon.delete(f"{NOTES}/{first}", headers=bearer(team["bo"])).get_json() == {
        "success": True,
        "note_id": first,
        "deleted": True,
    }
    assert anon.delete(f"{NOTES}/{second}", headers=bearer(team["cy"])).status_code == 200  # an admin
    assert anon.delete(f"{NOTES}/{second}", headers=bearer(team["cy"])).status_code == 404
    assert client.get(NOTES, query_string={"conversation_id": cid}).get_json()["notes"] == []
    assert anon.get(MENTIONS, headers=bearer(team["cy"])).get_json()["unread"] == 0
    events = client.get("/api/whatsapp/events?after=0&limit=500").get_json()["events"]
    deleted = [(e["note_id"], e["conversation_id"]) for e in events if e["kind"] == "note.deleted"]
    assert deleted == [(first, cid), (second, cid)]  # other dashboards take them out of the thread


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"conversation_id": 1}, 400, "body is required"),
        ({"conversation_id": 1, "body": "   "}, 400, "body is required"),
        ({"conversation_id": 1, "body": 5}, 400, "body is required"),
        ({"conversation_id": 1, "body": "x" * 4097}, 400, "longer than 4096"),
        ({"conversation_id": 1, "body": "bad \ud800"}, 400, "surrogate"),
        ({"conversation_id": 999, "body": "hi"}, 404, "Conversation not found"),
        ({"body": "hi"}, 400, "conversation_id, phone_number or user_id"),
        ({"conversation_id": 1, "body": "hi", "agent_id": "x"}, 400, "agent_id"),
    ],
)
def test_a_bad_note_is_refused_with_a_json_error(client, cid, body, status, words):
    answer = client.post(NOTES, data=json.dumps(body), content_type="application/json")  # \ud800 as an escape
    assert answer.status_code == status
    assert answer.get_json()["success"] is False and words in answer.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [{"agent_id": 4, "mention_ids": "1"}, {"agent_id": 4, "mention_ids": ["a"]}, {"agent_id": 4, "mention_ids": [0]}],
)
def test_bad_mention_ids_are_refused(client, body):
    answer = client.post(MENTIONS + "/read", json=body)
    assert answer.status_code == 400 and answer.get_json()["success"] is False


def test_notes_follow_their_conversation_when_it_is_merged(client):
    post_webhook(client, text_message("by user id", wa_id=None, user_id="US.4242", username="@ada"))
    post_webhook(client, text_message("by phone", wa_id="15551234567", user_id=None))
    ids = [c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]]
    for conversation_id in ids:
        assert (
            client.post(NOTES, json={"conversation_id": conversation_id, "body": f"on {conversation_id}"}).status_code
            == 201
        )
    assert post_webhook(client, text_message("both", wa_id="15551234567", user_id="US.4242")).status_code == 200
    [kept] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    notes = client.get(NOTES, query_string={"conversation_id": kept["id"]}).get_json()["notes"]
    assert sorted(n["body"] for n in notes) == sorted(f"on {i}" for i in ids)
    assert "both" in [
        m["text"] for m in client.get(f"/api/whatsapp/messages?conversation_id={kept['id']}").get_json()["messages"]
    ]


@pytest.mark.sqlite_only  # SQLite's own migration of an old file (ADDED_COLUMNS on a table made by hand)
def test_an_event_log_from_before_notes_gains_their_columns(settings):
    from app import create_app

    with sqlite3.connect(settings["DATABASE_PATH"]) as old:
        old.execute(
            """CREATE TABLE events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TIMESTAMP NOT NULL,
               kind TEXT NOT NULL, conversation_id INTEGER, message_id INTEGER, merged_from INTEGER)"""
        )
        old.execute("INSERT INTO events (created_at, kind, conversation_id) VALUES ('2026-11-01 10:00:00', 'x', 7)")
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    customer_writes(client)
    assert client.post(NOTES, json={"conversation_id": 1, "body": "hi", "agent_id": 2}).status_code == 201
    events = client.get("/api/whatsapp/events?after=0").get_json()["events"]
    assert (events[0]["kind"], events[0]["note_id"]) == ("x", None)
    assert [(e["kind"], e["agent_id"]) for e in events if e["kind"] == "note.created"] == [("note.created", 2)]


def test_answers_of_the_notes_routes_match_the_openapi_document(anon, client, team, cid):
    from .test_openapi import conforms

    doc = anon.get("/api/whatsapp/openapi.json").get_json()
    note = conforms(doc, "/api/whatsapp/notes", "post", write(anon, team["bo"], cid, '@Cy @"Ana Souza"'))["note"]
    conforms(doc, "/api/whatsapp/notes", "get", client.get(NOTES, query_string={"conversation_id": cid}))
    conforms(doc, "/api/whatsapp/mentions", "get", anon.get(MENTIONS, headers=bearer(team["cy"])))
    conforms(
        doc, "/api/whatsapp/mentions/read", "post", anon.post(MENTIONS + "/read", json={}, headers=bearer(team["cy"]))
    )
    conforms(doc, "/api/whatsapp/events", "get", client.get("/api/whatsapp/events?after=0"))
    conforms(
        doc,
        "/api/whatsapp/notes/{note_id}",
        "delete",
        anon.delete(f"{NOTES}/{note['id']}", headers=bearer(team["ana"])),
    )
    conforms(doc, "/api/whatsapp/notes/{note_id}", "delete", client.delete(f"{NOTES}/{note['id']}"))
    conforms(doc, "/api/whatsapp/notes", "post", client.post(NOTES, json={"conversation_id": cid}))
    conforms(doc, "/api/whatsapp/mentions", "get", client.get(MENTIONS))
