"""The agent API's media routes: a message's file, and a download tried again (on the api blueprint)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime

from flask import Response, current_app, jsonify, send_file

from . import media, present, store
from .api import MESSAGE_ID, bp
from .api_doc import Answer, api_doc
from .api_shapes import Error, MediaRetry
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS


@bp.get(f"/media/<{MESSAGE_ID}:message_id>")
@api_doc(
    "A message's media file with its content type (fetched from Meta first if needed)",
    tag="media",
    description="A failed download is tried again here only once its backoff step is due (the 502 says when, "
    "in retry_after). The Content-Disposition carries the filename per RFC 6266: an ASCII `filename` and the "
    "exact name as `filename*`.",
    responses={
        200: Answer(
            "The file; not images, video or audio are served as attachments",
            {"type": "string", "format": "binary"},
            "*/*",
        )
    },
    errors=(404, 502, 503, *AGENT_ERRORS),
)
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
@api_doc(
    "Download an inbound message's media again now",
    tag="media",
    description="Whatever the backoff says. A copy on disk that still matches its sha256 is kept as it is "
    "(200), without asking Meta, which may no longer have the media.",
    responses={200: ("Downloaded", MediaRetry), 502: ("The download failed again", MediaRetry | Error)},
    errors=(404, *WRITE_ERRORS),
)
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
