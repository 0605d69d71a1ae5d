"""Every message carries a structured `content` by type (issue 13): each inbound type and interactive
sub-type of Meta's webhook reference is posted signed and read back through the API, in full."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from whatsapp import content, present
from whatsapp.shapes import keys

from .helpers import app_connection, customer_writes, fixture, fixture_bytes, post_webhook, send_ok, text_message, wamid

SEND_PATH = "/v26.0/110293847561029/messages"
NONE = {"referral": None, "product": None, "errors": []}
MEDIA_NONE = {"caption": None, "filename": None, "mime_type": None, "voice": None, "animated": None}


def thread(client, phone: str = "+14155550123") -> list[dict]:
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["messages"]


def posted(client, name: str, phone: str | None = None) -> dict:
    """Post a fixture signed, and read its message back through GET /messages."""
    body = fixture(name)
    value = body["entry"][0]["changes"][0]["value"]
    item = value["messages"][0]
    answer = post_webhook(client, fixture_bytes(name))
    assert answer.status_code == 200, answer.get_json()
    phone = phone or "+" + item["from"]
    (message,) = [m for m in thread(client, phone) if m["whatsapp_message_id"] == item["id"]]
    return message


def stored(app, wamid_: str) -> dict:
    """A reaction, edit or deletion is folded into its target, never listed: its own row, presented."""
    with app_connection(app) as conn:
        row = conn.execute("SELECT * FROM whatsapp_messages WHERE whatsapp_message_id = ?", (wamid_,)).fetchone()
    assert row is not None
    return present.message(row)


# --- text and media -------------------------------------------------------------------------------


def test_a_text_has_its_body(client):
    got = posted(client, "text")
    assert got["content"] == {
        "type": "text",
        "body": "Hi! My order #4471 still hasn't arrived. Can someone help?",
        **NONE,
    }


@pytest.mark.parametrize(
    "name,expected",
    [
        ("image", {"type": "image", "caption": "Photo of the damaged box", "mime_type": "image/jpeg"}),
        ("video", {"type": "video", "caption": "This is what was inside", "mime_type": "video/mp4"}),
        ("audio_voice", {"type": "audio", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        (
            "document",
            {
                "type": "document",
                "caption": "Invoice attached",
                "filename": "Rechnung_4471.pdf",
                "mime_type": "application/pdf",
            },
        ),
        ("sticker", {"type": "sticker", "mime_type": "image/webp", "animated": False}),
        ("sticker_animated", {"type": "sticker", "mime_type": "image/webp", "animated": True}),
    ],
)
def test_media_have_caption_filename_mime_type_voice_and_animated(client, name, expected):
    got = posted(client, name)
    assert got["content"] == {**MEDIA_NONE, **expected, **NONE}


def test_a_location_has_its_coordinates_name_address_and_url(client):
    got = posted(client, "location")
    assert got["content"] == {
        "type": "location",
        "latitude": -23.5613991,
        "longitude": -46.6565712,
        "name": "Museu de Arte de São Paulo",
        "address": "Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
        "url": "https://masp.org.br/",
        **NONE,
    }


# --- contacts -------------------------------------------------------------------------------------


def test_a_contact_card_keeps_every_field_of_every_card(client):
    got = posted(client, "contacts_full")
    assert got["content"] == {
        "type": "contacts",
        "cards": [
            {
                "name": {
                    "formatted_name": "Dr. Ana María Gómez Jr.",
                    "first_name": "Ana",
                    "last_name": "Gómez",
                    "middle_name": "María",
                    "prefix": "Dr.",
                    "suffix": "Jr.",
                },
                "phones": [
                    {"phone": "+1 (415) 555-0199", "wa_id": "14155550199", "type": "CELL"},
                    {"phone": "+1 415 555 0100", "wa_id": None, "type": "WORK"},
                    {"phone": "+1 415 555 0111", "wa_id": None, "type": "HOME"},
                ],
                "emails": [
                    {"email": "ana.gomez@example.com", "type": "WORK"},
                    {"email": "ana@example.org", "type": "HOME"},
                ],
                "org": {"company": "Gómez Logistics", "department": "Dispatch", "title": "Head of Dispatch"},
                "addresses": [
                    {
                        "street": "1 Hacker Way",
                        "city": "Menlo Park",
                        "state": "CA",
                        "zip": "94025",
                        "country": "United States",
                        "country_code": "US",
                        "type": "WORK",
                    },
                    {
                        "street": "500 Market St",
                        "city": "San Francisco",
                        "state": "CA",
                        "zip": "94105",
                        "country": "United States",
                        "country_code": "US",
                        "type": "HOME",
                    },
                ],
                "urls": [
                    {"url": "https://example.com/ana", "type": "WORK"},
                    {"url": "https://ana.example.org", "type": "HOME"},
                ],
                "birthday": "1990-04-12",
            },
            {
                "name": {
                    "formatted_name": "Luis",
                    "first_name": "Luis",
                    "last_name": None,
                    "middle_name": None,
                    "prefix": None,
                    "suffix": None,
                },
                "phones": [{"phone": "+34 600 000 001", "wa_id": "34600000001", "type": "CELL"}],
                "emails": [],
                "org": None,
                "addresses": [],
                "urls": [],
                "birthday": None,
            },
        ],
        **NONE,
    }


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_lists_its_items_with_line_totals_and_an_exact_total(client):
    got = posted(client, "order")
    assert got["content"] == {
        "type": "order",
        "catalog_id": "354160437058781",
        "note": "Please deliver after 6 pm",
        "items": [
            {
                "product_retailer_id": "JACKET-BLUE-M",
                "quantity": 3,
                "item_price": 19.99,
                "currency": "USD",
                "line_total": 59.97,
            },
            {
                "product_retailer_id": "SCARF-RED",
                "quantity": 1,
                "item_price": 12.5,
                "currency": "USD",
                "line_total": 12.5,
            },
            {
                "product_retailer_id": "GIFT-WRAP",
                "quantity": 2,
                "item_price": 0.1,
                "currency": "USD",
                "line_total": 0.2,
            },
        ],
        "total": {"amount": 72.67, "currency": "USD"},
        **NONE,
    }


def test_an_order_mixing_currencies_has_no_total(client):
    got = posted(client, "order_mixed_currency")
    content = got["content"]
    assert content["note"] is None  # Meta sends "" when the customer wrote nothing
    assert [(i["product_retailer_id"], i["line_total"], i["currency"]) for i in content["items"]] == [
        ("HAMBURGER", 90.0, "ILS"),
        ("SODA", 3.0, "EUR"),
    ]
    assert content["total"] is None


def test_an_order_with_an_item_without_a_price_has_no_total(client):
    body = text_message(
        extra={
            "type": "order",
            "order": {
                "catalog_id": "1",
                "product_items": [
                    {"product_retailer_id": "A", "quantity": 2, "item_price": 5, "currency": "USD"},
                    {"product_retailer_id": "B", "quantity": 1, "currency": "USD"},
                ],
            },
        }
    )
    body["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    assert post_webhook(client, body).status_code == 200
    (got,) = thread(client)
    assert [i["line_total"] for i in got["content"]["items"]] == [10.0, None]
    assert got["content"]["total"] is None


# --- interactive replies --------------------------------------------------------------------------


def test_a_button_reply_has_its_id_and_title(client):
    got = posted(client, "interactive_button_reply")
    assert got["content"] == {
        "type": "interactive",
        "kind": "button_reply",
        "id": "track_order",
        "title": "Track order",
        "description": None,
        **NONE,
    }


def test_a_list_reply_has_its_id_title_and_description(client):
    got = posted(client, "interactive_list_reply")
    assert got["content"] == {
        "type": "interactive",
        "kind": "list_reply",
        "id": "refund",
        "title": "Request a refund",
        "description": "Money back to the original payment method",
        **NONE,
    }


def test_a_flow_reply_has_the_customers_answers_as_an_object(client):
    got = posted(client, "interactive_nfm_reply")
    assert got["content"] == {
        "type": "interactive",
        "kind": "nfm_reply",
        "flow_name": "flow",
        "flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
        "body": "Sent",
        "response": {
            "screen_0_rating_0": "4",
            "comment_text": "Driver was early, thanks!",
            "booking": {"date": "2026-12-01", "slot": {"from": "10:00", "to": "11:00"}},
            "services": ["wash", "dry"],
            "newsletter": True,
            "guests": 2,
        },
        "response_error": None,
        "response_raw": None,
        **NONE,
    }
    assert got["placeholder"] is None


def test_a_flow_reply_whose_response_json_is_broken_keeps_the_raw_text(client):
    got = posted(client, "interactive_nfm_reply_broken")
    content = got["content"]
    assert content["kind"] == "nfm_reply" and content["flow_name"] == "booking_flow" and content["body"] == "Sent"
    assert content["response"] is None and content["flow_token"] is None
    assert content["response_error"].startswith("response_json is not JSON")
    assert content["response_raw"] == '{"comment_text":"cut off'


@pytest.mark.parametrize(
    "name,expected",
    [
        (
            "interactive_call_permission_accept_permanent",
            {
                "response": "accept",
                "is_permanent": True,
                "expiration_timestamp": None,
                "response_source": "user_action",
            },
        ),
        (
            "interactive_call_permission_accept_expiring",
            {
                "response": "accept",
                "is_permanent": False,
                "expiration_timestamp": "2026-12-01 06:16:40",
                "response_source": "automatic",
            },
        ),
        (
            "interactive_call_permission_reject",
            {
                "response": "reject",
                "is_permanent": None,
                "expiration_timestamp": None,
                "response_source": "user_action",
            },
        ),
    ],
)
def test_a_call_permission_reply_has_the_decision_its_permanence_and_expiry(client, name, expected):
    got = posted(client, name)
    assert got["content"] == {"type": "interactive", "kind": "call_permission_reply", **expected, **NONE}


def test_an_interactive_kind_the_service_does_not_know_gets_a_placeholder_and_its_raw_json(client):
    got = posted(client, "interactive_unknown_kind")
    content = got["content"]
    assert content["kind"] == "payment_reply"
    assert content["raw"] == {
        "type": "payment_reply",
        "payment_reply": {"reference_id": "ORDER-4471", "status": "captured"},
    }
    assert "payment_reply" in content["placeholder"]
    assert got["placeholder"] == content["placeholder"]  # never an empty bubble


def test_an_interactive_message_without_its_object_is_not_an_empty_bubble(client):
    got = posted(client, "interactive_value_error")
    assert got["content"]["kind"] is None and got["content"]["raw"] == {}
    assert got["placeholder"] and got["placeholder"] == got["content"]["placeholder"]


def test_a_template_quick_reply_button_has_its_payload_and_text(client):
    got = posted(client, "button")
    assert got["content"] == {"type": "button", "payload": "CONFIRM_DELIVERY_4471", "text": "Confirm", **NONE}


# --- reactions, edits, deletions (folded into their target) ---------------------------------------


def test_a_reaction_and_its_removal(client, app):
    post_webhook(client, fixture_bytes("reaction"))
    item = fixture("reaction")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert stored(app, item["id"])["content"] == {
        "type": "reaction",
        "emoji": "👍",
        "message_id": "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI4RTc0QUJFMTYxQUExMjFGQjgA",
        **NONE,
    }
    post_webhook(client, fixture_bytes("reaction_removed"))
    removed = fixture("reaction_removed")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert stored(app, removed["id"])["content"]["emoji"] is None


def test_an_edit_and_a_deletion_have_their_target_and_the_new_text(client, app):
    original = posted(client, "text")
    post_webhook(client, fixture_bytes("edit"))
    (edited,) = [m for m in thread(client) if m["id"] == original["id"]]
    assert edited["edited"] is True and edited["text"] == "Hi! My order #4471 still hasn't arrived (edited)"
    assert edited["content"]["body"] == "Hi! My order #4471 still hasn't arrived. Can someone help?"  # as first sent
    edit = fixture("edit")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert stored(app, edit["id"])["content"] == {
        "type": "edit",
        "message_id": original["whatsapp_message_id"],
        "body": "Hi! My order #4471 still hasn't arrived (edited)",
        **NONE,
    }
    post_webhook(client, fixture_bytes("revoke"))
    revoke = fixture("revoke")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert stored(app, revoke["id"])["content"] == {
        "type": "revoke",
        "message_id": original["whatsapp_message_id"],
        **NONE,
    }
    assert [m["deleted"] for m in thread(client) if m["id"] == original["id"]] == [True]


# --- system, welcome, unsupported, unknown --------------------------------------------------------


def test_a_number_change_is_a_system_content(client):
    customer_writes(client)
    got = posted(client, "system_number_change", phone="+14155550177")  # the thread follows the new number
    assert got["content"] == {
        "type": "system",
        "kind": "user_changed_number",
        "body": "User Maria Lopez changed from 14155550123 to 14155550177",
        "new_wa_id": "14155550177",
        "identity": None,
        **NONE,
    }


def test_a_request_for_a_welcome_message_has_an_empty_content(client):
    got = posted(client, "request_welcome")
    assert got["content"] == {"type": "request_welcome", **NONE}


def test_an_unsupported_message_keeps_metas_error_and_its_placeholder(client):
    got = posted(client, "unsupported")
    content = got["content"]
    assert content["errors"] == [
        {
            "code": 131051,
            "title": "Message type unknown",
            "message": "Message type unknown",
            "details": "Message type is currently not supported.",
        }
    ]
    assert content["placeholder"] == got["placeholder"] and "(edit)" in content["placeholder"]
    assert content["raw"]["unsupported"] == {"type": "edit"}


def test_a_type_the_service_does_not_know_gets_a_placeholder_and_its_raw_json(client):
    got = posted(client, "unknown_type")
    content = got["content"]
    assert content["type"] == "hologram"
    assert content["raw"]["hologram"] == {"frames": 24, "title": "Hi from the future"}
    assert "hologram" in content["placeholder"] and got["placeholder"] == content["placeholder"]
    assert content["errors"] == [] and content["referral"] is None


# --- referrals and product inquiries ---------------------------------------------------------------


def test_a_message_from_a_click_to_whatsapp_ad_has_its_referral(client):
    got = posted(client, "referral_ad")
    assert got["content"]["body"] == "Hi, I saw your ad. Do you ship to Manchester?"
    assert got["content"]["referral"] == {
        "source_type": "ad",
        "source_id": "120226305854810726",
        "source_url": "https://fb.me/8Yh3kQ2pZ",
        "headline": "Chat with us",
        "body": "Winter sale: 30% off all jackets",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad_image.jpg",
        "video_url": None,
        "thumbnail_url": None,
        "ctwa_clid": fixture("referral_ad")["entry"][0]["changes"][0]["value"]["messages"][0]["referral"]["ctwa_clid"],
    }


def test_a_product_inquiry_names_the_product_and_is_not_a_reply_to_a_missing_message(client):
    got = posted(client, "product_inquiry")
    assert got["content"] == {
        "type": "text",
        "body": "Is this one available in size L?",
        "referral": None,
        "product": {"catalog_id": "194836987003835", "product_retailer_id": "JACKET-BLUE-M"},
        "errors": [],
    }
    # reply_to keeps Meta's context id (the contract never changes a field's meaning); nothing is quoted,
    # and content.product says it is an inquiry about a product, not a reply (content-spec.md).
    assert got["reply_to"] == "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBJQUk9EVUNUMDAwMDAwMDEA"
    assert got["quoted"] is None


# --- outbound ---------------------------------------------------------------------------------------


def test_sent_text_template_location_and_reaction_have_their_content(client, graph):
    customer_writes(client, "Where is the shop?")
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    sends = [
        {"message": "We are open until 6 pm"},
        {
            "type": "location",
            "location": {"latitude": 52.52, "longitude": 13.405, "name": "Shop", "address": "Unter den Linden 1"},
        },
        {
            "type": "template",
            "template": {"name": "order_update", "language": "en_US", "parameters": {"body": ["Maria", "4471"]}},
        },
    ]
    for body in sends:
        answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", **body})
        assert answer.status_code == 200, answer.get_json()
    inbound = thread(client)[0]
    reaction = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+14155550123",
            "type": "reaction",
            "reaction": {"message_id": inbound["whatsapp_message_id"], "emoji": "❤️"},
        },
    )
    assert reaction.status_code == 200, reaction.get_json()
    assert reaction.get_json()["message"]["content"] == {
        "type": "reaction",
        "emoji": "❤️",
        "message_id": inbound["whatsapp_message_id"],
        **NONE,
    }
    by_type = {m["type"]: m["content"] for m in thread(client) if m["direction"] == "outbound"}
    assert by_type["text"] == {"type": "text", "body": "We are open until 6 pm", **NONE}
    assert by_type["location"] == {
        "type": "location",
        "latitude": 52.52,
        "longitude": 13.405,
        "name": "Shop",
        "address": "Unter den Linden 1",
        "url": None,
        **NONE,
    }
    sent_template = graph.log[-2][0].get_json()["template"]
    assert by_type["template"] == {
        "type": "template",
        "name": "order_update",
        "language": "en_US",
        "components": sent_template["components"],
        **NONE,
    }
    assert by_type["template"]["components"][0]["parameters"][0]["text"] == "Maria"


# --- hostile input, and the OpenAPI document -------------------------------------------------------


HOSTILE_ITEMS = [
    {
        "type": "order",
        "order": {
            "catalog_id": {"x": 1},
            "text": 5,
            "product_items": [
                None,
                7,
                {"quantity": 10**30, "item_price": 1e308, "currency": "USD"},
                {"quantity": -1, "item_price": "abc", "currency": ["USD"]},
                {"quantity": 1.5, "item_price": True},
            ],
        },
    },
    {"type": "order", "order": "not an object"},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": '{"a": NaN}'}}},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "[" * 5000}}},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "[1, 2]"}}},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": {"k": [1]}}}},
    {
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {"response": ["accept"], "is_permanent": "yes", "expiration_timestamp": 10**40},
        },
    },
    {"type": "interactive", "interactive": {"type": ["button_reply"], "button_reply": "x"}},
    {"type": "interactive", "interactive": "hello"},
    {"type": "contacts", "contacts": {"name": "not a list"}},
    {
        "type": "contacts",
        "contacts": [
            {"name": {"first_name": 5}, "urls": [7]},
            {"name": "x", "phones": "y", "org": [1], "emails": [None, {"email": 5}]},
        ],
    },
    {"type": "location", "location": {"latitude": "NaN", "longitude": 1e999}},
    {"type": "location", "location": {"latitude": 91, "longitude": 10}},
    {"type": "text", "text": {"body": "hi"}, "context": {"referred_product": "sku"}, "referral": [1], "errors": "bad"},
    {"type": "text", "text": {"body": "hi"}, "errors": [{"code": 2**70, "title": {"a": 1}}, None]},
    {"type": "system", "system": {"type": 5, "wa_id": True}},
    {"type": "edit", "edit": {"message": "text"}},
    {"type": "reaction", "reaction": None},
    {"type": "deeply", "deeply": json.loads("[" * 200 + "]" * 200)},
]


@pytest.mark.parametrize("extra", HOSTILE_ITEMS, ids=[f"hostile{n}" for n in range(len(HOSTILE_ITEMS))])
def test_hostile_content_gives_a_valid_shape_never_an_error(client, anon, app, extra):
    body = text_message(extra=extra)
    item = body["entry"][0]["changes"][0]["value"]["messages"][0]
    if extra["type"] != "text":
        item.pop("text")
    assert post_webhook(client, body).status_code == 200
    if extra["type"] in ("edit", "reaction"):  # folded into a target, never listed
        got = json.loads(json.dumps(stored(app, item["id"]), allow_nan=False))
    else:
        answer = client.get("/api/whatsapp/messages?phone_number=%2B14155550123")
        assert answer.status_code == 200
        (got,) = json.loads(answer.data, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))["messages"]
    assert got["content"]["type"] == extra["type"]
    document = anon.get("/api/whatsapp/openapi.json").get_json()
    schema = {**document["components"]["schemas"]["Message"], "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(got)


CONTENT_FIXTURES = {
    "text": "TextContent",
    "image": "MediaContent",
    "location": "LocationContent",
    "contacts_full": "ContactsContent",
    "order": "OrderContent",
    "order_mixed_currency": "OrderContent",
    "interactive_button_reply": "ButtonReplyContent",
    "interactive_list_reply": "ButtonReplyContent",
    "interactive_nfm_reply": "FlowReplyContent",
    "interactive_nfm_reply_broken": "FlowReplyContent",
    "interactive_call_permission_accept_expiring": "CallPermissionReplyContent",
    "interactive_unknown_kind": "UnknownInteractiveContent",
    "button": "ButtonContent",
    "request_welcome": "RequestWelcomeContent",
    "unsupported": "UnknownContent",
    "unknown_type": "UnknownContent",
    "product_inquiry": "TextContent",
}


def test_the_openapi_document_describes_every_content_and_each_answer_matches_its_shape(client, anon):
    document = anon.get("/api/whatsapp/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    message = schemas["Message"]
    assert "content" in message["required"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in message["properties"]["content"]["anyOf"]}
    assert (
        set(CONTENT_FIXTURES.values()) | {"ReactionContent", "EditContent", "RevokeContent", "TemplateContent"} <= refs
    )
    for name, shape in CONTENT_FIXTURES.items():
        got = posted(client, name)
        jsonschema.Draft202012Validator({**message, "components": document["components"]}).validate(got)
        jsonschema.Draft202012Validator({**schemas[shape], "components": document["components"]}).validate(
            got["content"]
        )
        assert set(got["content"]) == set(schemas[shape]["properties"]), name


def test_every_message_of_a_thread_has_a_content(client):
    customer_writes(client)
    post_webhook(client, text_message("second", message_id=wamid()))
    assert [m["content"]["type"] for m in thread(client)] == ["text", "text"]


def test_docs_api_md_lists_every_field_of_every_content_shape():
    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("### Message content", 1)[1].split("\n### ", 1)[0]
    missing = [
        f"{shape.__name__}.{key}"
        for shape in content.SHAPES
        for key in keys(shape)
        if key != "type" and not any(form in section for form in (f"`{key}`", f"`{key}[]`", f"{key},", f"{key}}}"))
    ]
    assert missing == []
