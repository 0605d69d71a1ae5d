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
