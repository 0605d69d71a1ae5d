"""Presence (routes on the api blueprint): the dashboard's heartbeat, and who is online."""

from __future__ import annotations

import logging

from flask import Response, current_app, g, jsonify, request

from . import presence, routing
from .api import bp
from .api_doc import api_doc
from .api_shapes import PresenceChange, PresenceList, PresenceResult
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS

log = logging.getLogger(__name__)


def _away_asked() -> bool | None:
    if not request.get_data(cache=True).strip():
        return None
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object (Content-Type: application/json), or empty")
    unknown = set(data) - {"away"}
    if unknown:
        raise APIError(400, f"unknown field {sorted(unknown)[0]!r} (only away)")
    away = data.get("away")
    if away is not None and not isinstance(away, bool):
        raise APIError(400, "away must be true or false")
    return away


@bp.post("/presence")
@api_doc(
    "A heartbeat from the signed-in agent (the dashboard sends one every 20 s); away sets away by hand",
    tag="routing",
    description="The agent is online until PRESENCE_TIMEOUT_SECONDS pass without another heartbeat, then offline. "
    "away true keeps them away (skipped by auto-assignment) until a heartbeat says away false. A heartbeat that "
    "changes the agent's state emits presence.updated; one that comes after opening time or brings an agent "
    "online also drains the waiting conversations (auto-assignment). Only an agent has presence: the service "
    "key is refused with 403.",
    body=PresenceChange,
    example={"away": True},
    responses={200: ("The agent's presence", PresenceResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
def heartbeat() -> Response:
    agent = g.agent
    if agent is None:
        raise APIError(403, "The service key has no presence: heartbeats come from a signed-in agent (an agent key)")
    away = _away_asked()
    agent_id = int(agent["agent_id"])
    conn = get_db()
    timeout = current_app.config["SETTINGS"].presence_timeout_seconds
    with write_transaction(conn):
        change = presence.heartbeat(conn, agent_id, away=away, timeout=timeout)
        routing.drain(conn)
        mine = next(p for p in presence.team(conn) if p["agent_id"] == agent_id)
    if change.changed:
        log.info("Agent %s is %s (was %s)", agent_id, change.after, change.before)
    return jsonify(success=True, presence=mine, changed=change.changed)


@bp.get("/presence")
@api_doc(
    "Every active agent with their presence: online, away or offline, and their last heartbeat",
    tag="routing",
    responses={200: ("The team's presence", PresenceList)},
    errors=AGENT_ERRORS,
)
def team_presence() -> Response:
    return jsonify(
        success=True,
        agents=presence.team(get_db()),
        timeout_seconds=current_app.config["SETTINGS"].presence_timeout_seconds,
    )
