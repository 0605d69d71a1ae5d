"""Do open dashboards slow the webhook down? Webhook latency against gunicorn without and with
fifty Server-Sent Event streams open, and how soon every stream hears of each delivery.

    python bench/dashboard_streams.py [--streams 50] [--deliveries 200]

Starts gunicorn with gunicorn.conf.py on a free loopback port over a temporary database, and prints
medians, 95th percentiles and their ratio (the figure in README "Dashboard streams").
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
KEY = "bench-key"
log = logging.getLogger("bench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delivery(n: int) -> bytes:
    message = {
        "from": f"1415555{n % 1000:04d}",
        "id": f"wamid.BENCH{time.time_ns()}{n}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f"bench message {n}"},
    }
    contact = {"profile": {"name": f"Bench {n % 1000}"}, "wa_id": message["from"]}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1555", "phone_number_id": "1"},
        "contacts": [contact],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def post(base: str, session: requests.Session, n: int) -> float:
    body = delivery(n)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    started = time.perf_counter()
    answer = session.post(
        f"{base}/api/whatsapp/webhook",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return elapsed


class Stream(threading.Thread):
    """One dashboard's EventSource: records when each event id arrived."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.seen: dict[int, float] = {}
        self.connected = threading.Event()
        self.response: requests.Response | None = None

    def run(self) -> None:
        try:
            self._read()
        except requests.RequestException:
            pass  # the server stopped at the end of the run

    def _read(self) -> None:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {KEY}"}
        with requests.get(f"{self.base}/api/whatsapp/events/stream", headers=headers, stream=True, timeout=600) as r:
            self.response = r
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith(":"):
                    self.connected.set()
                if line and line.startswith("id: "):
                    self.seen[int(line[4:])] = time.perf_counter()


def measure(base: str, deliveries: int, offset: int, streams: list[Stream]) -> tuple[list[float], list[float]]:
    session = requests.Session()
    latencies, lags = [], []
    for n in range(deliveries):
        time.sleep(random.uniform(0, 0.5))  # not in step with the streams' polling
        answered_at = time.perf_counter()
        latencies.append(post(base, session, offset + n))
        answered_at += latencies[-1]
        if streams:
            last = requests.get(
                f"{base}/api/whatsapp/events?limit=1", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
            ).json()["last_event_id"]
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline and not all(last in s.seen for s in streams):
                time.sleep(0.005)
            if all(last in s.seen for s in streams):
                lags.append(max(s.seen[last] for s in streams) - answered_at)
    return latencies, lags


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tmp = tempfile.mkdtemp(prefix="wa-bench-")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_PATH": f"{tmp}/inbox.sqlite3",
        "MEDIA_DIR": f"{tmp}/media",
        "WHATSAPP_APP_SECRET": SECRET,
        "AGENT_API_KEY": KEY,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "MEDIA_AUTO_DOWNLOAD": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(f"{tmp}/gunicorn.log", "w"),  # noqa: SIM115 - lives as long as the server
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/api/whatsapp/openapi.json", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        warm = requests.Session()
        for n in range(50):  # every worker's caches and lazy imports, before anything is timed
            post(base, warm, 10**6 + n)
        quiet, _ = measure(base, args.deliveries, 0, [])
        streams = [Stream(base) for _ in range(args.streams)]
        for stream in streams:
            stream.start()
        for stream in streams:
            assert stream.connected.wait(30), "a stream did not connect"
        busy, lags = measure(base, args.deliveries, args.deliveries, streams)
        log.info(
            f"gunicorn: WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', 'default')} "
            f"GUNICORN_THREADS={os.environ.get('GUNICORN_THREADS', 'default')}, {os.cpu_count()} CPUs"
        )
        log.info(
            f"webhook latency, no streams:   median {statistics.median(quiet) * 1000:.1f} ms, "
            f"p95 {p95(quiet) * 1000:.1f} ms"
        )
        log.info(
            f"webhook latency, {args.streams} streams:   median {statistics.median(busy) * 1000:.1f} ms, "
            f"p95 {p95(busy) * 1000:.1f} ms"
        )
        log.info(
            f"ratio (with / without):  median {statistics.median(busy) / statistics.median(quiet):.2f}, "
            f"p95 {p95(busy) / p95(quiet):.2f}"
        )
        if lags:
            log.info(
                f"delivery answered -> seen by all {args.streams} streams: "
                f"median {statistics.median(lags) * 1000:.0f} ms, "
                f"max {max(lags) * 1000:.0f} ms ({len(lags)}/{args.deliveries} deliveries)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
