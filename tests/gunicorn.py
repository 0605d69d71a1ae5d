"""The service as deployed, for the tests that need real processes: `gunicorn -c gunicorn.conf.py
wsgi:app` from the project root on a free loopback port, with the test's settings in its environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .helpers import AGENT_KEY, APP_SECRET

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(tmp_path: Path, env: dict[str, str], log_name: str = "gunicorn") -> tuple[subprocess.Popen, str]:
    """gunicorn with `env` over the defaults (signed webhooks, the service key, no media downloads),
    its log in tmp_path/<log_name>.log; returns once it answers, with its base URL."""
    port = free_port()
    full = {
        **os.environ,
        "MEDIA_DIR": str(tmp_path / "media"),
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "AGENT_API_KEY": AGENT_KEY,
        "MEDIA_AUTO_DOWNLOAD": "false",
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    log_path = tmp_path / f"{log_name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/api/whatsapp/openapi.json", timeout=1)
            return process, base
        except requests.RequestException:
            assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.2)


def stop_gunicorn(process: subprocess.Popen) -> None:
    """SIGTERM to its whole process group (master and workers), waited for."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
