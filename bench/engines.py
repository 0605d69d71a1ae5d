"""SQLite against PostgreSQL, measured in the same run: `python -m bench.engines [--smoke]`.

- Ingest: signed deliveries through gunicorn (wrk, each body once), each engine as deployed (SQLite:
  its writer process; PostgreSQL: every worker commits), interleaved in repeats at 16 and 64
  connections; then PostgreSQL with 1 worker and with 2. Every delivery answered 200 is counted back.
- Reads: the inboxes of bench/reads.py (10 thousand and 1 million messages) copied into PostgreSQL
  with `flask copy-to-postgres`, then the same agent reads measured against both sizes at once,
  interleaved, on PostgreSQL and then on SQLite over the same inboxes: each engine's ratio of the
  large inbox to the small one, and the two engines' times side by side.
- Ingest by size: the ingest at 16 connections into a copy of each of those inboxes, on each engine,
  interleaved: the ratio of the 1 million inbox's rate to the 10 thousand one's.

The PostgreSQL server is scripts/pg-test-server's (started if it is not up).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from . import reads
from .common import KEY, ROOT, Gunicorn, median
from .ingest import WrkResult, all_stored, measure, write_bodies

log = logging.getLogger("bench.engines")


def server_url() -> str:
    done = subprocess.run([str(ROOT / "scripts" / "pg-test-server")], capture_output=True, text=True, check=True)
    return done.stdout.strip().removeprefix("DATABASE_URL=")


def create_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'")
    return server.rsplit("/", 1)[0] + "/" + name


def _summary(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "per_second": round(median([r.per_second for r in results]), 1),
        "p50_ms": round(median([r.p50_ms for r in results]), 2),
        "p99_ms": round(median([r.p99_ms for r in results]), 2),
        "runs": [r.as_dict() for r in results],
    }


def ingest(workdir: Path, server: str, *, seconds: int, bodies: int, repeats: int) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    body_file, warmup_file = workdir / "bodies.txt", workdir / "warmup.txt"
    write_bodies(body_file, bodies, "ENG", bsuid=True)
    write_bodies(warmup_file, 5_000, "WARM", bsuid=True)
    figures: dict[str, Any] = {}
    for connections in (16, 64):
        runs: dict[str, list[WrkResult]] = {"sqlite": [], "postgresql": []}
        for repeat in range(repeats):
            for engine in ("sqlite", "postgresql") if repeat % 2 == 0 else ("postgresql", "sqlite"):
                env: dict[str, str] = {"SQLITE_SYNCHRONOUS": "FULL"}
                if engine == "postgresql":
                    env["DATABASE_URL"] = create_database(server, f"wa_bench_{secrets.token_hex(4)}")
                runs[engine].append(
                    measure(
                        f"{engine}, {connections} connections, repeat {repeat + 1}",
                        "wsgi:app",
                        workdir / f"{engine}-{connections}-{repeat}",
                        body_file,
                        warmup_file,
                        seconds=seconds,
                        connections=connections,
                        env=env,
                        count_prefix="ENG",
                    )
                )
        ratios = [p.per_second / s.per_second for s, p in zip(runs["sqlite"], runs["postgresql"], strict=True)]
        figures[str(connections)] = {
            **{engine: _summary(results) for engine, results in runs.items()},
            "ratio_postgresql_to_sqlite": round(median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "every_delivery_stored": all_stored(runs["sqlite"] + runs["postgresql"], connections),
        }
    scaling: dict[str, list[WrkResult]] = {"1": [], "2": []}
    for repeat in range(repeats):
        for workers in ("1", "2") if repeat % 2 == 0 else ("2", "1"):
            url = create_database(server, f"wa_bench_{secrets.token_hex(4)}")
            scaling[workers].append(
                measure(
                    f"postgresql, {workers} worker(s), 16 connections, repeat {repeat + 1}",
                    "wsgi:app",
                    workdir / f"pg-workers-{workers}-{repeat}",
                    body_file,
                    warmup_file,
                    seconds=seconds,
                    connections=16,
                    env={"DATABASE_URL": url, "WEB_CONCURRENCY": workers},
                    count_prefix="ENG",
                )
            )
    ratios = [two.per_second / one.per_second for one, two in zip(scaling["1"], scaling["2"], strict=True)]
    figures["postgresql_workers"] = {
        **{f"workers_{w}": _summary(results) for w, results in scaling.items()},
        "ratio_2_to_1": round(median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "every_delivery_stored": all_stored(scaling["1"] + scaling["2"], 16),
    }
    return figures


def copied(server: str, source: Path, name: str) -> str:
    """The SQLite inbox copied into PostgreSQL database `name` (reused when an earlier run copied it)."""
    import psycopg

    url = server.rsplit("/", 1)[0] + "/" + name
    marker = source.parent / f"copied-to-{name}"
    try:
        with psycopg.connect(url) as conn:
            known = conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0]
        if marker.exists() and known > 0:
            return url
    except psycopg.Error:
        pass
    url = create_database(server, name)
    env = {"DATABASE_PATH": str(source), "AGENT_API_KEY": KEY, "MEDIA_AUTO_DOWNLOAD": "false", "DATABASE_URL": ""}
    command = [sys.executable, "-m", "flask", "--app", "app", "copy-to-postgres", url]
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True)
    marker.write_text(url)
    return url


def reads_database(messages: int) -> str:
    """The name of the PostgreSQL copy of the reads inbox of this many messages."""
    return f"wa_reads_{messages}"


def reads_on_both(workdir: Path, server: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """The reads of bench/reads.py on each engine: both sizes served at once and measured interleaved
    (PostgreSQL first, then SQLite over the same inboxes)."""
    runs = {size: reads.prepare(workdir / size, sizes[size]) for size in ("small", "large")}
    urls = {size: copied(server, workdir / size / "inbox.sqlite3", reads_database(sizes[size])) for size in runs}
    conversation_ids = {}
    for size in runs:
        with sqlite3.connect(workdir / size / "inbox.sqlite3") as conn:
            conversation_ids[size] = [r[0] for r in conn.execute("SELECT conversation_id FROM whatsapp_conversations")]
    patient = {"GUNICORN_TIMEOUT": "600"}
    figures: dict[str, Any] = {"sizes": runs}
    for engine in ("postgresql", "sqlite"):
        env = {size: {**patient, "DATABASE_URL": urls[size] if engine == "postgresql" else ""} for size in runs}
        with (
            Gunicorn("wsgi:app", workdir / "small", env=env["small"]) as small,
            Gunicorn("wsgi:app", workdir / "large", env=env["large"]) as large,
        ):
            figures[engine] = reads.measure(
                {"small": small, "large": large},
                conversation_ids,
                rounds=sizes["rounds"],
                requests_per_round=sizes["requests_per_round"],
                clients=sizes["clients"],
                requests_per_client=sizes["requests_per_client"],
            )
            figures[engine]["search_once"] = search_once({"small": small, "large": large})
        for name, ratio in figures[engine]["sequential"]["p50_ratio_large_to_small"].items():
            seq = figures[engine]["sequential"]
            log.info(
                "%s %-20s p50 %6.2f -> %6.2f ms (x%.2f)",
                engine,
                name,
                seq["small"][name]["p50_ms"],
                seq["large"][name]["p50_ms"],
                ratio["median"],
            )
    return figures


def search_once(servers: dict[str, Gunicorn], timeout: float = 180) -> dict[str, dict[str, float | None]]:
    """Each search of bench/reads.py once against each size, one at a time (seconds; None past the
    timeout): the rounds mix the five words, whose costs differ on PostgreSQL (BENCHMARKS.md)."""
    session = reads.new_session()
    times: dict[str, dict[str, float | None]] = {}
    for size, server in servers.items():
        times[size] = {}
        for word in reads.SEARCHES:
            started = time.perf_counter()
            try:
                answer = session.get(f"{server.base}/api/whatsapp/conversations", params={"q": word}, timeout=timeout)
                answer.raise_for_status()
                times[size][word] = round(time.perf_counter() - started, 4)
            except requests.RequestException:
                times[size][word] = None
            log.info("search %r at the %s size: %s s", word, size, times[size][word])
    return times


def ingest_by_size(
    workdir: Path, reads_data: Path, server: str, sizes: dict[str, Any], *, seconds: int, bodies: int, repeats: int
) -> dict[str, Any]:
    """Ingest into a copy of each reads inbox (10 thousand and 1 million messages) on each engine, 16
    connections, interleaved: does the write path slow down as the inbox grows?"""
    import psycopg

    workdir.mkdir(parents=True, exist_ok=True)
    body_file, warmup_file = workdir / "bodies.txt", workdir / "warmup.txt"
    write_bodies(body_file, bodies, "SIZ", bsuid=True)
    write_bodies(warmup_file, 5_000, "WRM", bsuid=True)
    admin_url = server
    runs: dict[str, dict[str, list[WrkResult]]] = {e: {"small": [], "large": []} for e in ("sqlite", "postgresql")}
    for repeat in range(repeats):
        order = ("small", "large") if repeat % 2 == 0 else ("large", "small")
        for size in order:
            for engine in ("sqlite", "postgresql"):
                run_dir = workdir / f"{engine}-{size}-{repeat}"
                run_dir.mkdir(parents=True, exist_ok=True)
                env: dict[str, str] = {"SQLITE_SYNCHRONOUS": "FULL"}
                name = f"wa_size_{secrets.token_hex(4)}"
                if engine == "postgresql":
                    with psycopg.connect(admin_url, autocommit=True) as admin:
                        admin.execute(f"CREATE DATABASE {name} TEMPLATE {reads_database(sizes[size])}")
                    env["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + "/" + name
                else:
                    shutil.copyfile(reads_data / size / "inbox.sqlite3", run_dir / "inbox.sqlite3")
                try:
                    runs[engine][size].append(
                        measure(
                            f"{engine}, inbox of the {size} size, repeat {repeat + 1}",
                            "wsgi:app",
                            run_dir,
                            body_file,
                            warmup_file,
                            seconds=seconds,
                            connections=16,
                            env=env,
                            count_prefix="SIZ",
                        )
                    )
                finally:
                    if engine == "postgresql":
                        with psycopg.connect(admin_url, autocommit=True) as admin:
                            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    else:
                        for left in run_dir.glob("inbox.sqlite3*"):
                            left.unlink()
    figures: dict[str, Any] = {}
    for engine, by_size in runs.items():
        pairs = zip(by_size["small"], by_size["large"], strict=True)
        ratios = [big.per_second / small.per_second for small, big in pairs]
        figures[engine] = {
            **{size: _summary(results) for size, results in by_size.items()},
            "ratio_large_to_small": round(median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "every_delivery_stored": all_stored(by_size["small"] + by_size["large"], 16),
        }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and runs: proves it works")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-engines.json")
    parser.add_argument("--ingest-only", action="store_true")
    parser.add_argument("--reads-only", action="store_true")
    parser.add_argument("--no-ingest-by-size", action="store_true", help="leave out the ingest into each reads inbox")
    parser.add_argument("--reads-data", type=Path, help="the reads' SQLite inboxes (bench.run's --reads-data)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = server_url()
    workdir = Path(tempfile.mkdtemp(prefix="wa-bench-engines-"))
    sizes = (
        {"small": 1_000, "large": 10_000, "rounds": 2, "requests_per_round": 5, "clients": 4, "requests_per_client": 2}
        if args.smoke
        else {
            "small": 10_000,
            "large": 1_000_000,
            "rounds": 10,
            "requests_per_round": 30,
            "clients": 20,
            "requests_per_client": 10,
        }
    )
    results: dict[str, Any] = {"smoke": args.smoke}
    if not args.reads_only:
        results["ingest"] = ingest(
            workdir / "ingest",
            server,
            seconds=2 if args.smoke else 10,
            bodies=5_000 if args.smoke else 60_000,
            repeats=1 if args.smoke else 3,
        )
    if not args.ingest_only:
        reads_data = args.reads_data or workdir / "reads"
        results["reads"] = reads_on_both(reads_data, server, sizes)
    if not args.ingest_only and not args.no_ingest_by_size:
        results["ingest_by_size"] = ingest_by_size(
            workdir / "ingest-by-size",
            reads_data,
            server,
            sizes,
            seconds=2 if args.smoke else 10,
            bodies=5_000 if args.smoke else 60_000,
            repeats=1 if args.smoke else 3,
        )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log.info("figures written to %s", args.out)
    return results


if __name__ == "__main__":
    main()
