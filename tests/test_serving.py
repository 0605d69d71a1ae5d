"""How the service starts: `python app.py` serves on PORT, and gunicorn.conf.py takes its settings
from .env too, like the app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT = "import runpy; c = runpy.run_path('gunicorn.conf.py'); print(c['workers'], c['threads'], c['bind'])"


def settings_in(folder: Path, **env: str) -> str:
    shutil.copy(ROOT / "gunicorn.conf.py", folder / "gunicorn.conf.py")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WEB_CONCURRENCY", "PORT"))}
    run = subprocess.run(
        [sys.executable, "-c", PRINT], cwd=folder, env={**clean, **env}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_defaults_without_a_dotenv(tmp_path):
    assert settings_in(tmp_path) == "4 32 0.0.0.0:8001"


def test_the_dotenv_beside_it_sets_workers_threads_and_port(tmp_path):
    (tmp_path / ".env").write_text("WEB_CONCURRENCY=3\nGUNICORN_THREADS=8\nPORT=8123\n")
    assert settings_in(tmp_path) == "3 8 0.0.0.0:8123"


def test_the_example_dotenv_copied_as_is_gives_the_defaults(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    assert settings_in(tmp_path) == "4 32 0.0.0.0:8001"


def test_the_environment_wins_over_the_dotenv(tmp_path):
    (tmp_path / ".env").write_text("WEB_CONCURRENCY=3\n")
    assert settings_in(tmp_path, WEB_CONCURRENCY="2").startswith("2 ")


def test_python_app_py_serves_on_port(tmp_path):
    """`python app.py` is the README's first command: it serves the API on PORT (default 8001)."""
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"), "AGENT_API_KEY": "k"}
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/api/whatsapp/stats", headers={"Authorization": "Bearer k"}
                )
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "app.py did not start"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["success"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)
