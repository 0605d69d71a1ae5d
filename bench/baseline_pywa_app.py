"""The pywa peer: the webhook app a Python developer would build with pywa, the best-known Python
WhatsApp library, instead of using the inbox. Flask, pywa's own routes (its X-Hub-Signature-256 check
with the app secret, its parsing of the update into a typed `Message`), and a handler that INSERTs
the message and COMMITs into SQLite (WAL, synchronous=FULL) before pywa answers 200: one connection a
thread, one transaction and fsync a message, SQLite's busy handler between workers.
Benchmark only (pywa is in requirements-dev.in, never imported by the service).
`gunicorn -c gunicorn.conf.py bench.baseline_pywa_app:app` with DATABASE_PATH, WHATSAPP_APP_SECRET
and WHATSAPP_PHONE_NUMBER_ID set, as bench/common.Gunicorn does."""

from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask
from pywa import WhatsApp, types

app = Flask(__name__)
_local = threading.local()

wa = WhatsApp(
    phone_id=os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "1"),  # pywa drops updates for other numbers
    token="bench-token-never-used",  # nothing here calls the Graph API
    server=app,
    webhook_endpoint="/api/whatsapp/webhook",
    verify_token=os.environ.get("WHATSAPP_VERIFY_TOKEN", "bench-verify"),
    app_secret=os.environ["WHATSAPP_APP_SECRET"],
    validate_updates=True,
)


def connection() -> sqlite3.Connection:
    if getattr(_local, "conn", None) is None:
        conn = sqlite3.connect(os.environ["DATABASE_PATH"], timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, wamid TEXT NOT NULL UNIQUE, "
            "sender TEXT NOT NULL, name TEXT, body TEXT, sent_at TEXT NOT NULL)"
        )
        conn.commit()
        _local.conn = conn
    return _local.conn


@wa.on_message
def store_message(_: WhatsApp, msg: types.Message) -> None:
    conn = connection()
    conn.execute(
        "INSERT INTO messages (wamid, sender, name, body, sent_at) VALUES (?, ?, ?, ?, ?)",
        (msg.id, msg.from_user.wa_id, msg.from_user.name, msg.text, msg.timestamp.isoformat()),
    )
    conn.commit()
