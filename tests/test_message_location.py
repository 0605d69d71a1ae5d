"""A location message carries its place in the message JSON, so no client needs include_raw for it."""

from __future__ import annotations

from .helpers import customer_writes, fixture_bytes, post_webhook, send_ok

SEND_PATH = "/v26.0/110293847561029/messages"


def test_an_inbound_location_has_its_coordinates_name_address_and_url(client):
    assert post_webhook(client, fixture_bytes("location")).status_code == 200
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": "+551187654321"})
    (got,) = answer.get_json()["messages"]
    assert "raw" not in got
    assert got["location"] == {
        "latitude": -23.5613991,
        "longitude": -46.6565712,
        "name": "Museu de Arte de São Paulo",
        "address": "Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
        "url": "https://masp.org.br/",
    }


def test_a_sent_location_has_its_coordinates_and_other_messages_have_none(client, graph):
    customer_writes(client, "Where is the shop?")
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    sent = client.post(
        "/api/whatsapp/send",
        json={"phone_number": "+14155550123", "type": "location", "location": {"latitude": 52.52, "longitude": 13.405}},
    )
    assert sent.status_code == 200, sent.get_json()
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()[
        "messages"
    ]
    by_type = {m["type"]: m for m in messages}
    assert by_type["location"]["location"] == {
        "latitude": 52.52,
        "longitude": 13.405,
        "name": None,
        "address": None,
        "url": None,
    }
    assert by_type["text"]["location"] is None
