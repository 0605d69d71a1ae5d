"""Inbound media kept in MEDIA_DIR: fetched in the background after the webhook is answered.

Meta's media id -> a 5-minute URL -> the bytes (with the access token), checked against the
sha256 Meta sent, written atomically. A failure is retried with backoff by a sweeper thread that
every worker process starts (on its first request, or at boot from wsgi.py), so a download claimed
by a worker that died is picked up again; an agent's retry skips the backoff. A copy on disk that
still matches is never thrown away for a new download.
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
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask

from . import db, store
from .graph import GraphClient, GraphError, GraphUnavailable
from .updates import is_media_id

log = logging.getLogger(__name__)

MAX_BYTES = 100 * 1024 * 1024
# Seconds to wait before attempt n+1; after the last one a download waits for an agent's retry.
BACKOFF = (15, 60, 300, 1800, 7200)
STALE_CLAIM = timedelta(minutes=10)
SWEEP_SECONDS = 15


# Every fetcher of this process, so that a forked child forgets its parent's threads and lock.
_FETCHERS: weakref.WeakSet[MediaFetcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for fetcher in list(_FETCHERS):
        fetcher._forget_threads()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
    """The stored file's extension: the MIME type's (Meta checks it) when it has one, else the
    letters and digits after the name's last dot; quotes or control characters change nothing."""
    guessed = mimetypes.guess_extension((mime_type or "").split(";")[0].strip().lower()) if mime_type else None
    if guessed:
        return guessed
    if filename and "." in filename:
        ext = "." + re.sub(r"[^A-Za-z0-9]", "", filename.rsplit(".", 1)[1])[:10]
        if len(ext) > 1:
            return ext.lower()
    return ".bin"


def file_intact(row: sqlite3.Row) -> bool:
    """The row's file is on disk and still matches the sha256 Meta sent (when it sent one)."""
    path = row["media_path"]
    if not path or not os.path.isfile(path):
        return False
    if not row["media_sha256"]:
        return True
    try:
        return sha256_matches(Path(path).read_bytes(), row["media_sha256"])
    except OSError:
        return False


# C0/C1 controls, line separators, and the bidirectional controls that can make "exe.pdf" of
# "fdp.exe" on screen: never inside a header or a file's name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def download_name(filename: str | None) -> str | None:
    """The customer's filename with control characters removed (None if nothing is left)."""
    if not filename:
        return None
    name = " ".join(_CONTROL.sub(" ", filename).split())
    return name[:200] or None


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII `filename` fallback (quotes, backslashes and non-ASCII replaced) and the
    exact name as `filename*` (RFC 5987, UTF-8, percent-encoded)."""
    filename = download_name(filename) or "file"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
    """Per-process downloader: a small thread pool plus a sweeper for due and stale downloads.

    Threads start with the worker process (`start()`), not with the app object: `create_app` also
    runs for CLI commands and tests, and threads do not survive a fork, so a process that forked
    after starting them starts its own again.
    """

    def __init__(self, app: Flask, auto: bool = True) -> None:
        self.settings = app.config["SETTINGS"]
        self.database: db.BaseDatabase = app.extensions["database"]
        self.client: GraphClient = app.extensions["graph"]
        self.auto = auto
        self._pool: ThreadPoolExecutor | None = None
        self._sweeper: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.backoff: tuple[float, ...] = BACKOFF
        self.sweep_seconds: float = SWEEP_SECONDS
        self.sweeps = 0  # sweeps done by this process's sweeper
        _FETCHERS.add(self)
        # Started by the first request a process serves (wsgi.py also starts it at worker boot),
        # not here: create_app also runs for CLI commands and in gunicorn's master before forks.
        app.before_request(self._on_request)

    def _on_request(self) -> None:
        self.start()

    def _forget_threads(self) -> None:
        """In a forked child: the parent's threads are gone and its lock may be held forever."""
        self._lock = threading.Lock()
        self._pool, self._sweeper, self._pid = None, None, None

    def schedule(self, message_ids: list[int]) -> None:
        """Download these soon, off the request thread."""
        if not self.auto or not message_ids:
            return
        pool = self.start()
        for message_id in message_ids:
            pool.submit(self._fetch_logged, message_id)

    def start(self) -> ThreadPoolExecutor:
        """Start this process's pool and (with MEDIA_AUTO_DOWNLOAD) its sweeper; idempotent, cheap."""
        pid = os.getpid()
        if self._pid == pid and self._pool is not None:
            return self._pool
        with self._lock:
            if self._pid != pid:  # first start, or a child forked without the hook having run
                self._pool, self._sweeper, self._pid = None, None, pid
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media")
                if self.auto and not self._stop.is_set():
                    self._sweeper = threading.Thread(target=self._sweep_forever, name="media-sweeper", daemon=True)
                    self._sweeper.start()
            return self._pool

    def _sweep_forever(self) -> None:
        # A first sweep at once: downloads left due by a restart are not kept waiting.
        while not self._stop.is_set():
            try:
                due = self._due()
                for message_id in due:
                    self.start().submit(self._fetch_logged, message_id)
            except Exception:  # the sweeper must never die
                log.exception("Media sweep failed")
            self.sweeps += 1
            self._stop.wait(self.sweep_seconds)

    def _due(self) -> list[int]:
        with self.database.connection() as conn:
            return store.media_due(conn, store.stamp(datetime.now(UTC) - STALE_CLAIM))

    def _fetch_logged(self, message_id: int) -> None:
        try:
            self.fetch(message_id)
        except Exception:
            log.exception("Media download of message %s crashed", message_id)

    def fetch(self, message_id: int, force: bool = False) -> str | None:
        """Download one message's media now if it is due (or `force`: an agent's retry, or a
        ready file that went missing); returns its state after. A ready file that is still on
        disk and matches its sha256 is kept as it is: Meta is not asked again."""
        with self.database.connection() as conn:
            current = store.get_message(conn, message_id)
            if current is None:
                return None
            if current["media_state"] == "ready" and file_intact(current):
                return "ready"
            if current["media_id"] and not is_media_id(current["media_id"]):
                if current["media_state"] != "failed" or current["media_next_attempt_at"] is not None:
                    with db.write_transaction(conn):
                        store.media_failed(conn, message_id, "Not a WhatsApp media id (media ids are digits)", None)
                return "failed"
            with db.write_transaction(conn):
                row = store.claim_media(conn, message_id, force, store.stamp(datetime.now(UTC) - STALE_CLAIM))
            if row is None:
                current = store.get_message(conn, message_id)
                return current["media_state"] if current else None
            try:
                content, path, mime_type = self._download(row)
            except (GraphError, GraphUnavailable, OSError, ValueError) as exc:
                attempts = int(row["media_attempts"]) + 1
                delay = self.backoff[attempts - 1] if attempts <= len(self.backoff) else None
                next_at = store.stamp(datetime.now(UTC) + timedelta(seconds=delay)) if delay is not None else None
                log.warning("Media of message %s failed (attempt %d): %s", message_id, attempts, exc)
                with db.write_transaction(conn):
                    store.media_failed(conn, message_id, str(exc)[:500], next_at)
                return "failed"
            with db.write_transaction(conn):
                store.media_ready(conn, message_id, path, len(content), mime_type)
            return "ready"

    def _download(self, row: sqlite3.Row) -> tuple[bytes, str, str | None]:
        info: dict[str, Any] = self.client.media_info(row["media_id"])
        content, content_type = self.client.download(info["url"], MAX_BYTES)
        expected = row["media_sha256"] or info.get("sha256")
        if not sha256_matches(content, expected):
            raise ValueError("the downloaded file does not match the sha256 WhatsApp sent")
        mime_type = row["media_type"] or info.get("mime_type") or content_type
        path = save_file(self.settings.media_dir, f"in-{row['message_id']}", content, mime_type, row["media_filename"])
        return content, path, mime_type

    @property
    def sweeping(self) -> bool:
        return self._pid == os.getpid() and self._sweeper is not None and self._sweeper.is_alive()

    def stop(self) -> None:
        self._stop.set()
