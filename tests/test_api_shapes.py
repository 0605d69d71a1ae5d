"""The TypedDicts of whatsapp/api_shapes.py are the answers' real shapes: every key an answer carries is
declared, and every key a shape calls required is there."""

from __future__ import annotations

import typing
from typing import get_origin, get_type_hints

from whatsapp import api_shapes
from whatsapp.shapes import keys

from .helpers import customer_writes, fixture_bytes, post_webhook, send_ok, status_update

SEND_PATH = "/v26.0/110293847561029/messages"
INBOUND = (
    "text",
    "image",
    "reaction",
    "location",
    "referral_ad",
    "text_reply_context",
    "text_forwarded",
    "unsupported",
)


def required(shape: type) -> set[str]:
    hints = get_type_hints(shape, include_extras=True)
    return {
        name
        for name, hint in hints.items()
        if get_origin(hint) is not typing.NotRequired
        and (name in shape.__required_keys__ or get_origin(hint) is typing.Required)
    }


def holds(answer: dict, shape: type) -> None:
    assert set(answer) - set(keys(shape)) == set(), f"keys {shape.__name__} does not declare"
    assert required(shape) - set(answer) == set(), f"keys {shape.__name__} requires but the answer lacks"


def test_every_answer_carries_exactly_the_keys_its_shape_declares(client, graph):
    for name in INBOUND:
        holds(post_webhook(client, fixture_bytes(name)).get_json(), api_shapes.WebhookResult)
    customer_writes(client, "Is my order on its way?")
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.SHAPE1"))
    sent = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Yes!"}).get_json()
    holds(sent, api_shapes.SendResult)
    holds(sent["message"], api_shapes.Message)
    post_webhook(client, status_update("wamid.SHAPE1", "read"))

    listed = client.get("/api/whatsapp/conversations?q=order").get_json()
    holds(listed, api_shapes.ConversationList)
    holds(listed["counts"], api_shapes.TabCounts)
    assert listed["conversations"]
    for conversation in client.get("/api/whatsapp/conversations").get_json()["conversations"] + listed["conversations"]:
        holds(conversation, api_shapes.Conversation)
        thread = client.get(f"/api/whatsapp/messages?conversation_id={conversation['id']}&include_raw=true").get_json()
        holds(thread, api_shapes.MessageList)
        for message in thread["messages"]:
            holds(message, api_shapes.Message)
            for key, shape in (("media", api_shapes.Media), ("location", api_shapes.Location)):
                if message.get(key) is not None:
                    holds(message[key], shape)
            for reaction in message["reactions"]:
                holds(reaction, api_shapes.Reaction)
    assert {m["type"] for m in thread["messages"]} >= {"text"}

    stats = client.get("/api/whatsapp/stats").get_json()
    holds(stats, api_shapes.StatsResult)
    holds(stats["stats"], api_shapes.Stats)
    health = client.get("/api/whatsapp/health").get_json()
    holds(health, api_shapes.HealthResult)
    holds(health["health"], api_shapes.Health)
    missing = client.get("/api/whatsapp/conversation?conversation_id=999").get_json()
    holds(missing, api_shapes.Error)
