"""One error type for the whole service, and the handlers that turn every failure into JSON."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error a client should see: HTTP status, a sentence, and optional extra fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, **extra: Any):
    body = {"success": False, "error": message, **extra}
    return jsonify(body), status


def register(app: Flask) -> None:
    """JSON for every error, app-wide (404/405 never reach a blueprint's handlers)."""

    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        return error_response(exc.status, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        messages = {
            400: "Bad request",
            404: "Not found",
            405: "Method not allowed",
            413: "Request body too large",
        }
        message = messages.get(exc.code or 500, exc.name)
        response, status = error_response(exc.code or 500, message)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, status

    @app.errorhandler(sqlite3.OperationalError)
    def _db_busy(exc: sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            log.warning("Database busy: %s", exc)
            response, status = error_response(503, "The inbox is busy, try again in a moment")
            response.headers["Retry-After"] = "1"
            return response, status
        log.exception("Database error")
        return error_response(500, "Internal error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("Unhandled error")
        return error_response(500, "Internal error")
