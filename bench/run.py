"""The benchmark suite, one command: `python -m bench.run` (add --smoke for a seconds-long check).

1. Webhook ingest through gunicorn against a baseline app under the same settings (wrk, pre-signed),
   against a second baseline that commits each body to SQLite before answering, and against the
   pywa peer (what a developer would build with pywa), interleaved in repeats at 16 and 64 connections.
2. Agent reads (p50/p99) with 10 thousand and with 1 million messages, both served at once and
   measured interleaved (each round one size then the other), by one client and by 20 concurrent
   clients: their ratios, worker memory, and the query plan of every statement those reads run.
3. The durability cost: synchronous=FULL against NORMAL.
4. Storage: bytes per message of each table and index (dbstat), at a million messages and through
   the webhook (journal included). `--reads-only` runs 2 and 4 only.

Prints a summary and writes every figure to bench/results.json (BENCHMARKS.md explains them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from . import ingest, plans, reads
from .common import KEY, ROOT

log = logging.getLogger("bench")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk[0] if wrk else "?",
        "workers": int(os.environ.get("WEB_CONCURRENCY", "4")),
        "threads": int(os.environ.get("GUNICORN_THREADS", "32")),
    }


def query_plans(database: Path, conversation_id: int) -> dict[str, Any]:
    from app import create_app

    app = create_app({"DATABASE_PATH": str(database), "AGENT_API_KEY": KEY, "MEDIA_AUTO_DOWNLOAD": "false"})
    paths = {
        "conversations": "/api/whatsapp/conversations",
        "thread (newest 50)": f"/api/whatsapp/messages?conversation_id={conversation_id}",
        "stats": "/api/whatsapp/stats",
        "search": "/api/whatsapp/conversations?q=refund",
        "search by number": "/api/whatsapp/conversations?q=0000012",
        "health": "/api/whatsapp/health",
    }
    return plans.explain(app, database, paths, KEY)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and runs: proves the suite works")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    parser.add_argument("--ingest-only", action="store_true", help="only the ingest part (about 5 minutes)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats against the pywa peer (3; smoke 1)")
    parser.add_argument("--reads-only", action="store_true", help="only the reads and storage part")
    parser.add_argument(
        "--reads-data",
        type=Path,
        help="generate the reads' inboxes in this folder, and reuse them when an earlier run left them there",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="wa-bench-"))
    sizes = (
        {
            "small": 1_000,
            "large": 10_000,
            "rounds": 2,
            "requests_per_round": 5,
            "clients": 4,
            "requests_per_client": 2,
            "webhook_deliveries": 200,
        }
        if args.smoke
        else {
            "small": 10_000,
            "large": 1_000_000,
            "rounds": 10,
            "requests_per_round": 30,
            "clients": 20,
            "requests_per_client": 10,
            "webhook_deliveries": 5_000,
        }
    )
    try:
        results: dict[str, Any] = {"machine": machine(), "smoke": args.smoke}
        if not args.reads_only:
            log.info("== ingest")
            results["ingest"] = ingest.run(
                workdir / "ingest",
                seconds=2 if args.smoke else 10,
                bodies=5_000 if args.smoke else 60_000,
                repeats=args.repeats or (1 if args.smoke else 3),
            )
        if args.ingest_only:
            summary(results)
            args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            log.info("figures written to %s", args.out)
            return results
        log.info("== reads")
        reads_dir = args.reads_data or workdir / "reads"
        results["reads"] = reads.run(reads_dir, **sizes)
        results["storage"] = results["reads"].pop("storage")
        large = reads_dir / "large" / "inbox.sqlite3"
        with sqlite3.connect(large) as conn:
            busiest = conn.execute(
                "SELECT conversation_id FROM whatsapp_messages GROUP BY conversation_id ORDER BY COUNT(*) DESC LIMIT 1"
            ).fetchone()[0]
        results["query_plans"] = query_plans(large, busiest)
        scans = {name: [s for s in stmts if s["full_scans"]] for name, stmts in results["query_plans"].items()}
        results["full_scans"] = {name: found for name, found in scans.items() if found}
        summary(results)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log.info("figures written to %s", args.out)
        return results
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def summary(results: dict[str, Any]) -> None:
    log.info("== summary")
    if "ingest" in results:
        summary_ingest(results["ingest"])
    if "reads" in results:
        summary_reads(results)


def summary_ingest(i: dict[str, Any]) -> None:
    log.info(
        "ingest: baseline %.0f/s, wa-inbox FULL %.0f/s (ratio %.2f), NORMAL %.0f/s (ratio %.2f); "
        "FULL/NORMAL %.2f; durable baseline %.0f/s (FULL's ratio to it %.2f); every delivery stored: %s",
        i["baseline"]["per_second"],
        i["full"]["per_second"],
        i["ratio_full_to_baseline"],
        i["normal"]["per_second"],
        i["ratio_normal_to_baseline"],
        i["ratio_full_to_normal"],
        i["durable_baseline"]["per_second"],
        i["ratio_full_to_durable_baseline"],
        i["every_delivery_stored"],
    )
    for connections, peer in i["pywa_peer"].items():
        log.info(
            "ingest against the pywa peer, %s connections (median of %d interleaved repeats): wa-inbox %.0f/s "
            "p99 %.1f ms, pywa peer %.0f/s p99 %.1f ms; ratio wa-inbox/pywa %.2f (%.2f-%.2f); stored: %s",
            connections,
            peer["repeats"],
            peer["service"]["per_second"],
            peer["service"]["p99_ms"],
            peer["pywa"]["per_second"],
            peer["pywa"]["p99_ms"],
            peer["ratio_service_to_pywa"],
            *peer["ratio_range"],
            peer["every_delivery_stored"],
        )
    w = i["workers_scaling"]
    log.info(
        "ingest with 2 workers against 1 (%d connections): %.0f/s against %.0f/s, ratio %.2f (%.2f-%.2f)",
        w["connections"],
        w["workers_2"]["per_second"],
        w["workers_1"]["per_second"],
        w["ratio_2_to_1"],
        *w["ratio_range"],
    )


def summary_reads(results: dict[str, Any]) -> None:
    r = results["reads"]
    sequential, concurrent = r["sequential"], r["concurrent"]
    for name in r["p50_ratio_large_to_small"]:
        seq, con = sequential["p50_ratio_large_to_small"][name], concurrent["p50_ratio_large_to_small"][name]
        log.info(
            "reads %-20s p50 %6.2f ms -> %6.2f ms (x%.2f, %.2f-%.2f); %d clients p50 %6.2f -> %6.2f ms p99 %6.2f -> "
            "%6.2f ms (x%.2f, %.2f-%.2f), %d/s -> %d/s (x%.2f)",
            name,
            r["small"]["reads"][name]["p50_ms"],
            r["large"]["reads"][name]["p50_ms"],
            seq["median"],
            *seq["range"],
            concurrent["clients"],
            r["small"]["concurrent_reads"][name]["p50_ms"],
            r["large"]["concurrent_reads"][name]["p50_ms"],
            r["small"]["concurrent_reads"][name]["p99_ms"],
            r["large"]["concurrent_reads"][name]["p99_ms"],
            con["median"],
            *con["range"],
            r["small"]["concurrent_reads"][name]["per_second"],
            r["large"]["concurrent_reads"][name]["per_second"],
            concurrent["throughput_ratio_large_to_small"][name]["median"],
        )
    log.info(
        "worker RSS: %d KiB -> %d KiB (x%.2f)",
        r["small"]["worker_rss_kib_after_reads"],
        r["large"]["worker_rss_kib_after_reads"],
        r["rss_ratio_large_to_small"],
    )
    log.info("full scans in the reads' query plans: %s", results["full_scans"] or "none")
    st = results["storage"]
    log.info(
        "storage: %.0f bytes a message at %s messages (file %.0f MB), %.0f through the webhook (journal %.0f of "
        "them); events %.0f bytes a message unpruned, %.1f MB once pruned to %d days",
        st["inbox"]["bytes_per_message"],
        f"{st['inbox']['messages']:,}",
        st["inbox"]["file_bytes"] / 1e6,
        st["through_webhook"]["bytes_per_message"],
        st["through_webhook"]["tables"].get("webhook_deliveries", {}).get("bytes_per_message", 0),
        st["inbox"]["tables"].get("events", {}).get("bytes_per_message", 0),
        st["events"]["bytes_kept_at_retention"] / 1e6,
        st["events"]["retention_days"],
    )


if __name__ == "__main__":
    main()
