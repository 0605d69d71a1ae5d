"""A deadline for a whole HTTP call made with `requests`, not only for each read.

`requests`' timeout bounds each socket operation: an answer that drips one byte a second never
trips it. Here a call runs inside `within(seconds)`; the connections it uses register their socket
when the answer starts, and a timer shuts those sockets down when the deadline passes, so the
blocked read ends at once and the call fails. `Deadline.sent` says whether the request had gone
out by then (its outcome is then unknown).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Deadline:
    """One call's deadline: the sockets it reads from, whether it expired, whether it was sent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.sent = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self.expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def watch(self, sock: Any) -> None:
        """Cut this socket when the deadline passes (at once if it already has)."""
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _cut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _cut(sock)

    def unwatch(self, sock: Any) -> None:
        """This socket's connection goes back to the pool: another call may take it, so it is never
        cut for this one (if the deadline passed first, it was cut, and the pool drops it on reuse)."""
        with self._lock:
            self._sockets = [s for s in self._sockets if s is not sock]

    def release(self) -> None:
        """The answer is read: its connection goes back to the pool, where another call may take
        it, so the timer must not cut it any more."""
        with self._lock:
            self._sockets = []

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()
        self.release()


def _cut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, not SSLSocket's (which drops its TLS state under the reader).
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


@contextmanager
def within(seconds: float) -> Iterator[Deadline]:
    """Run the `requests` calls of this block (on this thread) under one deadline."""
    deadline = Deadline(seconds)
    outer = getattr(_local, "deadline", None)
    _local.deadline = deadline
    deadline.start()
    try:
        yield deadline
    finally:
        deadline.cancel()
        _local.deadline = outer


class _Watched:
    """Connection mixin: register the socket with the current deadline when the answer is awaited."""

    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline: Deadline | None = getattr(_local, "deadline", None)
        if deadline is not None:
            deadline.sent = True
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _Returning:
    """Pool mixin: a connection coming back (its answer read) stops being watched, under the same lock
    the timer takes, so a deadline never cuts a connection another call has taken from the pool."""

    def _put_conn(self, conn: Any) -> None:
        deadline: Deadline | None = getattr(_local, "deadline", None)
        if deadline is not None and conn is not None:
            deadline.unwatch(getattr(conn, "sock", None))
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_Returning, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_Returning, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections honour `within()`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def mount(session: requests.Session, adapter: DeadlineAdapter | None = None) -> requests.Session:
    adapter = adapter or DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
