"""bench/plans.py's test for a whole-table read, which the benchmark and the health tests rely on."""

from __future__ import annotations

from bench.plans import full_scans

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
