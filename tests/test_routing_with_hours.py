"""Issue 16's parts together: what came in overnight and got only the automatic reply still waits for an
agent and is handed out at opening time; the automatic reply does not count as the agent's answer for
the typing indicator or the first response time."""

from __future__ import annotations

from .test_away_reply import AWAY_TEXT, closed_now, configure, meta_takes_sends, settled
from .test_routing import API, events, holder, team, write  # noqa: F401 - team is a fixture

PHONE = "14155550123"  # MARIA of test_away_reply


def test_a_conversation_that_got_only_the_automatic_reply_is_handed_out_at_opening(client, graph, team):  # noqa: F811
    meta_takes_sends(graph)
    configure(client, closed_now())
    ada = team.add("Ada")
    team.rules(mode="round_robin")
    waiting = write(client, PHONE)
    [reply] = settled(client)
    assert reply["text"] == AWAY_TEXT and reply["status"] != "failed"
    team.beat("Ada")
    assert holder(client, waiting) is None  # closed: it waits
    # opening time: the holidays are taken off, and Ada's next heartbeat drains the backlog
    assert client.put(f"{API}/business-hours", json={**closed_now(), "holidays": []}).status_code == 200
    team.beat("Ada")
    assert holder(client, waiting) == ada
    assert events(client, "conversation.assigned")[-1]["detail"] == {"reason": "backlog"}


def test_the_automatic_reply_is_no_answer_for_the_typing_indicator_or_the_reports(client, graph, team):  # noqa: F811
    meta_takes_sends(graph)
    configure(client, closed_now())
    conversation_id = write(client, PHONE, ago=60)
    settled(client)
    typing = client.post(f"{API}/typing", json={"conversation_id": conversation_id}).get_json()
    assert typing["success"] is True
    assert typing.get("reason") != "answered", typing
    listed = client.get(f"{API}/conversation", query_string={"conversation_id": conversation_id}).get_json()
    assert client.put(f"{API}/response-target", json={"minutes": 30}).status_code == 200
    listed = client.get(f"{API}/conversation", query_string={"conversation_id": conversation_id}).get_json()
    assert listed["conversation"]["first_response_due_at"] is not None  # still waiting for an agent
