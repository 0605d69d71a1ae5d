"""The automatic reply outside business hours (issue 16): decided inside the delivery's transaction,
sent by a background worker through the normal sending path, once per conversation per period,
never to imported history, echoes, groups or blocked customers, and sent once across a restart."""

from __future__ import annotations

import copy
import json
import threading
import time
from datetime import UTC, datetime, timedelta

from werkzeug import Response

from app import create_app
from whatsapp.business_hours import DAYS

from .helpers import (
    AGENT_KEY,
    PHONE_NUMBER_ID,
    agent_key,
    bearer,
    connection_for,
    customer_writes,
    fixture,
    now_ts,
    post_webhook,
    send_ok,
    text_message,
)

SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"
MARIA = "+14155550123"
AWAY_TEXT = "Thanks for writing! We are closed now and answer from 9:00."
ALL_DAY = {day: [{"open": "00:00", "close": "24:00"}] for day in DAYS}


def open_now() -> dict:
    return {"enabled": True, "timezone": "UTC", "week": ALL_DAY, "holidays": []}


def closed_now() -> dict:
    """Open every day, but yesterday, today and tomorrow (UTC) are holidays: closed now, whatever the hour."""
    today = datetime.now(UTC).date()
    days = [(today + timedelta(days=n)).isoformat() for n in (-1, 0, 1)]
    return {"enabled": True, "timezone": "UTC", "week": ALL_DAY, "holidays": days}


def configure(client, hours: dict | None, reply: dict | None = None) -> None:
    if hours is not None:
        answer = client.put("/api/whatsapp/business-hours", json=hours)
        assert answer.status_code == 200, answer.get_json()
    reply = {"enabled": True, "text": AWAY_TEXT, "period_hours": 24} if reply is None else reply
    answer = client.put("/api/whatsapp/away-reply", json=reply)
    assert answer.status_code == 200, answer.get_json()


def messages(client, phone=MARIA) -> list[dict]:
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["messages"]


def automatic(client, phone=MARIA) -> list[dict]:
    return [m for m in messages(client, phone) if m["automatic"]]


def settled(client, phone=MARIA, seconds: float = 15) -> list[dict]:
    """The automatic replies once none is waiting for the worker (pending without an outcome)."""
    deadline = time.monotonic() + seconds
    while True:
        replies = automatic(client, phone)
        if all(m["status"] != "pending" or m["outcome_unknown"] for m in replies):
            return replies
        assert time.monotonic() < deadline, f"the worker did not send {replies}"
        time.sleep(0.05)


def sends(graph) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in graph.log if request.path == SEND_PATH]


def meta_takes_sends(graph) -> None:
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.AWAY1"))


def test_outside_hours_a_customer_message_gets_one_automatic_reply(client, graph):
    meta_takes_sends(graph)
    configure(client, closed_now())
    before = client.get("/api/whatsapp/events", query_string={"after": 0, "limit": 1}).get_json()["last_event_id"]
    customer_writes(client, "Hello, are you there?")
    [reply] = settled(client)
    assert sends(graph) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": MARIA,
            "type": "text",
            "text": {"body": AWAY_TEXT, "preview_url": False},
            "biz_opaque_callback_data": sends(graph)[0]["biz_opaque_callback_data"],
        }
    ]
    assert sends(graph)[0]["biz_opaque_callback_data"].startswith("local.")
    assert reply["direction"] == "outbound" and reply["text"] == AWAY_TEXT and reply["type"] == "text"
    assert reply["status"] == "sent" and reply["whatsapp_message_id"] == "wamid.AWAY1"
    assert reply["agent_id"] is None and reply["automatic"] is True
    inbound = [m for m in messages(client) if m["direction"] == "inbound"]
    assert [m["automatic"] for m in inbound] == [False]
    events = client.get("/api/whatsapp/events", query_string={"after": before, "limit": 100}).get_json()["events"]
    mine = [e for e in events if e["message_id"] == reply["id"]]
    assert [e["kind"] for e in mine][:1] == ["message.created"] and "message.updated" in [e["kind"] for e in mine]
    # it answers nobody's question for the team: the conversation stays open and unassigned
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": MARIA}).get_json()["conversation"]
    assert conv["status"] == "open" and conv["assigned_agent_id"] is None


def test_once_per_conversation_per_period(app, client, graph, settings):
    meta_takes_sends(graph)
    configure(client, closed_now(), {"enabled": True, "text": AWAY_TEXT, "period_hours": 2})
    customer_writes(client, "First")
    assert len(settled(client)) == 1
    customer_writes(client, "Second, a minute later")
    customer_writes(client, "Third")
    assert len(settled(client)) == 1
    assert len(sends(graph)) == 1
    # the period passes (the last automatic reply was 3 hours ago): the next message is answered again
    moment = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    with connection_for(settings) as conn:
        conn.execute("UPDATE whatsapp_conversations SET away_replied_at = ?", (moment,))
    customer_writes(client, "Anyone there now?")
    assert len(settled(client)) == 2
    assert len(sends(graph)) == 2
    # another customer has a period of their own
    customer_writes(client, "Hello from Ana", wa_id="14155550777", name="Ana")
    assert len(settled(client, "+14155550777")) == 1


def test_two_deliveries_at_once_for_one_customer_queue_one_reply(app, client, graph):
    meta_takes_sends(graph)
    configure(client, closed_now())
    bodies = [text_message(f"Message {n}", timestamp=now_ts() - 5) for n in range(6)]
    answers: list[int] = []

    def deliver(body: dict) -> None:
        answers.append(post_webhook(app.test_client(), body).status_code)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 6
    assert len([m for m in messages(client) if m["direction"] == "inbound"]) == 6
    assert len(settled(client)) == 1
    assert len(sends(graph)) == 1


def test_inside_hours_no_reply(client, graph):
    configure(client, open_now())
    customer_writes(client)
    assert automatic(client) == []
    assert sends(graph) == []


def test_a_schedule_switched_off_is_never_outside_hours(client, graph):
    configure(client, {**closed_now(), "enabled": False})
    customer_writes(client)
    configure(client, None)  # no schedule at all: the same
    assert automatic(client) == []
    assert sends(graph) == []


def test_without_a_schedule_no_reply(client, graph):
    configure(client, None)
    customer_writes(client)
    assert automatic(client) == [] and sends(graph) == []


def test_the_reply_switched_off_sends_nothing(client, graph):
    configure(client, closed_now(), {"enabled": False, "text": AWAY_TEXT, "period_hours": 24})
    customer_writes(client)
    assert automatic(client) == [] and sends(graph) == []


def test_imported_history_and_echoes_get_no_reply(client, graph):
    configure(client, closed_now())
    history = fixture("history_phase0_chunk1")
    for thread in history["entry"][0]["changes"][0]["value"]["history"][0]["threads"]:
        for item in thread["messages"]:
            item["timestamp"] = str(now_ts() - 60)  # even history written a minute ago
    assert post_webhook(client, history).get_json()["state"] == "processed"
    echo = fixture("echo_text")
    echo["entry"][0]["changes"][0]["value"]["message_echoes"][0]["timestamp"] = str(now_ts() - 30)
    assert post_webhook(client, echo).get_json()["state"] == "processed"
    assert len(messages(client)) >= 3
    assert automatic(client) == [] and automatic(client, "+14155550777") == []
    assert sends(graph) == []


def test_reactions_and_old_redeliveries_get_no_reply(client, graph):
    meta_takes_sends(graph)
    configure(client, closed_now())
    customer_writes(client, "Hello", wa_id="14155550999", name="Ann")  # then a reaction from Maria alone
    reaction = text_message(timestamp=now_ts() - 5)
    reaction["entry"][0]["changes"][0]["value"]["messages"][0].update(
        type="reaction", reaction={"message_id": "wamid.NOTHERE", "emoji": "👍"}
    )
    reaction["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    assert post_webhook(client, reaction).status_code == 200
    old = text_message("Written two days ago, delivered now", timestamp=now_ts() - 2 * 86400)
    assert post_webhook(client, old).status_code == 200
    assert automatic(client) == []
    assert len(settled(client, "+14155550999")) == 1  # the customer who really wrote now is answered
    assert len(sends(graph)) == 1


def test_a_blocked_customer_gets_no_reply(client, graph, settings):
    configure(client, closed_now(), {"enabled": False, "text": AWAY_TEXT, "period_hours": 24})
    customer_writes(client)  # the reply is off: the thread exists, then its customer is blocked
    with connection_for(settings) as conn:
        conn.execute("UPDATE whatsapp_conversations SET blocked_at = '2026-01-01 00:00:00'")
    configure(client, None)  # the reply switched on
    customer_writes(client, "Still writing")
    assert automatic(client) == [] and sends(graph) == []


def test_a_group_thread_gets_no_reply(client, graph):
    configure(client, closed_now())
    group = text_message("Hello group", timestamp=now_ts() - 5)
    group["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"] = "120363025246125486"
    assert post_webhook(client, group).status_code == 200
    threads = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert threads and all(not m["automatic"] for m in messages_of_all(client, threads))
    assert sends(graph) == []


def messages_of_all(client, threads: list[dict]) -> list[dict]:
    found = []
    for thread in threads:
        answer = client.get("/api/whatsapp/messages", query_string={"conversation_id": thread["id"]})
        found.extend(answer.get_json()["messages"])
    return found


def test_meta_refusing_the_reply_stores_it_failed_with_metas_error(client, graph):
    refusal = fixture("error_131047")
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(
        Response(json.dumps(refusal), status=400, content_type="application/json")
    )
    configure(client, closed_now())
    customer_writes(client)
    [reply] = settled(client)
    assert reply["status"] == "failed" and reply["whatsapp_message_id"] is None
    assert reply["error"]["code"] == 131047 and reply["error"]["title"] == "Re-engagement message"
    assert reply["error"]["details"] == refusal["error"]["error_data"]["details"]
    assert reply["automatic"] is True
    assert len(sends(graph)) == 1


def test_a_reply_queued_before_a_restart_is_sent_once_after_it(app, client, graph, settings):
    meta_takes_sends(graph)
    configure(client, closed_now())
    app.extensions["away_reply"].stop()  # the process "dies" with the reply queued, before sending it
    customer_writes(client)
    [queued] = automatic(client)
    assert queued["status"] == "pending" and sends(graph) == []

    restarted = create_app(settings)
    try:
        other = restarted.test_client()
        other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        [reply] = settled(other)  # its first request starts its worker, whose first sweep sends it
        assert reply["id"] == queued["id"] and reply["status"] == "sent"
        assert restarted.extensions["away_reply"].sweep() == 0  # nothing left to send
        third = create_app(settings)
        try:
            assert third.extensions["away_reply"].sweep() == 0
        finally:
            third.extensions["away_reply"].stop()
    finally:
        restarted.extensions["away_reply"].stop()
    assert len(sends(graph)) == 1


def test_a_reply_whose_sender_died_mid_send_is_never_sent_twice(app, client, graph, settings):
    configure(client, closed_now())
    app.extensions["away_reply"].stop()
    customer_writes(client)
    # a worker claimed it and died while Meta was being called: the outcome is unknown
    with connection_for(settings) as conn:
        conn.execute("UPDATE away_reply_queue SET state = 'sending', claimed_at = '2026-01-01 00:00:00'")
    restarted = create_app(settings)
    try:
        restarted.extensions["away_reply"].sweep()
    finally:
        restarted.extensions["away_reply"].stop()
    [reply] = automatic(client)
    assert reply["status"] == "pending" and reply["outcome_unknown"] is True
    assert "may or may not have been sent" in reply["error"]["title"]
    assert sends(graph) == []
    with connection_for(settings) as conn:
        assert conn.execute("SELECT COUNT(*) FROM away_reply_queue").fetchone()[0] == 0


def test_the_setting_is_read_by_agents_and_set_by_admins(client, anon, runner):
    admin, agent = agent_key(runner, "Ada", "--admin"), agent_key(runner, "Bo")
    default = anon.get("/api/whatsapp/away-reply", headers=bearer(agent)).get_json()
    assert default == {"success": True, "away_reply": {"enabled": False, "text": "", "period_hours": 24}}
    body = {"enabled": True, "text": AWAY_TEXT, "period_hours": 12}
    assert anon.put("/api/whatsapp/away-reply", json=body, headers=bearer(agent)).status_code == 403
    put = anon.put("/api/whatsapp/away-reply", json=body, headers=bearer(admin))
    assert put.status_code == 200 and put.get_json()["away_reply"] == body
    assert anon.get("/api/whatsapp/away-reply", headers=bearer(agent)).get_json()["away_reply"] == body


def test_a_bad_setting_is_refused_with_what_is_wrong(client):
    for body, says in [
        ([1], "JSON object"),
        ({"enabled": "yes"}, "true or false"),
        ({"enabled": True, "text": "  "}, "needs a text"),
        ({"text": "x" * 4097}, "4096"),
        ({"text": 5}, "string"),
        ({"period_hours": 0}, "1 to 720"),
        ({"period_hours": 721}, "1 to 720"),
        ({"period_hours": 1.5}, "whole number"),
        ({"period_hours": True}, "whole number"),
        ({"colour": "red"}, "unknown field"),
    ]:
        answer = client.put("/api/whatsapp/away-reply", json=copy.deepcopy(body))
        assert answer.status_code == 400, body
        assert answer.get_json()["success"] is False and says in answer.get_json()["error"], answer.get_json()
    assert client.get("/api/whatsapp/away-reply").get_json()["away_reply"]["enabled"] is False


def test_a_reply_another_process_queued_without_waking_anyone_is_sent_by_the_idle_sweep(
    app, client, graph, settings, monkeypatch
):
    from whatsapp import away_reply

    monkeypatch.setattr(away_reply, "IDLE_SWEEP_SECONDS", 0.2)
    meta_takes_sends(graph)
    configure(client, closed_now())
    customer_writes(client)  # this process queues a reply: its sender starts, sends it, then idles
    assert len(settled(client)) == 1
    other = create_app(settings)  # another process (a CLI replay) queues one and wakes nobody
    try:
        other.extensions["away_reply"].stop()
        other_client = other.test_client()
        other_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        customer_writes(other_client, wa_id="14155550124")
        [queued] = automatic(client, "+14155550124")
        assert queued["status"] == "pending"
    finally:
        other.extensions["away_reply"].stop()
    [reply] = settled(client, "+14155550124")  # the first process's idle sweep finds it
    assert reply["status"] == "sent"
