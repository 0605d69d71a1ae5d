"""Labels (routes on the api blueprint): admins create, rename, recolour and delete them; any agent puts
them on conversations and takes them off. The conversation list filters by them (GET /conversations?label=)."""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from flask import Response, jsonify

from . import present, store
from .api import bp, conversation_json, find_conversation_or_404, json_body, label_param
from .api_doc import api_doc
from .api_shapes import (
    MAX_ID,
    ConversationLabel,
    ConversationResult,
    LabelChange,
    LabelCreate,
    LabelDeleted,
    LabelList,
    LabelResult,
)
from .auth import admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS

log = logging.getLogger(__name__)

MAX_NAME = 50
DEFAULT_COLOUR = "#6b7280"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# A plain int: with a max, werkzeug answers 405 for a larger id on a path with two routes (PATCH, DELETE).
LABEL_ID = "int"


def label_name(value: Any) -> str:
    """A label's name: text of 1 to 50 characters, spaces at the ends dropped, no control characters."""
    if not isinstance(value, str):
        raise APIError(400, "name must be a string")
    name = " ".join(value.split())
    if not name:
        raise APIError(400, "name must not be empty")
    if len(name) > MAX_NAME:
        raise APIError(400, f"name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise APIError(400, "name must be plain text (no control or invisible characters)")
    return name


def label_colour(value: Any) -> str:
    if not isinstance(value, str) or not _COLOUR.fullmatch(value.strip()):
        raise APIError(400, "colour must be '#rrggbb' (six hexadecimal digits)")
    return value.strip().lower()


def label_or_404(label_id: int) -> Any:
    row = store.get_label(get_db(), label_id) if label_id <= MAX_ID else None  # SQLite stops at 2**63
    if row is None:
        raise APIError(404, "Label not found")
    return row


def _exists(name: str) -> APIError:
    return APIError(409, f"A label named {name!r} exists already (names are unique whatever their case)")


@bp.get("/labels")
@api_doc(
    "Every label, by name, with how many conversations carry it",
    tag="labels",
    responses={200: ("The labels", LabelList)},
    errors=AGENT_ERRORS,
)
def list_labels() -> Response:
    rows = store.all_labels(get_db())
    return jsonify(success=True, labels=[present.label(r) for r in rows], count=len(rows))


@bp.post("/labels")
@api_doc(
    "Create a label (admins)",
    tag="labels",
    body=LabelCreate,
    responses={201: ("The label", LabelResult)},
    errors=(400, 403, 409, 413, *WRITE_ERRORS),
)
@admin_required("manage labels")
def create_label() -> tuple[Response, int]:
    data = json_body()
    name = label_name(data.get("name"))
    colour = label_colour(data["colour"]) if data.get("colour") is not None else DEFAULT_COLOUR
    conn = get_db()
    try:
        with write_transaction(conn):
            label_id = store.create_label(conn, name, colour)
    except store.LabelExists:
        raise _exists(name) from None
    log.info("Label %s created: %s", label_id, name)
    return jsonify(success=True, label=present.label(store.get_label(conn, label_id))), 201


@bp.patch(f"/labels/<{LABEL_ID}:label_id>")
@api_doc(
    "Rename and/or recolour a label (admins)",
    tag="labels",
    body=LabelChange,
    responses={200: ("The label after the change", LabelResult)},
    errors=(400, 403, 404, 409, 413, *WRITE_ERRORS),
)
@admin_required("manage labels")
def change_label(label_id: int) -> Response:
    data = json_body()
    label_or_404(label_id)
    name = label_name(data["name"]) if data.get("name") is not None else None
    colour = label_colour(data["colour"]) if data.get("colour") is not None else None
    if name is None and colour is None:
        raise APIError(400, "Give a new name or colour")
    conn = get_db()
    try:
        with write_transaction(conn):
            store.update_label(conn, label_id, name, colour)
    except store.LabelExists:
        raise _exists(name or "") from None
    return jsonify(success=True, label=present.label(label_or_404(label_id)))


@bp.delete(f"/labels/<{LABEL_ID}:label_id>")
@api_doc(
    "Delete a label (admins); it is taken off every conversation",
    tag="labels",
    responses={200: ("Deleted", LabelDeleted)},
    errors=(403, 404, *WRITE_ERRORS),
)
@admin_required("manage labels")
def remove_label_everywhere(label_id: int) -> Response:
    label_or_404(label_id)
    conn = get_db()
    with write_transaction(conn):
        removed = store.delete_label(conn, label_id)
    log.info("Label %s deleted (it was on %s conversations)", label_id, removed)
    return jsonify(success=True, deleted=label_id, conversations=removed)


def _on_conversation(add: bool) -> Response:
    data = json_body()
    row = find_conversation_or_404(data)
    label_id = label_param(data.get("label"))
    if label_id is None:  # missing, null, or only spaces
        raise APIError(400, "label is required (a label's id or name)")
    conn = get_db()
    with write_transaction(conn):
        if add:
            store.add_label(conn, row["conversation_id"], label_id)
        else:
            store.remove_label(conn, row["conversation_id"], label_id)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=conversation_json(conn, updated))


@bp.post("/add-label")
@api_doc(
    "Put a label on a conversation (any agent); a label it carries already changes nothing",
    tag="labels",
    body=ConversationLabel,
    responses={200: ("The conversation after the change, with its labels", ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def add_label() -> Response:
    return _on_conversation(True)


@bp.post("/remove-label")
@api_doc(
    "Take a label off a conversation (any agent)",
    tag="labels",
    body=ConversationLabel,
    responses={200: ("The conversation after the change, with its labels", ConversationResult)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def remove_label() -> Response:
    return _on_conversation(False)
