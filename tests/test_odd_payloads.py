"""Odd but signed payloads still store the customer's message, with content the API can always
encode: a type's body of the wrong JSON kind, a contact card that is not an object, Meta's errors
reported beside the message (value.errors), and NaN/Infinity (which Python's JSON decoder accepts)."""

from __future__ import annotations

import json

import pytest

from .helpers import fixture, fixture_bytes, post_webhook, text_message


def read_back(client, message_id: str, **params) -> dict:
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123", **params})
    assert answer.status_code == 200
    json.loads(answer.data)  # strict: NaN and Infinity are not JSON
    (message,) = [m for m in answer.get_json()["messages"] if m["whatsapp_message_id"] == message_id]
    return message


@pytest.mark.parametrize("kind", ["text", "location", "interactive", "button", "order", "system", "contacts"])
@pytest.mark.parametrize("body", [["a", 1], "a string", 7, None])
def test_a_type_whose_body_is_the_wrong_json_kind_is_still_stored(client, kind, body):
    envelope = text_message("x")
    item = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    item["type"] = kind
    item.pop("text")
    item[kind] = body
    assert post_webhook(client, envelope).status_code == 200
    got = read_back(client, item["id"])
    assert got["type"] == kind and got["content"]["type"] == kind


def test_a_contact_card_that_is_not_an_object_does_not_drop_the_others(client):
    envelope = text_message("x")
    item = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    item.pop("text")
    item["type"] = "contacts"
    item["contacts"] = ["junk", {"name": {"formatted_name": "Ana"}, "phones": [{"phone": 5}, {"phone": "+1 555"}]}]
    assert post_webhook(client, envelope).status_code == 200
    got = read_back(client, item["id"])
    assert got["text"] == "Ana (+1 555)"
    assert [card["name"]["formatted_name"] for card in got["content"]["cards"]] == ["Ana"]


def test_errors_meta_reports_beside_a_message_are_the_messages_own(client):
    item = fixture("interactive_value_error")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert post_webhook(client, fixture_bytes("interactive_value_error")).status_code == 200
    got = read_back(client, item["id"])
    assert got["content"]["errors"] == [
        {
            "code": 131000,
            "title": "Something went wrong",
            "message": None,
            "details": "Unsupported webhook payload",
        }
    ]
    assert got["error"] == {"code": 131000, "title": "Something went wrong", "details": "Unsupported webhook payload"}
    raw = read_back(client, item["id"], include_raw="true")["raw"]
    assert raw == item  # the raw JSON stays as Meta sent it


def test_nan_and_infinity_are_read_as_null_and_every_answer_stays_json(client):
    envelope = text_message("x")
    item = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    item.pop("text")
    item["type"] = "location"
    item["location"] = {"latitude": 1.5, "longitude": 2.5, "name": "Here"}
    body = json.dumps(envelope).replace("1.5", "NaN").replace("2.5", "-Infinity").encode()
    assert b"NaN" in body
    assert post_webhook(client, body).status_code == 200
    got = read_back(client, item["id"], include_raw="true")
    assert got["raw"]["location"]["latitude"] is None and got["raw"]["location"]["longitude"] is None
    assert got["text"] == "Here"


def test_a_lone_surrogate_inside_a_flow_answer_does_not_break_the_thread(client):
    envelope = text_message("x")
    item = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    item.pop("text")
    item["type"] = "interactive"
    item["interactive"] = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": '{"a": "\\ud800b"}'}}
    assert post_webhook(client, envelope).status_code == 200
    got = read_back(client, item["id"])
    assert got["content"]["response"] == {"a": "\ufffdb"}


def test_a_price_with_a_huge_exponent_is_null_and_the_order_stays(client):
    envelope = text_message("x")
    item = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    item.pop("text")
    item["type"] = "order"
    item["order"] = {
        "catalog_id": "C1",
        "product_items": [
            {"product_retailer_id": "SKU", "quantity": 1, "item_price": "1E+999999999", "currency": "EUR"}
        ],
    }
    assert post_webhook(client, envelope).status_code == 200
    got = read_back(client, item["id"])["content"]
    assert got["catalog_id"] == "C1" and got["items"][0]["product_retailer_id"] == "SKU"
    assert got["items"][0]["item_price"] is None and got["total"] is None


def test_nan_in_an_agent_request_is_a_400(client):
    answer = client.post(
        "/api/whatsapp/send",
        data='{"phone_number": "+14155550123", "type": "text", "message": "hi", "x": NaN}',
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "NaN" in answer.get_json()["error"]
