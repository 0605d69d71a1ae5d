"""Agent authentication: a bearer key compared in constant time, or loopback-only without one."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request

from .errors import APIError


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_agent_access() -> None:
    """Raise 401 unless the request carries the agent key (or, with no key configured, is local)."""
    key = current_app.config["SETTINGS"].agent_api_key
    if not key:
        if _is_loopback(request.remote_addr):
            return
        raise APIError(401, "AGENT_API_KEY is not configured: the agent API only answers this machine")
    token = bearer_token()
    if token is None:
        raise APIError(401, "Missing Authorization: Bearer <AGENT_API_KEY> header")
    if not hmac.compare_digest(token.encode("utf-8"), key.encode("utf-8")):
        raise APIError(401, "Invalid API key")


def agent_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_agent_access()
        return view(*args, **kwargs)

    return wrapper


def acting_agent_id(requested: int | None) -> int | None:
    """The agent an action is recorded under: the signed-in agent when there is one, else the
    `agent_id` a script (service key) passed."""
    agent = getattr(g, "agent", None)
    if agent is not None:
        return int(agent["agent_id"])
    return requested
