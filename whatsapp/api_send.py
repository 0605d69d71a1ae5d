"""The agent API's sending routes: /send and /send-media, idempotently (on the api blueprint)."""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, jsonify, request
from werkzeug.utils import secure_filename

from . import compose, media, present, sending, store, templates
from .api import agent_param, bp, conversation_not_found, customer_params, graph_client, json_body, str_param
from .api_doc import api_doc
from .api_shapes import SendMediaForm, SendRequest, SendResult
from .db import get_db
from .errors import APIError
from .graph import GraphError, GraphUnavailable
from .openapi import IDEMPOTENCY, IDEMPOTENCY_HEADER, SEND_ANSWERS, WRITE_ERRORS

# What Meta's Groups API sends to a group: text, media, text- and media-based templates.
GROUP_TYPES = ("text", "image", "video", "audio", "document", "template")


@bp.post("/send")
@api_doc(
    "Send a message of any type (text by default), idempotently with Idempotency-Key",
    tag="sending",
    description="The message is stored 'pending' before Meta is called, then 'sent' or 'failed' (or left "
    "'pending' with outcome_unknown when Meta's answer is lost). " + IDEMPOTENCY,
    parameters=[IDEMPOTENCY_HEADER],
    body=SendRequest,
    example={"conversation_id": 1, "message": "On its way!", "agent_id": 1},
    responses={200: ("Meta accepted the message (or an earlier send with this key)", SendResult), **SEND_ANSWERS},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
def send() -> Response:
    """Send text, media (by link or Meta media id), location, a reaction or a template."""
    data = json_body()
    kind = data.get("type") or "text"
    marketing = None
    if kind == "template":
        cache = current_app.extensions["templates"]
        outbound = templates.build(data, cache)
        name, language = outbound.body["name"], outbound.body["language"]["code"]

        def marketing() -> bool:
            return templates.category_of(cache, name, language) == "MARKETING"

    else:
        outbound = compose.build(data)
    return deliver(data, outbound, marketing)


def deliver(data: Any, outbound: sending.Outbound, marketing: Callable[[], bool] | None = None) -> tuple[Response, int]:
    """Resolve the recipient, check the 24-hour window, then send and answer in the spec's shape."""
    # The request an Idempotency-Key names: the body, less the key itself when it rides in the body.
    fingerprint = {k: v for k, v in data.items() if k != "client_message_id"}
    target = prepare_send(data, outbound.type, fingerprint, marketing)
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


def dispatch(target: SendTarget, outbound: sending.Outbound, retry_of: int | None = None) -> tuple[Response, int]:
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
            retry_of=retry_of,
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


def prepare_send(
    data: Any, kind: str, fingerprint: Any, marketing: Callable[[], bool] | None = None
) -> SendTarget | tuple[Response, int]:
    """Everything checked before anything is sent: recipient, agent, idempotency, 24-hour window, and
    a customer's stop of marketing messages (`marketing`: whether this template is a MARKETING one).

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
    if conv is not None and conv["blocked_at"]:
        raise APIError(
            409,
            "This customer is blocked: WhatsApp does not let the business message a blocked customer. "
            "Unblock them first (POST /api/whatsapp/unblock).",
        )
    group = conv is not None and conv["kind"] == "group"
    if group and kind not in GROUP_TYPES:
        raise APIError(400, f"A WhatsApp group takes {', '.join(GROUP_TYPES)} messages only, not {kind}")
    if conv is not None and conv["marketing_opt_out"] and marketing is not None and marketing():
        since = f" on {conv['marketing_preference_at']} UTC" if conv["marketing_preference_at"] else ""
        raise APIError(
            409,
            f"This customer stopped marketing messages{since}: WhatsApp does not deliver MARKETING templates "
            "to them until they resume. Utility and authentication templates, and replies inside the "
            "24-hour window, still go.",
            marketing_opt_out=True,
        )
    if kind != "template":
        expires_at, open_now = present.window(conv["last_inbound_at"] if conv else None)
        if not open_now:
            # Meta's rule for groups: any participant's message opens the window for the whole group.
            nobody = " (no participant has written yet)" if group else " (the customer has not written yet)"
            when = f" (it closed at {expires_at} UTC)" if expires_at else nobody
            raise APIError(
                409,
                ("The group's" if group else "The")
                + " 24-hour customer service window is closed"
                + when
                + ': WhatsApp only allows an approved template message now. Send one with type "template".',
                window_expires_at=expires_at,
                can_reply=False,
            )
    return SendTarget(conv, phone, user_id, agent_id, idempotency, resend)


@bp.post("/send-media")
@api_doc(
    "Upload a file to Meta and send it by media id (Meta's type and size limits first)",
    tag="sending",
    description="Idempotency-Key (or client_message_id) as for /send: " + IDEMPOTENCY,
    parameters=[IDEMPOTENCY_HEADER],
    body=SendMediaForm,
    body_type="multipart/form-data",
    responses={200: ("Uploaded and accepted", SendResult), **SEND_ANSWERS},
    errors=(400, 404, 413, *WRITE_ERRORS),
)
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
