"""Soak: the real service under gunicorn with four workers, over a thousand signed deliveries from
parallel clients (a quarter duplicated, some re-batched, statuses shuffled), one worker SIGKILLed
mid-run, everything not answered 200 retried as Meta does; then the API must add up exactly.

Run on its own with `python -m pytest -m soak`; it is part of the default suite too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from .helpers import AGENT_KEY, APP_SECRET, PHONE_NUMBER_ID, envelope, sign

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CLIENT_THREADS = 8
MAX_ATTEMPTS = 30  # per delivery, like Meta's retries (bounded)
PHASE_DEADLINE = 150.0  # seconds any one phase may take before the test gives up
SEED = 20261124


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is `parent` (gunicorn's workers), read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


# --- what clients saw ----------------------------------------------------------------------


@dataclass
class Observed:
    """Every HTTP answer any client got, and every connection that broke (a killed worker)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    webhooks_acknowledged: int = 0
    bad_answers: list[tuple[int, str]] = field(default_factory=list)
    broken_connections: int = 0
    unacknowledged: list[bytes] = field(default_factory=list)

    def answer(self, status: int, text: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status >= 500 or "database is locked" in text.lower():
                self.bad_answers.append((status, text[:300]))

    def broken(self) -> None:
        with self.lock:
            self.broken_connections += 1


_sessions = threading.local()


def session() -> requests.Session:
    if not hasattr(_sessions, "s"):
        _sessions.s = requests.Session()
    return _sessions.s


class Meta:
    """Delivers signed webhook bodies to the inbox and retries anything not answered 200."""

    def __init__(self, base_url: str, observed: Observed) -> None:
        self.url = f"{base_url}/api/whatsapp/webhook"
        self.observed = observed

    def deliver(self, body: bytes) -> bool:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
        for attempt in range(MAX_ATTEMPTS):
            try:
                answer = session().post(self.url, data=body, headers=headers, timeout=30)
            except requests.exceptions.RequestException:
                self.observed.broken()
                _sessions.s = requests.Session()  # the pooled connection may belong to the dead worker
            else:
                self.observed.answer(answer.status_code, answer.text)
                if answer.status_code == 200:
                    with self.observed.lock:
                        self.observed.webhooks_acknowledged += 1
                    return True
            time.sleep(min(0.05 * 2**attempt, 1.0))
        with self.observed.lock:
            self.observed.unacknowledged.append(body)
        return False


# --- a loopback Graph API ------------------------------------------------------------------


class GraphStandIn:
    """Answers sends with fresh wamids. For chosen recipients it first delivers a status of the
    message to the inbox (as Meta may, milliseconds before its HTTP answer reaches us) and only
    answers once that status was acknowledged."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta
        self.lock = threading.Lock()
        self.sends: list[dict[str, Any]] = []
        self.early: dict[str, str] = {}  # recipient -> "callback" (status names our local id) or "wamid"
        self.early_statuses: dict[str, str] = {}  # wamid -> the status delivered before the answer
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                self.reply(stand_in.handle(self.path, body))

            def reply(self, data: dict) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, path: str, body: dict) -> dict:
        if not path.endswith("/messages") or "biz_opaque_callback_data" not in body:
            return {"success": True}
        to = body.get("to", "")
        with self.lock:
            wamid = f"wamid.SOAKOUT{len(self.sends):05d}=="
            self.sends.append({**body, "wamid": wamid})
            early = self.early.get(to)
        if early:
            status = "sent" if early == "callback" else "delivered"
            callback = body["biz_opaque_callback_data"] if early == "callback" else None
            assert self.meta.deliver(status_body(wamid, status, to.lstrip("+"), callback))
            with self.lock:
                self.early_statuses[wamid] = status
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
            "messages": [{"id": wamid}],
        }

    def __enter__(self) -> GraphStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the workload --------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    wa_id: str
    user_id: str | None
    name: str

    @property
    def phone(self) -> str:
        return "+" + self.wa_id

    def contact(self) -> dict:
        data: dict[str, Any] = {"profile": {"name": self.name}, "wa_id": self.wa_id}
        if self.user_id:
            data["user_id"] = self.user_id
        return data


@dataclass(frozen=True)
class Inbound:
    customer: Customer
    wamid: str
    body: str
    timestamp: int

    def item(self) -> dict:
        data: dict[str, Any] = {
            "from": self.customer.wa_id,
            "id": self.wamid,
            "timestamp": str(self.timestamp),
            "type": "text",
            "text": {"body": self.body},
        }
        if self.customer.user_id:
            data["from_user_id"] = self.customer.user_id
        return data


def batch_body(messages: list[Inbound], split_entries: bool = False) -> bytes:
    """One POST carrying these messages: one value with all of them, or one entry per message."""
    if not split_entries:
        contacts = list({m.customer.wa_id: m.customer.contact() for m in messages}.values())
        return json.dumps(envelope({"contacts": contacts, "messages": [m.item() for m in messages]})).encode()
    entries = [envelope({"contacts": [m.customer.contact()], "messages": [m.item()]})["entry"][0] for m in messages]
    return json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()


def status_body(wamid: str, status: str, wa_id: str, callback: str | None = None) -> bytes:
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": wa_id}
    if callback:
        item["biz_opaque_callback_data"] = callback
    return json.dumps(envelope({"statuses": [item]})).encode()


def customers(rng: random.Random, count: int, prefix: str) -> list[Customer]:
    made = []
    for index in range(count):
        wa_id = f"1415{prefix}{index:05d}"
        user_id = f"US.{prefix}{index:016d}" if index % 3 == 0 else None
        made.append(Customer(wa_id, user_id, rng.choice(["Ana", "Bo", "Chen", "Dara", "Eli"]) + f" {prefix}{index}"))
    return made


TEXTS = ["hola", "Where is my order?", "👍🏽 ok", "שלום", "<b>bold?</b>", "1; DROP TABLE x", "a\nb", "ça va"]


def inbound_messages(rng: random.Random, people: list[Customer], low: int, high: int) -> list[Inbound]:
    now = int(time.time())
    made = []
    for person in people:
        for n in range(rng.randint(low, high)):
            wamid = f"wamid.SOAK{person.wa_id}.{n:03d}=="
            made.append(Inbound(person, wamid, f"{rng.choice(TEXTS)} #{n}", now - rng.randint(60, 7200)))
    return made


def plan_deliveries(rng: random.Random, messages: list[Inbound]) -> tuple[list[bytes], int]:
    """Batches of one to three messages, then a quarter of the messages delivered again: the same
    bytes re-sent, or re-batched with other messages (one entry each). Returns bodies, duplicates."""
    order = messages[:]
    rng.shuffle(order)
    batches: list[list[Inbound]] = []
    while order:
        size = rng.choices([1, 2, 3], weights=[70, 20, 10])[0]
        batches.append(order[:size])
        order = order[size:]
    bodies = [batch_body(b) for b in batches]
    batch_of = {m.wamid: i for i, b in enumerate(batches) for m in b}
    again = rng.sample(messages, len(messages) // 4)
    for message in again:
        if rng.random() < 0.5:
            bodies.append(bodies[batch_of[message.wamid]])
        else:
            others = rng.sample(messages, rng.randint(0, 2))
            group = [message, *[o for o in others if o.wamid != message.wamid]]
            rng.shuffle(group)
            bodies.append(batch_body(group, split_entries=True))
    return bodies, len(again)


# --- the service under gunicorn ------------------------------------------------------------


@pytest.fixture
def service(tmp_path):
    """gunicorn with four workers over a fresh SQLite file; yields (base URL, master pid, Meta, stand-in)."""
    observed = Observed()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    meta = Meta(base, observed)
    log_path = tmp_path / "gunicorn.log"
    with GraphStandIn(meta) as graph, open(log_path, "w") as log:
        env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(WORKERS),
            "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"),
            "MEDIA_DIR": str(tmp_path / "media"),
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "soak-verify-token",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": "soak-access-token",
            "WHATSAPP_API_URL": graph.url,
            "WHATSAPP_MEDIA_FROM_API_URL": "true",
            "WHATSAPP_SEND_READ_RECEIPTS": "false",
            "MEDIA_AUTO_DOWNLOAD": "false",
            "AGENT_API_KEY": AGENT_KEY,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_ready(base, process)
            yield base, process.pid, meta, graph, observed, log_path
        finally:
            stop(process)


def wait_until_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited during start-up"
        try:
            if api(base, "get", "/health").status_code == 200 and len(child_pids(process.pid)) == WORKERS:
                return
        except requests.exceptions.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start within 30 seconds")


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn and its workers: the whole process group, SIGTERM then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def api(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {AGENT_KEY}", **kwargs.pop("headers", {})}
    return session().request(method, f"{base}/api/whatsapp{path}", headers=headers, timeout=30, **kwargs)


def run_parallel(tasks: list, threads: int = CLIENT_THREADS, on_progress=None) -> list:
    results = []
    deadline = time.monotonic() + PHASE_DEADLINE
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(task) for task in tasks]
        for done, future in enumerate(as_completed(futures, timeout=PHASE_DEADLINE), start=1):
            results.append(future.result(timeout=max(1.0, deadline - time.monotonic())))
            if on_progress:
                on_progress(done)
    return results


# --- the test ------------------------------------------------------------------------------


def test_nothing_is_lost_or_counted_twice_under_load_duplicates_and_a_killed_worker(service):
    base, master, meta, graph, observed, log_path = service
    rng = random.Random(SEED)

    # 1. New customers whose first messages arrive at the same instant on several connections.
    racers = customers(rng, 30, "7")
    race_messages: dict[str, list[Inbound]] = {}
    for person in racers:
        race_messages[person.wa_id] = [
            Inbound(person, f"wamid.SOAKRACE{person.wa_id}.{n}==", f"first message {n}", int(time.time()) - 30)
            for n in range(4)
        ]
        barrier = threading.Barrier(4, timeout=30)

        def first(message: Inbound, barrier=barrier) -> bool:
            barrier.wait()
            return meta.deliver(batch_body([message]))

        assert all(run_parallel([lambda m=m: first(m) for m in race_messages[person.wa_id]], threads=4))

    # 2. Agents send to a third of those customers; for some, Meta's status beats its own answer.
    conversation_of = {c["phone_number"]: c["id"] for c in all_conversations(base)}
    targets = racers[::3]
    for index, person in enumerate(targets):
        if index % 3 == 0:
            graph.early[person.phone] = "callback"
        elif index % 3 == 1:
            graph.early[person.phone] = "wamid"

    def agent_send(person: Customer, n: int) -> dict:
        key = f"soak-{person.wa_id}-{n}"
        body = {"conversation_id": conversation_of[person.phone], "message": f"reply {n} 👋", "agent_id": 3}
        answers = [api(base, "post", "/send", json=body, headers={"Idempotency-Key": key}) for _ in range(2)]
        for answer in answers:
            observed.answer(answer.status_code, answer.text)
        first, repeat = (a.json() for a in answers)
        assert answers[0].status_code == 200, first
        assert repeat["message_id"] == first["message_id"] and repeat.get("idempotent_replay") is True
        return {"person": person, "wamid": first["message_id"], "id": first["message"]["id"]}

    sends = run_parallel([lambda p=p, n=n: agent_send(p, n) for p in targets for n in range(2)], threads=4)
    assert len(graph.sends) == len(sends), "a repeated Idempotency-Key reached Meta"

    # 3. Everything else at once: the customers' messages (a quarter of them again), and every
    #    send's statuses up to its highest, shuffled and partly duplicated. A worker dies midway.
    regulars = customers(rng, 100, "8")
    messages = inbound_messages(rng, regulars, 5, 18)
    bodies, duplicated = plan_deliveries(rng, messages)
    highest: dict[str, str] = {}
    callback_of = {s["wamid"]: s["biz_opaque_callback_data"] for s in graph.sends}
    for sent in sends:
        top = rng.choice(["delivered", "read"])
        highest[sent["wamid"]] = top
        ladder = ["sent", "delivered", "read"][: ["sent", "delivered", "read"].index(top) + 1]
        for status in ladder + rng.sample(ladder, rng.randint(0, len(ladder))):
            # Meta echoes our local id on every status; half of them here go without it.
            callback = callback_of[sent["wamid"]] if rng.random() < 0.5 else None
            bodies.append(status_body(sent["wamid"], status, sent["person"].wa_id, callback))
    rng.shuffle(bodies)
    race_total = sum(len(v) for v in race_messages.values())
    assert len(bodies) + race_total > 1000 and duplicated >= len(messages) // 4

    killed: list[int] = []

    def kill_one_worker(done: int) -> None:
        if not killed and done >= len(bodies) * 2 // 5:
            victim = rng.choice(child_pids(master))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    acknowledged = run_parallel([lambda b=b: meta.deliver(b) for b in bodies], on_progress=kill_one_worker)
    assert killed, "no worker was killed"
    assert all(acknowledged), f"{len(observed.unacknowledged)} deliveries never answered 200"
    wait_for_workers(master, killed[0])

    # 4. Through the API: every message once, counters exact, statuses at the top, one thread each.
    conversations = all_conversations(base)
    by_phone = Counter(c["phone_number"] for c in conversations)
    assert len(conversations) == len(racers) + len(regulars)
    assert {p for p, n in by_phone.items() if n > 1} == set()

    expected: dict[str, list[Inbound]] = defaultdict(list)
    for message in messages:
        expected[message.customer.phone].append(message)
    for person in racers:
        expected[person.phone].extend(race_messages[person.wa_id])
    outbound_of: dict[str, list[dict]] = defaultdict(list)
    for conv in conversations:
        thread = api(base, "get", "/messages", params={"conversation_id": conv["id"], "limit": 500}).json()
        inbound = [m for m in thread["messages"] if m["direction"] == "inbound"]
        wanted = expected[conv["phone_number"]]
        assert sorted(m["whatsapp_message_id"] for m in inbound) == sorted(m.wamid for m in wanted)
        assert {m["whatsapp_message_id"]: m["text"] for m in inbound} == {m.wamid: m.body for m in wanted}
        assert conv["unread_count"] == len(wanted)
        outbound_of[conv["phone_number"]] += [m for m in thread["messages"] if m["direction"] == "outbound"]

    for sent in sends:
        mine = [m for m in outbound_of[sent["person"].phone] if m["whatsapp_message_id"] == sent["wamid"]]
        assert len(mine) == 1 and mine[0]["id"] == sent["id"]
        assert mine[0]["status"] == highest[sent["wamid"]], (sent["wamid"], mine[0])
    assert sum(len(v) for v in outbound_of.values()) == len(sends)
    assert graph.early_statuses, "no status beat its send's answer"

    health = api(base, "get", "/health").json()["health"]
    assert health["parked_statuses"] == 0
    assert set(health["deliveries"]) == {"processed"}
    # Every 200 stands for a journaled delivery (more rows: a worker died after a commit, before its answer).
    assert health["deliveries"]["processed"] >= observed.webhooks_acknowledged
    stats = api(base, "get", "/stats").json()["stats"]
    assert stats["total_conversations"] == stats["unread_conversations"] == len(conversations)

    # The event log (the dashboard's live updates) announced each stored message exactly once.
    created = Counter(e["message_id"] for e in all_events(base) if e["kind"] == "message.created")
    assert set(created.values()) == {1}
    assert len(created) == sum(len(v) for v in expected.values()) + len(sends)

    # 5. No client ever saw a 5xx or "database is locked"; the log agrees.
    assert observed.bad_answers == []
    assert set(observed.statuses) == {200}
    log = log_path.read_text()
    assert "database is locked" not in log and "Unhandled error" not in log and "Traceback" not in log
    assert APP_SECRET not in log and AGENT_KEY not in log and "soak-verify-token" not in log


def all_conversations(base: str) -> list[dict]:
    found: list[dict] = []
    for page in range(20):
        answer = api(base, "get", "/conversations", params={"limit": 200, "offset": page * 200}).json()
        found += answer["conversations"]
        if len(found) >= answer["total"]:
            return found
    raise AssertionError("more conversations than expected")


def all_events(base: str) -> list[dict]:
    found: list[dict] = []
    after = 0
    for _ in range(200):
        page = api(base, "get", "/events", params={"after": after, "limit": 500}).json()
        found += page["events"]
        if not page["events"]:
            return found
        after = page["next_after"]
    raise AssertionError("the event log did not end")


def wait_for_workers(master: int, killed: int) -> None:
    """gunicorn's master replaces the killed worker."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = child_pids(master)
        if len(workers) == WORKERS and killed not in workers:
            return
        time.sleep(0.2)
    raise AssertionError(f"the killed worker was not replaced: {child_pids(master)}")
