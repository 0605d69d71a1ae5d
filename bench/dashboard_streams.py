"""Do open dashboards slow the webhook down? Webhook latency against gunicorn without and with
fifty Server-Sent Event streams open, and how soon every stream hears of each delivery.

    python -m bench.dashboard_streams [--streams 50] [--deliveries 200]

Starts gunicorn with gunicorn.conf.py on a free loopback port over a temporary database, and prints
medians, 95th percentiles and their ratio (the figure in README "Dashboard streams").
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import KEY, WEBHOOK, Gunicorn, delivery, sign

log = logging.getLogger("bench")


def post(base: str, session: requests.Session, n: int) -> float:
    body = delivery(n, prefix=f"STREAMS{time.time_ns()}x")
    started = time.perf_counter()
    answer = session.post(
        base + WEBHOOK,
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)},
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
    with Gunicorn("wsgi:app", Path(tempfile.mkdtemp(prefix="wa-bench-"))) as server:
        base = server.base
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


if __name__ == "__main__":
    main()
