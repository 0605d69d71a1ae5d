"""Meta's side of the read call (a read receipt, with `typing_indicator` a typing indicator), for the
stand-in Graph APIs (the simulator's and the tests').

POST /<PHONE_NUMBER_ID>/messages with `status: "read"` is checked as Meta checks it: `messaging_product`
"whatsapp", `message_id` the wamid of a message the business received, and `typing_indicator`, when
given, exactly `{"type": "text"}` (the only type Meta's Typing indicators guide documents). A refusal is
answered with Meta's error object (code 100, Invalid parameter). Written apart from the service's own
code on purpose: it stands for Meta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TYPES = ("text",)


def _error(message: str, details: str, code: int = 100) -> tuple[int, dict[str, Any]]:
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AStandInTyping",
    }
    return 400, {"error": error}


def is_read_call(body: Any) -> bool:
    """A read receipt or typing indicator (not a message send): the stand-ins route it here."""
    return isinstance(body, dict) and ("status" in body or "typing_indicator" in body) and "to" not in body


def answer(body: Any, known: Callable[[str], bool]) -> tuple[int, dict[str, Any]]:
    """Meta's (HTTP status, JSON body) for a read call; `known(wamid)`: the business received it."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return _error("(#100) Invalid parameter", "The parameter messaging_product is required and must be whatsapp")
    if body.get("status") != "read":
        return _error("(#100) Invalid parameter", "Param status must be read")
    wamid = body.get("message_id")
    if not isinstance(wamid, str) or not wamid:
        return _error("(#100) The parameter message_id is required.", "The parameter message_id is required.")
    if not known(wamid):
        return _error("(#100) Invalid parameter", f"Invalid message_id {wamid}: no such message received", 100)
    extra = sorted(set(body) - {"messaging_product", "status", "message_id", "typing_indicator", "recipient_type"})
    if extra:
        return _error("(#100) Invalid parameter", f"Unexpected key {extra[0]!r} in a read request")
    if "typing_indicator" in body:
        indicator = body["typing_indicator"]
        if not isinstance(indicator, dict) or set(indicator) != {"type"} or indicator["type"] not in TYPES:
            return _error("(#100) Invalid parameter", "Param typing_indicator[type] must be one of {text}")
    return 200, {"success": True}
