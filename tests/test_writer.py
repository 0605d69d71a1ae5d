"""The webhook writer process under gunicorn: every worker's deliveries committed by one process,
each answered 200 only once on disk; a killed writer loses nothing (the workers commit themselves
until a new writer is up); it serves only its own user's processes and leaves with its server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bench.common import SECRET, Gunicorn, delivery, sign

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]  # the SQLite writer process

WEBHOOK = "/api/whatsapp/webhook"
INLINE = "Committing a delivery in this worker"


def _deep_delivery(depth: int) -> bytes:
    """A text message that also carries a field nested `depth` levels deep (kept in raw_json)."""
    payload = json.loads(delivery(999_999, prefix="DEEP"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["extra"] = json.loads("[" * depth + "]" * depth)
    return json.dumps(payload).encode()


def writer_pids(database: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"whatsapp.writer" in args and str(database).encode() in args:
            found.append(int(entry.name))
    return found


def post(base: str, n: int, prefix: str) -> requests.Response:
    body = delivery(n, prefix=prefix)
    return requests.post(
        base + WEBHOOK,
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)},
        timeout=60,
    )


def stored(database: Path, prefix: str) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM whatsapp_messages WHERE whatsapp_message_id LIKE ?", (f"wamid.{prefix}%",)
        ).fetchone()[0]


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_workers_share_one_writer_and_a_killed_writer_loses_nothing(tmp_path):
    database = tmp_path / "inbox.sqlite3"
    with Gunicorn("wsgi:app", tmp_path, {"WEB_CONCURRENCY": "2"}) as server:
        with ThreadPoolExecutor(8) as pool:  # the first deliveries start the writer
            answers = list(pool.map(lambda n: post(server.base, n, "ONE"), range(200)))
        assert all(a.status_code == 200 and a.json()["stored"] == 1 for a in answers)
        assert stored(database, "ONE") == 200
        wait_for(lambda: len(writer_pids(database)) == 1)
        wait_for(lambda: "Webhook writer ready" in log_text(tmp_path))
        time.sleep(1)  # the workers' threads that found no writer yet have given up on it
        inline_before = log_text(tmp_path).count(INLINE)
        answers = [post(server.base, n, "TWO") for n in range(40)]
        assert all(a.status_code == 200 and a.json()["stored"] == 1 for a in answers)
        assert log_text(tmp_path).count(INLINE) == inline_before  # all committed by the writer
        # Nested deeper than pickle goes (but not json): the writer parses it itself.
        deep = _deep_delivery(600)
        answer = requests.post(
            server.base + WEBHOOK, data=deep, headers={"X-Hub-Signature-256": sign(deep, SECRET)}, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["stored"] == 1
        assert log_text(tmp_path).count(INLINE) == inline_before

        # Killed with deliveries in flight: every one is still answered 200 and stored once.
        (writer,) = writer_pids(database)
        with ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(post, server.base, n, "THREE") for n in range(300)]
            time.sleep(0.2)
            os.kill(writer, signal.SIGKILL)
            answers = [f.result() for f in pending]
        assert [a.status_code for a in answers] == [200] * 300
        assert stored(database, "THREE") == 300
        # The next deliveries find no writer: a worker starts one, which takes over.
        sent = iter(range(10_000))

        def replaced() -> bool:
            assert post(server.base, next(sent), "FOUR").status_code == 200
            return writer_pids(database) not in ([], [writer])

        wait_for(replaced)
        wait_for(lambda: "Webhook writer ready" in log_text(tmp_path, 2))
        count = next(sent)
        assert all(post(server.base, n, "FOUR").status_code == 200 for n in range(count, count + 20))
        assert stored(database, "FOUR") == count + 20
        # Two workers may each have started one at the same moment: the one that lost the name leaves.
        wait_for(lambda: len(writer_pids(database)) == 1)
        (replacement,) = writer_pids(database)
    # It leaves with the server it was started for.
    wait_for(lambda: not Path(f"/proc/{replacement}").exists() or b"zombie" in _state(replacement), 10)


def log_text(folder: Path, times: int = 1) -> str:
    """gunicorn's log (the writer logs there too), '' until it says the writer is ready `times` times."""
    text = next(folder.glob("gunicorn-*.log")).read_text()
    return text if text.count("Webhook writer ready") >= times else ""


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"


def test_a_second_writer_for_the_same_file_exits_at_once(tmp_path):
    database = tmp_path / "inbox.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    args = [sys.executable, "-m", "whatsapp.writer", str(database), "FULL", str(os.getpid()), "30000"]
    first = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _listening(database))
        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0
        assert first.poll() is None
    finally:
        first.terminate()
        assert first.wait(timeout=10) == 0  # SIGTERM: leaves after the batch in hand


def _listening(database: Path) -> bool:
    import socket

    from whatsapp import writer

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(writer.address(str(database), "FULL"))
        except OSError:
            return False
    return True


FAKE_WRITER = """
import json, socket, struct, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0" + sys.argv[1])
listener.listen(64)
print("listening", flush=True)
while True:
    sock, _ = listener.accept()
    answer = json.dumps({"delivery_id": 424242, "state": "processed", "error": None,
                         "result": {"stored": 1, "duplicates": 0, "statuses_applied": 0,
                                    "statuses_parked": 0, "media_message_ids": []}}).encode()
    try:
        sock.recv(1 << 20)
        sock.sendall(struct.pack(">I", len(answer)) + answer)
    except OSError:
        pass
"""


SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs a python3 that another user may run")
def test_a_writer_address_taken_by_another_user_gets_no_delivery(tmp_path):
    """Anyone may bind an abstract socket name: a worker hands nothing to another user's process
    (which would have it answer 200 for a delivery never stored) and commits the delivery itself."""
    from whatsapp import writer

    database = tmp_path / "inbox.sqlite3"
    name = writer.address(str(database), "FULL").lstrip("\0")
    fake = subprocess.Popen(
        [SYSTEM_PYTHON, "-c", FAKE_WRITER, name], user=65534, cwd="/", stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout.readline().strip() == "listening"
        with Gunicorn("wsgi:app", tmp_path, {"WEB_CONCURRENCY": "1"}) as server:
            answers = [post(server.base, n, "FAKE") for n in range(10)]
            assert all(a.status_code == 200 and a.json()["delivery_id"] != 424242 for a in answers)
            assert stored(database, "FAKE") == 10
            assert "held by another user" in log_text(tmp_path, 0)
    finally:
        fake.kill()
        fake.wait()


def test_inline_commits_in_the_workers_without_a_writer(tmp_path):
    database = tmp_path / "inbox.sqlite3"
    with Gunicorn("wsgi:app", tmp_path, {"WEB_CONCURRENCY": "2", "WEBHOOK_WRITER": "inline"}) as server:
        assert all(post(server.base, n, "IN").status_code == 200 for n in range(30))
        assert stored(database, "IN") == 30
        assert writer_pids(database) == []
