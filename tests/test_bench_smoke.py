"""The benchmark suite in its smoke mode: tiny sizes, seconds long, so it cannot rot. It checks that
every part ran and measured something, never how fast (timings belong to BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
READS = ("conversations", "thread (newest 50)", "stats", "search")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())


def test_ingest_measured_the_baseline_and_both_durability_settings_and_stored_every_delivery(results):
    ingest = results["ingest"]
    for name in ("baseline", "durable_baseline", "full", "normal"):
        assert ingest[name]["requests"] > 0 and ingest[name]["status_errors"] == 0, ingest[name]
        assert 0 < ingest[name]["p50_ms"] <= ingest[name]["p99_ms"]
    for name in ("full", "normal"):
        assert ingest[name]["stored"] >= ingest[name]["requests"]  # every 200 is a stored message
    assert ingest["every_delivery_stored"] is True
    assert ingest["ratio_full_to_baseline"] == pytest.approx(
        ingest["full"]["per_second"] / ingest["baseline"]["per_second"], rel=0.01
    )


def test_ingest_measured_the_pywa_peer_beside_the_service_and_both_stored_every_delivery(results):
    peer = results["ingest"]["pywa_peer"]
    assert set(peer) == {"16", "64"}
    for connections, entry in peer.items():
        for name in ("service", "pywa"):
            assert len(entry[name]["runs"]) == entry["repeats"] >= 1
            for run in entry[name]["runs"]:
                assert run["requests"] > 0 and run["status_errors"] == 0, run
                # every 200 counted back from the app's own file (in-flight requests are stored too)
                assert run["requests"] <= run["stored"] <= run["requests"] + int(connections), run
                assert 0 < run["p50_ms"] <= run["p99_ms"]
        assert entry["every_delivery_stored"] is True
        assert entry["ratio_service_to_pywa"] == pytest.approx(
            entry["service"]["runs"][0]["per_second"] / entry["pywa"]["runs"][0]["per_second"], rel=0.01
        )


def test_ingest_measured_one_worker_against_two_and_stored_every_delivery(results):
    scaling = results["ingest"]["workers_scaling"]
    for workers in ("workers_1", "workers_2"):
        assert len(scaling[workers]["runs"]) == scaling["repeats"] >= 1
        for run in scaling[workers]["runs"]:
            assert run["requests"] > 0 and run["status_errors"] == 0, run
            assert run["requests"] <= run["stored"] <= run["requests"] + scaling["connections"], run
    assert scaling["every_delivery_stored"] is True
    assert scaling["ratio_2_to_1"] == pytest.approx(
        scaling["workers_2"]["runs"][0]["per_second"] / scaling["workers_1"]["runs"][0]["per_second"], rel=0.01
    )


def test_reads_ran_at_both_sizes_through_the_service(results):
    reads = results["reads"]
    assert reads["large"]["messages"] > 5 * reads["small"]["messages"] > 0
    assert reads["large"]["conversations"] > reads["small"]["conversations"]
    for size in ("small", "large"):
        assert set(reads[size]["reads"]) == set(READS)
        for figures in reads[size]["reads"].values():
            assert 0 < figures["p50_ms"] <= figures["p99_ms"]
        assert reads[size]["worker_rss_kib_after_reads"] > 0
    assert set(reads["p50_ratio_large_to_small"]) == set(READS)


def test_reads_were_measured_interleaved_by_one_client_and_by_concurrent_clients(results):
    reads = results["reads"]
    for mode in ("sequential", "concurrent"):
        ratios = reads[mode]["p50_ratio_large_to_small"]
        assert set(ratios) == set(READS)
        for ratio in ratios.values():
            assert len(ratio["rounds"]) == reads["rounds"] >= 2  # one ratio per interleaved round
            assert 0 < ratio["range"][0] <= ratio["median"] <= ratio["range"][1]
    assert reads["concurrent"]["clients"] > 1
    assert set(reads["concurrent"]["throughput_ratio_large_to_small"]) == set(READS)
    for size in ("small", "large"):
        assert set(reads[size]["concurrent_reads"]) == set(READS)
        for figures in reads[size]["concurrent_reads"].values():
            assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["per_second"] > 0
    assert reads["p50_ratio_large_to_small"] == {
        name: ratio["median"] for name, ratio in reads["sequential"]["p50_ratio_large_to_small"].items()
    }


def test_storage_is_reported_per_table_and_index_in_bytes_a_message(results):
    storage = results["storage"]
    inbox, webhook = storage["inbox"], storage["through_webhook"]
    assert inbox["messages"] == results["reads"]["large"]["messages"]
    for measured in (inbox, webhook):
        tables = measured["tables"]
        assert {"whatsapp_messages", "events", "messages_fts", "whatsapp_conversations"} <= set(tables)
        used = sum(t["bytes"] for t in tables.values())
        assert measured["bytes_per_message"] == pytest.approx(used / measured["messages"], abs=0.1)
        assert used <= measured["file_bytes"]
        for table in tables.values():
            assert table["bytes"] == sum(o["bytes"] for o in table["objects"].values())
        assert "idx_messages_thread" in tables["whatsapp_messages"]["objects"]
        assert measured["raw_json_bytes_per_message"] > 0
    # Through the webhook each body is journaled too (raw_json is stored twice until the journal is pruned).
    assert webhook["tables"]["webhook_deliveries"]["bytes_per_message"] > 0
    assert webhook["journal_body_bytes_per_message"] > 0 and inbox["journal_body_bytes_per_message"] == 0
    events = storage["events"]
    assert events["per_message"] > 0 and events["bytes_per_event"] > 0
    assert 0 < events["bytes_kept_at_retention"]


def test_every_read_has_its_query_plans_and_none_scans_a_whole_table(results):
    plans = results["query_plans"]
    assert set(plans) == {*READS, "search by number", "health"}
    for name, statements in plans.items():
        assert statements, name
        assert all(s["plan"] for s in statements)
    assert results["full_scans"] == {}


def test_the_dashboard_streams_benchmark_runs():
    run = subprocess.run(
        [sys.executable, "-m", "bench.dashboard_streams", "--streams", "3", "--deliveries", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3 streams" in run.stderr and "seen by all 3 streams" in run.stderr
