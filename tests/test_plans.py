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
