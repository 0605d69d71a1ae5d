"""Auto-assignment rules (routes on the api blueprint): any agent reads them, admins change them."""

from __future__ import annotations

import logging

from flask import Response, jsonify

from . import agents, routing
from .api import bp, json_body
from .api_doc import api_doc
from .api_shapes import RoutingChange, RoutingResult
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS
from .store import put_setting

log = logging.getLogger(__name__)


@bp.get("/routing")
@api_doc(
    "The auto-assignment rules",
    tag="routing",
    description="See PUT /routing. Without rules set, mode is off.",
    responses={200: ("The rules", RoutingResult)},
    errors=AGENT_ERRORS,
)
def get_routing() -> Response:
    return jsonify(success=True, routing=routing.load(get_db()).as_json())


@bp.put("/routing")
@api_doc(
    "Set the auto-assignment rules (admins)",
    tag="routing",
    description="A customer's message to an open conversation nobody has (a new customer), or to a closed one "
    "(reopened), is given to an online agent (heartbeat fresh, not away) under capacity: round_robin takes "
    "turns, least_loaded picks the fewest open assigned conversations. With returning_customer, a reopened "
    "conversation goes back to its previous agent when they are online and under capacity. When nobody can "
    "take it, it waits unassigned; the oldest waiting are given first when an agent comes online, comes back, "
    "or frees room (closes, unassigns, is reassigned), and at the next heartbeat after business hours open. "
    "Outside business hours nothing is assigned. Group threads are never routed. Each automatic assignment "
    "is a conversation.assigned event with detail.reason.",
    body=RoutingChange,
    example={"mode": "round_robin", "capacity": 10, "capacities": {"2": 5}, "returning_customer": True},
    responses={200: ("The rules as stored", RoutingResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
@admin_required("set the auto-assignment rules")
def put_routing() -> Response:
    conn = get_db()
    active = {int(row["agent_id"]) for row in agents.list_all(conn)}
    try:
        rules = routing.parse(json_body(), active)
    except routing.RoutingError as exc:
        raise APIError(400, f"Routing: {exc}") from None
    with write_transaction(conn):
        put_setting(conn, routing.SETTING, rules.as_json(), acting_agent_id(None))
        assigned = routing.drain(conn)
    log.info("Routing rules changed (mode=%s, capacity=%s); %d waiting assigned", rules.mode, rules.capacity, assigned)
    return jsonify(success=True, routing=rules.as_json(), assigned=assigned)
