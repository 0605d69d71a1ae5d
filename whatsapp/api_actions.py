"""Agent actions (on the api blueprint): react to a message, send a failed message again, mark a conversation
unread, snooze it until a time, and assign, close or reopen several conversations at once.

A retry is a new attempt, as a new message (a new bubble at the bottom of the thread, sent now): the failed
message stays as it was, with its error, and names the new one in `retried_by`. It goes through the normal
send path (the 24-hour window, a block, a customer's stop of marketing messages), under an idempotency key of
its own ("retry" and the failed message's id), so a double click sends once: a repeat answers with the new
message's outcome, and sends it again only when Meta certainly did not take it (429, 502), as /send does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify

from . import agents, compose, sending, store, templates
from .api import MESSAGE_ID, bp, conversation_json, find_conversation_or_404, int_param, json_body
from .api_doc import api_doc
from .api_send import SendTarget, deliver, dispatch, prepare_send, send_response
from .api_shapes import (
    BulkRequest,
    BulkResult,
    ConversationResult,
    ConversationTarget,
    ReactRequest,
    SendResult,
    SnoozeRequest,
)
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import SEND_ANSWERS, WRITE_ERRORS
from .updates import ANNOTATION_TYPES

log = logging.getLogger(__name__)

CHANGED = "The conversation after the change"
RETRY_SCOPE = "retry"  # the idempotency scope of retries: one per failed message, whoever clicks
MAX_SNOOZE = timedelta(days=365)
MAX_BULK = 200
BULK_ACTIONS = ("assign", "unassign", "close", "reopen")


def message_or_404(message_id: int) -> Any:
    row = store.get_message(get_db(), message_id)
    if row is None:
        raise APIError(404, "Message not found")
    return row


# --- react -----------------------------------------------------------------------------------


@bp.post(f"/messages/<{MESSAGE_ID}:message_id>/react")
@api_doc(
    'React to a message with an emoji ("" removes the reaction): a /send of type reaction to its wamid',
    tag="sending",
    description="The reaction folds onto the message (its `reactions`), in the thread and in WhatsApp. A "
    "reaction is a free-form message: it needs the 24-hour window open. Only a message WhatsApp has "
    "(with a wamid) can be reacted to.",
    body=ReactRequest,
    example={"emoji": "👍"},
    responses={200: ("Meta accepted the reaction", SendResult), **SEND_ANSWERS},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def react(message_id: int) -> tuple[Response, int]:
    data = json_body()
    row = message_or_404(message_id)
    if row["message_type"] in ANNOTATION_TYPES:
        raise APIError(400, f"A {row['message_type']} cannot be reacted to; react to the message it changes")
    if row["whatsapp_message_id"].startswith(store.LOCAL_PREFIX):
        raise APIError(409, "WhatsApp has not accepted this message (it has no wamid yet): it cannot be reacted to")
    if "emoji" not in data:
        raise APIError(400, 'emoji is required ("" removes your reaction)')
    send = {
        "conversation_id": row["conversation_id"],
        "type": "reaction",
        "reaction": {"message_id": row["whatsapp_message_id"], "emoji": data["emoji"]},
    }
    if data.get("agent_id") is not None:
        send["agent_id"] = data["agent_id"]
    return deliver(send, compose.build(send))


# --- retry -----------------------------------------------------------------------------------


def retry_outbound(row: Any) -> sending.Outbound:
    """The failed message's content, as it was sent (its stored body), for a new attempt."""
    if row["direction"] != "outbound" or row["origin"] is not None:
        raise APIError(409, "Only a message sent from this inbox can be sent again")
    if row["status"] != "failed":
        if row["status"] == "pending":
            raise APIError(
                409,
                "This message's outcome is not known yet (WhatsApp may have sent it): it is not sent again. "
                "A status from WhatsApp will settle it; retry only once it says failed.",
            )
        raise APIError(409, f"Only a failed message can be sent again; this one is {row['status']}")
    kind = row["message_type"]
    try:
        body = json.loads(row["raw_json"] or "null")[kind]
    except (ValueError, TypeError, KeyError):
        body = None
    if not isinstance(body, dict):
        raise APIError(409, "This message's content was not kept, so it cannot be sent again")
    media = {
        "url": row["media_url"],
        "id": row["media_id"],
        "mime_type": row["media_type"],
        "filename": row["media_filename"],
        "path": row["media_path"],
        "size": row["media_size"],
    }
    return sending.Outbound(kind, body, row["message_text"], row["context_message_id"], media)


@bp.post(f"/messages/<{MESSAGE_ID}:message_id>/retry")
@api_doc(
    "Send a failed outbound message again, as a new message (a double click sends once)",
    tag="sending",
    description="Only an outbound message whose status is failed: one whose outcome is unknown (pending, Meta's "
    "answer lost) is refused with 409, since WhatsApp may have sent it. The same content goes as a new message "
    "through the normal send path (the 24-hour window applies: outside it only a template can be sent again); "
    "the failed one keeps its error and names the new one in `retried_by`. Repeating the retry answers with the "
    "new message's outcome (idempotent_replay) and sends nothing again, unless Meta certainly did not take it "
    "(429, 502): then the same new message is sent again.",
    responses={
        200: ("Meta accepted the new attempt (or an earlier retry of this message)", SendResult),
        **SEND_ANSWERS,
    },
    errors=(400, 404, *WRITE_ERRORS),
)
def retry(message_id: int) -> tuple[Response, int]:
    conn = get_db()
    row = message_or_404(message_id)
    idempotency = sending.Idempotency.of(RETRY_SCOPE, str(message_id), "retry", {"message_id": message_id})
    earlier = store.find_by_key(conn, RETRY_SCOPE, str(message_id))
    if earlier is not None and not sending.may_send_again(earlier):
        return send_response(sending.outcome_of(earlier, repeated=True))
    # A retry Meta certainly did not take is sent again from its own row (sending.send reads it).
    outbound = retry_outbound(row)
    marketing = None
    if outbound.type == "template":
        cache = current_app.extensions["templates"]
        name, language = outbound.body.get("name"), (outbound.body.get("language") or {}).get("code")

        def marketing() -> bool:
            return templates.category_of(cache, name, language) == "MARKETING"

    data = {"conversation_id": row["conversation_id"], "agent_id": row["agent_id"]}
    target = prepare_send(data, outbound.type, None, marketing)
    if not isinstance(target, SendTarget):
        return target
    log.info("Sending failed message %s again as a new message", message_id)
    return dispatch(replace(target, idempotency=idempotency), outbound, retry_of=message_id)


# --- mark unread, snooze -----------------------------------------------------------------------


@bp.post("/mark-unread")
@api_doc(
    "Mark a conversation unread (at least one unread message), to come back to it",
    tag="conversations",
    description="Nothing is sent to WhatsApp (read receipts cannot be taken back). The unread tab counts it.",
    body=ConversationTarget,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def mark_unread() -> Response:
    row = find_conversation_or_404(json_body())
    conn = get_db()
    with write_transaction(conn):
        store.mark_unread(conn, row["conversation_id"])
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=conversation_json(conn, updated))


def parse_until(value: Any, moment: datetime | None = None) -> str:
    """A snooze's end as stored (UTC 'YYYY-MM-DD HH:MM:SS'), ahead of now and at most a year away."""
    if not isinstance(value, str) or not value.strip():
        raise APIError(400, "until is required: when the conversation comes back, e.g. 2026-12-02T09:00:00Z")
    try:
        until = datetime.fromisoformat(value.strip())
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset pushing year 1 or 9999 off the calendar
        raise APIError(400, "until must be an ISO 8601 time such as 2026-12-02T09:00:00Z") from None
    moment = moment or datetime.now(UTC)
    if until <= moment:
        raise APIError(400, "until must be ahead of now")
    if until - moment > MAX_SNOOZE:
        raise APIError(400, "until must be within 365 days")
    return store.stamp(until)


@bp.post("/snooze")
@api_doc(
    "Snooze a conversation until a time: it leaves the open tabs (into `snoozed`) and comes back then",
    tag="conversations",
    description="A snoozed conversation is in the `snoozed` tab (filter=snoozed, soonest back first), not in "
    "all, unread, mine or unassigned, until `until` passes; then it is back where it was, with nothing to wake "
    "it. The customer writing ends the snooze at once, and so do closing, reopening and POST /unsnooze. A "
    "closed conversation cannot be snoozed (409). Snoozing again moves the time.",
    body=SnoozeRequest,
    example={"conversation_id": 1, "until": "2026-12-02T09:00:00Z"},
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 409, 413, *WRITE_ERRORS),
)
def snooze() -> Response:
    data = json_body()
    row = find_conversation_or_404(data)
    until = parse_until(data.get("until"))
    if row["status"] == "closed":
        raise APIError(409, "A closed conversation cannot be snoozed; reopen it first")
    return _snooze(row, until)


@bp.post("/unsnooze")
@api_doc(
    "End a conversation's snooze now (back in the open tabs)",
    tag="conversations",
    body=ConversationTarget,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def unsnooze() -> Response:
    return _snooze(find_conversation_or_404(json_body()), None)


def _snooze(row: Any, until: str | None) -> Response:
    conn = get_db()
    with write_transaction(conn):
        store.snooze(conn, row["conversation_id"], until)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=conversation_json(conn, updated))


# --- bulk --------------------------------------------------------------------------------------


def bulk_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise APIError(400, "conversation_ids is required: a list of conversation ids")
    if len(value) > MAX_BULK:
        raise APIError(400, f"conversation_ids holds {len(value)} ids; at most {MAX_BULK} at once")
    ids = [int_param(item, "conversation_ids[]", low=1) for item in value]
    return list(dict.fromkeys(i for i in ids if i is not None))


@bp.post("/bulk")
@api_doc(
    "Assign, unassign, close or reopen several conversations at once, in one transaction",
    tag="conversations",
    description="Each id gets its own result: an id that is no conversation fails alone (its error), the others "
    "change. Every change happens in one transaction, so the list and its counts never show half of it. "
    "assign needs agent_id: an active agent (null unassigns).",
    body=BulkRequest,
    example={"conversation_ids": [1, 2, 3], "action": "assign", "agent_id": 2},
    responses={200: ("Per conversation, what happened", BulkResult)},
    errors=(400, 413, *WRITE_ERRORS),
)
def bulk() -> Response:
    data = json_body()
    action = data.get("action")
    if action not in BULK_ACTIONS:
        raise APIError(400, f"action must be one of {', '.join(BULK_ACTIONS)}")
    ids = bulk_ids(data.get("conversation_ids"))
    conn = get_db()
    agent_id = None
    if action == "assign":
        if "agent_id" not in data:
            raise APIError(400, "agent_id is required to assign (null to unassign)")
        agent_id = int_param(data.get("agent_id"), "agent_id", low=0)
        if agent_id is not None and not any(r["agent_id"] == agent_id for r in agents.list_all(conn)):
            raise APIError(400, f"agent_id {agent_id} is not an active agent")
    results: list[dict[str, Any]] = []
    with write_transaction(conn):
        for conversation_id in ids:
            row = store.find_conversation(conn, conversation_id=conversation_id)
            if row is None:
                results.append(
                    {"conversation_id": conversation_id, "success": False, "error": "Conversation not found"}
                )
                continue
            if action in ("assign", "unassign"):
                store.assign(conn, conversation_id, agent_id)
            else:
                store.set_status(conn, conversation_id, "closed" if action == "close" else "open")
            results.append({"conversation_id": conversation_id, "success": True})
        for result in results:
            if result["success"]:
                updated = store.find_conversation(conn, conversation_id=result["conversation_id"])
                result["conversation"] = conversation_json(conn, updated, costs=False)
    changed = sum(1 for r in results if r["success"])
    log.info("Bulk %s: %d changed, %d failed", action, changed, len(results) - changed)
    return jsonify(success=True, action=action, results=results, changed=changed, failed=len(results) - changed)
