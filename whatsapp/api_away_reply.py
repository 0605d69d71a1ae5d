"""The automatic reply outside business hours (routes on the api blueprint): any agent reads it,
admins change it. whatsapp/away_reply.py sends it."""

from __future__ import annotations

import logging

from flask import Response, jsonify

from . import away_reply
from .api import bp, json_body
from .api_doc import api_doc
from .api_shapes import AwayReplyChange, AwayReplyResult
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS
from .store import put_setting

log = logging.getLogger(__name__)


@bp.get("/away-reply")
@api_doc(
    "The automatic reply outside business hours",
    tag="routing",
    description="When a customer writes while GET /business-hours says closed, this text is sent once per "
    "conversation per `period_hours`, inside the customer's 24-hour window; never to a group's thread, "
    "to imported history or echoes, or to a blocked customer. A schedule switched off is never outside "
    "hours. The reply shows in the thread as an outbound message with `automatic: true`.",
    responses={200: ("The setting", AwayReplyResult)},
    errors=AGENT_ERRORS,
)
def get_away_reply() -> Response:
    setting = away_reply.load(get_db()) or away_reply.AwayReply()
    return jsonify(success=True, away_reply=setting.as_json())


@bp.put("/away-reply")
@api_doc(
    "Set the automatic reply outside business hours (admins)",
    tag="routing",
    body=AwayReplyChange,
    example={"enabled": True, "text": "Thanks for writing! We are closed and answer from 9:00.", "period_hours": 24},
    responses={200: ("The setting as stored", AwayReplyResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
@admin_required("set the automatic reply")
def put_away_reply() -> Response:
    try:
        setting = away_reply.parse(json_body())
    except away_reply.AwayReplyError as exc:
        raise APIError(400, f"Automatic reply: {exc}") from None
    conn = get_db()
    with write_transaction(conn):
        put_setting(conn, away_reply.SETTING, setting.as_json(), acting_agent_id(None))
    log.info("Automatic reply changed (enabled=%s, every %sh)", setting.enabled, setting.period_hours)
    return jsonify(success=True, away_reply=setting.as_json())
