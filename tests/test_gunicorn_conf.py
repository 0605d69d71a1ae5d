"""gunicorn.conf.py takes its settings from .env too, like the app: a deployment configures one file."""

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
