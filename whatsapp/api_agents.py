"""Managing the team's agents through the API (admins only; on the api blueprint): create one (its key is
answered once), deactivate and activate, reset a key (the new one answered once), change a role.

The CLI (`flask create-agent`, `deactivate-agent`, `reset-agent-key`, `set-agent-role`) does the same and
stays. An admin cannot deactivate themself or take their own admin role away (409), so a signed-in admin
never locks themself out; the service key and the CLI can do anything.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Response, g, jsonify

from . import agents
from .api import bp, json_body
from .api_doc import api_doc
from .api_shapes import AgentKeyResult, AgentResult, NewAgentRequest, RoleRequest
from .auth import admin_required
from .db import get_db
from .errors import APIError
from .openapi import WRITE_ERRORS

log = logging.getLogger(__name__)

AGENT_ID = "int(min=1, max=9007199254740992)"
ADMIN_ERRORS = (400, 404, 413, *WRITE_ERRORS)  # 403 also: the caller is not an admin


def agent_or_404(agent_id: int) -> sqlite3.Row:
    row = get_db().execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    if row is None:
        raise APIError(404, "Agent not found")
    return row


def role_param(value: Any, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if value not in agents.ROLES:
        raise APIError(400, f"role must be one of {', '.join(agents.ROLES)}")
    return str(value)


def not_myself(agent_id: int, what: str) -> None:
    me = getattr(g, "agent", None)
    if me is not None and int(me["agent_id"]) == agent_id:
        raise APIError(409, f"You cannot {what} yourself; ask another admin")


def answer(agent_id: int, key: str | None = None, status: int = 200) -> tuple[Response, int]:
    body: dict[str, Any] = {"success": True, "agent": agents.public(agent_or_404(agent_id))}
    if key is not None:
        body["key"] = key
    return jsonify(body), status


@bp.post("/agents")
@api_doc(
    "Create an agent (admins): the answer carries its key, shown this once",
    tag="agents",
    description="Only a hash of the key is stored: copy it from this answer and hand it to the agent, who signs "
    "in with it. A lost key is replaced with POST /agents/<id>/reset-key.",
    body=NewAgentRequest,
    example={"name": "Ada", "role": "agent"},
    responses={201: ("Created, with the key (shown once)", AgentKeyResult)},
    errors=(*ADMIN_ERRORS, 409),
)
@admin_required("create agents")
def create_agent() -> tuple[Response, int]:
    data = json_body()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise APIError(400, "name is required")
    role = role_param(data.get("role"), "agent")
    try:
        name = agents.checked_name(name)
        row, key = agents.create(get_db(), name, role)
    except agents.NameTaken as exc:
        raise APIError(409, str(exc)) from None
    except ValueError as exc:
        raise APIError(400, str(exc)) from None
    log.info("Agent %s (%s) created through the API", row["agent_id"], role)
    return answer(int(row["agent_id"]), key, 201)


@bp.post(f"/agents/<{AGENT_ID}:agent_id>/deactivate")
@api_doc(
    "Deactivate an agent (admins): their key stops working and their sessions end; their history stays",
    tag="agents",
    responses={200: ("The agent after the change", AgentResult)},
    errors=(404, 409, *WRITE_ERRORS),
)
@admin_required("deactivate agents")
def deactivate_agent(agent_id: int) -> tuple[Response, int]:
    agent_or_404(agent_id)
    not_myself(agent_id, "deactivate")
    agents.set_active(get_db(), agent_id, False)
    log.info("Agent %s deactivated through the API", agent_id)
    return answer(agent_id)


@bp.post(f"/agents/<{AGENT_ID}:agent_id>/activate")
@api_doc(
    "Activate a deactivated agent again (admins): their key works again",
    tag="agents",
    responses={200: ("The agent after the change", AgentResult)},
    errors=(404, *WRITE_ERRORS),
)
@admin_required("activate agents")
def activate_agent(agent_id: int) -> tuple[Response, int]:
    agent_or_404(agent_id)
    agents.set_active(get_db(), agent_id, True)
    return answer(agent_id)


@bp.post(f"/agents/<{AGENT_ID}:agent_id>/reset-key")
@api_doc(
    "Give an agent a new key (admins), shown this once; the old key and their sessions stop working",
    tag="agents",
    responses={200: ("The agent and the new key (shown once)", AgentKeyResult)},
    errors=(404, *WRITE_ERRORS),
)
@admin_required("reset agents' keys")
def reset_agent_key(agent_id: int) -> tuple[Response, int]:
    agent_or_404(agent_id)
    key = agents.reset_key(get_db(), agent_id)
    log.info("Agent %s has a new key (reset through the API)", agent_id)
    return answer(agent_id, key)


@bp.post(f"/agents/<{AGENT_ID}:agent_id>/role")
@api_doc(
    "Make an agent an admin, or an agent again (admins)",
    tag="agents",
    body=RoleRequest,
    example={"role": "admin"},
    responses={200: ("The agent after the change", AgentResult)},
    errors=(400, 404, 409, 413, *WRITE_ERRORS),
)
@admin_required("change agents' roles")
def set_agent_role(agent_id: int) -> tuple[Response, int]:
    role = role_param(json_body().get("role"))
    agent_or_404(agent_id)
    if role != "admin":
        not_myself(agent_id, "take the admin role from")
    agents.set_role(get_db(), agent_id, role)
    return answer(agent_id)
