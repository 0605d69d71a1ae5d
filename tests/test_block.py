"""Blocking and unblocking a customer through Meta's Block Users API, against a stand-in that checks each
call as Meta does (whatsapp/standin_block.py: method, path, bearer token, body shape, the 24-hour rule)."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug import Response

from whatsapp import standin_block

from .helpers import PHONE_NUMBER_ID, customer_writes, fixture, now_ts, post_webhook, send_ok, text_message

BLOCK_PATH = f"/v26.0/{PHONE_NUMBER_ID}/block_users"
SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"
BSUID = "US.20481736592047381652"


class MetaBlocklist:
    """Meta's side: who wrote when (as Meta saw it) and who is blocked; each call checked like Meta."""

    def __init__(self, graph) -> None:
        self.wrote: dict[str, float] = {}
        self.blocked: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        for method in ("POST", "DELETE"):
            graph.expect_request(BLOCK_PATH, method=method).respond_with_handler(self.handle)

    def handle(self, request) -> Response:
        self.calls.append((request.method, json.loads(request.get_data() or b"null")))
        status, body = standin_block.answer(
            request.method,
            request.path,
            request.headers.get("Authorization"),
            request.get_data(),
            phone_number_id=PHONE_NUMBER_ID,
            token="test-access-token",
            last_wrote=self.wrote.get,
            blocklist=self.blocked,
        )
        return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture
def meta(graph) -> MetaBlocklist:
    return MetaBlocklist(graph)


def conversation(client, **target) -> dict:
    answer = client.get("/api/whatsapp/conversation", query_string=target or {"phone_number": "+14155550123"})
    return answer.get_json()["conversation"]


def test_a_customer_who_wrote_today_is_blocked_at_meta_and_the_conversation_says_so(client, meta):
    customer_writes(client)
    meta.wrote["14155550123"] = time.time() - 5
    conversation_id = conversation(client)["id"]
    answer = client.post("/api/whatsapp/block", json={"conversation_id": conversation_id})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["conversation"]["blocked"] is True
    assert meta.calls == [("POST", {"messaging_product": "whatsapp", "block_users": [{"user": "14155550123"}]})]
    assert meta.blocked == {"14155550123"}
    got = conversation(client)
    assert got["blocked"] is True and got["blocked_at"] is not None
    events = client.get("/api/whatsapp/events", query_string={"after": 0}).get_json()["events"]
    assert events[-1]["kind"] == "conversation.updated" and events[-1]["conversation_id"] == conversation_id


def test_a_customer_silent_for_24_hours_is_refused_before_meta_is_asked(client, meta):
    post_webhook(client, text_message("hello", timestamp=now_ts() - 25 * 3600))
    answer = client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"})
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert "only lets a business block customers who messaged it in the last 24 hours" in error
    assert meta.calls == []
    assert conversation(client)["blocked"] is False


def test_metas_own_refusal_is_passed_on_with_its_code(client, meta):
    customer_writes(client)  # Meta has not seen this customer write (its rule decides, not ours)
    answer = client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"})
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["success"] is False and body["error_code"] == 131047
    assert "Re-engagement message" in body["error"] and "last 24 hours" in body["error"]
    assert len(meta.calls) == 1
    assert conversation(client)["blocked"] is False


def test_a_blocked_customer_is_not_sent_to_until_unblocked(client, graph, meta):
    customer_writes(client)
    meta.wrote["14155550123"] = time.time()
    assert client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"}).status_code == 200
    refused = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hi"})
    assert refused.status_code == 409 and "blocked" in refused.get_json()["error"]
    answer = client.post("/api/whatsapp/unblock", json={"phone_number": "+14155550123"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["conversation"]["blocked"] is False
    assert meta.calls[-1] == ("DELETE", {"messaging_product": "whatsapp", "block_users": [{"user": "14155550123"}]})
    assert meta.blocked == set()
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    sent = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hi"})
    assert sent.status_code == 200, sent.get_json()


def test_unblocking_has_no_24_hour_rule(client, meta):
    customer_writes(client)
    meta.wrote["14155550123"] = time.time()
    client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"})
    meta.wrote.clear()  # long ago, as far as Meta is concerned
    assert client.post("/api/whatsapp/unblock", json={"phone_number": "+14155550123"}).status_code == 200


def test_a_customer_known_only_by_bsuid_is_blocked_by_it(client, meta):
    body = fixture("bsuid_text_username_only")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["timestamp"] = str(now_ts() - 5)
    user_id = value["messages"][0]["from_user_id"]
    assert post_webhook(client, body).status_code == 200
    meta.wrote[user_id] = time.time()
    answer = client.post("/api/whatsapp/block", json={"user_id": user_id})
    assert answer.status_code == 200, answer.get_json()
    assert meta.calls[0][1]["block_users"] == [{"user": user_id}]


def test_meta_unreachable_or_throttling_changes_nothing(client, settings, meta, graph):
    customer_writes(client)
    meta.wrote["14155550123"] = time.time()
    graph.clear()  # now every call gets Meta's throttling answer
    throttled = {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}}
    graph.expect_request(BLOCK_PATH, method="POST").respond_with_json(throttled, status=400)
    answer = client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"})
    assert answer.status_code == 429 and answer.get_json()["error_code"] == 130429
    graph.clear()
    graph.expect_request(BLOCK_PATH, method="POST").respond_with_data("<html>oops</html>", status=500)
    assert client.post("/api/whatsapp/block", json={"phone_number": "+14155550123"}).status_code == 502
    assert conversation(client)["blocked"] is False


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"conversation_id": 999}, 404), ({"phone_number": "not a number"}, 400), ([1], 400)],
)
def test_a_bad_target_is_a_clear_4xx(client, meta, body, status):
    answer = client.post("/api/whatsapp/block", json=body)
    assert answer.status_code == status and answer.get_json()["success"] is False
    assert meta.calls == []
