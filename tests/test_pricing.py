"""Each status's `pricing` object is kept on its message and returned; /stats counts charged messages."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime

import pytest

from .helpers import customer_writes, fixture, now_ts, post_webhook, send_ok, status_update, text_message, wamid

SEND_PATH = "/v26.0/110293847561029/messages"


def send_one(client, graph, message_id: str) -> None:
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id=message_id))
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hello"})
    assert answer.status_code == 200, answer.get_json()


def priced(name: str, message_id: str, status: str | None = None, timestamp: int | None = None) -> dict:
    """A pricing fixture (Meta's documented shape) for this message, optionally as another status/time."""
    body = copy.deepcopy(fixture(name))
    item = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    item["id"] = message_id
    if status:
        item["status"] = status
    if timestamp:
        item["timestamp"] = str(timestamp)
    return body


def outbound(client) -> dict:
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    return [m for m in messages["messages"] if m["direction"] == "outbound"][-1]


def billable(client) -> dict:
    answer = client.get("/api/whatsapp/stats")
    assert answer.status_code == 200
    return answer.get_json()["stats"]["billable_last_30_days"]


@pytest.fixture
def sent(client, graph) -> str:
    customer_writes(client)
    message_id = wamid("out")
    send_one(client, graph, message_id)
    return message_id


def test_a_free_service_reply_keeps_metas_pricing_on_the_message(client, sent):
    assert outbound(client)["pricing"] is None  # no status has said yet
    assert post_webhook(client, priced("status_sent", sent)).status_code == 200
    assert outbound(client)["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
        "charged": False,
    }
    assert billable(client)["total"] == 0


def test_a_charged_marketing_message_is_returned_and_counted_once(client, sent):
    timestamp = now_ts() - 60
    for status in ("sent", "delivered", "delivered"):  # sent and one of delivered/read carry it; a repeat too
        post_webhook(client, priced("status_pricing_marketing", sent, status, timestamp))
    assert outbound(client)["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing",
        "type": "regular",
        "charged": True,
    }
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    counts = billable(client)
    assert counts["total"] == 1 and counts["by_category"] == {"marketing": 1}
    assert counts["since"] <= today


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_pricing_survives_statuses_in_any_order(client, sent, order):
    timestamp = now_ts() - 60
    for status in order:
        if status == "read":  # Meta puts pricing on one of delivered/read only: read here carries none
            post_webhook(client, status_update(sent, "read", timestamp=timestamp))
        else:
            post_webhook(client, priced("status_pricing_marketing", sent, status, timestamp))
    got = outbound(client)
    assert got["status"] == "read"
    assert got["pricing"]["category"] == "marketing" and got["pricing"]["charged"] is True
    assert billable(client)["by_category"] == {"marketing": 1}


def test_a_failed_status_after_pricing_does_not_erase_it(client, sent):
    post_webhook(client, priced("status_pricing_marketing", sent, "sent", now_ts() - 60))
    errors = fixture("status_failed")["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    post_webhook(client, status_update(sent, "failed", errors=errors))
    got = outbound(client)
    assert got["status"] == "failed" and got["pricing"]["category"] == "marketing"


def test_a_parked_status_keeps_its_pricing_until_the_message_is_stored(client, graph):
    customer_writes(client)
    early = wamid("early")
    answer = post_webhook(client, priced("status_pricing_marketing", early, "delivered", now_ts() - 30))
    assert answer.get_json()["statuses_parked"] == 1
    send_one(client, graph, early)
    got = outbound(client)
    assert got["status"] == "delivered"
    assert got["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing",
        "type": "regular",
        "charged": True,
    }
    assert billable(client)["by_category"] == {"marketing": 1}


def test_charges_older_than_30_days_are_not_counted(client, sent):
    post_webhook(client, priced("status_pricing_marketing", sent, "sent", now_ts() - 40 * 86400))
    assert outbound(client)["pricing"]["charged"] is True
    assert billable(client) == {"total": 0, "by_category": {}, "since": billable(client)["since"]}


def test_billable_counts_follow_type_over_the_deprecated_billable_flag(client, graph):
    customer_writes(client)
    timestamp = now_ts() - 60
    for category, kind, flag in (("utility", "regular", None), ("utility", "free_customer_service", True)):
        message_id = wamid("out")
        send_one(client, graph, message_id)
        body = status_update(message_id, "sent", timestamp=timestamp)
        pricing = {"pricing_model": "PMP", "type": kind, "category": category}
        if flag is not None:
            pricing["billable"] = flag
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = pricing
        post_webhook(client, body)
    assert billable(client)["by_category"] == {"utility": 1}


def test_a_free_entry_point_status_opens_the_conversations_free_window(client, sent):
    body = priced("status_pricing_free_entry_point", sent, timestamp=now_ts() - 60)
    expires = now_ts() + 48 * 3600
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["conversation"]["expiration_timestamp"] = str(expires)
    post_webhook(client, body)
    got = outbound(client)
    assert got["pricing"]["type"] == "free_entry_point" and got["pricing"]["charged"] is False
    conversation = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"})
    cost = conversation.get_json()["conversation"]["reply_cost"]
    assert cost["free_entry_point_until"] == datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert cost["templates"]["marketing"]["charged"] is False
    assert cost["templates"]["marketing"]["pricing_type"] == "free_entry_point"


def test_an_entry_point_status_without_an_expiry_opens_72_hours_from_it(client, sent):
    body = priced("status_pricing_free_entry_point", sent, timestamp=now_ts() - 3600)
    del body["entry"][0]["changes"][0]["value"]["statuses"][0]["conversation"]
    post_webhook(client, body)
    post_webhook(client, priced("status_pricing_free_entry_point", sent, "delivered", now_ts() - 60))
    conversation = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"})
    until = conversation.get_json()["conversation"]["reply_cost"]["free_entry_point_until"]
    expected = datetime.fromtimestamp(now_ts() - 3600 + 72 * 3600, UTC).strftime("%Y-%m-%d %H:%M")
    assert until[:16] == expected  # from the first status, not extended by the second


def test_odd_pricing_objects_are_stored_without_a_500(client, sent):
    for pricing in ({"billable": "yes", "category": ["x"]}, {"type": "x" * 500}, "free", None, {}):
        body = status_update(sent, "sent")
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = pricing
        assert post_webhook(client, json.loads(json.dumps(body))).status_code == 200
    assert len(outbound(client)["pricing"]["type"]) == 64


def reply_cost(client, phone: str = "+14155550123") -> dict:
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["conversation"]["reply_cost"]


def test_inside_the_window_a_reply_and_utility_templates_are_free_and_marketing_is_charged(client):
    customer_writes(client)
    cost = reply_cost(client)
    assert cost["free_form"]["charged"] is False and cost["free_form"]["category"] == "service"
    assert cost["free_form"]["pricing_type"] == "free_customer_service"
    assert "customer service window" in cost["free_form"]["note"]
    templates = cost["templates"]
    assert templates["utility"]["charged"] is False
    assert templates["marketing"]["charged"] is True and templates["marketing"]["pricing_type"] == "regular"
    assert templates["authentication"]["charged"] is True
    assert cost["free_entry_point_until"] is None


def test_outside_the_window_only_templates_can_be_sent_and_each_is_charged(client):
    post_webhook(client, text_message("old news", timestamp=now_ts() - 25 * 3600))
    cost = reply_cost(client)
    assert cost["free_form"] is None
    assert all(cost["templates"][c]["charged"] for c in ("marketing", "utility", "authentication"))
    assert "outside the customer service window" in cost["templates"]["utility"]["note"]


def test_the_conversation_shown_says_what_a_reply_costs_and_the_list_leaves_it_out(client):
    customer_writes(client)
    [listed] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert "reply_cost" not in listed  # it doubled a page's bytes; the composer reads GET /conversation
    assert listed["blocked"] is False
    assert reply_cost(client)["free_form"]["charged"] is False
