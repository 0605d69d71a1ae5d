"""Status webhooks move outbound messages up sent < delivered < read, never back."""

from __future__ import annotations

import itertools

import pytest

from .helpers import customer_writes, fixture, fixture_bytes, post_webhook, send_ok, status_update, wamid


@pytest.fixture
def sent(client, graph):
    """Send one message through the API (Meta stand-in accepts it); returns its wamid."""
    message_id = wamid("out")
    customer_writes(client)
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_json(
        send_ok(message_id=message_id)
    )
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hello", "agent_id": 7})
    assert answer.status_code == 200, answer.get_json()
    return message_id


def outbound(client):
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    return [m for m in messages["messages"] if m["direction"] == "outbound"][0]


TIMES = {"sent": 1795500100, "delivered": 1795500200, "read": 1795500300}


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_statuses_in_any_order_end_at_read_with_each_time_kept(client, sent, order):
    for status in order:
        assert post_webhook(client, status_update(sent, status, timestamp=TIMES[status])).status_code == 200
    got = outbound(client)
    assert got["status"] == "read"
    assert got["sent_at"] == "2026-11-24 06:01:40"
    assert got["delivered_at"] == "2026-11-24 06:03:20"
    assert got["read_at"] == "2026-11-24 06:05:00"


def test_a_late_delivered_does_not_downgrade_read(client, sent):
    post_webhook(client, status_update(sent, "read"))
    post_webhook(client, status_update(sent, "delivered"))
    post_webhook(client, status_update(sent, "sent"))
    assert outbound(client)["status"] == "read"


def test_a_repeated_status_changes_nothing(client, sent):
    post_webhook(client, status_update(sent, "delivered", timestamp=1795500200))
    first = outbound(client)
    post_webhook(client, status_update(sent, "delivered", timestamp=1795500999))
    assert outbound(client) == first


def test_failed_keeps_meta_error_as_structured_fields(client, sent):
    errors = fixture("status_failed")["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    post_webhook(client, status_update(sent, "failed", errors=errors, timestamp=1795500900))
    got = outbound(client)
    assert got["status"] == "failed"
    assert got["failed_at"] == "2026-11-24 06:15:00"
    assert got["error"] == {
        "code": 131047,
        "title": "Re-engagement message",
        "details": "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    }


def test_a_late_sent_does_not_resurrect_a_failed_message(client, sent):
    post_webhook(client, status_update(sent, "failed", errors=[{"code": 131026, "title": "Undeliverable"}]))
    post_webhook(client, status_update(sent, "sent"))
    got = outbound(client)
    assert got["status"] == "failed"
    assert got["error"]["code"] == 131026
    assert got["sent_at"] is not None


def test_a_voice_note_played_status_is_above_read(client, sent):
    post_webhook(client, status_update(sent, "played"))
    post_webhook(client, status_update(sent, "read"))
    got = outbound(client)
    assert got["status"] == "played"
    assert got["read_at"] is not None and got["played_at"] is not None


def test_a_status_for_an_unknown_message_is_acknowledged_and_parked(client):
    answer = post_webhook(client, fixture_bytes("status_delivered"))
    assert answer.status_code == 200
    assert answer.get_json()["statuses_parked"] == 1


def test_a_status_for_an_inbound_message_changes_nothing(client):
    post_webhook(client, fixture_bytes("text"))
    inbound_id = fixture("text")["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    post_webhook(client, status_update(inbound_id, "read"))
    got = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    assert got["messages"][0]["status"] == "received"


def test_a_status_with_an_unknown_value_is_skipped_not_fatal(client, sent):
    body = status_update(sent, "deleted")
    body["entry"][0]["changes"][0]["value"]["statuses"].append(
        status_update(sent, "delivered")["entry"][0]["changes"][0]["value"]["statuses"][0]
    )
    assert post_webhook(client, body).status_code == 200
    assert outbound(client)["status"] == "delivered"
