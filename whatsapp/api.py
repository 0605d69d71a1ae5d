"""The agent API blueprint: parse the request, call store/sending, shape JSON. No SQL here."""

from __future__ import annotations

import hashlib
import logging
import math
import mimetypes
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, send_file
from werkzeug.utils import secure_filename

from . import compose, media, phones, present, sending, store, templates
from .auth import acting_agent_id, check_agent_access
from .db import get_db, write_transaction
from .errors import APIError
from .graph import GraphError, GraphUnavailable
from .updates import SQLITE_MAX_INT

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/whatsapp")

MAX_INT = 2**53  # larger ids cannot exist (and SQLite integers stop at 2**63)
MESSAGE_ID = f"int(max={SQLITE_MAX_INT})"  # a path id SQLite can hold; a larger one is a plain 404
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@bp.before_request
def _authenticate() -> None:
    check_agent_access()


# --- request parsing -----------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object (Content-Type: application/json)")
    return data


def int_param(
    value: Any, name: str, *, default: int | None = None, low: int = 0, high: int | None = None
) -> int | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if isinstance(value, bool):
        raise APIError(400, f"{name} must be an integer")
    if isinstance(value, str):
        number = int(value.strip()) if re.fullmatch(r"-?[0-9]+", value.strip()) else None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        number = None
    if number is None or abs(number) > MAX_INT:
        raise APIError(400, f"{name} must be an integer")
    if number < low or (high is not None and number > high):
        upper = f" and {high}" if high is not None else ""
        raise APIError(400, f"{name} must be between {low}{upper}" if upper else f"{name} must be at least {low}")
    return number


def bool_param(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise APIError(400, f"{name} must be true or false")


def str_param(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise APIError(400, f"{name} must be a string")
    text = str(value).strip()
    return text or None


def customer_params(source: Any) -> tuple[int | None, str | None, str | None]:
    """conversation_id, phone_number (E.164) and user_id from a query string or JSON body."""
    conversation_id = int_param(source.get("conversation_id"), "conversation_id", low=1)
    raw_phone = source.get("phone_number")
    phone = None
    if raw_phone is not None and str(raw_phone).strip():
        if not isinstance(raw_phone, (str, int)) or isinstance(raw_phone, bool):
            raise APIError(400, "phone_number must be a string")
        try:
            phone = phones.normalize(str(raw_phone))
        except phones.InvalidPhone as exc:
            raise APIError(400, f"Invalid phone_number: {exc}") from None
    user_id = str_param(source.get("user_id"), "user_id")
    if user_id and not phones.is_bsuid(user_id):
        raise APIError(400, "Invalid user_id: expected a business-scoped user id such as US.13491208655302741918")
    return conversation_id, phone, user_id


def find_conversation_or_404(source: Any):
    conversation_id, phone, user_id = customer_params(source)
    if conversation_id is None and phone is None and user_id is None:
        raise APIError(400, "conversation_id, phone_number or user_id is required")
    row = store.find_conversation(get_db(), conversation_id, phone, user_id)
    if row is None:
        raise conversation_not_found(conversation_id)
    return row


def conversation_not_found(conversation_id: int | None) -> APIError:
    """A 404; for a conversation folded into the same customer's other one, it says which."""
    target = store.merged_into(get_db(), conversation_id) if conversation_id is not None else None
    if target is None:
        return APIError(404, "Conversation not found")
    return APIError(
        404,
        f"Conversation {conversation_id} was merged into conversation {target} (the same customer's)",
        merged_into=target,
    )


def agent_param(data: dict[str, Any]) -> int | None:
    """The agent_id of the body, overridden by the signed-in agent when there is one."""
    return acting_agent_id(int_param(data.get("agent_id"), "agent_id", low=0))


def graph_client():
    return current_app.extensions["graph"]


# --- routes --------------------------------------------------------------------------------


@bp.get("/conversations")
def conversations() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in store.CONVERSATION_STATUSES:
        raise APIError(400, f"status must be one of {', '.join(store.CONVERSATION_STATUSES)}")
    unread_only = bool_param(request.args.get("unread_only"), "unread_only")
    tab = request.args.get("filter") or None
    if tab is not None and tab not in store.TABS:
        raise APIError(400, f"filter must be one of {', '.join(store.TABS)}")
    me = acting_agent_id(int_param(request.args.get("agent_id"), "agent_id", low=0))
    if tab == "mine" and me is None:
        raise APIError(400, "filter=mine needs agent_id (or a signed-in agent)")
    query = request.args.get("q", "").strip()
    if len(query) > 200:
        raise APIError(400, "q is longer than 200 characters")
    limit = int_param(request.args.get("limit"), "limit", default=50, low=1, high=200)
    offset = int_param(request.args.get("offset"), "offset", default=0, low=0)
    conn = get_db()
    filters = {"status": status, "unread_only": unread_only, "tab": tab, "agent_id": me}
    matches: dict[int, int | None] = {}
    if query:
        matches = store.search(conn, query)
        filters["ids"] = list(matches)
    rows = store.list_conversations(conn, **filters, limit=limit, offset=offset)
    counts = store.conversation_counts(conn)
    items = [present.conversation(r) for r in rows]
    if query:
        shown = [matches[item["id"]] for item in items if matches.get(item["id"])]
        snippets = store.snippets(conn, query, shown)
        for item in items:
            item["snippet"] = snippets.get(matches.get(item["id"]) or 0)
    return jsonify(
        success=True,
        conversations=items,
        count=len(rows),
        total=store.count_conversations(conn, **filters, counts=counts),
        limit=limit,
        offset=offset,
        counts=store.tab_counts(conn, me, counts),
    )


@bp.get("/conversation")
def conversation() -> Response:
    row = find_conversation_or_404(request.args)
    return jsonify(success=True, conversation=present.conversation(row))


@bp.get("/messages")
def messages() -> Response:
    row = find_conversation_or_404(request.args)
    limit = int_param(request.args.get("limit"), "limit", default=50, low=1, high=500)
    include_raw = bool_param(request.args.get("include_raw"), "include_raw")
    before_id = int_param(request.args.get("before_id"), "before_id", low=1)
    after_id = int_param(request.args.get("after_id"), "after_id", low=1)
    if before_id and after_id:
        raise APIError(400, "Give before_id or after_id, not both")
    conn = get_db()
    for cursor, name in ((before_id, "before_id"), (after_id, "after_id")):
        if cursor and not store.message_in_conversation(conn, cursor, row["conversation_id"]):
            raise APIError(400, f"{name} is not a message of this conversation")
    rows = store.list_messages(conn, row["conversation_id"], limit, before_id=before_id, after_id=after_id)
    wamids = [r["whatsapp_message_id"] for r in rows]
    quoted_ids = [r["context_message_id"] for r in rows if r["context_message_id"]]
    items = present.thread(
        rows, store.annotations_for(conn, wamids), store.messages_by_wamid(conn, quoted_ids), include_raw
    )
    return jsonify(success=True, messages=items, count=len(rows), conversation_id=row["conversation_id"])


@bp.post("/send")
def send() -> Response:
    """Send text, media (by link or Meta media id), location, a reaction or a template."""
    data = json_body()
    kind = data.get("type") or "text"
    if kind == "template":
        outbound = templates.build(data, current_app.extensions["templates"])
    else:
        outbound = compose.build(data)
    return deliver(data, outbound)


def deliver(data: Any, outbound: sending.Outbound) -> tuple[Response, int]:
    """Resolve the recipient, check the 24-hour window, then send and answer in the spec's shape."""
    # The request an Idempotency-Key names: the body, less the key itself when it rides in the body.
    target = prepare_send(data, outbound.type, {k: v for k, v in data.items() if k != "client_message_id"})
    if not isinstance(target, SendTarget):
        return target
    return dispatch(target, outbound)


def credential_scope() -> str:
    """Whose Idempotency-Keys a request's key is one of: the service key's, or this agent's own."""
    agent = getattr(g, "agent", None)
    return "service" if agent is None else f"agent:{int(agent['agent_id'])}"


def key_reused(exc: sending.KeyReused) -> APIError:
    return APIError(422, str(exc))


def check_context(outbound: sending.Outbound) -> None:
    """A reply or reaction must point at a message this inbox has."""
    if outbound.context_message_id and not store.messages_by_wamid(get_db(), [outbound.context_message_id]):
        field = "reaction.message_id" if outbound.type == "reaction" else "reply_to"
        raise APIError(400, f"{field} is not a message in this inbox")


def dispatch(target: SendTarget, outbound: sending.Outbound) -> tuple[Response, int]:
    conn = get_db()
    check_context(outbound)
    try:
        outcome = sending.send(
            conn,
            graph_client(),
            conversation_id=target.conv["conversation_id"] if target.conv else None,
            phone_number=target.phone,
            user_id=target.user_id,
            outbound=outbound,
            agent_id=target.agent_id,
            idempotency=target.idempotency,
        )
    except sending.KeyReused as exc:  # a concurrent request took the key for another message
        raise key_reused(exc) from None
    return send_response(outcome)


@dataclass(frozen=True)
class SendTarget:
    """Who a send goes to and on whose behalf, once every pre-send check has passed."""

    conv: Any
    phone: str | None
    user_id: str | None
    agent_id: int | None
    idempotency: sending.Idempotency | None
    # A repeat of a key whose send Meta certainly did not take: its message is sent again as stored.
    resend: bool = False


def prepare_send(data: Any, kind: str, fingerprint: Any) -> SendTarget | tuple[Response, int]:
    """Everything checked before anything is sent: recipient, agent, idempotency, 24-hour window.

    `fingerprint` is the request an Idempotency-Key stands for (hashed with the route). Returns the
    earlier answer (a tuple) for a repeated key, else the send's context.
    """
    conversation_id, phone, user_id = customer_params(data)
    if conversation_id is None and phone is None and user_id is None:
        raise APIError(400, "phone_number, user_id or conversation_id is required")
    agent_id = agent_param(data)
    idempotency_key = request.headers.get("Idempotency-Key") or str_param(
        data.get("client_message_id"), "client_message_id"
    )
    if idempotency_key and len(idempotency_key) > 200:
        raise APIError(400, "Idempotency-Key is longer than 200 characters")
    conn = get_db()
    idempotency, resend = None, False
    if idempotency_key:
        idempotency = sending.Idempotency.of(credential_scope(), idempotency_key, request.path, fingerprint)
        try:
            earlier = sending.earlier_send(conn, idempotency)
        except sending.KeyReused as exc:
            raise key_reused(exc) from None
        if earlier is not None:
            if not sending.may_send_again(earlier):
                return send_response(sending.outcome_of(earlier, repeated=True))
            resend = True
    conv = store.find_conversation(conn, conversation_id, phone, user_id)
    if conversation_id is not None and conv is None:
        raise conversation_not_found(conversation_id)
    if kind != "template":
        expires_at, open_now = present.window(conv["last_inbound_at"] if conv else None)
        if not open_now:
            when = f" (it closed at {expires_at} UTC)" if expires_at else " (the customer has not written yet)"
            raise APIError(
                409,
                "The 24-hour customer service window is closed" + when + ": WhatsApp only allows an "
                'approved template message now. Send one with type "template".',
                window_expires_at=expires_at,
                can_reply=False,
            )
    return SendTarget(conv, phone, user_id, agent_id, idempotency, resend)


@bp.post("/send-media")
def send_media() -> Response:
    """Upload a file (multipart `file`) to Meta and send it by media id, checked against Meta's limits."""
    request.max_content_length = compose.MAX_UPLOAD
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise APIError(400, "file is required (multipart/form-data)")
    form = request.form
    content = upload.read()
    mime_type = (upload.mimetype or "").lower()
    if not mime_type or mime_type == "application/octet-stream":
        mime_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    kind = form.get("type") or compose.kind_for_mime(mime_type) or "document"
    if kind not in compose.MEDIA_KINDS:
        raise APIError(400, f"type must be one of {', '.join(compose.MEDIA_KINDS)}")
    compose.check_media(kind, mime_type, len(content), content)
    filename = secure_filename(upload.filename) or f"file{mimetypes.guess_extension(mime_type) or ''}"
    caption = (form.get("caption") or "").strip() or None
    data = {
        key: form.get(key)
        for key in ("conversation_id", "phone_number", "user_id", "agent_id", "client_message_id")
        if form.get(key)
    }
    fields = {"id": "0", "caption": caption, "filename": upload.filename if kind == "document" else None}
    outbound = compose.build(
        {"type": kind, "media": {k: v for k, v in fields.items() if v}, "reply_to": form.get("reply_to") or None}
    )
    fingerprint = None
    if request.headers.get("Idempotency-Key") or form.get("client_message_id"):  # what the key stands for
        fingerprint = {
            "form": {key: form.getlist(key) for key in form if key != "client_message_id"},
            "file": [upload.filename, mime_type, hashlib.sha256(content).hexdigest()],
        }
    target = prepare_send(data, kind, fingerprint)
    if not isinstance(target, SendTarget):
        return target
    check_context(outbound)
    if target.resend:  # the first attempt uploaded the file; its stored message names Meta's media id
        return dispatch(target, outbound)
    try:
        media_id = graph_client().upload_media(content, filename, mime_type)
    except GraphError as exc:
        status = 400 if exc.code in (131053, 100) else 502
        raise APIError(
            status, f"The file could not be uploaded to WhatsApp: {exc.agent_message()}", error_code=exc.code
        ) from None
    except GraphUnavailable as exc:
        raise APIError(502, f"The file could not be uploaded to WhatsApp: {exc}") from None
    body = {**outbound.body, "id": media_id}
    path = media.save_file(
        current_app.config["SETTINGS"].media_dir, f"out-{uuid.uuid4().hex}", content, mime_type, upload.filename
    )
    stored = {"id": media_id, "mime_type": mime_type, "filename": upload.filename, "path": path, "size": len(content)}
    outbound = sending.Outbound(kind, body, outbound.text, outbound.context_message_id, stored)
    return dispatch(target, outbound)


@bp.get(f"/media/<{MESSAGE_ID}:message_id>")
def media_file(message_id: int) -> Response:
    """The message's media file with its content type, fetched from Meta first if needed.

    A failed download is tried again here only when its backoff step is due (the answer says
    when); POST /media/<id>/retry tries at once.
    """
    conn = get_db()
    row = store.get_message(conn, message_id)
    if row is None or not (row["media_id"] or row["media_path"] or row["media_url"]):
        raise APIError(404, "This message has no media")
    if row["direction"] == "outbound" and not (row["media_path"] and os.path.exists(row["media_path"])):
        if not row["media_id"]:  # WhatsApp fetched the link itself; it may be gone or changed since
            raise APIError(404, "The inbox keeps no copy of this media: it was sent by link")
        # Sent by Meta media id (or an upload whose file went missing): Meta keeps it for 30 days.
        with write_transaction(conn):
            store.media_fetchable(conn, message_id)
    if row["media_state"] != "ready" or not row["media_path"] or not os.path.exists(row["media_path"]):
        # A ready file that went missing is fetched again at once; anything else when it is due.
        state = current_app.extensions["media"].fetch(message_id, force=row["media_state"] == "ready")
        row = store.get_message(conn, message_id)
        if state == "downloading":  # another thread or worker holds a fresh claim on it
            raise APIError(
                503, "The media is being downloaded from WhatsApp right now; try again shortly", retry_after=2
            )
        if state != "ready" or not row["media_path"]:
            raise media_unavailable(row, state)
    return media_response(row)


def media_unavailable(row, state: str | None) -> APIError:
    """A 502 saying why the media is missing and when it is tried again (never sooner)."""
    reason = row["media_error"] or state
    next_at = row["media_next_attempt_at"] if row["media_state"] == "failed" else None
    if next_at is None:
        return APIError(
            502,
            f"The media could not be fetched from WhatsApp: {reason}. It is not tried again by itself; "
            "POST /media/<id>/retry tries now",
            media_state=row["media_state"],
            retry_after=None,
        )
    wait = max(1, int(math.ceil(seconds_until(next_at))))
    return APIError(
        502,
        f"The media could not be fetched from WhatsApp: {reason}. Next attempt in {wait} s "
        "(or POST /media/<id>/retry now)",
        media_state=row["media_state"],
        retry_after=wait,
    )


def seconds_until(stamp: str) -> float:
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def media_response(row) -> Response:
    mime_type = (row["media_type"] or "application/octet-stream").split(";")[0].strip()
    inline = mime_type.split("/")[0] in ("image", "video", "audio") and mime_type != "image/svg+xml"
    response = send_file(row["media_path"], mimetype=mime_type, max_age=3600)
    name = media.download_name(row["media_filename"]) or os.path.basename(row["media_path"])
    response.headers["Content-Disposition"] = media.content_disposition("inline" if inline else "attachment", name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.post(f"/media/<{MESSAGE_ID}:message_id>/retry")
def retry_media(message_id: int) -> Response:
    """Download the media again now (after a failure), whatever its backoff says. A copy already on
    disk that still matches its sha256 is kept (Meta is not asked, and may no longer have it)."""
    conn = get_db()
    row = store.get_message(conn, message_id)
    if row is None or not row["media_id"] or row["direction"] != "inbound":
        raise APIError(404, "This message has no inbound media")
    state = current_app.extensions["media"].fetch(message_id, force=True)
    row = store.get_message(conn, message_id)
    return jsonify(success=state == "ready", media_state=row["media_state"], message=present.message(row)), (
        200 if state == "ready" else 502
    )


def send_response(outcome: sending.SendOutcome) -> tuple[Response, int]:
    row = store.get_message(get_db(), outcome.message_id)
    body: dict[str, Any] = {
        "success": outcome.ok,
        "message_id": outcome.wamid,
        "conversation_id": outcome.conversation_id,
        "message": present.message(row),
    }
    if outcome.repeated:
        body["idempotent_replay"] = True
    if not outcome.ok:
        body.update(
            error=outcome.error,
            error_code=outcome.error_code,
            error_title=outcome.error_title,
            error_details=outcome.error_details,
        )
    return jsonify(body), outcome.http_status


@bp.post("/mark-read")
def mark_read() -> Response:
    row = find_conversation_or_404(json_body())
    conn = get_db()
    with write_transaction(conn):
        latest = store.mark_read(conn, row["conversation_id"])
    receipt = "skipped"
    if latest and current_app.config["SETTINGS"].send_read_receipts:
        try:
            receipt = "sent" if graph_client().mark_read(latest) else "failed"
        except (GraphError, GraphUnavailable) as exc:
            log.warning("Read receipt for conversation %s failed: %s", row["conversation_id"], exc)
            receipt = "failed"
    return jsonify(success=True, conversation_id=row["conversation_id"], unread_count=0, read_receipt=receipt)


@bp.post("/assign-agent")
def assign_agent() -> Response:
    data = json_body()
    row = find_conversation_or_404(data)
    if "agent_id" not in data:
        raise APIError(400, "agent_id is required (null to unassign)")
    # The agent to assign to (anyone, or null to unassign), not the agent acting.
    agent_id = int_param(data.get("agent_id"), "agent_id", low=0)
    conn = get_db()
    with write_transaction(conn):
        store.assign(conn, row["conversation_id"], agent_id)
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=present.conversation(updated))


@bp.get("/stats")
def stats() -> Response:
    return jsonify(success=True, stats=store.stats(get_db()))


@bp.get("/health")
def health() -> Response:
    """Delivery health: when Meta last called, failed or pending deliveries, parked statuses, media."""
    return jsonify(success=True, health=store.delivery_health(get_db()))


def _lifecycle(action: str) -> Response:
    row = find_conversation_or_404(json_body())
    conn = get_db()
    with write_transaction(conn):
        if action == "unassign":
            store.assign(conn, row["conversation_id"], None)
        else:
            store.set_status(conn, row["conversation_id"], "closed" if action == "close" else "open")
        updated = store.find_conversation(conn, conversation_id=row["conversation_id"])
    return jsonify(success=True, conversation=present.conversation(updated))


@bp.post("/close")
def close() -> Response:
    """Close a conversation; the customer's next message reopens it."""
    return _lifecycle("close")


@bp.post("/reopen")
def reopen() -> Response:
    return _lifecycle("reopen")


@bp.post("/unassign")
def unassign() -> Response:
    return _lifecycle("unassign")


@bp.get("/templates")
def list_templates() -> Response:
    """The business's approved templates (cached for a few minutes; refresh=true to re-read)."""
    refresh = bool_param(request.args.get("refresh"), "refresh")
    try:
        approved = current_app.extensions["templates"].approved(refresh)
    except GraphError as exc:
        status = 503 if exc.code is None else 502
        raise APIError(status, f"Templates could not be listed: {exc.agent_message()}") from None
    except GraphUnavailable as exc:
        raise APIError(502, f"Templates could not be listed: {exc}") from None
    return jsonify(success=True, templates=[templates.summary(t) for t in approved], count=len(approved))
