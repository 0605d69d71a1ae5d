"""Who is calling: the service key (scripts), an agent's own key, or an agent signed in to the dashboard.

- `Authorization: Bearer <AGENT_API_KEY>` is the service: `g.agent` is None and the body's agent_id
  is trusted. `Authorization: Bearer <agent key>` is that agent: `g.agent` is its row.
- The dashboard posts an agent key once to /login and then carries a session cookie (HttpOnly,
  SameSite=Strict). Session requests that change anything must echo the session's CSRF token in
  `X-CSRF-Token`; bearer requests need none (a browser never adds that header by itself).
- With AGENT_API_KEY unset, loopback clients without credentials are served as the service.
- Every key attempt (a bearer key, a /login) is throttled per client address (throttle.py); the
  address is X-Forwarded-For's only behind TRUSTED_PROXIES.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from typing import Any

import click
from flask import Flask, Response, current_app, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from . import agents, db, throttle
from .db import get_db
from .errors import APIError, error_response

log = logging.getLogger(__name__)

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_LIFETIME = timedelta(days=7)


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


class TooManyAttempts(APIError):
    """429: this address failed too often; it may try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        message = f"Too many failed key attempts from your address: try again in {retry_after} s"
        super().__init__(429, message, retry_after=retry_after)
        self.retry_after = retry_after


def client_address() -> str:
    """The address attempts are counted under (the proxy's forwarded one only behind TRUSTED_PROXIES)."""
    return throttle.address_key(request.remote_addr)


def _policy() -> throttle.Policy:
    settings = current_app.config["SETTINGS"]
    return throttle.Policy(settings.auth_failure_limit, settings.auth_failure_window)


# Within a process the key checks of one address take turns (a lock per stripe of addresses), so
# concurrent guesses see each other's failures: past the limit, at most one guess per worker process
# is still being compared when the lockout starts. A check holds its lock for one read and a compare.
_ATTEMPT_LOCKS = [threading.Lock() for _ in range(64)]


@contextmanager
def key_attempt(what: str) -> Iterator[Callable[[], None]]:
    """One key check from the caller's address: TooManyAttempts while the address is locked out (a
    read, never a write); call what it yields to count the key as wrong."""
    policy = _policy()
    if policy.limit <= 0:
        yield lambda: None
        return
    address = client_address()
    with _ATTEMPT_LOCKS[zlib.crc32(address.encode()) % len(_ATTEMPT_LOCKS)]:
        left = throttle.locked_for(get_db(), address)
        if left:
            raise TooManyAttempts(left)
        yield lambda: count_failed_attempt(what, address, policy)


def count_failed_attempt(what: str, address: str, policy: throttle.Policy) -> None:
    """Count a wrong key from `address`; log when that locks the address out."""
    lockout = throttle.record_failure(get_db(), address, policy)
    if lockout:
        log.warning(
            "%d failed %s attempts from %s within %g s: locked out for %d s",
            policy.limit,
            what,
            address,
            policy.window,
            lockout,
        )


FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
_warned_forwarded = threading.Event()


def proxied_from_elsewhere() -> bool:
    """A request a reverse proxy forwarded while TRUSTED_PROXIES is 0: its loopback address is the
    proxy's, not the client's, so it never counts as this machine (warned once a process)."""
    if current_app.config["SETTINGS"].trusted_proxies or not any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    if not _warned_forwarded.is_set():
        _warned_forwarded.set()
        log.warning(
            "A request came through a proxy (%s) but TRUSTED_PROXIES is 0: every client shares the proxy's "
            "address. Set TRUSTED_PROXIES to the number of proxies in front of the service.",
            "/".join(h for h in FORWARDING_HEADERS if h in request.headers),
        )
    return True


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def session_agent() -> sqlite3.Row | None:
    """The signed-in (and still active) agent of the session cookie, if its session is still live.

    The cookie is signed, but signing cannot take it back: its random session id must also have a row
    in agent_sessions, which sign-out, deactivation and a key reset delete."""
    session_id = session.get("sid")
    if not isinstance(session_id, str) or not session_id:
        return None
    return agents.by_session(get_db(), session_id)


def csrf_token() -> str:
    """The session's CSRF token (created at sign-in)."""
    return str(session.get("csrf", ""))


def check_csrf(sent: str | None = None) -> None:
    """A state-changing session request must echo the session's token (header, or `sent` for forms)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER) or sent or ""
    expected = csrf_token()
    if not expected or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        raise APIError(403, f"Missing or wrong {CSRF_HEADER} header (the dashboard sends it from its page)")


def check_agent_access() -> None:
    """Set `g.agent` (None for the service) or raise 401/403."""
    g.agent = None
    key = current_app.config["SETTINGS"].agent_api_key
    token = bearer_token()
    if token is not None:
        with key_attempt("API key") as failed:
            if key and hmac.compare_digest(token.encode("utf-8"), key.encode("utf-8")):
                return
            agent = agents.by_key(get_db(), token)
            if agent is None:
                failed()
                raise APIError(401, "Invalid API key")
        g.agent = agent
        return
    agent = session_agent()
    if agent is not None:
        check_csrf()
        g.agent = agent
        return
    if not key:
        if _is_loopback(request.remote_addr) and not proxied_from_elsewhere():
            return
        raise APIError(401, "AGENT_API_KEY is not configured: the agent API only answers this machine")
    raise APIError(401, "Missing Authorization: Bearer <AGENT_API_KEY> header")


def agent_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_agent_access()
        return view(*args, **kwargs)

    return wrapper


def is_admin() -> bool:
    """Whether the caller may manage the team (agents, labels, canned replies): the service key, a
    loopback client without one, or an agent whose role is admin. Call after check_agent_access."""
    agent = getattr(g, "agent", None)
    return agent is None or agent["role"] == "admin"


def require_admin(what: str) -> None:
    """403 unless the caller is an admin (`what`: the action, for the error sentence)."""
    if not is_admin():
        raise APIError(403, f"Only an admin can {what}; ask an admin of this inbox")


def admin_required(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A route only admins may call (checks the caller like agent_required first)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_agent_access()
            require_admin(what)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def acting_agent_id(requested: int | None) -> int | None:
    """The agent an action is recorded under: the signed-in agent when there is one, else the
    `agent_id` a script (service key) passed."""
    agent = getattr(g, "agent", None)
    if agent is not None:
        return int(agent["agent_id"])
    return requested


def sign_in(key: str) -> sqlite3.Row | None:
    """Start a dashboard session for the agent holding `key`; None if no active agent does.
    Raises TooManyAttempts while the caller's address is locked out."""
    with key_attempt("sign-in") as failed:
        agent = agents.by_key(get_db(), key.strip()) if key and key.strip() else None
        if agent is None:
            log.info("Dashboard sign-in refused")
            failed()
            return None
    sign_out()  # a session this browser had before ends here, not at its expiry
    session.clear()
    session.permanent = True
    session["sid"] = agents.start_session(get_db(), int(agent["agent_id"]), SESSION_LIFETIME)
    session["csrf"] = secrets.token_urlsafe(32)
    log.info("Agent %s signed in", agent["agent_id"])
    return agent


def sign_out() -> None:
    """End the session on the server too: a copy of the cookie is worthless afterwards."""
    session_id = session.get("sid")
    if isinstance(session_id, str) and session_id:
        agents.end_session(get_db(), session_id)
    session.clear()


def init_app(app: Flask) -> None:
    """Session cookie settings, the shared secret that signs it, and the agent CLI commands."""
    settings = app.config["SETTINGS"]
    secret = settings.secret_key
    if not secret:
        with db.database(app).connection() as conn:
            secret = agents.shared_secret(conn, "session_secret_key")
    app.secret_key = secret
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    @app.errorhandler(TooManyAttempts)
    def _too_many_attempts(exc: TooManyAttempts) -> tuple[Response, int]:
        response, status = error_response(exc.status, exc.message, **exc.extra)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status

    app.config.update(
        SESSION_COOKIE_NAME="wa_inbox_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    register_commands(app)


def register_commands(app: Flask) -> None:
    @app.cli.command("create-agent")
    @click.argument("name")
    @click.option("--admin", is_flag=True, help="an admin: manages agents, labels and canned replies")
    def create_agent(name: str, admin: bool) -> None:
        """Add a dashboard agent and print its key (shown once, never stored)."""
        with db.database(app).connection() as conn:
            try:
                name = agents.checked_name(name)
                row, key = agents.create(conn, name, role="admin" if admin else "agent")
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from None
        role = "an admin" if admin else "an agent"
        click.echo(f"Agent {row['agent_id']} ({row['name']}, {role}) created. Their key, shown only this once:")
        click.echo(key)

    @app.cli.command("set-agent-role")
    @click.argument("agent_id", type=int)
    @click.argument("role", type=click.Choice(["admin", "agent"]))
    def set_agent_role(agent_id: int, role: str) -> None:
        """Make an agent an admin (or an agent again)."""
        with db.database(app).connection() as conn:
            found = agents.set_role(conn, agent_id, role)
        if not found:
            raise click.ClickException(f"No agent {agent_id}")
        click.echo(f"Agent {agent_id} is now {'an admin' if role == 'admin' else 'an agent'}")

    @app.cli.command("list-agents")
    def list_agents() -> None:
        """List agents (ids, names, active)."""
        with db.database(app).connection() as conn:
            for row in agents.list_all(conn, include_inactive=True):
                state = "active" if row["active"] else "deactivated"
                click.echo(f"{row['agent_id']}\t{row['name']}\t{row['role']}\t{state}\tsince {row['created_at']}")

    @app.cli.command("deactivate-agent")
    @click.argument("agent_id", type=int)
    def deactivate_agent(agent_id: int) -> None:
        """Revoke an agent's key and sessions (their history stays)."""
        with db.database(app).connection() as conn:
            found = agents.set_active(conn, agent_id, False)
        if not found:
            raise click.ClickException(f"No agent {agent_id}")
        click.echo(f"Agent {agent_id} deactivated; their sessions are ended")

    @app.cli.command("reset-agent-key")
    @click.argument("agent_id", type=int)
    def reset_agent_key(agent_id: int) -> None:
        """Give an agent a new key (printed once), ending their sessions; the old key stops working."""
        with db.database(app).connection() as conn:
            key = agents.reset_key(conn, agent_id)
        if key is None:
            raise click.ClickException(f"No agent {agent_id}")
        click.echo(f"Agent {agent_id} has a new key; their sessions are ended. The key, shown only this once:")
        click.echo(key)
