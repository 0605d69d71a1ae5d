"""PostgreSQL's plans for the agent reads (EXPLAIN (FORMAT JSON)): the list, a thread, search and the
stats read whatsapp_conversations and whatsapp_messages through their indexes, never a Seq Scan of
either. On an inbox of a few thousand rows, ANALYZEd, so that the planner chooses from real
statistics (a table of ten rows is read whole whatever its indexes). Its SQLite twin is test_plans.py
(EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from whatsapp.db import write_transaction

from .helpers import AGENT_KEY, customer_writes, statements_seen

BIG = ("whatsapp_messages", "whatsapp_conversations")
CONVERSATIONS = 20000  # fewer, and a trigram search of the numbers is cheaper as a Seq Scan: rightly
MESSAGES_EACH = 1
RARE_EVERY = 500
# Message texts, one of these by turn: "zanzibar" is in 1 message of RARE_EVERY (a rare word, as most searched are).
TEXTS = ["where is my order", "thanks a lot", "café com leite", "refund please"]
# Customer n's number: 11 digits spread as real numbers are (a run of digits is in few of them).
PHONE_BASE, PHONE_STEP, PHONE_SPAN = 10_000_000_000, 2_654_435_761, 89_999_999_999


def phone(n: int) -> str:
    return f"+{PHONE_BASE + n * PHONE_STEP % PHONE_SPAN}"


@pytest.fixture
def inbox(engine, app, client):
    """The app on an inbox of CONVERSATIONS customers with MESSAGES_EACH messages each, from 2023 to
    2025, plus one customer who wrote just now; ANALYZEd."""
    if engine == "sqlite":
        pytest.skip("PostgreSQL's plans: SQLite's are test_plans.py")
    database = app.extensions["database"]
    texts = "ARRAY[" + ",".join(f"'{t}'" for t in TEXTS) + "]"
    with database.connection() as conn:
        with write_transaction(conn):
            conn.execute(
                f"""INSERT INTO whatsapp_conversations
                     (phone_number, contact_name, contact_profile_name, last_message_at, last_message,
                      last_message_type, status, unread_count, created_at, updated_at)
                   SELECT '+' || ({PHONE_BASE} + n::bigint * {PHONE_STEP} % {PHONE_SPAN}),
                          'Customer ' || n, 'Customer ' || n,
                          to_char(timestamp '2023-01-01' + n * interval '1 hour', 'YYYY-MM-DD HH24:MI:SS'),
                          'hello', 'text', CASE WHEN n % 3 = 0 THEN 'closed' ELSE 'open' END, n % 2,
                          '2025-01-01 00:00:00', '2025-01-01 00:00:00'
                   FROM generate_series(1, ?) AS n""",
                (CONVERSATIONS,),
            )
            conn.execute(
                f"""INSERT INTO whatsapp_messages
                      (conversation_id, whatsapp_message_id, phone_number, direction, message_type,
                       message_text, status, timestamp, created_at)
                    SELECT c.conversation_id, 'wamid.FILL' || c.conversation_id || '.' || k, c.phone_number,
                           'inbound', 'text',
                           CASE WHEN (c.conversation_id * {MESSAGES_EACH} + k) % {RARE_EVERY} = 0 THEN 'zanzibar trip'
                                ELSE ({texts})[1 + (c.conversation_id + k) % {len(TEXTS)}] END,
                           'received',
                           to_char(timestamp '2023-01-01' + c.conversation_id * interval '1 hour'
                                   + k * interval '1 minute', 'YYYY-MM-DD HH24:MI:SS'),
                           '2025-01-01 00:00:00'
                    FROM whatsapp_conversations c, generate_series(1, ?) AS k""",
                (MESSAGES_EACH,),
            )
        for table in BIG:
            conn.execute(f"ANALYZE {table}")
    customer_writes(client, "Hi, is the zanzibar trip still on?", wa_id="14155550123", name="Maria Lopez")
    return app


def nodes(plan: dict[str, Any]):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def plans(app, paths: dict[str, str]) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
    """{read: [(sql, plan nodes)]} for every statement of each read on the two big tables."""
    captured: dict[str, list[str]] = {}
    with statements_seen(app) as seen:
        client = app.test_client()
        for name, path in paths.items():
            seen.clear()
            answer = client.get(path, headers={"Authorization": f"Bearer {AGENT_KEY}"})
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
            captured[name] = [s for s in seen if s.lstrip().upper().startswith("SELECT") and any(t in s for t in BIG)]
    found: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    with app.extensions["database"].connection() as conn:
        for name, statements in captured.items():
            found[name] = []
            for sql in statements:
                value = conn.execute("EXPLAIN (FORMAT JSON) " + sql).fetchone()[0]
                [document] = json.loads(value) if isinstance(value, str) else value
                found[name].append((" ".join(sql.split()), list(nodes(document["Plan"]))))
    return found


def seq_scans(plan: list[dict[str, Any]]) -> list[str]:
    return [n["Relation Name"] for n in plan if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG]


def indexes(plan: list[dict[str, Any]]) -> set[str]:
    return {n["Index Name"] for n in plan if "Index Name" in n}


def test_the_list_a_thread_search_and_stats_read_the_big_tables_by_index(inbox):
    reads = {
        "list": "/api/whatsapp/conversations",
        "unread": "/api/whatsapp/conversations?filter=unread&agent_id=1",
        "thread": "/api/whatsapp/messages?conversation_id=1500",
        "search": "/api/whatsapp/conversations?q=zanzibar",
        "search_prefix": "/api/whatsapp/conversations?q=zanzi",
        "search_name": "/api/whatsapp/conversations?q=Maria",
        "search_digits": f"/api/whatsapp/conversations?q={phone(1234)[4:11]}",
        "stats": "/api/whatsapp/stats",
    }
    report = plans(inbox, reads)
    for name, entries in report.items():
        assert entries, name  # each read touches a big table
        for sql, plan in entries:
            assert seq_scans(plan) == [], (name, sql, plan)
    used = {name: set().union(*(indexes(plan) for _, plan in entries)) for name, entries in report.items()}
    assert "idx_conversations_activity" in used["list"], report["list"]
    assert used["unread"] & {"idx_conversations_unread", "idx_conversations_activity"}, report["unread"]
    assert "idx_messages_thread" in used["thread"], report["thread"]
    assert "messages_fts" in used["search"] and "messages_fts" in used["search_prefix"], report["search"]
    assert "conversations_fts" in used["search_name"], report["search_name"]
    assert "phones_fts" in used["search_digits"], report["search_digits"]
    assert "idx_messages_timestamp" in used["stats"], report["stats"]
    # The plans are of real answers: the search finds the rare word in its few conversations, the
    # one who wrote just now first, and the number by a run of its digits.
    client = inbox.test_client()
    headers = {"Authorization": f"Bearer {AGENT_KEY}"}
    found = client.get("/api/whatsapp/conversations?q=zanzibar", headers=headers).get_json()["conversations"]
    expected = 1 + sum(
        1
        for c in range(1, CONVERSATIONS + 1)
        for k in range(1, MESSAGES_EACH + 1)
        if (c * MESSAGES_EACH + k) % RARE_EVERY == 0
    )
    assert len(found) == expected < 50  # one page
    assert found[0]["contact_name"] == "Maria Lopez" and "**zanzibar**" in found[0]["snippet"]
    digits = phone(1234)[4:11]
    by_number = client.get(f"/api/whatsapp/conversations?q={digits}", headers=headers).get_json()["conversations"]
    assert phone(1234) in [c["phone_number"] for c in by_number]
    assert all(digits in c["phone_number"] for c in by_number)


WIDE_MESSAGES = 200_000  # enough that the planner would rather walk the primary key than ask the index


@pytest.fixture
def wide_inbox(engine, app):
    """An inbox of WIDE_MESSAGES messages in 400 conversations, every one of its four texts' words in
    a quarter of the messages or more (as a busy inbox's everyday words are), ANALYZEd."""
    if engine == "sqlite":
        pytest.skip("PostgreSQL's plans: SQLite's are test_plans.py")
    texts = "ARRAY[" + ",".join(f"'{t}'" for t in TEXTS) + "]"
    with app.extensions["database"].connection() as conn:
        with write_transaction(conn):
            conn.execute(
                """INSERT INTO whatsapp_conversations (phone_number, last_message_at, created_at, updated_at)
                   SELECT '+1555' || lpad(n::text, 7, '0'), '2025-01-01 00:00:00', '2025-01-01 00:00:00',
                          '2025-01-01 00:00:00'
                   FROM generate_series(1, 400) AS n"""
            )
            conn.execute(
                f"""INSERT INTO whatsapp_messages
                      (conversation_id, whatsapp_message_id, phone_number, direction, message_type,
                       message_text, status, timestamp, created_at)
                    SELECT 1 + n % 400, 'wamid.WIDE' || n, '+1555' || lpad((1 + n % 400)::text, 7, '0'),
                           'inbound', 'text', ({texts})[1 + n % {len(TEXTS)}], 'received',
                           to_char(timestamp '2024-01-01' + n * interval '1 minute', 'YYYY-MM-DD HH24:MI:SS'),
                           '2025-01-01 00:00:00'
                    FROM generate_series(1, ?) AS n""",
                (WIDE_MESSAGES,),
            )
        for table in BIG:
            conn.execute(f"ANALYZE {table}")
    return app


@pytest.mark.slow
def test_a_word_in_no_message_is_looked_up_in_the_index_not_by_walking_every_message(wide_inbox):
    """The planner estimates a word outside its statistics at 0.5 % of the rows: with a plain ORDER BY
    message_id it walked the primary key newest first, computing every message's vector, and a word in
    no message cost a walk of the whole table (37 s at a million messages; BENCHMARKS.md)."""
    report = plans(wide_inbox, {"search": "/api/whatsapp/conversations?q=quokka"})
    searches = [(sql, plan) for sql, plan in report["search"] if "ORDER BY message_id" in sql and "@@" in sql]
    assert searches, report
    for sql, plan in searches:
        assert "messages_fts" in indexes(plan), (sql, plan)
        assert "whatsapp_messages_pkey" not in indexes(plan), (sql, plan)
    client = wide_inbox.test_client()
    answer = client.get("/api/whatsapp/conversations?q=quokka", headers={"Authorization": f"Bearer {AGENT_KEY}"})
    assert answer.get_json()["conversations"] == []
