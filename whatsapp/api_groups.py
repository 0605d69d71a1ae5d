"""The agent API's group routes: who is in a WhatsApp group conversation (on the api blueprint)."""

from __future__ import annotations

from flask import Response, jsonify, request

from . import present, store
from .api import bp, find_conversation_or_404
from .api_doc import api_doc, identifier, query
from .api_shapes import ParticipantList
from .db import get_db
from .errors import APIError
from .openapi import AGENT_ERRORS


@bp.get("/participants")
@api_doc(
    "The members of a group conversation, current ones first",
    tag="conversations",
    description="Members follow the group_participants_update webhook (joined, left, removed) and the "
    "messages they write (their profile names).",
    parameters=[query("conversation_id", identifier(), "The group conversation's id", 1)],
    responses={200: ("The group's members", ParticipantList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def participants() -> Response:
    if request.args.get("conversation_id") is None:
        raise APIError(400, "conversation_id is required")
    row = find_conversation_or_404(request.args)
    if row["kind"] != "group":
        raise APIError(400, f"Conversation {row['conversation_id']} is not a group")
    members = [present.participant(r) for r in store.participants(get_db(), row["conversation_id"])]
    return jsonify(success=True, conversation_id=row["conversation_id"], group_id=row["group_id"], participants=members)
