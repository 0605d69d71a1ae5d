"""Typing indicators to the customer and agents' activity in a thread (routes on the api blueprint).

POST /typing sends Meta's typing indicator (the read call with `typing_indicator`) for the customer's
latest message while an agent types a reply: only when that message is unanswered, the 24-hour window is
open and the `typing_indicators` setting is on, and at most once per conversation per RENEW across every
worker (claimed in a write transaction). It is best-effort: every other outcome is 200 `sent: false`
with a reason. POST /activity records who is viewing or typing in a thread; an `activity.updated` event
goes out only when an agent's state there changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify, request

from . import present
from .api import bp, find_conversation_or_404, graph_client, int_param, json_body
from .api_doc import api_doc
from .api_shapes import (
    ActivityChange,
    ActivityList,
    ActivityResult,
    ConversationTarget,
    TypingResult,
    TypingSettings,
    TypingSettingsResult,
)
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .graph import GraphError, GraphUnavailable
from .openapi import AGENT_ERRORS, CUSTOMER_QUERY, WRITE_ERRORS
from .store import get_setting, put_setting
from .store.activity import STATES, activity_in, set_activity
from .store.typing import answered, claim_typing, latest_inbound, release_typing

log = logging.getLogger(__name__)

SETTING = "typing_indicators"
# Meta shows the indicator for 25 s (or until the reply): renewing every 20 s keeps it up while typing.
RENEW = timedelta(seconds=20)
# An agent's viewing/typing lasts this long unless the dashboard renews it (it does every ~20 s).
ACTIVITY_LASTS = timedelta(seconds=30)


def typing_enabled(conn: Any) -> bool:
    stored = get_setting(conn, SETTING) or {}
    return stored.get("enabled", True) is not False


def typing_answer(conversation_id: int, wamid: str | None, reason: str | None, **extra: Any) -> Response:
    return jsonify(
        success=True, conversation_id=conversation_id, sent=reason is None, reason=reason, message_id=wamid, **extra
    )


@bp.post("/typing")
@api_doc(
    "Show the customer that an agent is typing (Meta's typing indicator; it also marks their message read)",
    tag="typing",
    description="Sent for the customer's latest message only when it is unanswered, the 24-hour window is "
    "open and the typing_indicators setting is on, at most once per conversation every 20 s (Meta shows it "
    "for 25 s or until the reply). Best-effort: when nothing is sent the answer is still 200, with "
    "`sent: false` and the reason, Meta's refusals included.",
    body=ConversationTarget,
    example={"conversation_id": 42},
    responses={200: ("Whether the indicator went out", TypingResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def typing() -> Response:
    row = find_conversation_or_404(json_body())
    conversation_id = row["conversation_id"]
    conn = get_db()
    if not typing_enabled(conn) or not current_app.config["SETTINGS"].send_read_receipts:
        return typing_answer(conversation_id, None, "disabled")
    if row["kind"] == "group":  # Meta's Groups API takes no read receipts (nor typing) for group messages
        return typing_answer(conversation_id, None, "group")
    moment = datetime.now(UTC)
    with write_transaction(conn):
        message = latest_inbound(conn, conversation_id)
        if message is None:
            return typing_answer(conversation_id, None, "no_inbound_message")
        wamid = message["whatsapp_message_id"]
        if not present.window(row["last_inbound_at"], moment)[1]:
            return typing_answer(conversation_id, wamid, "window_closed")
        if answered(conn, conversation_id, message):
            return typing_answer(conversation_id, wamid, "answered")
        claimed, previous = claim_typing(conn, conversation_id, wamid, RENEW, moment)
        if not claimed:
            return typing_answer(conversation_id, wamid, "recently_sent")
    # The Graph call goes out after the claim is committed: no network inside the write lock.
    try:
        graph_client().typing_indicator(wamid)
    except (GraphError, GraphUnavailable) as exc:
        log.warning("Typing indicator for conversation %s failed: %s", conversation_id, exc)
        with write_transaction(conn):
            release_typing(conn, conversation_id, moment, previous)
        text = exc.agent_message() if isinstance(exc, GraphError) else str(exc)
        return typing_answer(conversation_id, wamid, "meta_error", meta_error=text)
    return typing_answer(conversation_id, wamid, None)


def settings_answer(enabled: bool) -> Response:
    return jsonify(success=True, typing_indicators={"enabled": enabled})


@bp.get("/typing-settings")
@api_doc(
    "Whether typing indicators are sent to customers",
    tag="typing",
    responses={200: ("The setting", TypingSettingsResult)},
    errors=AGENT_ERRORS,
)
def get_typing_settings() -> Response:
    return settings_answer(typing_enabled(get_db()))


@bp.put("/typing-settings")
@api_doc(
    "Turn typing indicators to customers on or off (admins)",
    tag="typing",
    body=TypingSettings,
    example={"enabled": False},
    responses={200: ("The setting as stored", TypingSettingsResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
@admin_required("turn typing indicators on or off")
def put_typing_settings() -> Response:
    data = json_body()
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        raise APIError(400, "enabled must be true or false")
    unknown = sorted(set(data) - {"enabled"})
    if unknown:
        raise APIError(400, f"Unknown field: {unknown[0]}")
    conn = get_db()
    with write_transaction(conn):
        put_setting(conn, SETTING, {"enabled": enabled}, acting_agent_id(None))
    log.info("Typing indicators turned %s", "on" if enabled else "off")
    return settings_answer(enabled)


def activity_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {"agent_id": r["agent_id"], "agent_name": r["agent_name"], "state": r["state"], "until": r["until"]}
        for r in rows
    ]


@bp.post("/activity")
@api_doc(
    "Say that I am viewing, typing in, or have left a conversation (the dashboard renews it every ~20 s)",
    tag="typing",
    description="A state lasts 30 s unless renewed. Other agents hear an activity.updated event (agent_id, "
    'detail {"state": ...}) only when an agent\'s state in the conversation changes, not on each renewal.',
    body=ActivityChange,
    example={"conversation_id": 42, "state": "typing"},
    responses={200: ("Who is there now", ActivityResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def post_activity() -> Response:
    data = json_body()
    state = data.get("state")
    if state not in STATES:
        raise APIError(400, "state must be one of: " + ", ".join(STATES))
    row = find_conversation_or_404(data)
    agent_id = acting_agent_id(int_param(data.get("agent_id"), "agent_id", low=1))
    if agent_id is None:
        raise APIError(400, "agent_id is required with the service key (the agent the activity is about)")
    conn = get_db()
    agent = conn.execute("SELECT active FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    if agent is None or not agent["active"]:
        raise APIError(400, f"agent_id {agent_id} is not an active agent")
    moment = datetime.now(UTC)
    with write_transaction(conn):
        changed = set_activity(conn, row["conversation_id"], agent_id, state, ACTIVITY_LASTS, moment)
    rows = activity_in(conn, row["conversation_id"], moment)
    return jsonify(success=True, conversation_id=row["conversation_id"], changed=changed, activity=activity_json(rows))


@bp.get("/activity")
@api_doc(
    "Who is viewing or typing in a conversation now",
    tag="typing",
    parameters=CUSTOMER_QUERY,
    responses={200: ("The agents there now (expired ones left out)", ActivityList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def get_activity() -> Response:
    row = find_conversation_or_404(request.args)
    rows = activity_in(get_db(), row["conversation_id"])
    return jsonify(success=True, conversation_id=row["conversation_id"], activity=activity_json(rows))
