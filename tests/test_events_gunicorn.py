"""Under gunicorn, every open event stream hears of every delivery, whichever worker received it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from .helpers import AGENT_KEY, APP_SECRET, sign, text_message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STREAMS = 12
DELIVERIES = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener(threading.Thread):
    """One dashboard's stream: the event ids it received."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.ids: list[int] = []
        self.ready = threading.Event()

    def run(self) -> None:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {AGENT_KEY}"}
        try:
            with requests.get(f"{self.base}/api/whatsapp/events/stream", headers=headers, stream=True, timeout=60) as r:
                for line in r.iter_lines(decode_unicode=True):
                    if line.startswith(":"):
                        self.ready.set()
                    elif line.startswith("id: "):
                        self.ids.append(int(line[4:]))
        except requests.RequestException:
            pass  # gunicorn stopped at the end of the test


def test_every_stream_sees_every_delivery_whichever_worker_took_it(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "3",
        "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "AGENT_API_KEY": AGENT_KEY,
        "MEDIA_AUTO_DOWNLOAD": "false",
    }
    with open(tmp_path / "gunicorn.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/api/whatsapp/openapi.json", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline and process.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        listeners = [Listener(base) for _ in range(STREAMS)]
        for listener in listeners:
            listener.start()
        assert all(listener.ready.wait(20) for listener in listeners)
        for n in range(DELIVERIES):
            body = json.dumps(
                text_message(f"message {n}", wa_id=f"1415555{n:04d}", timestamp=int(time.time()))
            ).encode()
            answer = requests.post(
                f"{base}/api/whatsapp/webhook",
                data=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
                timeout=10,
            )
            assert answer.status_code == 200
        log_page = requests.get(
            f"{base}/api/whatsapp/events?after=0&limit=500", headers={"Authorization": f"Bearer {AGENT_KEY}"}
        )
        expected = [event["id"] for event in log_page.json()["events"]]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(listener.ids == expected for listener in listeners):
            time.sleep(0.1)
        workers = {
            line.split()[-1]
            for line in (tmp_path / "gunicorn.log").read_text().splitlines()
            if "Booting worker" in line
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert len(workers) == 3
    assert len(expected) >= DELIVERIES
    assert [listener.ids for listener in listeners] == [expected] * STREAMS
