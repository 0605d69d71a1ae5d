"""The contact panel (routes on the api blueprint): the business's name for a customer, their free
key/value attributes, and every conversation of theirs. Any agent may read and change them."""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

from flask import Response, jsonify, request

from . import store
from .api import bp, find_conversation_or_404, json_body
from .api_doc import api_doc, query
from .api_shapes import (
    Attribute,
    AttributeList,
    AttributeRequest,
    Contact,
    ContactNameRequest,
    ContactResult,
    CustomerConversation,
    Error,
)
from .auth import acting_agent_id
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, CUSTOMER_QUERY, WRITE_ERRORS
from .store import contacts

log = logging.getLogger(__name__)

KEY_PATTERN = "^[a-z0-9_.-]{1,64}$"
KEY = re.compile(KEY_PATTERN[1:-1])
MAX_VALUE = 1000
MAX_NAME = 200


def attribute(row: sqlite3.Row) -> Attribute:
    return {
        "key": row["attr_key"],
        "value": row["value"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def customer_conversation(row: sqlite3.Row, membership: str | None, current: int) -> CustomerConversation:
    return {
        "id": row["conversation_id"],
        "kind": row["kind"],
        "status": row["status"],
        "last_message_at": row["last_message_at"],
        "last_message": row["last_message"],
        "contact_name": row["contact_name"] or row["contact_profile_name"],
        "current": row["conversation_id"] == current,
        "membership": membership,  # type: ignore[typeddict-item]
    }


def contact(conn: sqlite3.Connection, row: sqlite3.Row) -> Contact:
    conversation_id = int(row["conversation_id"])
    if row["phone_number"]:
        named = contacts.owner_name(conn, row["phone_number"]) is not None
    else:
        named = bool(row["contact_name"]) and row["contact_name"] != row["contact_profile_name"]
    return {
        "conversation_id": conversation_id,
        "kind": row["kind"],
        "contact_name": row["contact_name"],
        "named_by_business": named and row["kind"] != "group",
        "contact_profile_name": row["contact_profile_name"],
        "phone_number": row["phone_number"],
        "user_id": row["user_id"],
        "username": row["username"],
        "attributes": [attribute(a) for a in contacts.attributes(conn, conversation_id)],
        "conversations": [
            customer_conversation(r, membership, conversation_id)
            for r, membership in contacts.customer_conversations(conn, row)
        ],
    }


@bp.get("/contact")
@api_doc(
    "The contact panel: the customer's names, ids, attributes and every conversation of theirs",
    tag="contacts",
    description="`conversations` holds every conversation under the customer's phone or BSUID (closed ones too) "
    "and the groups they are or were a member of; open one with GET /conversation?conversation_id=<id>.",
    parameters=CUSTOMER_QUERY,
    responses={200: ("The contact", ContactResult)},
    errors=(400, 404, *AGENT_ERRORS),
)
def get_contact() -> Response:
    row = find_conversation_or_404(request.args)
    return jsonify(success=True, contact=contact(get_db(), row))


def name_param(data: dict[str, Any]) -> str | None:
    if "name" not in data:
        raise APIError(400, "name is required (null or '' clears the business's name)")
    value = data["name"]
    if value is None:
        return None
    if not isinstance(value, str):
        raise APIError(400, "name must be a string or null")
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise APIError(400, f"name is longer than {MAX_NAME} characters")
    return name or None


@bp.post("/contact")
@api_doc(
    "Name the customer (the business's name, kept apart from their WhatsApp profile name)",
    tag="contacts",
    description="The name shows as contact_name everywhere; clearing it (null or '') shows the WhatsApp profile "
    "name again. For a customer with a phone it is the same name the WhatsApp Business app's contact sync "
    "(coexistence) sets: the newest change wins, whoever made it. A group's name is its WhatsApp subject (409).",
    body=ContactNameRequest,
    example={"conversation_id": 1, "name": "Maria (bakery order)"},
    responses={200: ("The contact after the change", ContactResult), 409: ("A group conversation", Error)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def name_contact() -> Response:
    data = json_body()
    name = name_param(data)
    row = find_conversation_or_404(data)
    if row["kind"] == "group":
        raise APIError(409, "A group's name is its subject on WhatsApp; it cannot be renamed here")
    conn = get_db()
    with write_transaction(conn):
        contacts.set_contact_name(conn, row, name)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    log.info("Conversation %s named by the business", row["conversation_id"])
    return jsonify(success=True, contact=contact(conn, updated))


def key_param(value: Any) -> str:
    if not isinstance(value, str) or not KEY.fullmatch(value):
        raise APIError(400, "key must be 1 to 64 of a-z, 0-9, '_', '.' and '-'")
    return value


def attribute_list(conn: sqlite3.Connection, conversation_id: int) -> Response:
    rows = contacts.attributes(conn, conversation_id)
    return jsonify(success=True, conversation_id=conversation_id, attributes=[attribute(a) for a in rows])


@bp.get("/contact/attributes")
@api_doc(
    "The customer's attributes",
    tag="contacts",
    parameters=CUSTOMER_QUERY,
    responses={200: ("By key", AttributeList)},
    errors=(400, 404, *AGENT_ERRORS),
)
def list_attributes() -> Response:
    row = find_conversation_or_404(request.args)
    return attribute_list(get_db(), int(row["conversation_id"]))


@bp.put("/contact/attributes")
@api_doc(
    "Set one attribute of the customer (created or replaced)",
    tag="contacts",
    description=f"At most {contacts.MAX_ATTRIBUTES} per customer; a new one past that is refused with 409.",
    body=AttributeRequest,
    example={"conversation_id": 1, "key": "plan", "value": "gold"},
    responses={200: ("Every attribute after the change", AttributeList), 409: ("The customer has 50 already", Error)},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def put_attribute() -> Response:
    data = json_body()
    key = key_param(data.get("key"))
    value = data.get("value")
    if not isinstance(value, str):
        raise APIError(400, "value must be a string")
    if len(value) > MAX_VALUE:
        raise APIError(400, f"value is longer than {MAX_VALUE} characters")
    row = find_conversation_or_404(data)
    conn = get_db()
    conversation_id = int(row["conversation_id"])
    with write_transaction(conn):
        outcome = contacts.set_attribute(conn, conversation_id, key, value, acting_agent_id(None))
    if outcome == "full":
        raise APIError(409, f"A customer has at most {contacts.MAX_ATTRIBUTES} attributes; remove one first")
    return attribute_list(conn, conversation_id)


@bp.delete("/contact/attributes")
@api_doc(
    "Remove one attribute of the customer",
    tag="contacts",
    parameters=[*CUSTOMER_QUERY, {**query("key", {"type": "string", "pattern": KEY_PATTERN}), "required": True}],
    responses={200: ("Every attribute after the change", AttributeList)},
    errors=(400, 404, *WRITE_ERRORS),
)
def delete_attribute() -> Response:
    key = key_param(request.args.get("key"))
    row = find_conversation_or_404(request.args)
    conn = get_db()
    conversation_id = int(row["conversation_id"])
    with write_transaction(conn):
        removed = contacts.delete_attribute(conn, conversation_id, key)
    if not removed:
        raise APIError(404, f"The customer has no attribute {key}")
    return attribute_list(conn, conversation_id)
