"""The webhook route: Meta's verification handshake, and signed deliveries handed to ingest."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from . import ingest
from .db import synchronous_level
from .errors import APIError
from .updates import MalformedPayload

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__, url_prefix="/api/whatsapp")


@bp.get("/webhook")
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


def read_body(limit: int) -> bytes:
    """The raw body, read at most one byte past `limit` (a chunked body has no length to check first)."""
    request.max_content_length = limit + 1  # the app's 1 MB is for agent calls; the check below is ours
    stream = request.stream
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


@bp.post("/webhook")
def receive() -> Response:
    settings = current_app.config["SETTINGS"]
    length = request.content_length
    if length is not None and length > settings.max_webhook_bytes:
        raise APIError(413, f"Webhook body over {settings.max_webhook_bytes} bytes")
    body = read_body(settings.max_webhook_bytes)
    if settings.app_secret:
        if not signature_valid(settings.app_secret, body, request.headers.get("X-Hub-Signature-256")):
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
    level = synchronous_level()
    try:
        outcome = ingest.receive_grouped(
            settings.database_path, level, body, payload, settings.phone_number_id, unreadable
        )
    except Exception:  # not on disk, so Meta must send it again
        log.exception("A signed webhook delivery could not be journaled")
        raise APIError(503, "The delivery could not be stored; send it again later") from None
    if outcome.result is not None:
        # After the commit, so the download threads see the rows; the answer does not wait for them.
        try:
            current_app.extensions["media"].schedule(outcome.result.media_message_ids)
        except Exception:  # the delivery is on disk: the sweeper downloads its media later
            log.exception("Scheduling media downloads failed; the sweeper will pick them up")
    answer = {"success": True, "delivery_id": outcome.delivery_id, "state": outcome.state}
    if outcome.result is not None:
        answer.update(
            stored=outcome.result.stored,
            duplicates=outcome.result.duplicates,
            statuses_applied=outcome.result.statuses_applied,
            statuses_parked=outcome.result.statuses_parked,
        )
    response = jsonify(answer)
    if (settings.webhook_journal_days or settings.events_retention_days) and ingest.prune_due():
        path, days, events_days = settings.database_path, settings.webhook_journal_days, settings.events_retention_days
        # After Meta has its answer.
        response.call_on_close(lambda: ingest.prune_file(path, level, days, events_days))
    return response
