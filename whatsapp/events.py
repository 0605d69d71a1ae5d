"""The event log over HTTP: a JSON page for integrations, and Server-Sent Events for the dashboard.

The stream polls the `events` table (every worker writes there in the same transaction as the change)
so a dashboard hears about a webhook whichever gunicorn worker received it. On PostgreSQL it is also
woken at once by the NOTIFY of an insert into `events` on any node (event_wakeup.py), and still
re-reads the table by cursor, so a missed notification delays an event by one poll at most. Each connection lives a
few minutes and then ends; EventSource reconnects by itself with `Last-Event-ID`, so nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, session

from . import agents, db, event_wakeup, store
from .api_doc import Answer, api_doc, header, query
from .api_shapes import Error, Event, EventPage
from .auth import bearer_token, check_agent_access
from .db import get_db
from .errors import APIError
from .openapi import AGENT_ERRORS

log = logging.getLogger(__name__)

bp = Blueprint("events", __name__, url_prefix="/api/whatsapp")

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
LIFETIME_SECONDS = 300.0
RETRY_MS = 1000
# An open stream re-checks the credential that opened it this often: sign-out, deactivation and a
# key reset end it within these seconds, not at the end of its lifetime.
RECHECK_SECONDS = 5.0
PAGE = 200
# Each open stream holds one of the worker's threads; keep a few free for webhooks and the API.
RESERVED_THREADS = 4
CURSOR = {"type": "integer", "minimum": 0, "maximum": 10**15 - 1}  # `cursor` takes up to 15 digits


class StreamCount:
    """How many streams this process is serving right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self.value += delta


open_streams = StreamCount()


def max_streams() -> int:
    configured = current_app.config.get("EVENT_MAX_STREAMS")
    if configured is not None:
        return int(configured)
    threads = int(os.environ.get("GUNICORN_THREADS", "32") or 32)
    return max(1, threads - RESERVED_THREADS)


@bp.before_request
def _authenticate() -> None:
    check_agent_access()


def event_json(row: Any) -> Event:
    return {
        "id": row["event_id"],
        "kind": row["kind"],
        "conversation_id": row["conversation_id"],
        "message_id": row["message_id"],
        "merged_from": row["merged_from"],
        "created_at": row["created_at"],
        "note_id": row["note_id"],
        "agent_id": row["agent_id"],
        "detail": json.loads(row["detail"]) if row["detail"] else None,
    }


def cursor(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 15:
        raise APIError(400, f"{name} must be a non-negative integer")
    return int(text)


@bp.get("/events")
@api_doc(
    "The event log after a cursor, oldest first (integrations poll this)",
    tag="events",
    parameters=[
        query("after", CURSOR, "Return events with a larger id (default 0)"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
    ],
    responses={200: ("A page of events", EventPage)},
    errors=(400, *AGENT_ERRORS),
)
def events() -> Response:
    """Events after `after` (default 0), oldest first, at most `limit` (default 100, max 500)."""
    after = cursor(request.args.get("after"), "after") or 0
    limit = cursor(request.args.get("limit"), "limit")
    limit = 100 if limit is None else limit
    if not 1 <= limit <= 500:
        raise APIError(400, "limit must be between 1 and 500")
    conn = get_db()
    rows = store.events_after(conn, after, limit)
    items = [event_json(r) for r in rows]
    oldest = store.oldest_event_id(conn)
    return jsonify(
        success=True,
        events=items,
        count=len(items),
        next_after=items[-1]["id"] if items else after,
        last_event_id=store.last_event_id(conn),
        # Events are kept EVENTS_RETENTION_DAYS days (merges for ever): a cursor from before the oldest
        # kept one may have missed events, and the client should reload what it shows.
        oldest_event_id=oldest,
        gap=after < oldest - 1,
    )


@bp.get("/events/stream")
@api_doc(
    "Server-Sent Events of the event log, resuming after Last-Event-ID (or `after`)",
    tag="events",
    description="Each event is `id: <event id>` and `data: <event JSON>`. Comment lines keep the connection "
    "alive; the server ends each connection after a few minutes and EventSource reconnects with Last-Event-ID. "
    "Needs `Accept: text/event-stream`. A resume from before the oldest event kept (events are pruned after "
    'EVENTS_RETENTION_DAYS) first gets `event: gap` with `data: {"after": <id>, "oldest_event_id": <id>}`: '
    "events in between may be gone, reload what you show.",
    parameters=[
        query("after", CURSOR, "Start after this event id (default: from now on)"),
        header("Last-Event-ID", {"type": "string"}),
    ],
    responses={
        200: Answer("The stream", {"type": "string"}, "text/event-stream"),
        406: ("Not asked for as text/event-stream", Error),
    },
    errors=(400, *AGENT_ERRORS),
)
def stream() -> Response:
    """Server-Sent Events: `id: <event id>` and `data: <event JSON>`, resuming after Last-Event-ID."""
    accept = request.headers.get("Accept", "")
    if "text/event-stream" not in accept:
        raise APIError(406, "This is a Server-Sent Events stream: send Accept: text/event-stream")
    if open_streams.value >= max_streams():
        log.warning("Event stream refused: %d streams already open in this worker", open_streams.value)
        raise APIError(503, "Too many open event streams in this worker; retry shortly", retry_after=2)
    resume = cursor(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    if resume is None:
        resume = cursor(request.args.get("after"), "after")
    conn = get_db()
    start = store.last_event_id(conn) if resume is None else resume
    oldest = store.oldest_event_id(conn)
    gap = {"after": start, "oldest_event_id": oldest} if start < oldest - 1 else None
    config = current_app.config
    database = db.database()
    timing = (
        float(config.get("EVENT_POLL_SECONDS", POLL_SECONDS)),
        float(config.get("EVENT_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)),
        float(config.get("EVENT_STREAM_SECONDS", LIFETIME_SECONDS)),
        float(config.get("EVENT_RECHECK_SECONDS", RECHECK_SECONDS)),
    )
    response = Response(_generate(database, start, *timing, still_allowed(), gap), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def still_allowed() -> Callable[[sqlite3.Connection], bool]:
    """How an open stream re-checks the credential that opened it (one indexed read each time).

    An agent's session must still have its row, an agent's key must still be that active agent's;
    the service key and loopback access come from the configuration, which a running worker keeps."""
    if g.agent is None:
        return lambda _conn: True
    token = bearer_token()
    if token is not None:
        agent_id = g.agent["agent_id"]

        def key_still_valid(conn: sqlite3.Connection) -> bool:
            agent = agents.by_key(conn, token)
            return agent is not None and agent["agent_id"] == agent_id

        return key_still_valid
    session_id = str(session.get("sid", ""))
    return lambda conn: agents.by_session(conn, session_id) is not None


def _generate(
    database: db.BaseDatabase,
    after: int,
    poll: float,
    heartbeat: float,
    lifetime: float,
    recheck: float,
    allowed: Callable[[sqlite3.Connection], bool],
    gap: dict[str, int] | None = None,
) -> Iterator[str]:
    """Runs outside the request: its own connection, closed when the client goes, time is up or its
    credential is revoked. A resume from before the oldest event kept starts with an `event: gap`."""
    conn = database.connect()
    open_streams.add(1)
    wakeup = event_wakeup.for_database(database)  # PostgreSQL: woken by NOTIFY from any node
    if wakeup is not None:
        wakeup.acquire()
    started = last_sent = checked = time.monotonic()
    try:
        yield f"retry: {RETRY_MS}\n: connected after {after}\n\n"
        if gap is not None:  # pruned past its retention: what it missed cannot be sent, so say so
            yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
        while time.monotonic() - started < lifetime:
            if time.monotonic() - checked >= recheck:
                checked = time.monotonic()
                if not allowed(conn):
                    log.info("Event stream ended: its session or key was revoked")
                    yield "event: revoked\ndata: {}\n\n"
                    return
            seen = wakeup.generation if wakeup is not None else 0  # before the read: no wake-up is missed
            rows = store.events_after(conn, after, PAGE)
            for row in rows:
                after = int(row["event_id"])
                yield f"id: {after}\ndata: {json.dumps(event_json(row))}\n\n"
            if rows:
                last_sent = time.monotonic()
                if len(rows) == PAGE:
                    continue
            elif time.monotonic() - last_sent >= heartbeat:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            if wakeup is None:
                time.sleep(poll)
            else:  # a notification, or the poll that reads what a missed one would have said
                wakeup.wait(seen, max(0.0, min(poll, lifetime - (time.monotonic() - started))))
        yield ": reconnect\n\n"
    finally:
        open_streams.add(-1)
        if wakeup is not None:
            wakeup.release()
        conn.close()
