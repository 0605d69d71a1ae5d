"""The TypedDicts of whatsapp/api_shapes.py are the answers' real shapes: every key an answer carries is
declared, and every key a shape calls required is there."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict

from whatsapp import api_shapes, content
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
    # rich content: each kind's own shape, nested shapes included
    "order",
    "interactive_nfm_reply",
    "contacts_full",
    "interactive_call_permission_accept_expiring",
    "interactive_button_reply",
    "product_inquiry",
    "button",
)
RICH = {"OrderContent", "FlowReplyContent", "ContactsContent", "CallPermissionReplyContent", "LocationContent"}


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


def _bare(hint: Any) -> Any:
    while get_origin(hint) in (typing.Annotated, typing.NotRequired, typing.Required):
        hint = get_args(hint)[0]
    return hint


def holds_deep(value: Any, hint: Any, matched: list[str]) -> None:
    """`value` holds to `hint` down to its leaves' keys: every TypedDict in it (in lists, dicts and unions
    too) carries exactly its declared keys. A union of shapes (a message's content) must match exactly one."""
    hint = _bare(hint)
    if is_typeddict(hint):
        assert isinstance(value, dict), f"{hint.__name__}: {value!r}"
        holds(value, hint)
        matched.append(hint.__name__)
        for key, inner in get_type_hints(hint, include_extras=True).items():
            if key in value:
                holds_deep(value[key], inner, matched)
    elif get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return
        shapes = [option for option in map(_bare, get_args(hint)) if is_typeddict(option)]
        if isinstance(value, dict) and shapes:
            fits = [shape for shape in shapes if set(value) == set(keys(shape))]
            assert len(fits) == 1, f"{sorted(value)} fits {[shape.__name__ for shape in fits]}"
            holds_deep(value, fits[0], matched)
    elif get_origin(hint) is list and isinstance(value, list):
        for item in value:
            holds_deep(item, get_args(hint)[0], matched)
    elif get_origin(hint) is dict and isinstance(value, dict):
        for item in value.values():
            holds_deep(item, get_args(hint)[1], matched)


def test_every_answer_carries_exactly_the_keys_its_shape_declares(client, graph):
    for name in INBOUND:
        holds(post_webhook(client, fixture_bytes(name)).get_json(), api_shapes.WebhookResult)
    customer_writes(client, "Is my order on its way?")
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.SHAPE1"))
    sent = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Yes!"}).get_json()
    holds(sent, api_shapes.SendResult)
    matched: list[str] = []
    seen: set[str] = set()
    holds_deep(sent["message"], api_shapes.Message, matched)
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
            holds_deep(message, api_shapes.Message, matched)
            seen.add(message["type"])
    assert seen >= {"text", "order", "interactive", "contacts", "location"}
    assert RICH | {"Message", "Media", "Location", "ContactCard", "OrderItem", "Referral"} <= set(matched)
    assert {shape.__name__ for shape in content.SHAPES} & set(matched) >= RICH | {"ButtonReplyContent", "TextContent"}

    stats = client.get("/api/whatsapp/stats").get_json()
    holds(stats, api_shapes.StatsResult)
    holds(stats["stats"], api_shapes.Stats)
    health = client.get("/api/whatsapp/health").get_json()
    holds(health, api_shapes.HealthResult)
    holds(health["health"], api_shapes.Health)
    missing = client.get("/api/whatsapp/conversation?conversation_id=999").get_json()
    holds(missing, api_shapes.Error)
