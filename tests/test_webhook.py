"""The webhook route: Meta's handshake, signatures, envelopes, every message type, duplicates."""

from __future__ import annotations

import json

import pytest

from app import create_app

from .helpers import (
    AGENT_KEY,
    APP_SECRET,
    VERIFY_TOKEN,
    envelope,
    fixture,
    fixture_bytes,
    post_webhook,
    sign,
    text_message,
    wamid,
)


def messages_of(client, phone="+14155550123", **params):
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": phone, **params})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["messages"]


def conversation_count(client) -> int:
    return client.get("/api/whatsapp/stats").get_json()["stats"]["total_conversations"]


# --- verification handshake ----------------------------------------------------------------------


def test_verification_echoes_the_challenge_as_plain_text(anon):
    answer = anon.get(
        "/api/whatsapp/webhook",
        query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "x"},
        {"hub.challenge": "x"},
    ],
)
def test_verification_with_wrong_mode_or_token_is_refused(anon, params):
    answer = anon.get("/api/whatsapp/webhook", query_string=params)
    assert answer.status_code == 403
    assert answer.get_json()["success"] is False


def test_verification_is_refused_when_no_verify_token_is_configured(settings):
    app = create_app({**settings, "WHATSAPP_VERIFY_TOKEN": ""})
    answer = app.test_client().get(
        "/api/whatsapp/webhook", query_string={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "x"}
    )
    assert answer.status_code == 403


# --- signatures ------------------------------------------------------------------------------


def test_a_missing_signature_gets_401_and_stores_nothing(client):
    body = fixture_bytes("text")
    answer = client.post("/api/whatsapp/webhook", data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert answer.get_json() == {"success": False, "error": "Missing or invalid X-Hub-Signature-256"}
    assert conversation_count(client) == 0


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        sign(b"another body"),
        sign(fixture_bytes("text"), secret="not-the-app-secret"),
        sign(fixture_bytes("text")).replace("sha256=", "sha1="),
        "garbage",
        # Not ASCII: hmac.compare_digest raises TypeError on such text (a 500 before the fix).
        "sha256=\u00e9",
        "sha256=" + "\u00e9" * 64,
        "sha256=" + "0" * 63 + "\u00ff",
    ],
)
def test_a_wrong_signature_gets_401_and_stores_nothing(client, signature):
    answer = post_webhook(client, fixture_bytes("text"), signature=signature)
    assert answer.status_code == 401
    assert conversation_count(client) == 0


def test_the_signature_covers_the_raw_bytes_meta_sent(client):
    # The fixture escapes non-ASCII as \u00e3; re-serialising would change the bytes and the HMAC.
    raw = fixture_bytes("audio_voice")
    assert b"\\u00e3" in raw
    assert post_webhook(client, raw).status_code == 200
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+551187654321"}).get_json()
    assert conv["conversation"]["contact_profile_name"] == "João Silva"


def test_an_uppercase_hex_signature_is_accepted(client):
    raw = fixture_bytes("text")
    header = "sha256=" + sign(raw).split("=", 1)[1].upper()
    assert post_webhook(client, raw, signature=header).status_code == 200


def test_without_an_app_secret_posts_are_refused_with_a_clear_error(settings):
    app = create_app({**settings, "WHATSAPP_APP_SECRET": ""})
    answer = post_webhook(app.test_client(), fixture_bytes("text"))
    assert answer.status_code == 503
    assert "WHATSAPP_APP_SECRET" in answer.get_json()["error"]


def test_the_development_switch_accepts_unsigned_posts_without_a_secret(settings):
    app = create_app({**settings, "WHATSAPP_APP_SECRET": "", "WEBHOOK_ALLOW_UNSIGNED": "true"})
    client = app.test_client()
    answer = client.post("/api/whatsapp/webhook", data=fixture_bytes("text"), content_type="application/json")
    assert answer.status_code == 200


def test_startup_warns_when_the_app_secret_is_missing(settings, caplog):
    with caplog.at_level("WARNING"):
        create_app({**settings, "WHATSAPP_APP_SECRET": ""})
    assert any("WHATSAPP_APP_SECRET is not set" in r.getMessage() for r in caplog.records)


# --- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b"\xff\xfe\x00",
    ],
)
def test_a_body_that_is_not_a_webhook_envelope_gets_400(client, raw):
    answer = post_webhook(client, raw)
    assert answer.status_code == 400
    assert answer.get_json()["success"] is False
    assert conversation_count(client) == 0


# --- every message type ------------------------------------------------------------------------

TYPES = [
    # fixture, phone, type, text
    ("text", "+14155550123", "text", "Hi! My order #4471 still hasn't arrived. Can someone help?"),
    ("image", "+14155550123", "image", "Photo of the damaged box"),
    ("video", "+4915123456789", "video", "This is what was inside"),
    ("audio_voice", "+551187654321", "audio", None),
    ("document", "+4915123456789", "document", "Invoice attached"),
    ("sticker", "+14155550123", "sticker", None),
    (
        "location",
        "+551187654321",
        "location",
        "Museu de Arte de São Paulo\nAv. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
    ),
    ("contacts", "+14155550123", "contacts", "Carlos Ruiz (+1 (415) 555-0199)"),
    ("interactive_button_reply", "+14155550123", "interactive", "Track order"),
    ("interactive_list_reply", "+4915123456789", "interactive", "Request a refund"),
    ("button", "+551187654321", "button", "Confirm"),
    ("referral_ad", "+447700900456", "text", "Hi, I saw your ad. Do you ship to Manchester?"),
    ("text_forwarded", "+4915123456789", "text", "Your parcel is held at the depot, call 0800 123 456"),
    ("text_reply_context", "+14155550123", "text", "Yes, the address is 221B Baker St, apt 4"),
    ("unsupported", "+4915123456789", "unsupported", None),
]


@pytest.mark.parametrize("name,phone,kind,text", TYPES, ids=[t[0] for t in TYPES])
def test_every_inbound_type_is_stored_with_its_visible_text(client, name, phone, kind, text):
    payload = fixture(name)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert post_webhook(client, fixture_bytes(name)).status_code == 200
    stored = messages_of(client, phone, include_raw="true")
    assert len(stored) == 1
    got = stored[0]
    assert got["whatsapp_message_id"] == message["id"]
    assert got["direction"] == "inbound"
    assert got["type"] == kind
    assert got["text"] == text
    assert got["phone_number"] == phone
    assert got["raw"] == message
    assert got["timestamp"]


@pytest.mark.parametrize("name", ["image", "video", "audio_voice", "document", "sticker"])
def test_media_keep_meta_media_id_mime_type_and_sha256(client, name):
    payload = fixture(name)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    media = message[message["type"]]
    post_webhook(client, fixture_bytes(name))
    phone = "+" + message["from"]
    got = messages_of(client, phone)[0]
    assert got["media"]["id"] == media["id"]
    assert got["media"]["mime_type"] == media["mime_type"]
    assert got["media"]["sha256"] == media["sha256"]
    assert got["media_type"] == media["mime_type"]
    if name == "document":
        assert got["media"]["filename"] == "Rechnung_4471.pdf"


def test_a_reply_keeps_the_message_it_refers_to(client):
    post_webhook(client, fixture_bytes("text_reply_context"))
    got = messages_of(client)[0]
    assert got["reply_to"] == "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI4RTc0QUJFMTYxQUExMjFGQjgA"


def test_an_unknown_type_is_kept_with_its_raw_json(client):
    body = text_message(extra={"type": "poll_creation", "poll_creation": {"question": "?"}})
    body["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    assert post_webhook(client, body).status_code == 200
    got = messages_of(client, include_raw="true")[0]
    assert got["type"] == "poll_creation"
    assert got["raw"]["poll_creation"] == {"question": "?"}


@pytest.mark.parametrize(
    ("latitude", "longitude", "text"),
    [(-23.5, -46.6, "-23.5, -46.6"), (True, 2, None), (1, False, None), ("x", 2, None), (91, 0, None)],
)
def test_a_location_without_a_name_shows_its_coordinates_only_when_they_are_numbers(client, latitude, longitude, text):
    body = text_message(extra={"type": "location", "location": {"latitude": latitude, "longitude": longitude}})
    body["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    assert post_webhook(client, body).status_code == 200
    assert messages_of(client)[0]["text"] == text


def test_an_error_code_of_true_is_not_the_code_1(client):
    body = text_message(extra={"type": "unsupported", "errors": [{"code": True, "title": "Unsupported"}]})
    assert post_webhook(client, body).status_code == 200
    assert messages_of(client)[0]["error"] == {"code": None, "title": "Unsupported", "details": None}


def test_a_document_without_caption_shows_its_filename(client):
    body = text_message(
        extra={"type": "document", "document": {"id": "1", "mime_type": "application/pdf", "filename": "quote.pdf"}}
    )
    post_webhook(client, body)
    assert messages_of(client)[0]["text"] == "quote.pdf"


def test_a_system_message_is_stored_but_not_counted_unread(client):
    post_webhook(client, text_message("hi"))
    post_webhook(client, fixture_bytes("system_number_change"))
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550177"}).get_json()
    assert conv["conversation"]["unread_count"] == 1
    kinds = [m["type"] for m in messages_of(client, "+14155550177")]
    assert kinds == ["text", "system"]


# --- the whole envelope --------------------------------------------------------------------------


def test_every_entry_change_message_and_status_of_a_delivery_is_processed(client):
    first = text_message("one", wa_id="14155550001", name="Ann", message_id=wamid())
    second = text_message("two", wa_id="14155550002", name="Bob", message_id=wamid())
    third = text_message("three", wa_id="14155550003", name="Cy", message_id=wamid())
    # Two messages in one value with their contacts in the opposite order (join by wa_id, not index).
    value = second["entry"][0]["changes"][0]["value"]
    value["messages"].append(third["entry"][0]["changes"][0]["value"]["messages"][0])
    value["contacts"].insert(0, third["entry"][0]["changes"][0]["value"]["contacts"][0])
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            first["entry"][0],
            {
                "id": "2",
                "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    second["entry"][0]["changes"][0],
                ],
            },
        ],
    }
    answer = post_webhook(client, body)
    assert answer.status_code == 200
    assert answer.get_json()["stored"] == 3
    names = {
        c["phone_number"]: c["contact_profile_name"]
        for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]
    }
    assert names == {"+14155550001": "Ann", "+14155550002": "Bob", "+14155550003": "Cy"}


def test_a_malformed_item_is_skipped_without_dropping_its_neighbours(client):
    body = text_message("kept")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"].insert(0, {"type": "text", "text": {"body": "no id"}})
    value["messages"].append("not an object")
    value["statuses"] = [{"status": "read"}]
    body["entry"].insert(0, {"id": "1", "changes": "not a list"})
    answer = post_webhook(client, body)
    assert answer.status_code == 200
    assert [m["text"] for m in messages_of(client)] == ["kept"]


def test_other_webhook_fields_are_acknowledged_and_store_nothing(client):
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}]}],
    }
    assert post_webhook(client, body).status_code == 200
    assert conversation_count(client) == 0


# --- idempotency -----------------------------------------------------------------------------


def test_a_duplicate_delivery_changes_nothing(client):
    raw = fixture_bytes("text")
    assert post_webhook(client, raw).status_code == 200
    before = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"}).get_json()
    again = post_webhook(client, raw)
    assert again.status_code == 200
    assert again.get_json()["duplicates"] == 1
    after = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"}).get_json()
    assert after == before
    assert len(messages_of(client)) == 1


def test_a_message_rebatched_with_others_is_not_counted_twice(client):
    shared_id = wamid()
    post_webhook(client, text_message("first", message_id=shared_id))
    rebatched = text_message("second")
    rebatched["entry"][0]["changes"][0]["value"]["messages"].insert(
        0, text_message("first", message_id=shared_id)["entry"][0]["changes"][0]["value"]["messages"][0]
    )
    post_webhook(client, rebatched)
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"}).get_json()
    assert conv["conversation"]["unread_count"] == 2
    assert [m["text"] for m in messages_of(client)] == ["first", "second"]


def test_messages_arriving_out_of_order_are_threaded_by_meta_time(client):
    post_webhook(client, text_message("later", timestamp=1795500100))
    post_webhook(client, text_message("earlier", timestamp=1795500000))
    assert [m["text"] for m in messages_of(client)] == ["earlier", "later"]
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"}).get_json()
    assert conv["conversation"]["last_message"] == "later"
    assert conv["conversation"]["last_message_at"] == "2026-11-24 06:01:40"


def test_the_answer_is_json_with_what_was_stored(client):
    answer = post_webhook(client, fixture_bytes("image"))
    assert answer.get_json() == {
        "success": True,
        "delivery_id": 1,
        "state": "processed",
        "stored": 1,
        "duplicates": 0,
        "statuses_applied": 0,
        "statuses_parked": 0,
    }


def test_non_ascii_text_is_stored_verbatim(client):
    body = json.dumps(text_message("Olá 👋 مرحبا <b>hi</b>")).encode()
    post_webhook(client, body)
    assert messages_of(client)[0]["text"] == "Olá 👋 مرحبا <b>hi</b>"


def test_a_body_signed_with_another_apps_secret_is_refused(client):
    assert post_webhook(client, envelope({"messages": []}), secret="other").status_code == 401
    assert post_webhook(client, envelope({"messages": []}), secret=APP_SECRET).status_code == 200


def test_an_ad_referral_and_a_forward_are_visible_to_agents(client):
    post_webhook(client, fixture_bytes("referral_ad"))
    [ad] = messages_of(client, "+447700900456")
    assert ad["referral"]["source_type"] == "ad" and ad["referral"]["headline"] == "Chat with us"
    assert ad["forwarded"] is False
    post_webhook(client, fixture_bytes("text_forwarded"))
    [forwarded] = messages_of(client, "+4915123456789")
    assert forwarded["forwarded"] is True and forwarded["referral"] is None


def test_a_large_batch_within_meta_3_mb_is_accepted(client):
    body = text_message("x")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"] = [{**value["messages"][0], "id": wamid(), "text": {"body": "y" * 4000}} for _ in range(600)]
    raw = json.dumps(body).encode()
    assert 2 * 1024 * 1024 < len(raw) < 3 * 1024 * 1024
    answer = post_webhook(client, raw)
    assert answer.status_code == 200
    assert answer.get_json()["stored"] == 600


def test_an_unsupported_message_keeps_meta_reason(client):
    post_webhook(client, fixture_bytes("unsupported"))
    [message] = messages_of(client, "+4915123456789")
    assert message["error"] == {
        "code": 131051,
        "title": "Message type unknown",
        "details": "Message type is currently not supported.",
    }


def test_a_change_for_another_number_of_the_business_is_acknowledged_and_skipped(client, caplog):
    """One app can serve several numbers of a business account: only this inbox's number is stored."""
    ours = text_message("for us", wa_id="14155550001")
    theirs = text_message("for the other number", wa_id="14155550002")
    theirs["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    ours["entry"][0]["changes"].append(theirs["entry"][0]["changes"][0])
    answer = post_webhook(client, ours)
    assert answer.status_code == 200 and answer.get_json()["stored"] == 1
    phones = [c["phone_number"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]]
    assert phones == ["+14155550001"]
    assert "999999999999999" in caplog.text and "not this inbox" in caplog.text


def test_without_a_configured_number_every_change_is_stored(settings):
    client = create_app({**settings, "WHATSAPP_PHONE_NUMBER_ID": ""}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    payload = text_message("for the other number", wa_id="14155550002")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    assert post_webhook(client, payload).get_json()["stored"] == 1
