"""Private notes and @mentions (routes on the api blueprint).

A note is agents' words in a thread for each other: stored here, never sent to WhatsApp. It is not a
message, so GET /messages stays as it was; GET /notes gives a conversation's notes, each with `type`
'note', `direction` 'internal' and a `timestamp`, for a client to place among the messages by time.
`@Ana` or `@"Ana Souza"` in a note mentions active agents (whatsapp/mentions.py says how names match):
each gets a mention (GET /mentions) and a `mention.created` event naming them.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Response, g, jsonify, request

from . import agents, mentions, store, surrogates
from .api import MESSAGE_ID, bool_param, bp, find_conversation_or_404, int_param, json_body
from .api_doc import api_doc, identifier, query
from .api_shapes import (
    Error,
    Mention,
    MentionList,
    MentionsReadRequest,
    MentionsReadResult,
    Note,
    NoteDeleted,
    NoteList,
    NoteRequest,
    NoteResult,
)
from .auth import acting_agent_id, is_admin
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, CUSTOMER_QUERY, WRITE_ERRORS

log = logging.getLogger(__name__)

MAX_BODY = 4096
MAX_READ_IDS = 500


# --- shapes ----------------------------------------------------------------------------------


def note_json(row: sqlite3.Row, mentioned: list[sqlite3.Row]) -> Note:
    return {
        "id": row["note_id"],
        "conversation_id": row["conversation_id"],
        "type": "note",
        "direction": "internal",
        "agent_id": row["agent_id"],
        "agent_name": row["agent_name"],
        "body": row["body"],
        "timestamp": row["created_at"],
        "mentions": [{"agent_id": m["agent_id"], "name": m["name"]} for m in mentioned],
    }


def mention_json(row: sqlite3.Row) -> Mention:
    return {
        "id": row["mention_id"],
        "agent_id": row["agent_id"],
        "created_at": row["created_at"],
        "read": row["read_at"] is not None,
        "read_at": row["read_at"],
        "note": {
            "id": row["note_id"],
            "body": row["body"],
            "agent_id": row["author_id"],
            "agent_name": row["author_name"],
            "timestamp": row["note_created_at"],
        },
        "conversation": {
            "id": row["conversation_id"],
            "contact_name": row["contact_name"],
            "contact_profile_name": row["contact_profile_name"],
            "phone_number": row["phone_number"],
            "username": row["username"],
        },
    }


# --- parsing ---------------------------------------------------------------------------------


def note_body(data: dict[str, Any]) -> str:
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise APIError(400, "body is required: the note's text")
    body = body.strip()
    if len(body) > MAX_BODY:
        raise APIError(400, f"body is longer than {MAX_BODY} characters")
    if surrogates.LONE_SURROGATE.search(body):
        raise APIError(400, "body holds an unpaired UTF-16 surrogate, which is not text")
    return body


def whose_mentions(value: Any) -> int:
    """The agent whose mentions: the signed-in agent, or the agent_id a script passed."""
    agent_id = acting_agent_id(int_param(value, "agent_id", low=0))
    if agent_id is None:
        raise APIError(400, "agent_id is required with the service key (an agent's key or session: their own)")
    return agent_id


def mention_ids(data: dict[str, Any]) -> list[int] | None:
    if "mention_ids" not in data or data["mention_ids"] is None:
        return None
    ids = data["mention_ids"]
    if not isinstance(ids, list) or len(ids) > MAX_READ_IDS:
        raise APIError(400, f"mention_ids must be a list of at most {MAX_READ_IDS} ids")
    out = []
    for item in ids:
        number = int_param(item, "mention_ids[]", low=1)
        if number is None:
            raise APIError(400, "mention_ids must be a list of mention ids")
        out.append(number)
    return out


# --- routes ----------------------------------------------------------------------------------


@bp.get("/notes")
@api_doc(
    "A conversation's private notes, oldest first: the newest `limit`, or those before a note",
    tag="notes",
    description="Notes are never sent to WhatsApp and are not in GET /messages: place them among the messages "
    "by `timestamp` (each has `type` 'note' and `direction` 'internal'). Deleted notes are left out.",
    parameters=[
        *CUSTOMER_QUERY,
        query("limit", {**identifier(), "maximum": 500, "default": 100}, "Page size"),
        query("before_id", identifier(), "Page back from this note (exclusive)"),
    ],
    responses={200: ("The notes", NoteList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def list_notes() -> Response:
    row = find_conversation_or_404(request.args)
    limit = int_param(request.args.get("limit"), "limit", default=100, low=1, high=500) or 100
    before_id = int_param(request.args.get("before_id"), "before_id", low=1)
    conn = get_db()
    rows = store.list_notes(conn, row["conversation_id"], limit, before_id)
    named = store.mentions_of_notes(conn, [r["note_id"] for r in rows])
    items = [note_json(r, named.get(r["note_id"], [])) for r in rows]
    return jsonify(success=True, notes=items, count=len(items), conversation_id=row["conversation_id"])


@bp.post("/notes")
@api_doc(
    "Write a private note in a conversation (never sent to WhatsApp); @name mentions agents",
    tag="notes",
    description="`@Ana` mentions the active agent named exactly Ana, or else every active agent whose first name "
    'is Ana; `@"Ana Souza"` the one with that whole name (case-insensitive; the author is never mentioned). '
    "Each mentioned agent gets a mention (GET /mentions) and a `mention.created` event with their agent_id; "
    "the note itself is a `note.created` event.",
    body=NoteRequest,
    example={"conversation_id": 1, "body": '@Ana can you check the refund? @"Bo Lima" FYI'},
    responses={201: ("The note, with the agents it mentions", NoteResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def add_note() -> tuple[Response, int]:
    data = json_body()
    row = find_conversation_or_404(data)
    body = note_body(data)
    author = acting_agent_id(int_param(data.get("agent_id"), "agent_id", low=0))
    conn = get_db()
    people = [mentions.Person(int(a["agent_id"]), str(a["name"])) for a in agents.list_all(conn)]
    named = [p.agent_id for p in mentions.mentioned(body, people, author)]
    with write_transaction(conn):
        note_id = store.add_note(conn, row["conversation_id"], author, body, named)
    note = store.get_note(conn, note_id)
    log.info("Note %s in conversation %s (%d mentions)", note_id, row["conversation_id"], len(named))
    return jsonify(success=True, note=note_json(note, store.mentions_of_notes(conn, [note_id]).get(note_id, []))), 201


@bp.delete(f"/notes/<{MESSAGE_ID}:note_id>")
@api_doc(
    "Delete a private note (its author or an admin); its mentions go with it",
    tag="notes",
    responses={
        200: ("Deleted", NoteDeleted),
        403: ("Not the note's author nor an admin, or a session's write without its X-CSRF-Token", Error),
    },
    errors=(404, *WRITE_ERRORS),
)
def delete_note(note_id: int) -> Response:
    conn = get_db()
    note = store.get_note(conn, note_id)
    if note is None:
        raise APIError(404, "Note not found")
    agent = getattr(g, "agent", None)
    if not is_admin() and (agent is None or note["agent_id"] != agent["agent_id"]):
        raise APIError(403, "Only the note's author or an admin can delete it")
    with write_transaction(conn):
        store.delete_note(conn, note_id)
    return jsonify(success=True, note_id=note_id, deleted=True)


@bp.get("/mentions")
@api_doc(
    "An agent's @mentions in notes, newest first, each with its note and conversation",
    tag="notes",
    description="A signed-in agent (or an agent's key) gets their own; the service key names the agent with agent_id.",
    parameters=[
        query("agent_id", identifier(0), "Whose mentions (the service key only)"),
        query("unread_only", {"type": "boolean"}, "Only mentions not marked read"),
        query("limit", {**identifier(), "maximum": 200, "default": 50}, "Page size"),
        query("before_id", identifier(), "Page back from this mention (exclusive)"),
    ],
    responses={200: ("The mentions", MentionList)},
    errors=(400, *AGENT_ERRORS),
)
def list_mentions() -> Response:
    agent_id = whose_mentions(request.args.get("agent_id"))
    unread_only = bool_param(request.args.get("unread_only"), "unread_only")
    limit = int_param(request.args.get("limit"), "limit", default=50, low=1, high=200) or 50
    before_id = int_param(request.args.get("before_id"), "before_id", low=1)
    conn = get_db()
    rows = store.list_mentions(conn, agent_id, unread_only=unread_only, limit=limit, before_id=before_id)
    return jsonify(
        success=True,
        mentions=[mention_json(r) for r in rows],
        count=len(rows),
        unread=store.unread_mentions(conn, agent_id),
        agent_id=agent_id,
    )


@bp.post("/mentions/read")
@api_doc(
    "Mark an agent's mentions read: those listed in mention_ids, or all of them",
    tag="notes",
    body=MentionsReadRequest,
    responses={200: ("Marked", MentionsReadResult)},
    errors=(400, 413, *WRITE_ERRORS),
)
def mark_mentions_read() -> Response:
    data = json_body()
    agent_id = whose_mentions(data.get("agent_id"))
    ids = mention_ids(data)
    conn = get_db()
    with write_transaction(conn):
        marked = store.mark_mentions_read(conn, agent_id, ids)
    return jsonify(success=True, marked=marked, unread=store.unread_mentions(conn, agent_id), agent_id=agent_id)
