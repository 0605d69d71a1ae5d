"""Blocking abusive customers through Meta's Block Users API (routes on the api blueprint).

Meta's rules (Block Users API guide): only a customer who messaged the business in the last 24 hours can
be blocked; unblocking has no such rule. A blocked customer cannot message the business, and the
business cannot message them. Meta reports failures per user (`block_users.failed_users[].errors`,
under an error 139100); the route passes Meta's own reason on.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify

from . import present, store
from .api import bp, find_conversation_or_404, graph_client, json_body
from .api_doc import Answer, api_doc
from .api_shapes import ConversationResult, ConversationTarget, Error
from .db import get_db, write_transaction
from .errors import APIError
from .graph import GraphError, GraphUnavailable
from .openapi import WRITE_ERRORS

log = logging.getLogger(__name__)

RULE = "WhatsApp only lets a business block customers who messaged it in the last 24 hours"
# Meta's codes of a refusal that is about this customer or the blocklist, not about the request.
CONFLICT_CODES = {131047, 139101, 131021}
THROTTLED = {130429, 4, 80007}

BLOCK_ANSWERS = {
    409: Answer(
        "The customer has not written in the last 24 hours (Meta's rule for blocking; its 131047), or Meta "
        "refused for another reason about this customer (139101: the blocklist is full; 131021: the business's "
        "own number)",
        Error,
    ),
    429: Answer("WhatsApp is rate limiting (130429), or too many failed key attempts from this address", Error),
    502: Answer("WhatsApp failed (139103 internal error, a 5xx) or could not be reached; nothing changed", Error),
}


def block_user(row: Any) -> str:
    """Who Meta is asked to block: the wa_id (the phone's digits) when known, else the BSUID."""
    if row["phone_number"]:
        return str(row["phone_number"]).lstrip("+")
    if row["user_id"]:
        return str(row["user_id"])
    raise APIError(400, "This conversation has neither a phone number nor a user id to block")


def per_user_error(data: Any) -> tuple[int | None, str | None, str | None] | None:
    """The first error of Meta's `block_users.failed_users[]`, as (code, message, details)."""
    results = data.get("block_users") if isinstance(data, dict) else None
    failed = results.get("failed_users") if isinstance(results, dict) else None
    for user in failed if isinstance(failed, list) else []:
        errors = user.get("errors") if isinstance(user, dict) else None
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            code = error.get("code")
            details = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
            message = error.get("message") or error.get("title")
            return (
                int(code) if isinstance(code, int) or (str(code).isascii() and str(code).isdigit()) else None,
                str(message) if message else None,
                str(details["details"]) if details.get("details") else None,
            )
        return None, "WhatsApp did not block this customer", None
    return None


def refusal(action: str, code: int | None, title: str | None, details: str | None, upstream: bool) -> APIError:
    """Meta's refusal, passed on with its code: 409 for a rule about the customer, 429, 400 or 502."""
    reason = title or "refused"
    if details and details != title:
        reason += f": {details}"
    text = f"WhatsApp did not {action} the customer (Meta error {code}: {reason})"
    if code == 131047:
        text += f". {RULE}."
    extra = {"error_code": code, "error_title": title, "error_details": details}
    if code in CONFLICT_CODES:
        return APIError(409, text, **extra)
    if code in THROTTLED:
        return APIError(429, text + " Try again in a moment.", **extra)
    if upstream or code in (139103, None):
        return APIError(502, text, **extra)
    return APIError(400, text, **extra)


def call_meta(row: Any, block: bool) -> None:
    action = "block" if block else "unblock"
    try:
        data = graph_client().block_users([block_user(row)], block=block)
    except GraphError as exc:
        # 139100 ("failed to block/unblock some users") carries each user's own reason beside it.
        own = per_user_error(exc.body)
        if own is not None and own[0] is not None:
            raise refusal(action, *own, upstream=False) from None
        if exc.code in (0, 190):
            raise APIError(502, exc.agent_message(), error_code=exc.code) from None
        raise refusal(action, exc.code, exc.title, exc.details, exc.upstream_failure) from None
    except GraphUnavailable as exc:
        raise APIError(502, f"WhatsApp could not be asked to {action} the customer: {exc}") from None
    own = per_user_error(data)  # an answer of 200 that still lists this customer as failed
    if own is not None:
        raise refusal(action, *own, upstream=False)


def _change(block: bool) -> Response:
    row = find_conversation_or_404(json_body())
    if block:
        closes, wrote_recently = present.window(row["last_inbound_at"])
        if not wrote_recently:
            when = f"; this one last wrote at {row['last_inbound_at']} UTC" if closes else "; this one never wrote"
            raise APIError(409, f"The customer cannot be blocked: {RULE}{when}.")
    call_meta(row, block)
    conn = get_db()
    with write_transaction(conn):
        store.set_blocked(conn, row["conversation_id"], block)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    log.info("Conversation %s %s", row["conversation_id"], "blocked" if block else "unblocked")
    return jsonify(success=True, conversation=present.conversation(updated))


@bp.post("/block")
@api_doc(
    "Block the customer through WhatsApp (only one who wrote in the last 24 hours)",
    tag="conversations",
    description="POST /<PHONE_NUMBER_ID>/block_users at Meta. " + RULE + ": an older conversation is refused "
    "with 409 before Meta is asked. A blocked customer cannot message the business and sends to them are "
    "refused; the conversation says `blocked`.",
    body=ConversationTarget,
    responses={200: ("Blocked: the conversation after the change", ConversationResult), **BLOCK_ANSWERS},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def block() -> Response:
    return _change(True)


@bp.post("/unblock")
@api_doc(
    "Unblock the customer through WhatsApp (no 24-hour rule)",
    tag="conversations",
    description="DELETE /<PHONE_NUMBER_ID>/block_users at Meta.",
    body=ConversationTarget,
    responses={200: ("Unblocked: the conversation after the change", ConversationResult), **BLOCK_ANSWERS},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def unblock() -> Response:
    return _change(False)
