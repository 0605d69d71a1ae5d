"""A request body the server cannot decode (an invalid chunk size, a cut-off chunk) is the client's
error, a 400: servers raise their own exceptions for it (gunicorn's ParseException subclasses,
werkzeug's OSError), which would otherwise surface as 500s wherever the body happens to be read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import APIError

log = logging.getLogger(__name__)

UNREADABLE = "The request body could not be read: its chunked transfer encoding is invalid or cut short"


class GuardedInput:
    """`wsgi.input`, with any failure to read it raised as APIError(400)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def _guard(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except APIError:
            raise
        except Exception as exc:
            log.info("Unreadable request body: %s: %s", type(exc).__name__, exc)
            raise APIError(400, UNREADABLE) from None

    def read(self, *args: Any) -> bytes:
        return self._guard(self.stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._guard(self.stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._guard(self.stream.readlines, *args)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class GuardBody:
    """WSGI middleware installing GuardedInput on every request."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("wsgi.input") is not None:
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"])
        return self.app(environ, start_response)
