"""Several nodes on one PostgreSQL: two gunicorn instances on different ports share the database.
Signed deliveries (a quarter of them sent twice) are spread over both; one instance is SIGKILLed
mid-run and Meta's retries go to the other. Every delivery answered 200 is stored exactly once, the
unread counts are exact, and an agent's event stream on one node sees a message that arrived on the
other within a second."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .gunicorn import start_gunicorn, stop_gunicorn
from .helpers import AGENT_KEY, PHONE_NUMBER_ID, connection_for, sign, text_message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
API = "/api/whatsapp"
SERVICE = {"Authorization": f"Bearer {AGENT_KEY}"}
DELIVERIES = 240
CUSTOMERS = 40


def start_node(tmp_path: Path, name: str, database_url: str) -> tuple[subprocess.Popen, str]:
    env = {
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "8",
        "DATABASE_URL": database_url,
        "DATABASE_PATH": str(tmp_path / f"{name}-unused.sqlite3"),
        "DATABASE_POOL_SIZE": "12",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
    }
    return start_gunicorn(tmp_path, env, log_name=name)


class Stream(threading.Thread):
    """An agent's event stream on one node: every event with the moment it arrived."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.events: list[tuple[float, dict]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        headers = {**SERVICE, "Accept": "text/event-stream"}
        with requests.get(f"{self.base}{API}/events/stream", headers=headers, stream=True, timeout=60) as answer:
            assert answer.status_code == 200, answer.text
            self.ready.set()
            try:
                for line in answer.iter_lines(chunk_size=1, decode_unicode=True):
                    if line and line.startswith("data: "):
                        self.events.append((time.monotonic(), json.loads(line[6:])))
            except requests.exceptions.ChunkedEncodingError:
                pass  # the node was stopped under the open stream, at the end of the test

    def arrival(self, message_id: int, timeout: float = 10) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event in list(self.events):
                if event.get("message_id") == message_id:
                    return at
            time.sleep(0.02)
        return None


def test_two_nodes_share_one_postgresql_through_a_kill_and_lose_nothing(tmp_path, engine, database_url):
    if engine != "postgresql":
        pytest.skip("several nodes share a PostgreSQL database: this runs in the --engine postgresql pass")
    node_a, base_a = start_node(tmp_path, "a", database_url)
    node_b, base_b = start_node(tmp_path, "b", database_url)
    try:
        stream = Stream(base_b)
        stream.start()
        assert stream.ready.wait(10)

        # One message arrives on A; B's agent sees it within a second.
        probe = text_message("probe", wa_id="15550009999", message_id="wamid.probe")
        body = json.dumps(probe).encode()
        sent_at = time.monotonic()
        answer = requests.post(f"{base_a}{API}/webhook", data=body, headers=signed(body), timeout=30)
        assert answer.status_code == 200, answer.text
        with connection_for({"DATABASE_URL": database_url}) as conn:
            found = conn.execute(
                "SELECT message_id FROM whatsapp_messages WHERE whatsapp_message_id = ?", ("wamid.probe",)
            ).fetchone()
        arrived = stream.arrival(int(found[0]))
        assert arrived is not None, stream.events[-5:]
        assert arrived - sent_at < 1.0, f"seen on the other node after {arrived - sent_at:.2f} s"

        # Deliveries spread over both nodes, a quarter sent twice; A is killed a third of the way.
        rng = random.Random(17)
        bodies = []
        for n in range(DELIVERIES):
            message = text_message(
                f"message {n}",
                wa_id=f"1555000{n % CUSTOMERS:04d}",
                message_id=f"wamid.multi.{n}",
                timestamp=1795500000 + n,
            )
            bodies.append((f"wamid.multi.{n}", json.dumps(message).encode()))
        sends = [(wamid, body) for wamid, body in bodies]
        sends += [pair for pair in bodies if rng.random() < 0.25]
        rng.shuffle(sends)
        acknowledged: set[str] = set()
        lock = threading.Lock()
        killed = threading.Event()

        def deliver(index: int, wamid: str, body: bytes) -> None:
            if index == len(sends) // 3:
                os.killpg(node_a.pid, signal.SIGKILL)  # the whole instance: master and workers
                killed.set()
            bases = [base_a, base_b] if index % 2 == 0 else [base_b, base_a]
            for attempt in range(20):  # Meta retries until it gets a 200
                base = bases[attempt % 2]
                try:
                    answer = requests.post(f"{base}{API}/webhook", data=body, headers=signed(body), timeout=30)
                except requests.RequestException:
                    continue
                if answer.status_code == 200:
                    with lock:
                        acknowledged.add(wamid)
                    return
                time.sleep(0.05)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda item: deliver(item[0], *item[1]), enumerate(sends)))
        assert killed.is_set() and node_a.wait(timeout=30) is not None
        assert acknowledged == {wamid for wamid, _ in bodies}  # B took every retry

        with connection_for({"DATABASE_URL": database_url}) as conn:
            rows = conn.execute(
                """SELECT whatsapp_message_id, COUNT(*) FROM whatsapp_messages
                   WHERE whatsapp_message_id LIKE 'wamid.multi.%' GROUP BY whatsapp_message_id"""
            ).fetchall()
            assert {row[0]: row[1] for row in rows} == {wamid: 1 for wamid in acknowledged}  # exactly once
            counts = conn.execute(
                """SELECT c.conversation_id, c.unread_count,
                          (SELECT COUNT(*) FROM whatsapp_messages m
                            WHERE m.conversation_id = c.conversation_id AND m.direction = 'inbound')
                   FROM whatsapp_conversations c"""
            ).fetchall()
        assert len(counts) == CUSTOMERS + 1
        assert all(row[1] == row[2] for row in counts), [tuple(row) for row in counts if row[1] != row[2]]
        listed = requests.get(f"{base_b}{API}/conversations?limit=100", headers=SERVICE, timeout=30).json()
        assert sum(c["unread_count"] for c in listed["conversations"]) == DELIVERIES + 1
    finally:
        stop_gunicorn(node_a)
        stop_gunicorn(node_b)


def signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
