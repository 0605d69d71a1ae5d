"""The webhook route: Meta's verification handshake, and signed deliveries handed to ingest."""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import ClosingIterator, LimitedStream

from . import ingest, writer
from .api_doc import Answer, api_doc, header, query
from .api_shapes import WebhookEnvelope, WebhookResult
from .config import Settings
from .db import database
from .errors import APIError
from .request_body import UNREADABLE
from .updates import MalformedPayload, parse_delivery

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__, url_prefix="/api/whatsapp")


@bp.get("/webhook")
@api_doc(
    "Meta's verification handshake",
    tag="webhook",
    public=True,
    parameters=[
        query("hub.mode", {"type": "string"}, "subscribe", "subscribe"),
        query("hub.verify_token", {"type": "string"}, "WHATSAPP_VERIFY_TOKEN"),
        query("hub.challenge", {"type": "string"}, "Echoed back on success", "1158201444"),
    ],
    responses={200: Answer("hub.challenge, echoed as text", {"type": "string"}, "text/plain")},
    errors=(403,),
)
def verify() -> Response:
    """Echo hub.challenge as text when the mode is subscribe and the verify token matches."""
    settings = current_app.config["SETTINGS"]
    mode = request.args.get("hub.mode", "")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    expected = settings.verify_token
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return Response(challenge, status=200, mimetype="text/plain")
    log.warning("Webhook verification refused (mode=%r)", mode)
    raise APIError(403, "Webhook verification failed: wrong hub.mode or hub.verify_token")


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + hex HMAC-SHA256 of the raw body, keyed by the app secret."""
    if not header:
        return False
    received = header.strip()
    if not received.lower().startswith("sha256="):
        return False
    candidate = received[7:].lower()
    if not candidate.isascii():  # compare_digest refuses non-ASCII text (TypeError): no hex digest anyway
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii"))


def read_body(stream: Any, limit: int) -> bytes:
    """The raw body, read at most one byte past `limit` (a chunked body has no length to check first)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise APIError(413, f"Webhook body over {limit} bytes")
    return b"".join(chunks)


def _commit(app: Flask, settings: Settings, body: bytes, payload: Any, unreadable: str | None) -> ingest.Outcome:
    """Journal and process the delivery: through the writer process under gunicorn, else (or when
    it cannot be reached) in this process's own group commit."""
    if app.config.get("WEBHOOK_WRITER") == "process" and writer.AVAILABLE and database(app).engine == "sqlite":
        parsed = None
        if payload is not None:
            try:  # parsed here, so the one writer only stores it
                parsed = parse_delivery(payload, settings.phone_number_id)
            except Exception:  # the writer parses it again and journals the failure
                pass
        try:
            return writer.submit(
                database(app),
                body,
                settings.phone_number_id,
                unreadable,
                timeout=settings.sqlite_busy_timeout + 30,
                parsed=parsed,
            )
        except writer.WriterUnavailable as exc:
            log.info("Committing a delivery in this worker: %s", exc)
    return ingest.receive_grouped(database(app), body, payload, settings.phone_number_id, unreadable)


Answer = tuple[dict[str, Any], Callable[[], None] | None]


def receive_delivery(app: Flask, length: int | None, stream: Any, signature: str | None) -> Answer:
    """A webhook POST: the 200 answer once the delivery is on disk, and what to run after it has
    gone out (or None). Raises APIError for every other answer."""
    settings = app.config["SETTINGS"]
    if length is not None and length > settings.max_webhook_bytes:
        raise APIError(413, f"Webhook body over {settings.max_webhook_bytes} bytes")
    body = read_body(stream, settings.max_webhook_bytes)
    if settings.app_secret:
        if not signature_valid(settings.app_secret, body, signature):
            log.warning("Webhook POST with a missing or wrong X-Hub-Signature-256 refused")
            raise APIError(401, "Missing or invalid X-Hub-Signature-256")
    elif not settings.allow_unsigned_webhooks:
        raise APIError(
            503,
            "WHATSAPP_APP_SECRET is not configured, so webhook signatures cannot be checked; "
            "set it (or WEBHOOK_ALLOW_UNSIGNED=true for local development)",
        )
    # From here on the body is Meta's (signed): it is never answered 500. One this service cannot read
    # or process is journaled as failed and answered 200, as a retry would fail the same way; it is
    # replayed (`flask replay-webhooks`) once a fix is deployed.
    payload, unreadable = None, None
    try:
        payload = ingest.decode(body)
    except MalformedPayload as exc:  # not a webhook envelope at all: the sender's mistake
        raise APIError(400, f"Invalid webhook body: {exc}") from None
    except ingest.Unreadable as exc:
        unreadable = str(exc)
    except Exception as exc:  # a bug in reading it
        log.exception("A signed webhook body could not be decoded")
        unreadable = f"{type(exc).__name__}: {exc}"
    try:
        outcome = _commit(app, settings, body, payload, unreadable)
    except Exception:  # not on disk, so Meta must send it again
        log.exception("A signed webhook delivery could not be journaled")
        raise APIError(503, "The delivery could not be stored; send it again later") from None
    if outcome.result is not None:
        # After the commit, so the download threads see the rows; the answer does not wait for them.
        try:
            app.extensions["media"].schedule(outcome.result.media_message_ids)
        except Exception:  # the delivery is on disk: the sweeper downloads its media later
            log.exception("Scheduling media downloads failed; the sweeper will pick them up")
        if outcome.result.away_replies:  # the automatic replies it queued go now
            app.extensions["away_reply"].wake()
    answer = {"success": True, "delivery_id": outcome.delivery_id, "state": outcome.state}
    if outcome.result is not None:
        answer.update(
            stored=outcome.result.stored,
            duplicates=outcome.result.duplicates,
            statuses_applied=outcome.result.statuses_applied,
            statuses_parked=outcome.result.statuses_parked,
        )
    after = None
    if (settings.webhook_journal_days or settings.events_retention_days) and ingest.prune_due():
        days, events_days = settings.webhook_journal_days, settings.events_retention_days
        after = functools.partial(ingest.prune_database, database(app), days, events_days)  # after Meta has its answer
    return answer, after


@bp.post("/webhook")
@api_doc(
    "A signed delivery from Meta: journaled, then processed in the same transaction",
    tag="webhook",
    public=True,
    description="Answered 200 once the body is durably stored. A body that is journaled but cannot be read or "
    "processed is answered 200 with state 'failed' and kept for `flask replay-webhooks`. Only a body that is "
    "not a webhook envelope gets 400; one that cannot be stored, 503. Duplicates (same wamid, same status) "
    "change nothing.",
    parameters=[
        header(
            "X-Hub-Signature-256",
            {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
            "'sha256=' + hex HMAC-SHA256 of the raw body, keyed by the App Secret",
            required=True,
        )
    ],
    body=WebhookEnvelope,
    responses={200: ("Stored (and processed, or kept for replay)", WebhookResult)},
    errors=(400, 401, 413, 503),
)
def receive() -> Response:
    """The same as WebhookPost (which answers these POSTs before Flask sees them), for an app
    mounted without it."""
    # The app's 1 MB is for agent calls; receive_delivery applies the webhook's own limit.
    request.max_content_length = current_app.config["SETTINGS"].max_webhook_bytes + 1
    answer, after = receive_delivery(
        current_app, request.content_length, request.stream, request.headers.get("X-Hub-Signature-256")
    )
    response = jsonify(answer)
    if after is not None:
        response.call_on_close(after)
    return response


class WebhookPost:
    """WSGI middleware: Meta's webhook POSTs answered without Flask's request machinery, which costs
    more than the rest of such a request (BENCHMARKS.md, "Where the time goes"); every other request
    goes on to the app. The answers are the route's: JSON, the same statuses, `nosniff`."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.path = bp.url_prefix + "/webhook"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.wsgi_app(environ, start_response)
        after = None
        try:
            length = _content_length(environ)
            stream = environ["wsgi.input"]
            if length is None and not environ.get("wsgi.input_terminated"):
                stream = io.BytesIO()  # no length and no end marker: no body, as werkzeug reads it
            elif length is not None:
                stream = LimitedStream(stream, length)
            answer, after = receive_delivery(self.app, length, stream, environ.get("HTTP_X_HUB_SIGNATURE_256"))
            status = 200
        except APIError as exc:
            status, answer = exc.status, {"success": False, "error": exc.message, **exc.extra}
        except HTTPException as exc:  # werkzeug's: e.g. a body shorter than its Content-Length
            log.info("Webhook POST refused: %s", exc)
            status, answer = exc.code or 400, {"success": False, "error": UNREADABLE}
        except Exception:
            log.exception("Unhandled error")
            status, answer = 500, {"success": False, "error": "Internal error"}
        data = (json.dumps(answer, ensure_ascii=False, separators=(",", ":")) + "\n").encode()  # as jsonify
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return ClosingIterator([data], after)


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    if not raw.isdigit() or not raw.isascii():
        raise APIError(400, "Invalid Content-Length")
    return int(raw)
