"""Webhook ingest through gunicorn, against a baseline app under the same gunicorn settings.

wrk POSTs pre-signed deliveries of distinct inbound messages (each body once), so the client is not
the bottleneck and the service does all its work: signature, journal, parse, store, commit.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import ROOT, WEBHOOK, Gunicorn, delivery, sign

log = logging.getLogger("bench.ingest")
LUA = ROOT / "bench" / "post_bodies.lua"


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


def write_bodies(path: Path, count: int, prefix: str, customers: int = 1000) -> None:
    """count signed deliveries, one per line: '<signature>\\t<body>'."""
    with path.open("wb") as out:
        for n in range(count):
            body = delivery(n, prefix=prefix, customers=customers)
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
            with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
                result.stored = conn.execute(
                    "SELECT COUNT(*) FROM whatsapp_messages WHERE whatsapp_message_id LIKE ?",
                    (f"wamid.{count_prefix}%",),
                ).fetchone()[0]
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


def run(workdir: Path, *, seconds: int = 10, connections: int = 16, bodies: int = 60_000) -> dict:
    """Baseline, the service with synchronous=FULL, and with NORMAL: figures and ratios."""
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
    return {
        "baseline": baseline.as_dict(),
        "durable_baseline": durable.as_dict(),
        "full": full.as_dict(),
        "normal": normal.as_dict(),
        "ratio_full_to_baseline": round(full.per_second / baseline.per_second, 3),
        "ratio_normal_to_baseline": round(normal.per_second / baseline.per_second, 3),
        "ratio_full_to_normal": round(full.per_second / normal.per_second, 3),
        "ratio_full_to_durable_baseline": round(full.per_second / durable.per_second, 3),
        # wrk counts the answers within its run; requests still in flight when it stops are stored too.
        "every_delivery_stored": all(
            r.status_errors == 0 and r.requests <= (r.stored or 0) <= r.requests + connections for r in (full, normal)
        ),
    }
