"""The automatic reply under gunicorn as deployed: two workers sharing the webhook writer process
(store_inbound runs there), many simultaneous deliveries from the same customers while closed: each
customer gets exactly one automatic reply, sent by a worker after the writer's commit."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bench.common import KEY, SECRET, Gunicorn, delivery, sign

from .helpers import connection_for

pytestmark = pytest.mark.slow

WEBHOOK = "/api/whatsapp/webhook"
SENDS = re.compile(r"^/v[0-9.]+/1/messages$")
ALL_DAY = {day: [{"open": "00:00", "close": "24:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_simultaneous_deliveries_through_the_writer_process_send_one_reply_per_customer(tmp_path, graph, database_url):
    graph.expect_request(SENDS, method="POST").respond_with_json(
        {"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}], "messages": [{"id": "wamid.A"}]}
    )
    today = datetime.now(UTC).date()
    closed = {
        "enabled": True,
        "timezone": "UTC",
        "week": ALL_DAY,
        "holidays": [(today + timedelta(days=n)).isoformat() for n in (-1, 0, 1)],
    }
    env = {
        "WEB_CONCURRENCY": "2",
        "WHATSAPP_API_URL": graph.url_for("").rstrip("/"),
        "WHATSAPP_ACCESS_TOKEN": "gunicorn-test-token",
        "DATABASE_URL": database_url,  # on PostgreSQL each worker commits its own deliveries (no writer process)
    }
    with Gunicorn("wsgi:app", tmp_path, env) as server:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert requests.put(f"{server.base}/api/whatsapp/business-hours", json=closed, headers=auth, timeout=30).ok
        reply = {"enabled": True, "text": "We are closed", "period_hours": 24}
        assert requests.put(f"{server.base}/api/whatsapp/away-reply", json=reply, headers=auth, timeout=30).ok

        def post(n: int) -> int:
            body = delivery(n, customers=3, prefix="AWAY")  # customer n % 3
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
            return requests.post(server.base + WEBHOOK, data=body, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(post, range(30))) == [200] * 30
        database = tmp_path / "inbox.sqlite3"
        deadline = time.monotonic() + 30
        while True:
            with connection_for({"DATABASE_PATH": str(database), "DATABASE_URL": database_url}) as conn:
                rows = conn.execute(
                    "SELECT conversation_id, status, error_title FROM whatsapp_messages WHERE automatic = 1"
                ).fetchall()
            if rows and all(status == "sent" for _, status, _ in rows):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        assert len({conversation for conversation, _, _ in rows}) == 3 and len(rows) == 3
        time.sleep(0.5)
        sent = [json.loads(request.get_data()) for request, _ in graph.log if SENDS.match(request.path)]
        assert len(sent) == 3
        assert sorted(body["to"] for body in sent) == ["+14150000000", "+14150000001", "+14150000002"]
        assert all(body["text"]["body"] == "We are closed" for body in sent)
