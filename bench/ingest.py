"""Webhook ingest through gunicorn, against baseline apps under the same gunicorn settings.

wrk POSTs pre-signed deliveries of distinct inbound messages (each body once), so the client is not
the bottleneck and the service does all its work: signature, journal, parse, store, commit.
The pywa peer (bench/baseline_pywa_app.py) is measured interleaved with the service, in repeats, at
16 and 64 connections: the ratio to it is the figure that matters to users.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import ROOT, WEBHOOK, Gunicorn, delivery, median, sign

log = logging.getLogger("bench.ingest")
LUA = ROOT / "bench" / "post_bodies.lua"
# How each app's stored deliveries are counted back from its file (the parameter: a wamid prefix).
SERVICE_COUNT = "SELECT COUNT(*) FROM whatsapp_messages WHERE whatsapp_message_id LIKE ?"
PYWA_COUNT = "SELECT COUNT(*) FROM messages WHERE wamid LIKE ?"
PYWA_APP = "bench.baseline_pywa_app:app"


@dataclass
class WrkResult:
    label: str
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    stored: int | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "per_second": round(self.per_second, 1)}


def write_bodies(path: Path, count: int, prefix: str, customers: int = 1000, *, bsuid: bool = False) -> None:
    """count signed deliveries, one per line: '<signature>\\t<body>'."""
    with path.open("wb") as out:
        for n in range(count):
            body = delivery(n, prefix=prefix, customers=customers, bsuid=bsuid)
            out.write(sign(body).encode() + b"\t" + body + b"\n")


def run_wrk(base: str, bodies: Path, *, seconds: int, connections: int, threads: int = 2, wrap: bool = False) -> dict:
    env = {
        **os.environ,
        "BODIES": str(bodies),
        "WRK_THREADS": str(threads),
        "WEBHOOK_PATH": WEBHOOK,
        "WRAP": "1" if wrap else "0",
    }
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        base + WEBHOOK,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    return json.loads(line[len("WRK_JSON ") :])


def measure(
    label: str,
    app: str,
    workdir: Path,
    bodies: Path,
    warmup: Path,
    *,
    seconds: int,
    connections: int,
    env: dict[str, str] | None = None,
    count_prefix: str | None = None,
    count_sql: str = SERVICE_COUNT,
) -> WrkResult:
    workdir.mkdir(parents=True, exist_ok=True)
    with Gunicorn(app, workdir, env) as server:
        run_wrk(server.base, warmup, seconds=2, connections=connections)  # imports, caches, connections
        # The baseline stores nothing, so it may reuse bodies; the service gets each body once.
        raw = run_wrk(server.base, bodies, seconds=seconds, connections=connections, wrap=count_prefix is None)
        result = WrkResult(
            label=label,
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            status_errors=raw["status_errors"],
            socket_errors=raw["socket_errors"],
            timeouts=raw["timeouts"],
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
        )
        if count_prefix is not None:
            result.stored = count_stored(server.env, count_sql, f"wamid.{count_prefix}%")
    log.info(
        "%s: %.0f deliveries/s, p50 %.1f ms, p99 %.1f ms (%d requests, %d non-2xx, %d socket errors)%s",
        label,
        result.per_second,
        result.p50_ms,
        result.p99_ms,
        result.requests,
        result.status_errors,
        result.socket_errors,
        f", {result.stored} stored" if result.stored is not None else "",
    )
    return result


def count_stored(env: dict[str, str], sql: str, pattern: str) -> int:
    """The rows matching `pattern` in the server's database: PostgreSQL's when env has a DATABASE_URL."""
    if env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as conn:
            return conn.execute(sql.replace("?", "%s"), (pattern,)).fetchone()[0]
    with sqlite3.connect(env["DATABASE_PATH"]) as conn:
        return conn.execute(sql, (pattern,)).fetchone()[0]


def all_stored(results: list[WrkResult], connections: int) -> bool:
    """Every answer a 200 and every 200 counted back from the file (wrk counts the answers within
    its run; requests still in flight when it stops are stored too, at most one a connection)."""
    return all(r.status_errors == 0 and r.requests <= (r.stored or 0) <= r.requests + connections for r in results)


def peer(
    workdir: Path,
    *,
    seconds: int,
    bodies: int,
    repeats: int = 3,
    connection_counts: tuple[int, ...] = (16, 64),
) -> dict:
    """The service (synchronous=FULL) against the pywa peer, in the same run: for each repeat and
    each connection count both apps in turn, the order alternating from one repeat to the next, so
    drift on a shared machine falls on both. The deliveries are in Meta's current shape (with the
    customer's business-scoped user id, which pywa 4.5 requires); each app gets each body once."""
    workdir.mkdir(parents=True, exist_ok=True)
    body_file, warmup_file = workdir / "bodies.txt", workdir / "warmup.txt"
    write_bodies(body_file, bodies, "PEER", bsuid=True)
    write_bodies(warmup_file, 5_000, "WARM", bsuid=True)
    apps = {
        "service": ("wa-inbox, synchronous=FULL", "wsgi:app", {"SQLITE_SYNCHRONOUS": "FULL"}, SERVICE_COUNT),
        "pywa": ("pywa peer (Flask, pywa, INSERT+COMMIT, FULL)", PYWA_APP, None, PYWA_COUNT),
    }
    runs: dict[int, dict[str, list[WrkResult]]] = {c: {name: [] for name in apps} for c in connection_counts}
    for repeat in range(repeats):
        order = list(apps) if repeat % 2 == 0 else list(reversed(apps))
        for connections in connection_counts:
            for name in order:
                label, app, env, count_sql = apps[name]
                result = measure(
                    f"{label}, {connections} connections, repeat {repeat + 1}",
                    app,
                    workdir / f"{name}-{connections}-{repeat}",
                    body_file,
                    warmup_file,
                    seconds=seconds,
                    connections=connections,
                    env=env,
                    count_prefix="PEER",
                    count_sql=count_sql,
                )
                if result.requests >= bodies:
                    log.warning("%s ran out of distinct bodies: raise --bodies", result.label)
                runs[connections][name].append(result)
    figures = {}
    for connections, by_app in runs.items():
        ratios = [s.per_second / p.per_second for s, p in zip(by_app["service"], by_app["pywa"], strict=True)]
        entry: dict = {"repeats": repeats}
        for name, results in by_app.items():
            entry[name] = {
                "per_second": round(median([r.per_second for r in results]), 1),
                "p50_ms": round(median([r.p50_ms for r in results]), 2),
                "p99_ms": round(median([r.p99_ms for r in results]), 2),
                "runs": [r.as_dict() for r in results],
            }
        entry["ratio_service_to_pywa"] = round(median(ratios), 3)
        entry["ratio_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        entry["p99_ratio_pywa_to_service"] = round(entry["pywa"]["p99_ms"] / entry["service"]["p99_ms"], 2)
        entry["every_delivery_stored"] = all_stored(by_app["service"] + by_app["pywa"], connections)
        figures[str(connections)] = entry
    return figures


def scaling(workdir: Path, *, seconds: int, bodies: int, repeats: int = 3, connections: int = 16) -> dict:
    """The service (as deployed: the writer process, synchronous=FULL) with one worker and with two,
    in turn within each repeat, the order alternating: how ingest scales with the cores (2 here)."""
    workdir.mkdir(parents=True, exist_ok=True)
    body_file, warmup_file = workdir / "bodies.txt", workdir / "warmup.txt"
    write_bodies(body_file, bodies, "SCALE", bsuid=True)
    write_bodies(warmup_file, 5_000, "WARM", bsuid=True)
    runs: dict[str, list[WrkResult]] = {"1": [], "2": []}
    for repeat in range(repeats):
        for workers in ("1", "2") if repeat % 2 == 0 else ("2", "1"):
            result = measure(
                f"wa-inbox, {workers} worker(s), {connections} connections, repeat {repeat + 1}",
                "wsgi:app",
                workdir / f"workers-{workers}-{repeat}",
                body_file,
                warmup_file,
                seconds=seconds,
                connections=connections,
                env={"SQLITE_SYNCHRONOUS": "FULL", "WEB_CONCURRENCY": workers},
                count_prefix="SCALE",
            )
            runs[workers].append(result)
    ratios = [two.per_second / one.per_second for one, two in zip(runs["1"], runs["2"], strict=True)]
    return {
        "connections": connections,
        "repeats": repeats,
        **{
            f"workers_{workers}": {
                "per_second": round(median([r.per_second for r in results]), 1),
                "p99_ms": round(median([r.p99_ms for r in results]), 2),
                "runs": [r.as_dict() for r in results],
            }
            for workers, results in runs.items()
        },
        "ratio_2_to_1": round(median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "every_delivery_stored": all_stored(runs["1"] + runs["2"], connections),
    }


def run(
    workdir: Path,
    *,
    seconds: int = 10,
    connections: int = 16,
    bodies: int = 60_000,
    repeats: int = 3,
    peer_connections: tuple[int, ...] = (16, 64),
) -> dict:
    """Baseline, the service with synchronous=FULL, and with NORMAL; then the service against the pywa
    peer in interleaved repeats: figures and ratios."""
    workdir.mkdir(parents=True, exist_ok=True)
    body_file, warmup_file = workdir / "bodies.txt", workdir / "warmup.txt"
    write_bodies(body_file, bodies, "RUN")
    write_bodies(warmup_file, 5_000, "WARM")
    common = {"seconds": seconds, "connections": connections}
    baseline = measure(
        "baseline (read body, 200)", "bench.baseline_app:app", workdir / "baseline", body_file, warmup_file, **common
    )
    durable = measure(
        "durable baseline (commit body, 200)",
        "bench.baseline_durable_app:app",
        workdir / "durable",
        body_file,
        warmup_file,
        **common,
    )
    full = measure(
        "wa-inbox, synchronous=FULL",
        "wsgi:app",
        workdir / "full",
        body_file,
        warmup_file,
        env={"SQLITE_SYNCHRONOUS": "FULL"},
        count_prefix="RUN",
        **common,
    )
    normal = measure(
        "wa-inbox, synchronous=NORMAL",
        "wsgi:app",
        workdir / "normal",
        body_file,
        warmup_file,
        env={"SQLITE_SYNCHRONOUS": "NORMAL"},
        count_prefix="RUN",
        **common,
    )
    for result in (full, normal):
        if result.requests >= bodies:
            log.warning("%s ran out of distinct bodies: raise --bodies", result.label)
    pywa = peer(workdir / "peer", seconds=seconds, bodies=bodies, repeats=repeats, connection_counts=peer_connections)
    workers = scaling(workdir / "scaling", seconds=seconds, bodies=bodies, repeats=repeats)
    return {
        "baseline": baseline.as_dict(),
        "durable_baseline": durable.as_dict(),
        "full": full.as_dict(),
        "normal": normal.as_dict(),
        "ratio_full_to_baseline": round(full.per_second / baseline.per_second, 3),
        "ratio_normal_to_baseline": round(normal.per_second / baseline.per_second, 3),
        "ratio_full_to_normal": round(full.per_second / normal.per_second, 3),
        "ratio_full_to_durable_baseline": round(full.per_second / durable.per_second, 3),
        "pywa_peer": pywa,
        "workers_scaling": workers,
        "every_delivery_stored": all_stored([full, normal], connections)
        and all(entry["every_delivery_stored"] for entry in pywa.values())
        and workers["every_delivery_stored"],
    }
