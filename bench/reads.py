"""Agent reads at scale: the same four calls against an inbox of 10 thousand and of 1 million messages.

The data is written by the service's own code (webhook payloads through `parse_delivery` and
`store.apply_delivery`, agents' replies through `store.create_outbound`), at a steady 2,500 messages a
day ending now, 25 messages a conversation: a big inbox is an old one, not a busier day.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from whatsapp import db, store
from whatsapp.updates import parse_delivery, to_db_time

from . import storage
from .common import KEY, Gunicorn, median, percentile

log = logging.getLogger("bench.reads")

MESSAGES_PER_DAY = 2_500
MESSAGES_PER_CONVERSATION = 25
WORDS = (
    "order delivery invoice refund price size colour shipping tracking address payment card cash "
    "receipt return exchange warranty discount coupon stock available tomorrow today monday friday "
    "morning evening thanks hello please help question problem broken missing late early store "
    "branch santiago lisboa são paulo méxico bogotá madrid café niño acción canción"
).split()
RARE = "zebra quokka"  # in one message in ten thousand
SEARCHES = ("refund", "tracking", "são paulo", "quokka", "cafe")
BATCH = 100  # messages a generated delivery


def text_for(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(4, 12))
    if n % 10_000 == 7:
        words.append(RARE)
    return " ".join(words)


def generate(path: Path, messages: int, seed: int = 7) -> dict[str, int]:
    """An inbox of `messages` messages, a third of them agents' replies, through the service's code."""
    rng = random.Random(seed)
    conversations = max(1, messages // MESSAGES_PER_CONVERSATION)
    start = int(time.time()) - messages * 86_400 // MESSAGES_PER_DAY
    conn = db.connect(str(path), synchronous="OFF")
    written = 0
    while written < messages:
        count = min(BATCH, messages - written)
        items, contacts, replies = [], [], []
        for n in range(written, written + count):
            customer = rng.randrange(conversations)
            phone = f"1415{customer:07d}"
            stamp = str(start + n * 86_400 // MESSAGES_PER_DAY)
            if n % 3 == 2:
                replies.append((phone, text_for(rng, n), n, stamp))
                continue
            items.append(
                {
                    "from": phone,
                    "id": f"wamid.GEN{n:09d}",
                    "timestamp": stamp,
                    "type": "text",
                    "text": {"body": text_for(rng, n)},
                }
            )
            contacts.append({"profile": {"name": f"Customer {customer} {rng.choice(WORDS).title()}"}, "wa_id": phone})
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"phone_number_id": "1"},
                                "contacts": contacts,
                                "messages": items,
                            },
                        }
                    ],
                }
            ],
        }
        with db.write_transaction(conn):
            store.apply_delivery(conn, parse_delivery(payload))
            for phone, text, n, stamp in replies:
                row = store.find_conversation(conn, phone_number="+" + phone)
                if row is None:
                    continue
                local = store.create_outbound(
                    conn,
                    int(row["conversation_id"]),
                    message_type="text",
                    text=text,
                    agent_id=1 + n % 5,
                    local_id=store.new_local_id(),
                )
                store.mark_accepted(conn, local, f"wamid.OUT{n:09d}", phone, None)
                # Backdated: the storage code stamps a send with the current time.
                conn.execute(
                    "UPDATE whatsapp_messages SET timestamp = ? WHERE message_id = ?", (to_db_time(stamp), local)
                )
        written += count
    with db.write_transaction(conn):  # the state of a working inbox: most read, some assigned, many closed
        conn.execute(
            """UPDATE whatsapp_conversations SET last_message_at = (SELECT MAX(timestamp) FROM whatsapp_messages m
               WHERE m.conversation_id = whatsapp_conversations.conversation_id)"""
        )
        ids = [r[0] for r in conn.execute("SELECT conversation_id FROM whatsapp_conversations")]
        for cid in ids:
            roll = rng.random()
            if roll < 0.8:
                store.mark_read(conn, cid)
            if roll < 0.3:
                store.assign(conn, cid, 1 + cid % 5)
            if 0.3 <= roll < 0.7:
                store.set_status(conn, cid, "closed")
    sizes = {
        "messages": conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0],
        "conversations": conn.execute("SELECT COUNT(*) FROM whatsapp_conversations").fetchone()[0],
    }
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sizes


def calls(rng: random.Random, conversation_ids: list[int]) -> dict[str, Any]:
    """The four reads an agent's screen makes; each a function of a random generator."""
    return {
        "conversations": lambda: "/api/whatsapp/conversations",
        "thread (newest 50)": lambda: f"/api/whatsapp/messages?conversation_id={rng.choice(conversation_ids)}",
        "stats": lambda: "/api/whatsapp/stats",
        "search": lambda: f"/api/whatsapp/conversations?q={rng.choice(SEARCHES)}",
    }


def new_session() -> requests.Session:
    """A keep-alive client that sends a GET again when the server had just closed the idle connection
    it reused (gunicorn closes them after `keepalive` seconds: a race, not a failure of the read)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    retry = Retry(total=3, connect=3, read=3, status=0, backoff_factor=0, allowed_methods=["GET"])
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


RETRIED = itertools.count()  # next() of it counts a GET sent again, reported with the figures


def _get(session: requests.Session, url: str) -> float:
    """Seconds to GET url (an answer cut off by a worker restart is asked again, the time included)."""
    started = time.perf_counter()
    for attempt in range(3):
        try:
            answer = session.get(url, timeout=300)  # a starved machine is measured, not given up on
            break
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            if attempt == 2:
                raise
            next(RETRIED)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed


def _figures(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(median(times) * 1000, 2), "p99_ms": round(percentile(times, 99) * 1000, 2)}


def _spread(values: list[float]) -> dict[str, Any]:
    """The median of per-round ratios, their range, and each round's."""
    return {
        "median": round(median(values), 2),
        "range": [round(min(values), 2), round(max(values), 2)],
        "rounds": [round(v, 2) for v in values],
    }


class Clients:
    """`count` concurrent clients, each a thread with its own keep-alive session to each server."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pool = ThreadPoolExecutor(max_workers=count)
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = new_session()
        return self.local.session

    def burst(self, urls: list[list[str]]) -> tuple[list[float], float]:
        """Each client GETs its list of urls one after the other, all clients at once: every latency,
        and the wall time from the first request to the last answer."""
        started = time.perf_counter()
        jobs = [self.pool.submit(lambda mine=mine: [_get(self.session(), u) for u in mine]) for mine in urls]
        times = [t for job in jobs for t in job.result()]
        return times, time.perf_counter() - started

    def close(self) -> None:
        self.pool.shutdown()


def measure(
    servers: dict[str, Gunicorn],
    conversation_ids: dict[str, list[int]],
    *,
    rounds: int,
    requests_per_round: int,
    clients: int,
    requests_per_client: int,
    seed: int = 11,
    leave_out: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The reads against both inboxes, interleaved: in each round, each read is measured against one
    inbox and right after against the other (the order swapped every round), first by one client
    (sequentially), then by `clients` at once, so the machine's drift falls on both sizes alike.
    The reads named in `leave_out` are not measured."""
    rng = random.Random(seed)
    sizes = list(servers)
    paths = {
        size: {name: path for name, path in calls(rng, conversation_ids[size]).items() if name not in leave_out}
        for size in sizes
    }
    reads = list(paths[sizes[0]])
    session = new_session()
    pool = Clients(clients)
    sequential: dict[str, dict[str, list[float]]] = {s: {r: [] for r in reads} for s in sizes}
    concurrent: dict[str, dict[str, list[float]]] = {s: {r: [] for r in reads} for s in sizes}
    seq_p50: dict[str, dict[str, list[float]]] = {s: {r: [] for r in reads} for s in sizes}
    con_p50: dict[str, dict[str, list[float]]] = {s: {r: [] for r in reads} for s in sizes}
    con_rate: dict[str, dict[str, list[float]]] = {s: {r: [] for r in reads} for s in sizes}
    try:
        for size in sizes:  # every worker's threads warm their connections and SQLite's page cache
            for name in reads:
                urls = [[servers[size].base + paths[size][name]() for _ in range(5)] for _ in range(clients)]
                pool.burst(urls)
                for _ in range(20):
                    _get(session, servers[size].base + paths[size][name]())
        for n in range(rounds):
            order = sizes if n % 2 == 0 else sizes[::-1]
            for name in reads:
                for size in order:
                    times = [_get(session, servers[size].base + paths[size][name]()) for _ in range(requests_per_round)]
                    sequential[size][name] += times
                    seq_p50[size][name].append(median(times))
                for size in order:
                    urls = [
                        [servers[size].base + paths[size][name]() for _ in range(requests_per_client)]
                        for _ in range(clients)
                    ]
                    times, wall = pool.burst(urls)
                    concurrent[size][name] += times
                    con_p50[size][name].append(median(times))
                    con_rate[size][name].append(len(times) / wall)
    finally:
        pool.close()
    small, large = sizes
    return {
        "rounds": rounds,
        "sequential": {
            "requests_per_round": requests_per_round,
            **{size: {r: _figures(sequential[size][r]) for r in reads} for size in sizes},
            "p50_ratio_large_to_small": {
                r: _spread([b / a for a, b in zip(seq_p50[small][r], seq_p50[large][r], strict=True)]) for r in reads
            },
        },
        "concurrent": {
            "clients": clients,
            "requests_per_client": requests_per_client,
            **{
                size: {
                    r: {**_figures(concurrent[size][r]), "per_second": round(median(con_rate[size][r]))} for r in reads
                }
                for size in sizes
            },
            "p50_ratio_large_to_small": {
                r: _spread([b / a for a, b in zip(con_p50[small][r], con_p50[large][r], strict=True)]) for r in reads
            },
            "throughput_ratio_large_to_small": {
                r: _spread([b / a for a, b in zip(con_rate[small][r], con_rate[large][r], strict=True)]) for r in reads
            },
        },
    }


def prepare(workdir: Path, messages: int) -> dict[str, Any]:
    """The inbox of `messages` messages in workdir, generated unless an earlier run left it there."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "inbox.sqlite3"
    done = workdir / f"generated-{messages}.json"
    if database.exists() and done.exists():
        sizes = json.loads(done.read_text())
        log.info("reusing %s (%s messages)", database, f"{sizes['messages']:,}")
        return sizes
    for stale in workdir.glob("inbox.sqlite3*"):
        stale.unlink()
    started = time.perf_counter()
    sizes = generate(database, messages)
    sizes["generate_seconds"] = round(time.perf_counter() - started, 1)
    log.info(
        "generated %s messages in %s conversations in %.0f s",
        f"{sizes['messages']:,}",
        f"{sizes['conversations']:,}",
        sizes["generate_seconds"],
    )
    done.write_text(json.dumps(sizes))
    return sizes


def run(
    workdir: Path,
    *,
    small: int = 10_000,
    large: int = 1_000_000,
    rounds: int = 10,
    requests_per_round: int = 30,
    clients: int = 20,
    requests_per_client: int = 10,
    webhook_deliveries: int = 5_000,
) -> dict[str, Any]:
    runs = {"small": prepare(workdir / "small", small), "large": prepare(workdir / "large", large)}
    conversation_ids = {}
    for size in runs:
        with sqlite3.connect(workdir / size / "inbox.sqlite3") as conn:
            conversation_ids[size] = [r[0] for r in conn.execute("SELECT conversation_id FROM whatsapp_conversations")]
    # As deployed, but a worker is not killed when the shared machine starves it for a minute (the
    # reads never take that long; gunicorn's 60 s heartbeat timeout did fire on a loaded machine).
    patient = {"GUNICORN_TIMEOUT": "600"}
    with (
        Gunicorn("wsgi:app", workdir / "small", env=patient) as small_server,
        Gunicorn("wsgi:app", workdir / "large", env=patient) as large,
    ):
        servers = {"small": small_server, "large": large}
        rss_before = {size: max(server.worker_rss_kib()) for size, server in servers.items()}
        figures = measure(
            servers,
            conversation_ids,
            rounds=rounds,
            requests_per_round=requests_per_round,
            clients=clients,
            requests_per_client=requests_per_client,
        )
        rss_after = {size: max(server.worker_rss_kib()) for size, server in servers.items()}
    for size in runs:
        runs[size].update(
            reads=figures["sequential"][size],
            concurrent_reads=figures["concurrent"][size],
            worker_rss_kib_start=rss_before[size],
            worker_rss_kib_after_reads=rss_after[size],
        )
    seq, con = figures["sequential"], figures["concurrent"]
    for name, ratio in seq["p50_ratio_large_to_small"].items():
        log.info(
            "  %-20s sequential p50 %6.2f -> %6.2f ms (x%.2f, %.2f-%.2f)   %d clients p50 %6.2f -> %6.2f ms "
            "(x%.2f), %5d/s -> %5d/s",
            name,
            seq["small"][name]["p50_ms"],
            seq["large"][name]["p50_ms"],
            ratio["median"],
            *ratio["range"],
            clients,
            con["small"][name]["p50_ms"],
            con["large"][name]["p50_ms"],
            con["p50_ratio_large_to_small"][name]["median"],
            con["small"][name]["per_second"],
            con["large"][name]["per_second"],
        )
    log.info("  worker RSS after the reads: %d KiB at the small size, %d KiB at the large", *rss_after.values())
    return {
        **runs,
        "rounds": rounds,
        "p50_ratio_large_to_small": {name: r["median"] for name, r in seq["p50_ratio_large_to_small"].items()},
        "sequential": {k: v for k, v in seq.items() if k not in runs},
        "concurrent": {k: v for k, v in con.items() if k not in runs},
        "rss_ratio_large_to_small": round(rss_after["large"] / rss_after["small"], 2),
        "requests_sent_again": next(RETRIED),
        "storage": storage.report(workdir / "large" / "inbox.sqlite3", workdir / "webhook", webhook_deliveries),
    }
