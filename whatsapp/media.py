"""Inbound media kept in MEDIA_DIR: fetched in the background after the webhook is answered.

Meta's media id -> a 5-minute URL -> the bytes (with the access token), checked against the
sha256 Meta sent, written atomically. A failure is retried with backoff (by a sweeper thread in
every worker, so a download claimed by a worker that died is picked up again) or on demand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import os
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from . import db, store
from .graph import GraphClient, GraphError, GraphUnavailable

log = logging.getLogger(__name__)

MAX_BYTES = 100 * 1024 * 1024
# Seconds to wait before attempt n+1; after the last one a download waits for an agent's retry.
BACKOFF = (15, 60, 300, 1800, 7200)
STALE_CLAIM = timedelta(minutes=10)
SWEEP_SECONDS = 15


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def sha256_matches(content: bytes, expected: str | None) -> bool:
    """Meta's webhook sha256 is base64; the media endpoint's is hex. Accept either; none -> True."""
    if not expected:
        return True
    digest = hashlib.sha256(content).digest()
    if re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        return digest.hex() == expected.lower()
    try:
        return base64.b64decode(expected, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def extension_for(mime_type: str | None, filename: str | None) -> str:
    if filename and "." in filename:
        ext = "." + re.sub(r"[^A-Za-z0-9]", "", filename.rsplit(".", 1)[1])[:10]
        if len(ext) > 1:
            return ext.lower()
    guessed = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) if mime_type else None
    return guessed or ".bin"


def save_file(media_dir: str, stem: str, content: bytes, mime_type: str | None, filename: str | None) -> str:
    """Write atomically under MEDIA_DIR; the name is ours (never the customer's filename)."""
    folder = Path(media_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{extension_for(mime_type, filename)}"
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(content)
    os.replace(temporary, path)
    return str(path)


class MediaFetcher:
    """Per-process downloader: a small thread pool plus a sweeper for due and stale downloads."""

    def __init__(self, app: Flask, auto: bool = True) -> None:
        self.settings = app.config["SETTINGS"]
        self.client: GraphClient = app.extensions["graph"]
        self.auto = auto
        self._pool: ThreadPoolExecutor | None = None
        self._sweeper: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.backoff: tuple[float, ...] = BACKOFF
        self.sweep_seconds: float = SWEEP_SECONDS

    def schedule(self, message_ids: list[int]) -> None:
        """Download these soon, off the request thread."""
        if not self.auto or not message_ids:
            return
        self._start()
        for message_id in message_ids:
            self._pool.submit(self._fetch_logged, message_id)

    def _start(self) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media")
                self._sweeper = threading.Thread(target=self._sweep_forever, name="media-sweeper", daemon=True)
                self._sweeper.start()

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self.sweep_seconds):
            try:
                conn = db.connect(self.settings.database_path)
                try:
                    due = store.media_due(conn, _stamp(datetime.now(UTC) - STALE_CLAIM))
                finally:
                    conn.close()
                for message_id in due:
                    self._pool.submit(self._fetch_logged, message_id)
            except Exception:  # the sweeper must never die
                log.exception("Media sweep failed")

    def _fetch_logged(self, message_id: int) -> None:
        try:
            self.fetch(message_id)
        except Exception:
            log.exception("Media download of message %s crashed", message_id)

    def fetch(self, message_id: int, force: bool = False) -> str | None:
        """Download one message's media now if it is due (or `force`); returns its state after."""
        conn = db.connect(self.settings.database_path)
        try:
            with db.write_transaction(conn):
                row = store.claim_media(conn, message_id, force, _stamp(datetime.now(UTC) - STALE_CLAIM))
            if row is None:
                current = store.get_message(conn, message_id)
                return current["media_state"] if current else None
            try:
                content, path, mime_type = self._download(row)
            except (GraphError, GraphUnavailable, OSError, ValueError) as exc:
                attempts = int(row["media_attempts"]) + 1
                delay = self.backoff[attempts - 1] if attempts <= len(self.backoff) else None
                next_at = _stamp(datetime.now(UTC) + timedelta(seconds=delay)) if delay is not None else None
                log.warning("Media of message %s failed (attempt %d): %s", message_id, attempts, exc)
                with db.write_transaction(conn):
                    store.media_failed(conn, message_id, str(exc)[:500], next_at)
                return "failed"
            with db.write_transaction(conn):
                store.media_ready(conn, message_id, path, len(content), mime_type)
            return "ready"
        finally:
            conn.close()

    def _download(self, row: sqlite3.Row) -> tuple[bytes, str, str | None]:
        info: dict[str, Any] = self.client.media_info(row["media_id"])
        content, content_type = self.client.download(info["url"], MAX_BYTES)
        expected = row["media_sha256"] or info.get("sha256")
        if not sha256_matches(content, expected):
            raise ValueError("the downloaded file does not match the sha256 WhatsApp sent")
        mime_type = row["media_type"] or info.get("mime_type") or content_type
        path = save_file(self.settings.media_dir, f"in-{row['message_id']}", content, mime_type, row["media_filename"])
        return content, path, mime_type

    def stop(self) -> None:
        self._stop.set()
