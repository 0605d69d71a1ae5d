"""The agent API blueprint: parse the request, call store/sending, shape JSON. No SQL here."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from . import phones, present, reports, signals, store, templates
from .api_doc import api_doc, identifier, query
from .api_shapes import (
    AssignRequest,
    ConversationList,
    ConversationResult,
    ConversationTarget,
    HealthResult,
    MarkReadResult,
    MessageList,
    StatsResult,
    TemplateList,
)
from .auth import acting_agent_id, check_agent_access
from .db import get_db, write_transaction
from .errors import APIError
from .graph import GraphError, GraphUnavailable
from .openapi import AGENT_ERRORS, CUSTOMER_QUERY, WRITE_ERRORS
from .updates import SQLITE_MAX_INT

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/whatsapp")

MAX_INT = 2**53  # larger ids cannot exist (and SQLite integers stop at 2**63)
MESSAGE_ID = f"int(max={SQLITE_MAX_INT})"  # a path id SQLite can hold; a larger one is a plain 404
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
CHANGED = "The conversation after the change"


@bp.before_request
def _authenticate() -> None:
    check_agent_access()


# --- request parsing -----------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object (Content-Type: application/json)")
    return data


def int_param(
    value: Any, name: str, *, default: int | None = None, low: int = 0, high: int | None = None
) -> int | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if isinstance(value, bool):
        raise APIError(400, f"{name} must be an integer")
    if isinstance(value, str):
        number = int(value.strip()) if re.fullmatch(r"-?[0-9]+", value.strip()) else None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        number = None
    if number is None or abs(number) > MAX_INT:
        raise APIError(400, f"{name} must be an integer")
    if number < low or (high is not None and number > high):
        upper = f" and {high}" if high is not None else ""
        raise APIError(400, f"{name} must be between {low}{upper}" if upper else f"{name} must be at least {low}")
    return number


def bool_param(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise APIError(400, f"{name} must be true or false")


def str_param(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise APIError(400, f"{name} must be a string")
    text = str(value).strip()
    return text or None


def customer_params(source: Any) -> tuple[int | None, str | None, str | None]:
    """conversation_id, phone_number (E.164) and user_id from a query string or JSON body."""
    conversation_id = int_param(source.get("conversation_id"), "conversation_id", low=1)
    raw_phone = source.get("phone_number")
    phone = None
    if raw_phone is not None and str(raw_phone).strip():
        if not isinstance(raw_phone, (str, int)) or isinstance(raw_phone, bool):
            raise APIError(400, "phone_number must be a string")
        try:
            phone = phones.normalize(str(raw_phone))
        except phones.InvalidPhone as exc:
            raise APIError(400, f"Invalid phone_number: {exc}") from None
    user_id = str_param(source.get("user_id"), "user_id")
    if user_id and not phones.is_bsuid(user_id):
        raise APIError(400, "Invalid user_id: expected a business-scoped user id such as US.13491208655302741918")
    return conversation_id, phone, user_id


def find_conversation_or_404(source: Any):
    conversation_id, phone, user_id = customer_params(source)
    if conversation_id is None and phone is None and user_id is None:
        raise APIError(400, "conversation_id, phone_number or user_id is required")
    row = store.find_conversation(get_db(), conversation_id, phone, user_id)
    if row is None:
        raise conversation_not_found(conversation_id)
    return row


def conversation_not_found(conversation_id: int | None) -> APIError:
    """A 404; for a conversation folded into the same customer's other one, it says which."""
    target = store.merged_into(get_db(), conversation_id) if conversation_id is not None else None
    if target is None:
        return APIError(404, "Conversation not found")
    return APIError(
        404,
        f"Conversation {conversation_id} was merged into conversation {target} (the same customer's)",
        merged_into=target,
    )


def conversation_json(conn: Any, row: Any, *, costs: bool = True) -> dict[str, Any]:
    """One conversation as answered, with its labels."""
    labels = store.labels_for(conn, [row["conversation_id"]])[row["conversation_id"]]
    data = dict(present.conversation(row, costs=costs, labels=labels))
    data["first_response_due_at"] = reports.due_at(conn, [row["conversation_id"]]).get(row["conversation_id"])
    return data


def label_param(value: Any, name: str = "label") -> int | None:
    """The id of the label a request names by id or by name; None when it names none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise APIError(400, f"{name} must be a label's id or name")
    if isinstance(value, int) and not 1 <= value <= MAX_INT:
        raise APIError(400, f"{name} must be a label's id or name")
    found = store.find_label(get_db(), value.strip() if isinstance(value, str) else value)
    if found is None:
        raise APIError(404, f"Label not found: {value}")
    return int(found["label_id"])


def agent_param(data: dict[str, Any]) -> int | None:
    """The agent_id of the body, overridden by the signed-in agent when there is one."""
    return acting_agent_id(int_param(data.get("agent_id"), "agent_id", low=0))


def graph_client():
    return current_app.extensions["graph"]


# --- routes --------------------------------------------------------------------------------


@bp.get("/conversations")
@api_doc(
    "Conversations, newest activity first, with the count behind every tab",
    tag="conversations",
    parameters=[
        query("status", {"enum": ["open", "closed", "assigned"]}, "Only this status"),
        query("unread_only", {"type": "boolean"}, "Only conversations with unread messages"),
        query(
            "filter",
            {"enum": ["open", "all", "unread", "mine", "unassigned", "closed", "snoozed"]},
            "A dashboard tab: open (every conversation not closed and not snoozed right now; 'all' is its "
            "older name), unread, mine and unassigned (open ones), closed, snoozed",
        ),
        query("agent_id", identifier(0), "The agent whose 'mine' tab (needed with filter=mine)"),
        query("q", {"type": "string", "maxLength": 200}, "Search names, numbers and message text"),
        query("label", {"type": "string"}, "Only conversations carrying this label (its id or name)"),
        query("limit", {**identifier(), "maximum": 200, "default": 50}, "Page size"),
        query("offset", {**identifier(0), "default": 0}, "Rows to skip"),
    ],
    responses={200: ("A page of conversations", ConversationList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def conversations() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in store.CONVERSATION_STATUSES:
        raise APIError(400, f"status must be one of {', '.join(store.CONVERSATION_STATUSES)}")
    unread_only = bool_param(request.args.get("unread_only"), "unread_only")
    tab = request.args.get("filter") or None
    if tab is not None and tab not in store.TABS:
        raise APIError(400, f"filter must be one of {', '.join(store.TABS)}")
    me = acting_agent_id(int_param(request.args.get("agent_id"), "agent_id", low=0))
    if tab == "mine" and me is None:
        raise APIError(400, "filter=mine needs agent_id (or a signed-in agent)")
    query = request.args.get("q", "").strip()
    if len(query) > 200:
        raise APIError(400, "q is longer than 200 characters")
    limit = int_param(request.args.get("limit"), "limit", default=50, low=1, high=200)
    offset = int_param(request.args.get("offset"), "offset", default=0, low=0)
    label_id = label_param(request.args.get("label"))
    conn = get_db()
    filters = {"status": status, "unread_only": unread_only, "tab": tab, "agent_id": me, "label_id": label_id}
    matches: dict[int, int | None] = {}
    if query:
        matches = store.search(conn, query)
        filters["ids"] = list(matches)
    rows = store.list_conversations(conn, **filters, limit=limit, offset=offset)
    counts = store.conversation_counts(conn)
    labels = store.labels_for(conn, [r["conversation_id"] for r in rows])  # one query for the page
    items = [present.conversation(r, costs=False, labels=labels[r["conversation_id"]]) for r in rows]
    due = reports.due_at(conn, [r["conversation_id"] for r in rows])  # one query for the page
    for item in items:
        item["first_response_due_at"] = due.get(item["id"])
    if query:
        shown = [matches[item["id"]] for item in items if matches.get(item["id"])]
        snippets = store.snippets(conn, query, shown)
        for item in items:
            item["snippet"] = snippets.get(matches.get(item["id"]) or 0)
    return jsonify(
        success=True,
        conversations=items,
        count=len(rows),
        total=store.count_conversations(conn, **filters, counts=counts),
        limit=limit,
        offset=offset,
        counts=store.tab_counts(conn, me, counts),
        label_counts=store.label_counts(conn),
    )


@bp.get("/conversation")
@api_doc(
    "One conversation by conversation_id, phone_number or user_id",
    tag="conversations",
    parameters=CUSTOMER_QUERY,
    responses={200: ("The conversation", ConversationResult)},
    errors=(400, 404, *AGENT_ERRORS),
)
def conversation() -> Response:
    row = find_conversation_or_404(request.args)
    return jsonify(success=True, conversation=conversation_json(get_db(), row))


@bp.get("/messages")
@api_doc(
    "A thread, oldest first: the newest `limit`, or a page before/after a message",
    tag="messages",
    parameters=[
        *CUSTOMER_QUERY,
        query("limit", {**identifier(), "maximum": 500, "default": 50}, "Page size"),
        query("before_id", identifier(), "Page back from this message (exclusive)"),
        query("after_id", identifier(), "Page forward from this message (exclusive)"),
        query("include_raw", {"type": "boolean"}, "Add the raw JSON of each message"),
    ],
    responses={200: ("The messages", MessageList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def messages() -> Response:
    row = find_conversation_or_404(request.args)
    limit = int_param(request.args.get("limit"), "limit", default=50, low=1, high=500)
    include_raw = bool_param(request.args.get("include_raw"), "include_raw")
    before_id = int_param(request.args.get("before_id"), "before_id", low=1)
    after_id = int_param(request.args.get("after_id"), "after_id", low=1)
    if before_id and after_id:
        raise APIError(400, "Give before_id or after_id, not both")
    conn = get_db()
    for cursor, name in ((before_id, "before_id"), (after_id, "after_id")):
        if cursor and not store.message_in_conversation(conn, cursor, row["conversation_id"]):
            raise APIError(400, f"{name} is not a message of this conversation")
    rows = store.list_messages(conn, row["conversation_id"], limit, before_id=before_id, after_id=after_id)
    wamids = [r["whatsapp_message_id"] for r in rows]
    quoted_ids = [r["context_message_id"] for r in rows if r["context_message_id"]]
    items = present.thread(
        rows, store.annotations_for(conn, wamids), store.messages_by_wamid(conn, quoted_ids), include_raw
    )
    return jsonify(success=True, messages=items, count=len(rows), conversation_id=row["conversation_id"])


@bp.post("/mark-read")
@api_doc(
    "Zero the unread count and send WhatsApp's read receipt for the latest message",
    tag="conversations",
    body=ConversationTarget,
    responses={200: ("Marked read", MarkReadResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def mark_read() -> Response:
    row = find_conversation_or_404(json_body())
    conn = get_db()
    with write_transaction(conn):
        latest = store.mark_read(conn, row["conversation_id"])
    receipt = "skipped"
    # Meta's Groups API does not take read receipts for group messages.
    if latest and row["kind"] != "group" and current_app.config["SETTINGS"].send_read_receipts:
        try:
            receipt = "sent" if graph_client().mark_read(latest) else "failed"
        except (GraphError, GraphUnavailable) as exc:
            log.warning("Read receipt for conversation %s failed: %s", row["conversation_id"], exc)
            receipt = "failed"
    return jsonify(success=True, conversation_id=row["conversation_id"], unread_count=0, read_receipt=receipt)


@bp.post("/assign-agent")
@api_doc(
    "Assign a conversation to an agent (status 'assigned'); agent_id null unassigns",
    tag="conversations",
    body=AssignRequest,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def assign_agent() -> Response:
    data = json_body()
    row = find_conversation_or_404(data)
    if "agent_id" not in data:
        raise APIError(400, "agent_id is required (null to unassign)")
    # The agent to assign to (anyone, or null to unassign), not the agent acting.
    agent_id = int_param(data.get("agent_id"), "agent_id", low=0)
    conn = get_db()
    with write_transaction(conn):
        store.assign(conn, row["conversation_id"], agent_id)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=conversation_json(conn, updated))


@bp.get("/stats")
@api_doc("Totals for the inbox", tag="inbox", responses={200: ("Totals", StatsResult)}, errors=AGENT_ERRORS)
def stats() -> Response:
    return jsonify(success=True, stats=store.stats(get_db()))


@bp.get("/health")
@api_doc(
    "Delivery and account health: last webhook, journal, media backlog, the number's quality, limits, restrictions",
    tag="inbox",
    responses={200: ("Health", HealthResult)},
    errors=AGENT_ERRORS,
)
def health() -> Response:
    """Delivery health: when Meta last called, failed or pending deliveries, parked statuses, media."""
    conn = get_db()
    return jsonify(success=True, health={**store.delivery_health(conn), **signals.account_health(conn)})


def _lifecycle(action: str) -> Response:
    row = find_conversation_or_404(json_body())
    conn = get_db()
    with write_transaction(conn):
        if action == "unassign":
            store.assign(conn, row["conversation_id"], None)
        else:
            store.set_status(conn, row["conversation_id"], "closed" if action == "close" else "open")
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=conversation_json(conn, updated))


@bp.post("/close")
@api_doc(
    "Close a conversation (the customer's next message, or a reply sent to it, reopens it)",
    tag="conversations",
    body=ConversationTarget,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def close() -> Response:
    """Close a conversation; the customer's next message reopens it."""
    return _lifecycle("close")


@bp.post("/reopen")
@api_doc(
    "Reopen a closed conversation",
    tag="conversations",
    body=ConversationTarget,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def reopen() -> Response:
    return _lifecycle("reopen")


@bp.post("/unassign")
@api_doc(
    "Remove a conversation's agent",
    tag="conversations",
    body=ConversationTarget,
    responses={200: (CHANGED, ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def unassign() -> Response:
    return _lifecycle("unassign")


@bp.get("/templates")
@api_doc(
    "The business's approved templates with the parameters each needs",
    tag="sending",
    description="Templates Meta's webhooks reported paused, disabled or rejected since the listing was read "
    "are left out at once (subscribe to message_template_status_update).",
    parameters=[query("refresh", {"type": "boolean"}, "Re-read them from Meta now")],
    responses={200: ("Approved templates", TemplateList)},
    errors=(400, 502, *AGENT_ERRORS),
)
def list_templates() -> Response:
    """The business's approved templates (cached for a few minutes; refresh=true to re-read)."""
    refresh = bool_param(request.args.get("refresh"), "refresh")
    try:
        approved = current_app.extensions["templates"].approved(refresh)
    except GraphError as exc:
        status = 503 if exc.code is None else 502
        raise APIError(status, f"Templates could not be listed: {exc.agent_message()}") from None
    except GraphUnavailable as exc:
        raise APIError(502, f"Templates could not be listed: {exc}") from None
    return jsonify(success=True, templates=[templates.summary(t) for t in approved], count=len(approved))


# The send and media routes live in modules of their own, on this blueprint.
from . import (  # noqa: E402, F401
    api_actions,
    api_agents,
    api_away_reply,
    api_block,
    api_business_hours,
    api_canned,
    api_contact,
    api_groups,
    api_labels,
    api_media,
    api_notes,
    api_presence,
    api_reports,
    api_routing,
    api_send,
    api_typing,
)
