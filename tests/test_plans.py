"""bench/plans.py's test for a whole-table read, which the benchmark and the health tests rely on."""

from __future__ import annotations

import pytest

from bench.plans import full_scans

# SQLite's EXPLAIN QUERY PLAN and PRAGMA index_list on the SQLite file; PostgreSQL's plans: test_plans_postgres.py.
pytestmark = pytest.mark.sqlite_only

PARTIAL = {"idx_messages_media_due"}


def test_a_table_scan_is_a_full_scan_even_with_a_limit():
    sql = "SELECT * FROM whatsapp_messages WHERE body LIKE '%x%' LIMIT 5"
    assert full_scans(sql, ["SCAN whatsapp_messages"], PARTIAL) == ["SCAN whatsapp_messages"]


def test_an_index_walk_is_a_full_scan_unless_a_limit_stops_it_or_the_index_is_partial():
    walk = "SCAN whatsapp_conversations USING INDEX idx_conversations_activity"
    assert full_scans("SELECT * FROM whatsapp_conversations ORDER BY last_message_at", [walk]) == [walk]
    assert full_scans("SELECT * FROM whatsapp_conversations ORDER BY last_message_at LIMIT 50", [walk]) == []
    partial = "SCAN whatsapp_messages USING INDEX idx_messages_media_due"
    assert full_scans("SELECT COUNT(*) FROM whatsapp_messages WHERE media_state = 'failed'", [partial], PARTIAL) == []
    assert full_scans("SELECT COUNT(*) FROM whatsapp_messages", [partial], set()) == [partial]


def test_searches_and_small_tables_are_not_full_scans():
    lines = ["SEARCH whatsapp_messages USING INDEX idx_messages_thread (conversation_id=?)", "SCAN webhook_fields"]
    assert full_scans("SELECT 1", lines) == []


def test_stats_read_the_daily_billable_counts_by_their_key_and_no_whole_table(app, settings):
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY

    report = explain(app, Path(settings["DATABASE_PATH"]), {"stats": "/api/whatsapp/stats"}, AGENT_KEY)["stats"]
    assert all(entry["full_scans"] == [] for entry in report), report
    [billable] = [entry for entry in report if "billable_message_counts" in entry["sql"]]
    # the 30 days are a range of the primary key (day, category): ~30 x a few rows, however many messages
    assert any(line.startswith("SEARCH billable_message_counts") and "day>?" in line for line in billable["plan"]), (
        billable["plan"]
    )


def test_notes_and_mentions_are_read_through_their_indexes(app, client, settings):
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client)
    app.test_cli_runner().invoke(args=["create-agent", "Ana"])
    assert client.post("/api/whatsapp/notes", json={"conversation_id": 1, "body": "@Ana see"}).status_code == 201
    reads = {
        "notes": "/api/whatsapp/notes?conversation_id=1",
        "notes_before": "/api/whatsapp/notes?conversation_id=1&before_id=5",
        "mentions": "/api/whatsapp/mentions?agent_id=1",
        "unread_mentions": "/api/whatsapp/mentions?agent_id=1&unread_only=true&before_id=9",
    }
    report = explain(app, Path(settings["DATABASE_PATH"]), reads, AGENT_KEY)
    for name, entries in report.items():
        ours = [e for e in entries if "notes" in e["sql"] or "mentions" in e["sql"]]
        assert ours, name
        for entry in ours:
            assert entry["full_scans"] == [], entry
            scans = [line for line in entry["plan"] if line.startswith(("SCAN notes", "SCAN mentions"))]
            assert scans == [], entry


def test_the_label_filter_label_counts_and_a_pages_labels_use_indexes(app, client, settings):
    """Labels (issue 15): the list by label, its total, the labels of a page and the counts per label."""
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client)
    assert client.post("/api/whatsapp/labels", json={"name": "VIP"}).status_code == 201
    assert client.post("/api/whatsapp/add-label", json={"conversation_id": 1, "label": "VIP"}).status_code == 200
    reads = {
        "list": "/api/whatsapp/conversations",
        "by_label": "/api/whatsapp/conversations?label=VIP",
        "by_label_tab": "/api/whatsapp/conversations?label=1&filter=unread",
        "labels": "/api/whatsapp/labels",
    }
    report = explain(app, Path(settings["DATABASE_PATH"]), reads, AGENT_KEY)
    assert all(entry["full_scans"] == [] for entries in report.values() for entry in entries), report
    plans = {name: [line for entry in entries for line in entry["plan"]] for name, entries in report.items()}
    # a page's labels: by the conversations' keys, each label by its own
    assert any(line.startswith("SEARCH cl USING") and "(conversation_id=?)" in line for line in plans["list"]), plans[
        "list"
    ]
    # the filter walks the label's own index, never every labelled row
    for name in ("by_label", "by_label_tab"):
        assert any("idx_conversation_labels_label (label_id=?)" in line for line in plans[name]), plans[name]
        assert not any(line.startswith("SCAN conversation_labels") for line in plans[name]), plans[name]
    # the counts per label: the small label_counts table, one row a label
    counts = [e for e in report["list"] if "FROM label_counts" in e["sql"]]
    assert counts and all("whatsapp_conversations" not in e["sql"] for e in counts)


def test_a_common_label_is_listed_by_walking_the_activity_index_to_the_limit(app, client, settings, monkeypatch):
    """A label on many conversations: a page walks newest first and stops at the limit, instead of
    sorting every conversation that carries it (a rare label is driven by its own index, above)."""
    from pathlib import Path

    from bench.plans import explain
    from whatsapp.store import queries

    from .helpers import AGENT_KEY, customer_writes

    monkeypatch.setattr(queries, "LABEL_WALK_FROM", 0)
    customer_writes(client)
    assert client.post("/api/whatsapp/labels", json={"name": "VIP"}).status_code == 201
    assert client.post("/api/whatsapp/add-label", json={"conversation_id": 1, "label": "VIP"}).status_code == 200
    report = explain(
        app, Path(settings["DATABASE_PATH"]), {"by_label": "/api/whatsapp/conversations?label=1"}, AGENT_KEY
    )
    [page] = [e for e in report["by_label"] if e["sql"].startswith("SELECT * FROM whatsapp_conversations")]
    assert page["full_scans"] == [] and "LIMIT" in page["sql"]
    assert any("USING INDEX idx_conversations_" in line for line in page["plan"]), page["plan"]
    assert not any("TEMP B-TREE" in line for line in page["plan"]), page["plan"]


def test_the_contact_panel_and_canned_replies_read_by_index(app, client, settings):
    """The contact panel finds the customer's threads and groups by their phone or BSUID through indexes
    (group_participants has one on each), and the canned replies read only their own small table."""
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client, user_id="US.13491208655302741918")
    client.put("/api/whatsapp/contact/attributes", json={"conversation_id": 1, "key": "plan", "value": "gold"})
    client.post("/api/whatsapp/canned-replies", json={"code": "hi", "title": "Hi", "body": "Hello"})
    paths = {
        "contact": "/api/whatsapp/contact?conversation_id=1",
        "attributes": "/api/whatsapp/contact/attributes?phone_number=%2B14155550123",
        "canned": "/api/whatsapp/canned-replies?q=hel",
    }
    report = explain(app, Path(settings["DATABASE_PATH"]), paths, AGENT_KEY)
    for name, entries in report.items():
        assert all(entry["full_scans"] == [] for entry in entries), (name, entries)
    lines = [line for entry in report["contact"] for line in entry["plan"]]
    assert not [line for line in lines if line.startswith("SCAN group_participants")], lines
    assert not [line for line in lines if line.startswith("SCAN conversation_attributes")], lines
    assert any("idx_participants_phone" in line for line in lines), lines
    assert any("idx_participants_user" in line for line in lines), lines
    canned = [entry["sql"] for entry in report["canned"]]
    assert any("FROM canned_replies" in sql for sql in canned) and not any("whatsapp_" in sql for sql in canned)


def test_the_snoozed_tab_and_the_open_tabs_without_snoozed_ones_read_by_index(app, settings, client):
    """Issue 15: the open tabs leave snoozed conversations out and the tab counts subtract them; both read
    only the conversations snoozed right now (a range of the partial idx_conversations_snoozed)."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client)
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post("/api/whatsapp/snooze", json={"conversation_id": 1, "until": until}).status_code == 200
    reads = {tab: f"/api/whatsapp/conversations?filter={tab}&agent_id=1" for tab in ("all", "unread", "snoozed")}
    report = explain(app, Path(settings["DATABASE_PATH"]), reads, AGENT_KEY)
    for tab, entries in report.items():
        assert all(entry["full_scans"] == [] for entry in entries), (tab, entries)
    snoozed = [e for e in report["snoozed"] if "snoozed_until >" in e["sql"]]
    assert len(snoozed) >= 2  # the page, and the counts the tabs subtract
    for entry in snoozed:
        assert any("idx_conversations_snoozed (snoozed_until>?)" in line for line in entry["plan"]), entry


def test_routing_reads_the_waiting_conversations_by_their_partial_index(app, client, settings, monkeypatch):
    """Issue 16: a heartbeat drains the waiting conversations (open, nobody assigned) oldest first: a walk of
    the partial idx_conversations_waiting that the LIMIT (the room agents have) stops; the candidates are
    read from the small presence, agents, counts and turns tables by their keys."""
    from pathlib import Path

    from bench.plans import full_scans, partial_indexes, plan
    from whatsapp import db

    from .helpers import agent_key, bearer, customer_writes

    key = agent_key(app.test_cli_runner(), "Ana")
    assert client.put("/api/whatsapp/routing", json={"mode": "least_loaded", "capacity": 0}).status_code == 200
    customer_writes(client)  # waits: nobody has room
    assert client.put("/api/whatsapp/routing", json={"mode": "least_loaded"}).status_code == 200
    seen: list[str] = []
    with db.database(app).tracing(seen.append):
        assert app.test_client().post("/api/whatsapp/presence", headers=bearer(key)).status_code == 200
        assert app.test_client().get("/api/whatsapp/presence", headers=bearer(key)).status_code == 200
    database = Path(settings["DATABASE_PATH"])
    partial = partial_indexes(database)
    ours = [s for s in seen if "agent_presence" in s or "assigned_agent_id IS NULL" in s and s.startswith("SELECT")]
    assert len(ours) >= 3, seen
    for sql in ours:
        lines = plan(database, sql)
        assert full_scans(sql, lines, partial) == [], (sql, lines)
    [waiting] = [s for s in ours if "ORDER BY last_inbound_at" in s]
    assert any("idx_conversations_waiting" in line for line in plan(database, waiting)), plan(database, waiting)


def test_the_automatic_reply_worker_reads_its_queue_by_index(app, client, settings):
    """Issue 16: the worker's sweep reads only the queue's unsent rows, through (state, message_id)."""
    from pathlib import Path

    from bench.plans import partial_indexes, plan

    database = Path(settings["DATABASE_PATH"])
    client.get("/api/whatsapp/away-reply")  # the schema exists
    for sql in (
        "SELECT message_id FROM away_reply_queue WHERE state = 'queued' ORDER BY message_id LIMIT 50",
        "SELECT message_id FROM away_reply_queue WHERE state = 'sending' AND claimed_at < '2026-01-01' "
        "ORDER BY message_id LIMIT 50",
    ):
        lines = plan(database, sql)
        assert full_scans(sql, lines, partial_indexes(database)) == [], lines
        assert any("idx_away_reply_queue_state" in line for line in lines), lines


def test_typing_and_activity_read_by_index(app, client, settings):
    """POST /typing (the customer's latest message, a reply after it, the claim) and GET /activity."""
    from pathlib import Path

    from bench.plans import explain, full_scans, partial_indexes, plan
    from whatsapp import db

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client)
    client.post("/api/whatsapp/activity", json={"conversation_id": 1, "state": "viewing", "agent_id": 1})
    database = Path(settings["DATABASE_PATH"])
    report = explain(app, database, {"activity": "/api/whatsapp/activity?conversation_id=1"}, AGENT_KEY)
    [ours] = [e for e in report["activity"] if "conversation_activity" in e["sql"]]
    assert ours["full_scans"] == [] and any("SEARCH a USING" in line for line in ours["plan"]), ours

    seen: list[str] = []
    with db.database(app).tracing(seen.append):
        assert (
            app.test_client()
            .post("/api/whatsapp/typing", json={"conversation_id": 1}, headers={"Authorization": f"Bearer {AGENT_KEY}"})
            .status_code
            == 200
        )
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and ("typing" in s or "direction" in s)]
    assert len(reads) >= 3, seen  # latest inbound, answered, the claim
    partial = partial_indexes(database)
    for sql in reads:
        lines = plan(database, sql)
        assert full_scans(sql, lines, partial) == [], (sql, lines)
        assert not any(line.startswith("SCAN") for line in lines), (sql, lines)


def test_reports_and_the_due_times_read_their_small_tables_by_index(app, client, settings):
    """Reports (issue 16): the period's waits and resolutions by their time indexes, the daily counts by
    their key's range, a page's due times through the open-wait index; never whatsapp_messages."""
    from pathlib import Path

    from bench.plans import explain

    from .helpers import AGENT_KEY, customer_writes

    customer_writes(client)
    assert client.put("/api/whatsapp/response-target", json={"minutes": 15}).status_code == 200
    assert client.post("/api/whatsapp/close", json={"conversation_id": 1}).status_code == 200
    reads = {
        "by_day": "/api/whatsapp/reports?from=2026-01-01&to=2026-12-31",
        "by_agent": "/api/whatsapp/reports?from=2026-01-01&to=2026-12-31&group_by=agent&agent_id=1",
        "csv": "/api/whatsapp/reports.csv?from=2026-01-01&to=2026-12-31",
        "list": "/api/whatsapp/conversations",
        "one": "/api/whatsapp/conversation?conversation_id=1",
    }
    report = explain(app, Path(settings["DATABASE_PATH"]), reads, AGENT_KEY)
    assert all(entry["full_scans"] == [] for entries in report.values() for entry in entries), report
    for name in ("by_day", "by_agent", "csv"):
        assert not any("whatsapp_messages" in entry["sql"] for entry in report[name]), report[name]
        plans = {entry["sql"]: entry["plan"] for entry in report[name]}
        for table, index in (
            ("FROM response_waits", "idx_response_waits_customer_at (customer_at>? AND customer_at<?)"),
            ("FROM conversation_resolutions", "idx_resolutions_closed_at (closed_at>? AND closed_at<?)"),
            ("FROM report_daily", "(day>? AND day<?)"),
        ):
            [lines] = [lines for sql, lines in plans.items() if table in sql]
            assert any(index in line for line in lines), (table, lines)
    for name in ("list", "one"):
        [due] = [entry["plan"] for entry in report[name] if "FROM response_waits" in entry["sql"]]
        assert any("idx_response_waits_open" in line for line in due), due
