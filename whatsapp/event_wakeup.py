"""Waking event streams across nodes (PostgreSQL): `LISTEN wa_events` on one connection per process.

schema_postgresql.sql's statement-level trigger on `events` runs `pg_notify('wa_events', '')`, which
PostgreSQL delivers at COMMIT to every session listening, on every node. One thread per process and
database listens on a connection of its own (not the pool's) while at least one stream is open, and
counts the notifications; a stream notes the count before it reads the events table, and waits for it
to change or for its poll interval, whichever comes first. The stream still re-reads the table by
cursor after each wait, so a notification that is missed (the listener reconnecting, say) costs at
most one poll interval, never an event. SQLite has no such thing: its streams only poll.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "wa_events"
LISTEN_TIMEOUT = 0.5  # seconds the listener blocks before checking whether it should stop
RECONNECT_SECONDS = 1.0
READY_SECONDS = 2.0  # at most this long a new stream waits for the listener to connect


class Wakeup:
    """The notifications of one PostgreSQL database, counted, for the streams of this process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._changed = threading.Condition()
        self.generation = 0  # how many wake-ups so far: a stream compares it before and after a wait
        self._users = 0
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._listening = threading.Event()  # set once the current listener's LISTEN took effect

    def acquire(self) -> None:
        """A stream opens: listen if no stream of this process does yet, and return once listening (or
        after READY_SECONDS without a connection: the streams poll), so that every event committed
        after this is notified."""
        with self._changed:
            self._users += 1
            if self._thread is None:
                self._listening = threading.Event()
                self._thread = threading.Thread(target=self._listen, name="wa-events-listen", daemon=True)
                self._thread.start()
            listening = self._listening
        listening.wait(READY_SECONDS)

    def release(self) -> None:
        """A stream ends: the last one lets the listener stop (within LISTEN_TIMEOUT)."""
        with self._changed:
            self._users -= 1

    def wait(self, seen: int, timeout: float) -> int:
        """Until the count differs from `seen` (at once if it already does) or `timeout` seconds pass."""
        with self._changed:
            if self.generation == seen:
                self._changed.wait(timeout)
            return self.generation

    def _wake(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def _wanted(self) -> bool:
        with self._changed:
            if self._users > 0:
                return True
            self._thread = None  # a stream opened after this starts another listener
            return False

    def _listen(self) -> None:
        """Listen while a stream of this process is open; reconnect (streams poll meanwhile) on a loss."""
        failing = False
        while self._wanted():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failing:
                        log.info("Event stream listener is back: streams are woken by NOTIFY again")
                    failing = False
                    self._listening.set()
                    self._wake()  # what committed before LISTEN took effect is read by the streams now
                    while self._wanted():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT, stop_after=1):
                            self._wake()
                    return  # the last stream ended (the next one starts another listener)
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                level = logging.DEBUG if failing else logging.WARNING  # once per outage, not every second
                log.log(level, "Event stream listener has no PostgreSQL connection (%s); streams poll meanwhile", first)
                failing = True
                threading.Event().wait(RECONNECT_SECONDS)
            finally:
                self._conn = None


_wakeups: weakref.WeakKeyDictionary[Any, Wakeup] = weakref.WeakKeyDictionary()
_wakeups_lock = threading.Lock()
_inherited: list[Any] = []  # a parent's listening connections met in a forked child: never closed here


def for_database(database: Any) -> Wakeup | None:
    """The Wakeup of a PostgreSQL Database (made on first use), or None for SQLite's (it polls)."""
    if getattr(database, "engine", "") != "postgresql":
        return None
    with _wakeups_lock:
        wakeup = _wakeups.get(database)
        if wakeup is None:
            wakeup = _wakeups[database] = Wakeup(database.url)
        return wakeup


def _after_fork_in_child() -> None:
    """The parent's listener threads do not exist here; its connections must not be closed from here."""
    global _wakeups_lock
    _inherited.extend(w._conn for w in _wakeups.values() if w._conn is not None)
    _wakeups.clear()
    _wakeups_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
