"""A second, durable reference for ingest: a Flask app under the same gunicorn settings whose POST
route reads the body and commits it to a SQLite table (WAL, synchronous=FULL) before answering 200,
the obvious way: one connection a thread, one transaction and fsync a request, SQLite's own busy
handler between workers. No signature, no parsing, no processing.
`gunicorn -c gunicorn.conf.py bench.baseline_durable_app:app` with DATABASE_PATH set."""

import os
import sqlite3
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)
_local = threading.local()


def connection() -> sqlite3.Connection:
    if getattr(_local, "conn", None) is None:
        conn = sqlite3.connect(os.environ["DATABASE_PATH"], timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        _local.conn = conn
    return _local.conn


@app.route("/api/whatsapp/webhook", methods=["GET", "POST"])
def webhook():
    body = request.get_data()
    if request.method == "POST":
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bodies (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
    return jsonify(success=True)
