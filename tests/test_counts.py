"""The trigger-kept counts behind /stats and the conversation list's tabs and totals always equal
counting the conversations row by row, whatever agents and customers do, merges included."""

from __future__ import annotations

import random
import sqlite3

import pytest

from .helpers import connection_for, customer_writes, post_webhook, text_message

AGENTS = [1, 2, 3]


@pytest.fixture
def app(settings):
    from app import create_app

    return create_app({**settings, "WHATSAPP_SEND_READ_RECEIPTS": "false"})


FILTERS = [
    {},
    {"status": "open"},
    {"status": "assigned"},
    {"status": "closed"},
    {"unread_only": "true"},
    {"status": "open", "unread_only": "true"},
    *(
        {"filter": tab, "agent_id": agent}
        for tab in ("open", "all", "unread", "mine", "unassigned", "closed")
        for agent in AGENTS
    ),
    {"filter": "unread", "status": "closed"},
]


def brute_force(conn, agent_id: int) -> dict[str, dict[str, int]]:
    """What /stats and the tabs must say, counted row by row straight from the database."""

    def count(where: str, *params) -> int:
        return conn.execute(f"SELECT COUNT(*) FROM whatsapp_conversations WHERE {where}", params).fetchone()[0]

    return {
        "stats": {
            "total_conversations": count("TRUE"),
            "unread_conversations": count("unread_count > 0"),
            "open_conversations": count("status = 'open'"),
            "assigned_conversations": count("status = 'assigned'"),
            "closed_conversations": count("status = 'closed'"),
        },
        "tabs": {
            "open": count("status != 'closed'"),
            "all": count("status != 'closed'"),
            "unread": count("status != 'closed' AND unread_count > 0"),
            "mine": count("status != 'closed' AND assigned_agent_id = ?", agent_id),
            "unassigned": count("status != 'closed' AND assigned_agent_id IS NULL"),
            "closed": count("status = 'closed'"),
            "snoozed": count("status != 'closed' AND snoozed_until IS NOT NULL"),  # nothing snoozes here
        },
    }


def total_by_rows(conn, query: dict) -> int:
    """The total for a filter, by paging through the whole list."""
    clauses, params = [], []
    if "status" in query:
        clauses.append("status = ?")
        params.append(query["status"])
    if query.get("unread_only"):
        clauses.append("unread_count > 0")
    tab = query.get("filter")
    if tab == "closed":
        clauses.append("status = 'closed'")
    elif tab:
        clauses.append("status != 'closed'")
        if tab == "mine":
            clauses.append("assigned_agent_id = ?")
            params.append(int(query["agent_id"]))
        else:
            tabs = {
                "open": "TRUE",
                "all": "TRUE",
                "unread": "unread_count > 0",
                "unassigned": "assigned_agent_id IS NULL",
            }
            clauses.append(tabs[tab])
    where = " AND ".join(clauses) or "TRUE"
    return conn.execute(f"SELECT COUNT(*) FROM whatsapp_conversations WHERE {where}", params).fetchone()[0]


def random_step(client, rng: random.Random, phones: list[str]) -> None:
    conversations = client.get("/api/whatsapp/conversations?limit=200").get_json()["conversations"]
    action = rng.choice(["write", "write", "read", "assign", "unassign", "close", "reopen", "join"])
    if action == "write" or not conversations:
        customer_writes(client, "hello again", wa_id=rng.choice(phones), name=None)
        return
    target = {"conversation_id": rng.choice(conversations)["id"]}
    if action == "read":
        client.post("/api/whatsapp/mark-read", json=target)
    elif action == "assign":
        client.post("/api/whatsapp/assign-agent", json={**target, "agent_id": rng.choice(AGENTS)})
    elif action in ("unassign", "close", "reopen"):
        client.post(f"/api/whatsapp/{action}", json=target)
    else:  # a customer known by a user id only writes, then a delivery with both ids joins the threads
        phone = rng.choice(phones)
        user_id = f"US.{rng.randrange(10**12)}"
        post_webhook(client, text_message("by user id", wa_id=None, user_id=user_id))
        post_webhook(client, text_message("both", wa_id=phone, user_id=user_id))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stats_tabs_and_totals_equal_counting_every_row(client, settings, seed):
    rng = random.Random(seed)
    phones = [f"1415555{n:04d}" for n in range(8)]
    statuses_seen: set[str] = set()
    with connection_for(settings) as conn:
        for step in range(60):
            random_step(client, rng, phones)
            if step % 10 != 9:
                continue
            agent = rng.choice(AGENTS)
            expected = brute_force(conn, agent)
            statuses_seen.update(r[0] for r in conn.execute("SELECT status FROM whatsapp_conversations"))
            stats = client.get("/api/whatsapp/stats").get_json()["stats"]
            assert {key: stats[key] for key in expected["stats"]} == expected["stats"]
            listing = client.get(f"/api/whatsapp/conversations?agent_id={agent}").get_json()
            assert listing["counts"] == expected["tabs"]
            for query in FILTERS:
                answer = client.get("/api/whatsapp/conversations", query_string=query).get_json()
                assert answer["total"] == total_by_rows(conn, query), query
        assert statuses_seen == {"open", "assigned", "closed"}  # the run did what it meant to
        assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'conversation.merged'").fetchone()[0] > 0


@pytest.mark.sqlite_only  # an SQLite file from before the counts tables (its backup, user_version, migrations)
def test_counts_are_rebuilt_from_the_rows_for_a_database_that_predates_them(settings, tmp_path):
    """A database from before the counts tables gets them filled from its rows on first use."""
    from app import create_app

    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"
    for n in range(5):
        customer_writes(client, wa_id=f"1415555{n:04d}")
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": 1, "agent_id": 2})
    client.post("/api/whatsapp/close", json={"conversation_id": 2})
    path = settings["DATABASE_PATH"]
    before = client.get("/api/whatsapp/stats").get_json()["stats"]
    copy = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("DROP TABLE conversation_counts")
        target.execute("DROP TABLE agent_conversation_counts")
        target.execute("PRAGMA user_version = 0")  # as a database from before those tables would say
    old = create_app({**settings, "DATABASE_PATH": str(copy)}).test_client()
    old.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"
    assert old.get("/api/whatsapp/stats").get_json()["stats"] == before
    assert old.get("/api/whatsapp/conversations?filter=mine&agent_id=2").get_json()["total"] == 1
