"""The commands a newcomer runs: `python3 app.py --demo`, `python3 app.py` on loopback, and the
simulator as a command (its .env, its signals, every state of the dashboard without Meta)."""

from __future__ import annotations

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
from werkzeug.serving import make_server

from app import create_app
from whatsapp import simulate

from .test_dashboard_simulator import simulated_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-simulator-secret"
KEY = "cli-simulator-service-key"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (Linux /proc/net/tcp, IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def eventually(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = check()
        except requests.ConnectionError:
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def ignore_sigint() -> None:
    """What a shell does to a job it starts in the background."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "AGENT_", "PORT", "HOST"))}
    return {**env, **extra}


def test_app_py_demo_is_a_living_inbox_on_loopback_with_a_printed_agent_key(tmp_path):
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "app.py", "--demo"],
        cwd=ROOT,
        env=clean_env(PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        while not any(line.strip().startswith("wak_") for line in lines):
            line = demo.stdout.readline()
            assert line, f"the demo printed no agent key: {lines}"
            lines.append(line)
        key = next(line.strip() for line in lines if line.strip().startswith("wak_"))
        assert f"http://127.0.0.1:{port}/" in "".join(lines)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        base = f"http://127.0.0.1:{port}/api/whatsapp"

        def conversations():
            found = session.get(f"{base}/conversations").json().get("conversations", [])
            return found if len(found) == len(simulate.CUSTOMERS) else None

        assert eventually(conversations), "the simulated customers did not write in"
        assert listening_addresses(port) == {"127.0.0.1"}
        # an agent's reply goes to the stand-in Graph API and comes back read
        sent = session.post(f"{base}/send", json={"phone_number": "+14155550123", "message": "Hello from the demo"})
        assert sent.status_code == 200, sent.text
        conversation_id = sent.json()["conversation_id"]

        def reply_read():
            thread = session.get(f"{base}/messages", params={"conversation_id": conversation_id}).json()
            return any(m["text"] == "Hello from the demo" and m["status"] == "read" for m in thread["messages"])

        assert eventually(reply_read)
        # the dashboard's sign-in takes the printed key
        page = requests.Session()
        assert page.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=15) is not None


def test_python_app_py_listens_on_loopback_unless_host_widens_it(tmp_path):
    for host, expected in (("", {"127.0.0.1"}), ("0.0.0.0", {"0.0.0.0"})):
        port = free_port()
        env = clean_env(PORT=str(port), DATABASE_PATH=str(tmp_path / "inbox.sqlite3"), AGENT_API_KEY="k" * 20)
        if host:
            env["HOST"] = host
        server = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert eventually(lambda p=port: listening_addresses(p)), "app.py did not start"
            assert listening_addresses(port) == expected
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture
def app_on_a_port(tmp_path):
    graph_port = free_port()
    app = create_app(simulated_settings(tmp_path, f"http://127.0.0.1:{graph_port}", SECRET, KEY))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, graph_port
    server.shutdown()
    app.extensions["media"].stop()


def test_the_simulator_takes_ports_from_dotenv_plays_every_state_and_stops_on_sigint(tmp_path, app_on_a_port):
    port, graph_port = app_on_a_port
    (tmp_path / ".env").write_text(
        f"PORT={port}\nWHATSAPP_API_URL=http://127.0.0.1:{graph_port}\nWHATSAPP_APP_SECRET={SECRET}\n"
    )
    simulator = subprocess.Popen(
        [sys.executable, "-m", "whatsapp.simulate", "--fake-graph", "--speed", "0"],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    base = f"http://127.0.0.1:{port}/api/whatsapp"
    try:
        conversations = eventually(
            lambda: (
                [
                    c
                    for c in session.get(f"{base}/conversations").json()["conversations"]
                    if c["contact_name"] in {c.name for c in simulate.CUSTOMERS}
                ]
                if len(session.get(f"{base}/conversations").json()["conversations"]) == len(simulate.CUSTOMERS)
                else None
            )
        )
        assert conversations, "the simulator delivered nothing to PORT from .env"
        by_name = {c["contact_name"]: c for c in conversations}
        assert by_name["Lena Berg"]["can_reply"] is False  # her window closed yesterday
        assert by_name["Maria Lopez"]["can_reply"] is True
        thread = session.get(f"{base}/messages", params={"conversation_id": by_name["Ahmed Hassan"]["id"]}).json()
        voice = next(m for m in thread["messages"] if m["type"] == "audio")
        # downloaded in the background from the stand-in on WHATSAPP_API_URL's port (503 while it is)
        download = eventually(
            lambda: (answer := session.get(f"{base}/media/{voice['id']}")).status_code != 503 and answer
        )
        assert download.status_code == 200 and download.content[:4] == b"OggS", download.text[:200]
        templates = session.get(f"{base}/templates").json()["templates"]
        order_update = next(t for t in templates if t["name"] == "order_update")
        assert order_update["parameters"] == {"header": 1, "body": 2, "buttons": [1]}
        assert simulator.poll() is None, "with a stand-in Graph API the simulator keeps answering"
    finally:
        simulator.send_signal(signal.SIGINT)
        try:
            code = simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
            raise AssertionError("the simulator ignored SIGINT") from None
    assert code == 0 and "Stopped (SIGINT)" in simulator.stderr.read()
