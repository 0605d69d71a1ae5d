"""Bytes per message: what each table and index of an inbox takes on disk, from SQLite's `dbstat`.

Two files are measured: the reads' million-message inbox (written by the service's storage code, no
webhook journal), and a small one filled through the webhook route itself, one signed delivery a
message, so the journal's copy of each body is counted as well.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from .common import KEY, SECRET, WEBHOOK, delivery, sign

log = logging.getLogger("bench.storage")

# Events kept at the default EVENTS_RETENTION_DAYS, at the reads' inbox's 2,500 messages a day.
RETENTION_DAYS = 30
MESSAGES_PER_DAY = 2_500


def objects(path: Path) -> dict[str, dict[str, Any]]:
    """{table: {bytes, objects: {name: {kind, bytes}}}}: every b-tree, under the table it serves (an
    index under its table, FTS5's shadow tables under their virtual table)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        schema = {name: (kind, table) for kind, name, table, _sql in rows}
        virtual = [name for _k, name, _t, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
        sizes = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        columns = {
            name: [row[2] for row in conn.execute(f"PRAGMA index_info('{name}')")]
            for name, (kind, _t) in schema.items()
            if kind == "index"
        }
    tables: dict[str, dict[str, Any]] = {}
    for name, size in sizes:
        kind, table = schema.get(name, ("table", name))
        owner = next((v for v in virtual if name.startswith(v + "_") or table.startswith(v + "_")), table)
        if owner != table or name in virtual:
            kind = "full-text index"
        entry = tables.setdefault(owner, {"bytes": 0, "objects": {}})
        entry["bytes"] += size
        entry["objects"][name] = {"kind": kind, "bytes": size}
        if name in columns:
            entry["objects"][name]["columns"] = columns[name]
    return dict(sorted(tables.items(), key=lambda item: -item[1]["bytes"]))


def per_message(tables: dict[str, dict[str, Any]], messages: int) -> dict[str, dict[str, Any]]:
    return {
        table: {
            "bytes": entry["bytes"],
            "bytes_per_message": round(entry["bytes"] / messages, 1),
            "objects": {
                name: {**obj, "bytes_per_message": round(obj["bytes"] / messages, 1)}
                for name, obj in sorted(entry["objects"].items(), key=lambda item: -item[1]["bytes"])
            },
        }
        for table, entry in tables.items()
    }


def measure_file(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        messages = conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0]
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        raw_json = conn.execute("SELECT COALESCE(SUM(LENGTH(raw_json)), 0) FROM whatsapp_messages").fetchone()[0]
        bodies = conn.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM webhook_deliveries").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    tables = objects(path)
    used = sum(entry["bytes"] for entry in tables.values())
    return {
        "messages": messages,
        "events": events,
        "file_bytes": page_size * pages,
        "free_bytes": page_size * free,
        "bytes_per_message": round(used / messages, 1),
        "raw_json_bytes_per_message": round(raw_json / messages, 1),
        "journal_body_bytes_per_message": round(bodies / messages, 1),
        "tables": per_message(tables, messages),
    }


def through_webhook(workdir: Path, deliveries: int) -> Path:
    """A fresh inbox filled through the webhook route (signed, one text message a delivery, Meta's
    current shape), in-process; 25 messages a customer as in the reads' inbox."""
    from app import create_app

    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "inbox.sqlite3"
    for stale in workdir.glob("inbox.sqlite3*"):
        stale.unlink()
    app = create_app(
        {
            "DATABASE_PATH": str(database),
            "MEDIA_DIR": str(workdir / "media"),
            "WHATSAPP_APP_SECRET": SECRET,
            "AGENT_API_KEY": KEY,
            "WHATSAPP_PHONE_NUMBER_ID": "1",
            "WHATSAPP_API_URL": "http://127.0.0.1:9",
            "MEDIA_AUTO_DOWNLOAD": "false",
            "SQLITE_SYNCHRONOUS": "NORMAL",  # the bytes are the same; only the waiting differs
        }
    )
    client = app.test_client()
    customers = max(1, deliveries // 25)
    for n in range(deliveries):
        body = delivery(n, customers=customers, prefix="STORE", bsuid=True)
        answer = client.post(
            WEBHOOK, data=body, headers={"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"}
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def report(large: Path, webhook_dir: Path, deliveries: int) -> dict[str, Any]:
    inbox = measure_file(large)
    webhook = measure_file(through_webhook(webhook_dir, deliveries))
    events = inbox["tables"].get("events", {"bytes": 0})
    per_event = events["bytes"] / max(1, inbox["events"])
    events_per_message = inbox["events"] / inbox["messages"]
    kept = RETENTION_DAYS * MESSAGES_PER_DAY * events_per_message  # events younger than the retention
    result = {
        "inbox": inbox,
        "through_webhook": webhook,
        "events": {
            "per_message": round(events_per_message, 2),
            "bytes_per_event": round(per_event, 1),
            "bytes_unpruned": events["bytes"],
            "retention_days": RETENTION_DAYS,
            "messages_per_day": MESSAGES_PER_DAY,
            "bytes_kept_at_retention": round(kept * per_event),
        },
    }
    log.info(
        "storage at %s messages: %.0f bytes a message (file %.0f MB); through the webhook %.0f bytes a message, "
        "of which the journal %.0f; events %.0f bytes a message unpruned, %.1f MB kept at %d days",
        f"{inbox['messages']:,}",
        inbox["bytes_per_message"],
        inbox["file_bytes"] / 1e6,
        webhook["bytes_per_message"],
        webhook["tables"].get("webhook_deliveries", {}).get("bytes_per_message", 0),
        events.get("bytes_per_message", 0),
        result["events"]["bytes_kept_at_retention"] / 1e6,
        RETENTION_DAYS,
    )
    return result
