"""Canned replies (routes on the api blueprint): any agent lists, searches and fills them; only admins
create, change and delete them. Filling (`/render`) happens on the server so the dashboard and scripts
fill the variables the same way; the filled text is then sent through the normal POST /send."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Response, g, jsonify, request

from . import canned
from .api import bp, find_conversation_or_404, int_param, json_body
from .api_doc import api_doc, query
from .api_shapes import (
    CannedReply,
    CannedReplyChange,
    CannedReplyCreate,
    CannedReplyDeleted,
    CannedReplyList,
    CannedReplyResult,
    Error,
    RenderRequest,
    RenderResult,
)
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS
from .store import canned as canned_store
from .store import one
from .updates import SQLITE_MAX_INT

log = logging.getLogger(__name__)

MANAGE = "manage canned replies"
NOT_FOUND = "Canned reply not found"


def shape(row: sqlite3.Row) -> CannedReply:
    body = row["body"]
    used = [m.group(1) for m in canned.PLACEHOLDER.finditer(body) if m.group(1) in canned.VARIABLES]
    return {
        "id": row["canned_reply_id"],
        "code": row["code"],
        "title": row["title"],
        "body": body,
        "variables": list(dict.fromkeys(used)),  # type: ignore[typeddict-item]
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise APIError(400, f"{name} is required (a non-empty string)")
    if len(value) > limit:
        raise APIError(400, f"{name} is longer than {limit} characters")
    return value.strip() if name != "body" else value


def code_field(data: dict[str, Any]) -> str:
    value = data.get("code")
    code = value.strip().lstrip("/") if isinstance(value, str) else None
    if not code or not canned.CODE.fullmatch(code):
        raise APIError(400, "code must be 1 to 32 of a-z, 0-9, '_' and '-' (what the agent types after '/')")
    return code


def body_field(data: dict[str, Any]) -> str:
    body = field(data, "body", canned.MAX_BODY)
    unknown = canned.unknown_variables(body)
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        known = ", ".join("{{" + name + "}}" for name in canned.VARIABLES)
        raise APIError(400, f"Unknown variable {names} in body; the variables are {known}")
    return body


def get_or_404(canned_reply_id: int) -> sqlite3.Row:
    # One rule per method on the same path: werkzeug would answer a 405 for an id a bounded converter
    # refuses, so the path takes any integer and an id SQLite cannot hold is a plain 404 here.
    row = canned_store.get_canned(get_db(), canned_reply_id) if canned_reply_id <= SQLITE_MAX_INT else None
    if row is None:
        raise APIError(404, NOT_FOUND)
    return row


@bp.get("/canned-replies")
@api_doc(
    "The team's canned replies, or those matching a search",
    tag="canned replies",
    description="q matches a code by its start ('ref' finds `refund`) or titles and bodies holding every word "
    "of it (case-insensitive); a leading '/' is ignored.",
    parameters=[query("q", {"type": "string", "maxLength": 200}, "Search codes, titles and bodies")],
    responses={200: ("Canned replies", CannedReplyList)},
    errors=(400, *AGENT_ERRORS),
)
def list_canned() -> Response:
    q = request.args.get("q", "")
    if len(q) > 200:
        raise APIError(400, "q is longer than 200 characters")
    rows = canned_store.list_canned(get_db(), canned.search_words(q))
    return jsonify(success=True, canned_replies=[shape(r) for r in rows], count=len(rows))


@bp.post("/canned-replies")
@admin_required(MANAGE)
@api_doc(
    "Create a canned reply (admins)",
    tag="canned replies",
    description=f"At most {canned.MAX_REPLIES}. A body's variables: "
    + ", ".join("`{{" + name + "}}`" for name in canned.VARIABLES)
    + "; any other name in double braces is refused (400), so a customer never receives a literal `{{...}}`.",
    body=CannedReplyCreate,
    example={"code": "refund", "title": "Refund on its way", "body": "Hi {{contact.name}}, your refund is on its way."},
    responses={201: ("Created", CannedReplyResult), 409: ("The code is taken, or the inbox has 500 already", Error)},
    errors=(400, 413, *WRITE_ERRORS),
)
def create_canned() -> tuple[Response, int]:
    data = json_body()
    code, title, body = code_field(data), field(data, "title", canned.MAX_TITLE), body_field(data)
    conn = get_db()
    with write_transaction(conn):
        if canned_store.canned_count(conn) >= canned.MAX_REPLIES:
            raise APIError(409, f"The inbox has {canned.MAX_REPLIES} canned replies already; delete one first")
        new_id = canned_store.create_canned(conn, code, title, body, acting_agent_id(None))
        if new_id is None:
            raise APIError(409, f"The code /{code} is taken by another canned reply")
        row = canned_store.get_canned(conn, new_id)
    log.info("Canned reply /%s created", code)
    return jsonify(success=True, canned_reply=shape(row)), 201


@bp.get("/canned-replies/<int:canned_reply_id>")
@api_doc(
    "One canned reply",
    tag="canned replies",
    responses={200: ("The canned reply", CannedReplyResult)},
    errors=(404, *AGENT_ERRORS),
)
def get_canned(canned_reply_id: int) -> Response:
    return jsonify(success=True, canned_reply=shape(get_or_404(canned_reply_id)))


@bp.patch("/canned-replies/<int:canned_reply_id>")
@admin_required(MANAGE)
@api_doc(
    "Change a canned reply's code, title or body (admins)",
    tag="canned replies",
    body=CannedReplyChange,
    responses={200: ("The canned reply after the change", CannedReplyResult), 409: ("The code is taken", Error)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def change_canned(canned_reply_id: int) -> Response:
    data = json_body()
    changes: dict[str, str] = {}
    if "code" in data:
        changes["code"] = code_field(data)
    if "title" in data:
        changes["title"] = field(data, "title", canned.MAX_TITLE)
    if "body" in data:
        changes["body"] = body_field(data)
    if not changes:
        raise APIError(400, "Give code, title or body to change")
    conn = get_db()
    with write_transaction(conn):
        get_or_404(canned_reply_id)
        if "code" in changes and canned_store.code_taken(conn, changes["code"], canned_reply_id):
            raise APIError(409, f"The code /{changes['code']} is taken by another canned reply")
        canned_store.update_canned(conn, canned_reply_id, changes)
        row = canned_store.get_canned(conn, canned_reply_id)
    return jsonify(success=True, canned_reply=shape(row))


@bp.delete("/canned-replies/<int:canned_reply_id>")
@admin_required(MANAGE)
@api_doc(
    "Delete a canned reply (admins)",
    tag="canned replies",
    responses={200: ("Deleted", CannedReplyDeleted)},
    errors=(404, *WRITE_ERRORS),
)
def delete_canned(canned_reply_id: int) -> Response:
    conn = get_db()
    with write_transaction(conn):
        if canned_reply_id > SQLITE_MAX_INT or not canned_store.delete_canned(conn, canned_reply_id):
            raise APIError(404, NOT_FOUND)
    return jsonify(success=True, deleted=canned_reply_id)


def agent_name(agent_id: int | None) -> str | None:
    agent = getattr(g, "agent", None)
    if agent is not None:
        return str(agent["name"])
    if agent_id is None:
        return None
    row = one(get_db(), "SELECT name FROM agents WHERE agent_id = ?", agent_id)
    return str(row["name"]) if row else None


@bp.post("/canned-replies/<int:canned_reply_id>/render")
@api_doc(
    "Fill a canned reply's variables for a conversation (nothing is sent)",
    tag="canned replies",
    description="{{contact.name}} is the business's name for the customer, else their WhatsApp profile name, "
    "else their username; {{contact.phone}} their number (E.164); {{agent.name}} the signed-in agent (or, for "
    "the service key, the agent of agent_id); {{conversation.id}} the conversation's id. A variable without a "
    "value is filled with '' and named in `missing`. Send the text with POST /send.",
    body=RenderRequest,
    example={"conversation_id": 1},
    responses={200: ("The filled text", RenderResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def render_canned(canned_reply_id: int) -> Response:
    data = json_body()
    agent_id = acting_agent_id(int_param(data.get("agent_id"), "agent_id", low=0))
    row = get_or_404(canned_reply_id)
    conversation = find_conversation_or_404(data)
    name = conversation["contact_name"] or conversation["contact_profile_name"] or conversation["username"]
    values = {
        "contact.name": name,
        "contact.phone": conversation["phone_number"],
        "agent.name": agent_name(agent_id),
        "conversation.id": str(conversation["conversation_id"]),
    }
    text, missing = canned.render(row["body"], values)
    return jsonify(
        success=True,
        text=text,
        canned_reply_id=canned_reply_id,
        code=row["code"],
        conversation_id=conversation["conversation_id"],
        missing=missing,
    )
