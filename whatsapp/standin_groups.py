"""Meta's side of group sends, for stand-in Graph APIs: a send is checked the way the Groups API
checks it (developers.facebook.com/docs/whatsapp/cloud-api/groups/groups-messaging), and answered
the way Meta answers a group send (`contacts[].input` is the group id; no `wa_id`).

Written apart from the service's own code on purpose: it stands for Meta, so the inbox's group
sends are tested against it rather than against themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# "Supported message types: text, media, text-based templates, and media-based templates."
GROUP_TYPES = ("text", "image", "video", "audio", "document", "template")


def refusal(groups: Iterable[str], message: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """Meta's (HTTP status, error body) for a send it would refuse as a group send; None otherwise."""
    known = set(groups)
    to = message.get("to")
    if message.get("messaging_product") != "whatsapp":
        return 400, _error(100, "(#100) Invalid parameter", "messaging_product must be whatsapp")
    if message.get("recipient_type") != "group":
        if to in known:  # a group id sent as a phone number
            return 400, _error(100, "(#100) Invalid parameter", "Invalid 'to' parameter for recipient_type individual")
        return None
    if "recipient" in message:
        return 400, _error(100, "(#100) Invalid parameter", "recipient is not supported for group messages")
    if to not in known:
        return 400, _error(131009, "(#131009) Parameter value is not valid", f"Group {to} does not exist")
    kind = message.get("type")
    if kind not in GROUP_TYPES or not isinstance(message.get(kind), dict):
        return 400, _error(
            131009, "(#131009) Parameter value is not valid", f"Message type {kind} is not supported for groups"
        )
    return None


def accepted(group_id: str, wamid: str) -> dict[str, Any]:
    """Meta's answer to a group send it took."""
    return {"messaging_product": "whatsapp", "contacts": [{"input": group_id}], "messages": [{"id": wamid}]}


def _error(code: int, message: str, details: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AStandInTraceId",
        }
    }
