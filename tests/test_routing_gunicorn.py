"""Auto-assignment under gunicorn: several workers (and the webhook writer process) take new customers'
deliveries at the same moment; every choice is made inside the write transaction, so no agent goes over
capacity, exactly the room there is gets filled, the rest waits, and round-robin stays even."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app import create_app

from .gunicorn import start_gunicorn, stop_gunicorn
from .helpers import AGENT_KEY, APP_SECRET, sign, text_message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
API = "/api/whatsapp"
SERVICE = {"Authorization": f"Bearer {AGENT_KEY}"}


def start_service(tmp_path: Path, database: Path, writer: str, database_url: str) -> tuple[subprocess.Popen, str]:
    env = {
        "WEB_CONCURRENCY": "3",
        "DATABASE_PATH": str(database),
        "DATABASE_URL": database_url,
        "WEBHOOK_WRITER": writer,
    }
    return start_gunicorn(tmp_path, env)


def create_agents(tmp_path: Path, database: Path, names: list[str], database_url: str) -> list[str]:
    app = create_app(
        {
            "DATABASE_PATH": str(database),
            "DATABASE_URL": database_url,
            "MEDIA_DIR": str(tmp_path / "media"),
            "AGENT_API_KEY": AGENT_KEY,
        }
    )
    try:
        runner = app.test_cli_runner()
        keys = []
        for name in names:
            result = runner.invoke(args=["create-agent", name])
            assert result.exit_code == 0, result.output
            keys.append(result.output.strip().splitlines()[-1])
        return keys
    finally:
        app.extensions["media"].stop()


def deliver(base: str, numbers: range) -> None:
    def post(n: int) -> int:
        body = json.dumps(text_message(f"help {n}", wa_id=f"1415777{n:04d}", timestamp=int(time.time()))).encode()
        answer = requests.post(
            f"{base}{API}/webhook",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
            timeout=30,
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(post, numbers)) == {200}


def conversations(base: str) -> list[dict]:
    answer = requests.get(f"{base}{API}/conversations", params={"limit": 200}, headers=SERVICE, timeout=10)
    return answer.json()["conversations"]


def auto_assignments(base: str) -> Counter:
    page = requests.get(f"{base}{API}/events", params={"after": 0, "limit": 500}, headers=SERVICE, timeout=10)
    return Counter(e["agent_id"] for e in page.json()["events"] if e["kind"] == "conversation.assigned")


# the webhook writer process exists to share SQLite's file lock: SQLite's only
@pytest.mark.parametrize("writer", ["inline", pytest.param("process", marks=pytest.mark.sqlite_only)])
def test_parallel_new_customers_never_overfill_an_agent_and_round_robin_stays_even(tmp_path, writer, database_url):
    database = tmp_path / "inbox.sqlite3"
    keys = create_agents(tmp_path, database, ["Ada", "Bo", "Cy"], database_url)
    process, base = start_service(tmp_path, database, writer, database_url)
    try:
        ids = []
        for key in keys:
            beat = requests.post(f"{base}{API}/presence", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert beat.status_code == 200, beat.text
            ids.append(beat.json()["presence"]["agent_id"])
        rules = {"mode": "round_robin", "capacity": 5}
        assert requests.put(f"{base}{API}/routing", json=rules, headers=SERVICE, timeout=10).status_code == 200

        deliver(base, range(40))
        listed = conversations(base)
        assert len(listed) == 40
        held = Counter(c["assigned_agent_id"] for c in listed if c["assigned_agent_id"] is not None)
        assert held == {agent_id: 5 for agent_id in ids}
        waiting = [c for c in listed if c["assigned_agent_id"] is None]
        assert len(waiting) == 25 and {c["status"] for c in waiting} == {"open"}

        # Room for everyone: the 25 waiting are drained at once, then 30 more arrive in parallel.
        rules = {"mode": "round_robin", "capacity": 1000}
        answer = requests.put(f"{base}{API}/routing", json=rules, headers=SERVICE, timeout=10)
        assert answer.json()["assigned"] == 25
        deliver(base, range(40, 70))
        listed = conversations(base)
        assert len(listed) == 70 and all(c["assigned_agent_id"] in ids for c in listed)
        turns = auto_assignments(base)
        assert sum(turns.values()) == 70
        assert max(turns.values()) - min(turns.values()) <= 1, turns
        held = Counter(c["assigned_agent_id"] for c in listed)
        assert max(held.values()) - min(held.values()) <= 1, held
    finally:
        stop_gunicorn(process)
