"""The agent API of the spec: routes, parameters, shapes, phone forms, access."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from app import create_app

from .helpers import AGENT_KEY, SPEC_CONVERSATION_FIELDS, SPEC_MESSAGE_FIELDS, fixture_bytes, post_webhook, text_message


def seed(client, *customers: tuple[str, str, int]):
    """One text message per (wa_id, body, timestamp)."""
    for wa_id, body, ts in customers:
        assert (
            post_webhook(client, text_message(body, wa_id=wa_id, name=f"N{wa_id[-2:]}", timestamp=ts)).status_code
            == 200
        )


def conv_id(client, phone):
    return client.get("/api/whatsapp/conversation", query_string={"phone_number": phone}).get_json()["conversation"][
        "id"
    ]


# --- conversations -----------------------------------------------------------------------------


def test_conversations_have_the_spec_shape_newest_activity_first(client):
    seed(
        client,
        ("14155550001", "old", 1795500000),
        ("14155550002", "new", 1795500500),
        ("14155550003", "middle", 1795500200),
    )
    body = client.get("/api/whatsapp/conversations").get_json()
    assert body["success"] is True
    assert body["count"] == 3 and body["total"] == 3
    assert [c["last_message"] for c in body["conversations"]] == ["new", "middle", "old"]
    first = body["conversations"][0]
    assert list(first)[: len(SPEC_CONVERSATION_FIELDS)] == SPEC_CONVERSATION_FIELDS
    assert first["phone_number"] == "+14155550002"
    assert first["contact_name"] == "N02" and first["contact_profile_name"] == "N02"
    assert first["unread_count"] == 1 and first["status"] == "open" and first["assigned_agent_id"] is None
    assert first["last_message_at"] == "2026-11-24 06:08:20"


def test_conversations_filter_by_status_and_unread(client):
    seed(client, ("14155550001", "a", 1795500000), ("14155550002", "b", 1795500100))
    first = conv_id(client, "+14155550001")
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": first, "agent_id": 3})
    client.post("/api/whatsapp/mark-read", json={"conversation_id": conv_id(client, "+14155550002")})
    assigned = client.get("/api/whatsapp/conversations?status=assigned").get_json()["conversations"]
    assert [c["id"] for c in assigned] == [first]
    assert client.get("/api/whatsapp/conversations?status=closed").get_json()["count"] == 0
    unread = client.get("/api/whatsapp/conversations?unread_only=true").get_json()["conversations"]
    assert [c["id"] for c in unread] == [first]
    assert client.get("/api/whatsapp/conversations?unread_only=false").get_json()["count"] == 2


def test_conversations_page_with_limit_and_offset(client):
    seed(client, *[(f"141555500{i:02d}", f"m{i}", 1795500000 + i) for i in range(5)])
    page = client.get("/api/whatsapp/conversations?limit=2&offset=1").get_json()
    assert [c["last_message"] for c in page["conversations"]] == ["m3", "m2"]
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1


@pytest.mark.parametrize(
    "query,error",
    [
        ("status=archived", "status must be one of open, closed, assigned"),
        ("unread_only=maybe", "unread_only must be true or false"),
        ("limit=0", "limit must be between 1 and 200"),
        ("limit=1000", "limit must be between 1 and 200"),
        ("limit=ten", "limit must be an integer"),
        ("offset=-1", "offset must be at least 0"),
    ],
)
def test_conversations_reject_bad_parameters_with_the_reason(client, query, error):
    answer = client.get(f"/api/whatsapp/conversations?{query}")
    assert answer.status_code == 400
    assert answer.get_json() == {"success": False, "error": error}


# --- one conversation and phone forms -----------------------------------------------------------


@pytest.mark.parametrize("form", ["+56944328662", "56944328662", " 56944328662", "+56 9 4432 8662", "0056944328662"])
def test_a_conversation_is_found_by_any_form_of_its_number(client, form):
    seed(client, ("56944328662", "Hola", 1795500000))
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": form})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["phone_number"] == "+56944328662"


def test_an_unencoded_plus_in_the_query_string_still_matches(client):
    seed(client, ("56944328662", "Hola", 1795500000))
    answer = client.get("/api/whatsapp/conversation?phone_number=+56944328662")
    assert answer.status_code == 200


def test_a_conversation_is_found_by_id(client):
    seed(client, ("56944328662", "Hola", 1795500000))
    cid = conv_id(client, "+56944328662")
    got = client.get(f"/api/whatsapp/conversation?conversation_id={cid}").get_json()
    assert got["conversation"]["last_message"] == "Hola"


def test_brazilian_numbers_with_or_without_the_ninth_digit_are_one_customer(client):
    seed(client, ("551187654321", "oi", 1795500000))
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+5511987654321"})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["phone_number"] == "+551187654321"


def test_mexican_numbers_with_or_without_the_1_are_one_customer(client):
    seed(client, ("5215512345678", "hola", 1795500000))
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+525512345678"})
    assert answer.status_code == 200


def test_argentine_numbers_with_or_without_the_9_are_one_customer(client):
    seed(client, ("5491123456789", "hola", 1795500000))
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+54 11 2345-6789"})
    assert answer.status_code == 200
    assert answer.get_json()["conversation"]["phone_number"] == "+5491123456789"


@pytest.mark.parametrize(
    "params,status,error",
    [
        ({}, 400, "conversation_id, phone_number or user_id is required"),
        ({"conversation_id": "abc"}, 400, "conversation_id must be an integer"),
        ({"conversation_id": "999"}, 404, "Conversation not found"),
        ({"phone_number": "+56900000000"}, 404, "Conversation not found"),
        ({"user_id": "US.1234567890"}, 404, "Conversation not found"),
        ({"user_id": "not a bsuid"}, 400, None),
        ({"phone_number": "hello"}, 400, None),
        ({"phone_number": "+999123456789"}, 400, None),
    ],
)
def test_conversation_lookup_errors(client, params, status, error):
    answer = client.get("/api/whatsapp/conversation", query_string=params)
    assert answer.status_code == status
    body = answer.get_json()
    assert body["success"] is False
    if error:
        assert body["error"] == error
    else:
        assert body["error"].startswith("Invalid ")


# --- messages ----------------------------------------------------------------------------------


def test_messages_have_the_spec_shape(client):
    post_webhook(client, fixture_bytes("text"))
    body = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    assert body["success"] is True and body["count"] == 1
    message = body["messages"][0]
    assert list(message)[: len(SPEC_MESSAGE_FIELDS)] == SPEC_MESSAGE_FIELDS
    assert message["direction"] == "inbound" and message["agent_id"] is None
    assert message["timestamp"] == "2026-11-24 06:00:00"


def test_messages_return_the_newest_n_oldest_first(client):
    for i in range(60):
        post_webhook(client, text_message(f"m{i}", timestamp=1795500000 + i))
    default = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123"}).get_json()
    assert default["count"] == 50
    assert default["messages"][0]["text"] == "m10" and default["messages"][-1]["text"] == "m59"
    three = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123", "limit": 3}).get_json()
    assert [m["text"] for m in three["messages"]] == ["m57", "m58", "m59"]


# --- mark-read, assign, stats ------------------------------------------------------------------


def test_mark_read_zeroes_the_unread_count(client, graph):
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_json({"success": True})
    seed(client, ("14155550001", "a", 1795500000), ("14155550001", "b", 1795500001))
    cid = conv_id(client, "+14155550001")
    answer = client.post("/api/whatsapp/mark-read", json={"conversation_id": cid})
    assert answer.status_code == 200
    assert answer.get_json()["success"] is True
    assert (
        client.get(f"/api/whatsapp/conversation?conversation_id={cid}").get_json()["conversation"]["unread_count"] == 0
    )


def test_assign_agent_sets_the_agent_and_status_assigned(client):
    seed(client, ("14155550001", "a", 1795500000))
    cid = conv_id(client, "+14155550001")
    answer = client.post("/api/whatsapp/assign-agent", json={"conversation_id": cid, "agent_id": 2})
    assert answer.status_code == 200
    conv = answer.get_json()["conversation"]
    assert conv["assigned_agent_id"] == 2 and conv["status"] == "assigned"
    unassigned = client.post("/api/whatsapp/assign-agent", json={"conversation_id": cid, "agent_id": None}).get_json()
    assert unassigned["conversation"]["assigned_agent_id"] is None
    assert unassigned["conversation"]["status"] == "open"


@pytest.mark.parametrize(
    "body,status,error",
    [
        ({"agent_id": 2}, 400, "conversation_id, phone_number or user_id is required"),
        ({"conversation_id": 99, "agent_id": 2}, 404, "Conversation not found"),
        ({"conversation_id": 1}, 400, "agent_id is required (null to unassign)"),
        ({"conversation_id": 1, "agent_id": "two"}, 400, "agent_id must be an integer"),
        ({"conversation_id": 1, "agent_id": True}, 400, "agent_id must be an integer"),
    ],
)
def test_assign_agent_errors(client, body, status, error):
    seed(client, ("14155550001", "a", 1795500000))
    answer = client.post("/api/whatsapp/assign-agent", json=body)
    assert answer.status_code == status
    assert answer.get_json() == {"success": False, "error": error}


def test_stats_count_conversations_and_recent_messages(client):
    from datetime import datetime

    now = int(datetime.now(UTC).timestamp())
    seed(client, ("14155550001", "a", now - 60), ("14155550002", "b", now - 3 * 86400), ("14155550003", "c", now))
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": conv_id(client, "+14155550003"), "agent_id": 1})
    stats = client.get("/api/whatsapp/stats").get_json()["stats"]
    assert stats["total_conversations"] == 3
    assert stats["unread_conversations"] == 3
    assert stats["open_conversations"] == 2
    assert stats["assigned_conversations"] == 1
    assert stats["messages_last_24h"] == 2


# --- access ------------------------------------------------------------------------------------

AGENT_ROUTES = [
    ("get", "/api/whatsapp/conversations"),
    ("get", "/api/whatsapp/conversation?conversation_id=1"),
    ("get", "/api/whatsapp/messages?conversation_id=1"),
    ("post", "/api/whatsapp/send"),
    ("post", "/api/whatsapp/mark-read"),
    ("post", "/api/whatsapp/assign-agent"),
    ("get", "/api/whatsapp/stats"),
]


@pytest.mark.parametrize("method,url", AGENT_ROUTES)
def test_agent_routes_need_the_key(anon, method, url):
    answer = getattr(anon, method)(url)
    assert answer.status_code == 401
    assert answer.get_json()["success"] is False


def test_every_agent_route_needs_the_key(app, anon):
    """All of /api/whatsapp/ but Meta's webhook and the public OpenAPI document, walked from the app."""
    public = {"/api/whatsapp/webhook", "/api/whatsapp/openapi.json"}
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/whatsapp/") or rule.rule in public:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = anon.open(url, method=method, headers={"Accept": "text/event-stream"})
            assert answer.status_code == 401, (method, url, answer.status_code)
            assert answer.get_json()["success"] is False
            checked.append(f"{method} {url}")
    assert len(checked) >= 19  # the spec's seven and every route added since


@pytest.mark.parametrize("header", [f"Bearer {AGENT_KEY}x", "Bearer wrong", "Basic " + AGENT_KEY, AGENT_KEY, "Bearer "])
def test_a_wrong_key_gets_401(anon, header):
    answer = anon.get("/api/whatsapp/stats", headers={"Authorization": header})
    assert answer.status_code == 401


def test_the_right_key_is_served(anon):
    answer = anon.get("/api/whatsapp/stats", headers={"Authorization": f"Bearer {AGENT_KEY}"})
    assert answer.status_code == 200


def test_without_a_configured_key_only_loopback_clients_are_served(settings, caplog):
    with caplog.at_level("WARNING"):
        app = create_app({**settings, "AGENT_API_KEY": ""})
    assert any("AGENT_API_KEY is not set" in r.getMessage() for r in caplog.records)  # said at start-up
    local = app.test_client().get("/api/whatsapp/stats")
    assert local.status_code == 200
    remote = app.test_client().get("/api/whatsapp/stats", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 401
    assert "AGENT_API_KEY" in remote.get_json()["error"]


def test_the_webhook_does_not_need_the_agent_key(anon):
    assert post_webhook(anon, fixture_bytes("text")).status_code == 200


@pytest.mark.parametrize("value", ["99999999999999999999999", "1e400", "-5", "٣"])
def test_absurd_ids_are_refused_not_crashed(client, value):
    answer = client.get("/api/whatsapp/conversation", query_string={"conversation_id": value})
    assert answer.status_code == 400


@pytest.mark.parametrize("value", ["+٥٦٩٤٤٣٢٨٦٦٢", "+56 9 4432 8662 ext 5", "+" + "9" * 30])
def test_phone_numbers_outside_ascii_international_form_are_refused(client, value):
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": value})
    assert answer.status_code == 400
