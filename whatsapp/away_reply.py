"""The automatic reply outside business hours: its setting, and the worker that sends queued replies.

A customer's message that arrives while business_hours says closed queues one reply per conversation
per `period_hours` (store/away_reply.py decides it inside the delivery's transaction). This module's
worker sends it after the commit, off the webhook's answer, through the normal sending path
(sending.transmit): it is stored with Meta's wamid, or failed with Meta's error, and the thread shows
it as an outbound message marked `automatic`. Every worker process runs one (started by its first
request, or at boot from wsgi.py), woken after each delivery and sweeping every few seconds, so a
reply queued before a restart goes out after it. A reply is claimed before Meta is called: a claim
whose process died is never sent again (it is marked "may or may not have been sent").
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from . import db, present, sending, store
from .graph import GraphClient, recipient_fields
from .store.settings import parsed_setting

log = logging.getLogger(__name__)

SETTING = "away_reply"
MAX_TEXT = 4096  # Meta's limit for a text message's body
MAX_PERIOD_HOURS = 720
DEFAULT_PERIOD_HOURS = 24
SWEEP_SECONDS = 10.0
# With an empty queue the thread still looks now and then: a reply queued by another process that woke
# nobody (`flask replay-webhooks` replaying deliveries) is sent within this time.
IDLE_SWEEP_SECONDS = 60.0
# A claim this old belongs to a process that died while sending (a send takes seconds at most).
STALE_CLAIM = timedelta(minutes=10)
ABANDONED = (
    "The service stopped while sending this automatic reply: it may or may not have been sent; "
    "a status from WhatsApp will settle it"
)


class AwayReplyError(ValueError):
    """A setting that cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class AwayReply:
    enabled: bool = False
    text: str = ""
    period_hours: int = DEFAULT_PERIOD_HOURS

    def as_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "text": self.text, "period_hours": self.period_hours}


def parse(data: Any) -> AwayReply:
    """The setting from its JSON form (as PUT /away-reply takes it); AwayReplyError says what is wrong."""
    if not isinstance(data, dict):
        raise AwayReplyError("the setting must be a JSON object")
    unknown = set(data) - {"enabled", "text", "period_hours"}
    if unknown:
        raise AwayReplyError(f"unknown field {sorted(unknown)[0]!r} (enabled, text, period_hours)")
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        raise AwayReplyError("enabled must be true or false")
    text = data.get("text", "")
    if not isinstance(text, str):
        raise AwayReplyError("text must be a string")
    if len(text) > MAX_TEXT:
        raise AwayReplyError(f"text is longer than WhatsApp's {MAX_TEXT} characters")
    if enabled and not text.strip():
        raise AwayReplyError("an enabled automatic reply needs a text")
    period = data.get("period_hours", DEFAULT_PERIOD_HOURS)
    if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= MAX_PERIOD_HOURS:
        raise AwayReplyError(f"period_hours must be a whole number of hours from 1 to {MAX_PERIOD_HOURS}")
    return AwayReply(enabled=enabled, text=text, period_hours=period)


def load(conn: sqlite3.Connection) -> AwayReply | None:
    """The stored setting, or None when none was ever set (no automatic reply)."""
    return parsed_setting(conn, SETTING, _stored)


def _stored(value: dict[str, Any]) -> AwayReply | None:
    try:
        return parse(value)
    except AwayReplyError:  # stored by an older version: treat as switched off
        return None


def send_queued(conn: sqlite3.Connection, client: GraphClient, message_id: int) -> bool:
    """Claim one queued reply and send it; False if another worker had it or it may no longer go."""
    with db.write_transaction(conn):
        if not store.claim_away_reply(conn, message_id):
            return False
        row = store.get_message(conn, message_id)
        conv = store.find_conversation(conn, conversation_id=int(row["conversation_id"])) if row else None
        refusal = None
        if row is None or conv is None or row["status"] != "pending":
            store.settle_away_reply(conn, message_id)
            return False
        if conv["blocked_at"]:
            refusal = "Not sent: the customer was blocked before the automatic reply went out"
        elif not present.window(conv["last_inbound_at"])[1]:
            refusal = "Not sent: the customer's 24-hour window closed before the automatic reply went out"
        if refusal is not None:
            store.mark_failed(conn, message_id, None, refusal, None, answer=409, error=refusal)
            store.settle_away_reply(conn, message_id)
            return False
    payload = {
        **recipient_fields(conv["phone_number"], conv["user_id"]),
        "type": "text",
        "text": {"body": row["message_text"], "preview_url": False},
        "biz_opaque_callback_data": row["local_id"],
    }
    outcome = sending.transmit(conn, client, message_id, int(row["conversation_id"]), payload)
    with db.write_transaction(conn):
        store.settle_away_reply(conn, message_id)
    if not outcome.ok:
        log.warning("Automatic reply %s was not sent: %s", message_id, outcome.error)
    return outcome.ok


_REPLIERS: weakref.WeakSet[AwayReplier] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for replier in list(_REPLIERS):
        replier._forget_thread()


os.register_at_fork(after_in_child=_after_fork_in_child)


class AwayReplier:
    """Per-process sender of queued automatic replies: one thread, woken after each delivery and
    sweeping every SWEEP_SECONDS. Started with the worker process, not the app object (create_app
    also runs for CLI commands and in gunicorn's master before it forks); `stop()` ends it."""

    def __init__(self, app: Flask) -> None:
        self.settings = app.config["SETTINGS"]
        self.database: db.BaseDatabase = app.extensions["database"]
        self.client: GraphClient = app.extensions["graph"]
        self.sweep_seconds = SWEEP_SECONDS
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._checked_pid: int | None = None
        _REPLIERS.add(self)
        app.before_request(self._on_request)

    def _on_request(self) -> None:
        """A process's first request: start the thread only if replies wait (queued before a restart);
        otherwise the first delivery that queues one starts it, so an inbox without automatic replies
        runs no thread for them."""
        pid = os.getpid()
        if self._checked_pid == pid or self.running:
            return
        self._checked_pid = pid
        if store.away_replies_waiting(db.get_db()):
            self.start()

    def _forget_thread(self) -> None:
        self._lock = threading.Lock()
        self._thread, self._pid = None, None

    def start(self) -> None:
        """Start this process's thread (idempotent, cheap); never after stop()."""
        pid = os.getpid()
        if self._stop.is_set() or (self._pid == pid and self._thread is not None):
            return
        with self._lock:
            if self._pid != pid:
                self._thread, self._pid = None, pid
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="away-reply", daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """A delivery that queued a reply was committed: send it now rather than at the next sweep."""
        self.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # A first sweep at once (replies queued before a restart); then, while the queue holds replies
        # (another worker's claim, a failed sweep), every SWEEP_SECONDS; with an empty queue when woken
        # (the process that stored a delivery wakes its worker) or after IDLE_SWEEP_SECONDS. The thread
        # only exists in a process that queued a reply or found one queued.
        while not self._stop.is_set():
            self._wake.clear()
            waiting = True
            try:
                self.sweep()
                waiting = self._waiting()
            except Exception:  # the worker must never die
                log.exception("Sending automatic replies failed")
            self._wake.wait(self.sweep_seconds if waiting else IDLE_SWEEP_SECONDS)

    def _waiting(self) -> bool:
        with self.database.connection() as conn:
            return store.away_replies_waiting(conn)

    def sweep(self) -> int:
        """Send every queued reply and give up abandoned claims; how many were sent."""
        sent = 0
        with self.database.connection() as conn:
            stale = store.stamp(datetime.now(UTC) - STALE_CLAIM)
            for message_id in store.away_replies_abandoned(conn, stale):
                with db.write_transaction(conn):
                    store.abandon_away_reply(conn, message_id, ABANDONED)
                log.warning("Automatic reply %s was claimed by a worker that stopped; not sent again", message_id)
            while not self._stop.is_set():
                due = store.away_replies_due(conn)
                if not due:
                    break
                for message_id in due:
                    if self._stop.is_set():
                        break
                    sent += send_queued(conn, self.client, message_id)
        return sent
