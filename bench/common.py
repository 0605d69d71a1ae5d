"""What every benchmark shares: signed deliveries, gunicorn on a free loopback port, percentiles."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
KEY = "bench-key"
WEBHOOK = "/api/whatsapp/webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def inbound_payload(
    n: int,
    *,
    customers: int = 1000,
    prefix: str = "BENCH",
    text: str | None = None,
    timestamp: int | None = None,
    bsuid: bool = False,
) -> dict[str, Any]:
    """A webhook body with one distinct inbound text message from customer n % customers; with bsuid,
    in Meta's current shape that also names the customer by business-scoped user id (user_id)."""
    phone = f"1415{n % customers:07d}"
    message = {
        "from": phone,
        "id": f"wamid.{prefix}{n:012d}",
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": "text",
        "text": {"body": text or f"bench message {n}"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": f"Bench {n % customers}"}, "wa_id": phone}],
        "messages": [message],
    }
    if bsuid:
        user_id = f"US.{n % customers:020d}"
        message["from_user_id"] = user_id
        value["contacts"][0]["user_id"] = user_id
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def delivery(n: int, **kwargs: Any) -> bytes:
    return json.dumps(inbound_payload(n, **kwargs), separators=(",", ":")).encode()


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py <app>` from the project root on a free port, as deployed."""

    def __init__(self, app: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.app = app
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_PATH": str(workdir / "inbox.sqlite3"),
            "MEDIA_DIR": str(workdir / "media"),
            "WHATSAPP_APP_SECRET": SECRET,
            "AGENT_API_KEY": KEY,
            "MEDIA_AUTO_DOWNLOAD": "false",
            "WHATSAPP_API_URL": "http://127.0.0.1:9",  # nothing here may reach Meta
            "WHATSAPP_PHONE_NUMBER_ID": "1",  # the number of the deliveries below
            **(env or {}),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        log_file = open(self.workdir / f"gunicorn-{self.port}.log", "w")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", self.app],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {log_file.name}")
            try:
                requests.get(self.base + WEBHOOK, timeout=1)
                if len(self.worker_pids()) >= int(self.env.get("WEB_CONCURRENCY", "4")):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def worker_rss_kib(self) -> list[int]:
        """Resident memory of each worker, from /proc."""
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]))
            except OSError:
                continue
        return sizes
