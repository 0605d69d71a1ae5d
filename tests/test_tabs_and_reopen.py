"""Issue 15, "All means all open": the Open tab is named for what it holds (filter=open; the older
filter=all still answers the same), and an agent's reply to a closed conversation reopens it."""

from __future__ import annotations

from .helpers import customer_writes, meta_calls, send_ok

SEND_PATH = "/v26.0/110293847561029/messages"
PHONE = "+14155550123"


def conversation(client) -> dict:
    return client.get("/api/whatsapp/conversation", query_string={"phone_number": PHONE}).get_json()["conversation"]


def last_event(client) -> int:
    return client.get("/api/whatsapp/events?after=0&limit=1").get_json()["last_event_id"]


def kinds_after(client, after: int) -> list[tuple[str, int | None]]:
    events = client.get(f"/api/whatsapp/events?after={after}&limit=500").get_json()["events"]
    return [(e["kind"], e["conversation_id"]) for e in events]


def test_the_open_tab_holds_every_conversation_not_closed_and_all_is_its_older_name(client):
    customer_writes(client)
    customer_writes(client, wa_id="14155550124")
    closing = client.get("/api/whatsapp/conversation?phone_number=%2B14155550124").get_json()["conversation"]["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": closing})
    opened = client.get("/api/whatsapp/conversations?filter=open").get_json()
    older = client.get("/api/whatsapp/conversations?filter=all").get_json()
    closed = client.get("/api/whatsapp/conversations?filter=closed").get_json()
    assert [c["phone_number"] for c in opened["conversations"]] == [PHONE]
    assert [c["id"] for c in older["conversations"]] == [c["id"] for c in opened["conversations"]]
    assert [c["id"] for c in closed["conversations"]] == [closing]
    assert opened["counts"]["open"] == opened["counts"]["all"] == 1 and opened["counts"]["closed"] == 1
    assert opened["total"] == 1
    bad = client.get("/api/whatsapp/conversations?filter=everything")
    assert bad.status_code == 400 and "open" in bad.get_json()["error"]


def test_a_reply_to_a_closed_conversation_reopens_it_and_says_so_on_the_event_stream(client, graph):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    assert conversation(client)["status"] == "closed"
    before = last_event(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post("/api/whatsapp/send", json={"conversation_id": cid, "message": "Still there?"})
    assert answer.status_code == 200, answer.get_json()
    assert conversation(client)["status"] == "open"
    assert ("conversation.updated", cid) in kinds_after(client, before)
    listed = client.get("/api/whatsapp/conversations?filter=open").get_json()["conversations"]
    assert [c["id"] for c in listed] == [cid]


def test_a_reply_to_a_closed_assigned_conversation_goes_back_to_its_agent(client, graph):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": cid, "agent_id": 7})
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post("/api/whatsapp/send", json={"conversation_id": cid, "message": "Back to it", "agent_id": 7})
    assert answer.status_code == 200, answer.get_json()
    reopened = conversation(client)
    assert reopened["status"] == "assigned" and reopened["assigned_agent_id"] == 7


def test_a_send_refused_before_meta_is_called_leaves_a_closed_conversation_closed(client, graph):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    answer = client.post("/api/whatsapp/send", json={"conversation_id": cid, "type": "nonsense"})
    assert answer.status_code == 400
    assert conversation(client)["status"] == "closed" and meta_calls(graph) == []


def test_a_send_meta_refuses_leaves_a_closed_conversation_closed(client, graph):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    refusal = {"error": {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026}}
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(refusal, status=400)
    answer = client.post("/api/whatsapp/send", json={"conversation_id": cid, "message": "Hello?"})
    assert answer.status_code == 422, answer.get_json()
    assert conversation(client)["status"] == "closed"


def test_a_reaction_is_not_an_answer_and_leaves_a_closed_conversation_closed(client, graph):
    customer_writes(client)
    cid = conversation(client)["id"]
    inbound = client.get(f"/api/whatsapp/messages?conversation_id={cid}").get_json()["messages"][0]["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post(f"/api/whatsapp/messages/{inbound}/react", json={"emoji": "👍"})
    assert answer.status_code == 200, answer.get_json()
    assert conversation(client)["status"] == "closed"
