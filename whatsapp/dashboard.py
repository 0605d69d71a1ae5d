"""The agents' web inbox: its pages, sign-in and sign-out, and the two small routes it reads.

The page is static HTML plus the ES modules in `static/js/` (main.js first), which talk to the agent
API with the session cookie.
A strict Content-Security-Policy (no inline script) backs up the rule that customer text is rendered
as text only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for

from . import agents
from .api_doc import api_doc, query
from .api_shapes import AgentList, Me
from .auth import (
    TooManyAttempts,
    agent_required,
    check_csrf,
    csrf_token,
    require_admin,
    session_agent,
    sign_in,
    sign_out,
)
from .db import get_db
from .errors import APIError
from .openapi import AGENT_ERRORS

bp = Blueprint("dashboard", __name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@bp.after_app_request
def _no_sniffing(response: Response) -> Response:
    """Every answer of the app (API, errors, static files, streams, media) is read as its declared type."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
    # Not no-referrer: under it a browser sends "Origin: null" with the sign-in form, which /login
    # must refuse. same-origin gives other sites nothing either.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _same_site_post() -> bool:
    """A sign-in POST came from our own page: its Origin (or, without one, its Referer) names this host.

    Browsers send Origin with every POST, so a form post with neither header is refused. A JSON post
    with neither is a script's: another site cannot make a browser send JSON here (that needs a CORS
    preflight, which this service never grants)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        return request.is_json
    try:
        parts = urlsplit(source)
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 host): not this site
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


@bp.get("/")
def index() -> Response:
    return redirect(url_for("dashboard.inbox"))


@bp.get("/inbox")
@bp.get("/inbox/c/<int:conversation_id>")
def inbox(conversation_id: int | None = None) -> Response | str:
    """The inbox page; /inbox/c/<id> is the same page with that conversation open (static/js/url.js)."""
    agent = session_agent()
    if agent is None:
        here = request.full_path.rstrip("?")
        return redirect(url_for("dashboard.login", next=here) if here != "/inbox" else url_for("dashboard.login"))
    return render_template("inbox.html", agent=agent, csrf_token=csrf_token())


def _next_page(value: object) -> str:
    """Where to go after signing in: a page of the inbox (a link an agent pasted), never another site."""
    if isinstance(value, str) and re.fullmatch(r"/inbox(/c/[0-9]+)?(\?[A-Za-z0-9_.~%&=+-]*)?", value):
        return value
    return url_for("dashboard.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """The form posts `key`; a JSON client posts {"key": ...} and gets the CSRF token back."""
    if request.method == "GET":
        if session_agent() is not None:
            return redirect(url_for("dashboard.inbox"))
        return render_template("login.html", error=None, next=_next_page(request.args.get("next")))
    wants_json = request.is_json
    if not _same_site_post():
        message = "Sign-in refused: it did not come from this site's sign-in page"
        if wants_json:
            raise APIError(403, message)
        return render_template("login.html", error=message + ".", next=_next_page(request.form.get("next"))), 403
    data = request.get_json(silent=True) if wants_json else request.form
    if wants_json and not isinstance(data, dict):
        raise APIError(400, 'The request body must be a JSON object: {"key": "..."}')
    key = data.get("key")
    try:
        agent = sign_in(key) if isinstance(key, str) else None
    except TooManyAttempts as exc:
        if wants_json:
            raise
        page = render_template("login.html", error=exc.message + ".", next=_next_page(data.get("next")))
        return Response(page, 429, headers={"Retry-After": str(exc.retry_after)}, mimetype="text/html")
    if agent is None:
        if wants_json:
            raise APIError(401, "That key does not belong to an active agent")
        page = render_template(
            "login.html", error="That key does not belong to an active agent.", next=_next_page(data.get("next"))
        )
        return page, 401
    if wants_json:
        return jsonify(success=True, agent=agents.public(agent), csrf_token=csrf_token())
    return redirect(_next_page(data.get("next")), code=303)


@bp.post("/logout")
def logout() -> Response:
    """Needs the CSRF token (header, or the form field of the sign-out button)."""
    if session_agent() is not None:
        check_csrf(request.form.get("csrf_token"))
    sign_out()
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(success=True)
    return redirect(url_for("dashboard.login"), code=303)


@bp.get("/api/whatsapp/agents")
@api_doc(
    "Active agents (id and name), for assigning conversations; for admins, every agent with role and state",
    tag="agents",
    parameters=[
        query(
            "include_inactive",
            {"type": "boolean"},
            "Admins only (403 otherwise): deactivated agents too, each with created_at, active and role",
        )
    ],
    responses={200: ("Agents", AgentList)},
    errors=(400, 403, *AGENT_ERRORS),
)
@agent_required
def list_agents() -> Response:
    """Active agents, for the dashboard's assign picker; every agent for an admin's settings page."""
    flag = (request.args.get("include_inactive") or "").strip().lower()
    if flag not in ("", "0", "false", "1", "true"):
        raise APIError(400, "include_inactive must be true or false")
    include_inactive = flag in ("1", "true")
    if include_inactive:
        require_admin("see deactivated agents")
    rows = agents.list_all(get_db(), include_inactive=include_inactive)
    if include_inactive:  # the settings page: each agent's role, state and start
        return jsonify(success=True, agents=[agents.public(r) for r in rows], count=len(rows))
    return jsonify(success=True, agents=[{"id": r["agent_id"], "name": r["name"]} for r in rows], count=len(rows))


@bp.get("/api/whatsapp/me")
@api_doc(
    "The agent whose key or session made the call (null for the service key)",
    tag="agents",
    responses={200: ("The caller", Me)},
    errors=AGENT_ERRORS,
)
@agent_required
def me() -> Response:
    """The signed-in agent (null for the service key), and the session's CSRF token."""
    agent = g.agent
    body = {"success": True, "agent": agents.public(agent) if agent is not None else None}
    if agent is not None and csrf_token():
        body["csrf_token"] = csrf_token()
    return jsonify(body)
