"""Agent reads at scale: the same four calls against an inbox of 10 thousand and of 1 million messages.

The data is written by the service's own code (webhook payloads through `parse_delivery` and
`store.apply_delivery`, agents' replies through `store.create_outbound`), at a steady 2,500 messages a
day ending now, 25 messages a conversation: a big inbox is an old one, not a busier day.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import requests

from whatsapp import db, store
from whatsapp.updates import parse_delivery, to_db_time

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


def measure(server: Gunicorn, conversation_ids: list[int], rounds: int, seed: int = 11) -> dict[str, dict]:
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    results: dict[str, dict] = {}
    for name, path in calls(rng, conversation_ids).items():
        for _ in range(20):  # every worker's thread warms its connection and SQLite's page cache
            session.get(server.base + path(), timeout=30).raise_for_status()
        times = []
        for _ in range(rounds):
            url = server.base + path()
            started = time.perf_counter()
            answer = session.get(url, timeout=30)
            times.append(time.perf_counter() - started)
            answer.raise_for_status()
        results[name] = {"p50_ms": round(median(times) * 1000, 2), "p99_ms": round(percentile(times, 99) * 1000, 2)}
    return results


def run_size(workdir: Path, messages: int, rounds: int) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sizes = generate(workdir / "inbox.sqlite3", messages)
    generated = time.perf_counter() - started
    log.info(
        "generated %s messages in %s conversations in %.0f s",
        f"{sizes['messages']:,}",
        f"{sizes['conversations']:,}",
        generated,
    )
    with sqlite3.connect(workdir / "inbox.sqlite3") as conn:
        conversation_ids = [r[0] for r in conn.execute("SELECT conversation_id FROM whatsapp_conversations")]
    with Gunicorn("wsgi:app", workdir) as server:
        rss_before = server.worker_rss_kib()
        reads = measure(server, conversation_ids, rounds)
        rss_after = server.worker_rss_kib()
    for name, figures in reads.items():
        log.info("  %-20s p50 %6.2f ms   p99 %6.2f ms", name, figures["p50_ms"], figures["p99_ms"])
    log.info("  worker RSS after the reads: max %d KiB", max(rss_after))
    return {
        **sizes,
        "generate_seconds": round(generated, 1),
        "reads": reads,
        "worker_rss_kib_start": max(rss_before),
        "worker_rss_kib_after_reads": max(rss_after),
    }


def run(workdir: Path, *, small: int = 10_000, large: int = 1_000_000, rounds: int = 300) -> dict[str, Any]:
    small_run = run_size(workdir / "small", small, rounds)
    large_run = run_size(workdir / "large", large, rounds)
    ratios = {
        name: round(large_run["reads"][name]["p50_ms"] / small_run["reads"][name]["p50_ms"], 2)
        for name in small_run["reads"]
    }
    return {
        "small": small_run,
        "large": large_run,
        "p50_ratio_large_to_small": ratios,
        "rss_ratio_large_to_small": round(
            large_run["worker_rss_kib_after_reads"] / small_run["worker_rss_kib_after_reads"], 2
        ),
    }
