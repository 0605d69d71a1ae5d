"""Team reports from the tables kept at write time (store/reports.py): first response and resolution
times (median and 90th percentile, in and out of business hours), conversations opened and closed,
messages in and out, by day and by agent. No SQL here beyond the store's period reads.

Percentiles: the median is the middle value (the mean of the two middle ones for an even count); the
90th percentile is the nearest rank, the value at position ceil(0.9 n) of the sorted times. Times are
whole seconds. Days are local days of the business hours' zone (UTC without a schedule).
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from .store import reports as tables
from .store.settings import get_setting

TARGET_SETTING = "response_target"
MAX_DAYS = 366
GROUPINGS = ("day", "agent")


def target_minutes(conn: sqlite3.Connection) -> int | None:
    """The first-response target in minutes, or None when none is set."""
    value = (get_setting(conn, TARGET_SETTING) or {}).get("minutes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def times(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "median_seconds": None, "p90_seconds": None}
    rank = math.ceil(0.9 * len(ordered))
    return {
        "count": len(ordered),
        "median_seconds": float(statistics.median(ordered)),
        "p90_seconds": float(ordered[rank - 1]),
    }


@dataclass
class Bucket:
    """What one group (a day, an agent, a day and agent, or the whole period) gathered."""

    responses: list[tuple[float, bool]] = field(default_factory=list)  # (seconds, in hours)
    unanswered: int = 0
    in_app: int = 0
    resolutions: list[tuple[float, bool]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(tables.COUNTERS, 0))

    def figures(self) -> dict[str, Any]:
        def split(items: list[tuple[float, bool]]) -> dict[str, Any]:
            return {
                **times(s for s, _ in items),
                "in_hours": times(s for s, inside in items if inside),
                "out_of_hours": times(s for s, inside in items if not inside),
            }

        return {
            **self.counts,
            "first_response": {**split(self.responses), "unanswered": self.unanswered, "answered_in_app": self.in_app},
            "resolution": split(self.resolutions),
        }


def _seconds(start: str, end: str) -> float:
    return (tables.parse_stamp(end) - tables.parse_stamp(start)).total_seconds()


def gather(
    conn: sqlite3.Connection, first: date, last: date, agent_id: int | None, key: Callable[[str, int], Any]
) -> tuple[dict[Any, Bucket], Bucket, str]:
    """Buckets by key(day, agent) over the days first..last, the period's total, and the zone's name."""
    zone = tables.zone(conn)
    start, end = tables.day_start(first, zone), tables.day_start(last + timedelta(days=1), zone)
    buckets: dict[Any, Bucket] = defaultdict(Bucket)
    total = Bucket()
    for row in tables.waits_between(conn, start, end, agent_id):
        targets = (buckets[key(tables.local_day(row["customer_at"], zone), row["agent_id"] or 0)], total)
        for bucket in targets:
            if row["answered_at"] is None:
                bucket.unanswered += 1
            elif row["answered_in_app"]:
                bucket.in_app += 1
            else:
                bucket.responses.append((_seconds(row["customer_at"], row["answered_at"]), bool(row["in_hours"])))
    for row in tables.resolutions_between(conn, start, end, agent_id):
        item = (_seconds(row["opened_at"], row["closed_at"]), bool(row["in_hours"]))
        buckets[key(tables.local_day(row["closed_at"], zone), row["agent_id"] or 0)].resolutions.append(item)
        total.resolutions.append(item)
    for row in tables.daily_between(conn, first.isoformat(), last.isoformat(), agent_id):
        bucket = buckets[key(row["day"], row["agent_id"])]
        for name in tables.COUNTERS:
            bucket.counts[name] += row[name]
            total.counts[name] += row[name]
    return buckets, total, zone.key


def agent_names(conn: sqlite3.Connection) -> dict[int, str]:
    return {int(row[0]): row[1] for row in conn.execute("SELECT agent_id, name FROM agents")}


def report(conn: sqlite3.Connection, first: date, last: date, agent_id: int | None, group_by: str) -> dict[str, Any]:
    """The JSON answer of GET /reports: the period's totals and its groups (every day, or each agent)."""
    if group_by == "day":
        buckets, total, zone = gather(conn, first, last, agent_id, lambda day, _agent: day)
        days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        groups = [
            {"day": day, **buckets[day].figures()} if day in buckets else {"day": day, **Bucket().figures()}
            for day in days
        ]
    else:
        buckets, total, zone = gather(conn, first, last, agent_id, lambda _day, agent: agent)
        names = agent_names(conn)
        groups = [
            {"agent_id": agent or None, "agent_name": names.get(agent), **buckets[agent].figures()}
            for agent in sorted(buckets)
        ]
    return {
        "success": True,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": zone,
        "group_by": group_by,
        "agent_id": agent_id,
        "target_minutes": target_minutes(conn),
        "totals": total.figures(),
        "groups": groups,
    }


CSV_COLUMNS = (
    "day",
    "agent_id",
    "agent_name",
    "messages_in",
    "messages_out",
    "opened",
    "closed",
    "first_responses",
    "first_response_median_s",
    "first_response_p90_s",
    "first_response_in_hours_median_s",
    "first_response_in_hours_p90_s",
    "first_response_out_of_hours_median_s",
    "first_response_out_of_hours_p90_s",
    "unanswered",
    "answered_in_app",
    "resolutions",
    "resolution_median_s",
    "resolution_p90_s",
)


def csv_rows(conn: sqlite3.Connection, first: date, last: date, agent_id: int | None, group_by: str | None):
    """The CSV's rows (header first): one per day and agent with figures (group_by None), or per day,
    or per agent."""

    def key(day: str, agent: int) -> tuple[str, int]:
        return (day if group_by != "agent" else "", agent if group_by != "day" else -1)

    buckets, _total, _zone = gather(conn, first, last, agent_id, key)
    names = agent_names(conn)
    yield CSV_COLUMNS
    for (day, agent), bucket in sorted(buckets.items()):
        f = bucket.figures()
        fr, res = f["first_response"], f["resolution"]
        yield (
            day,
            "" if agent <= 0 else agent,
            "" if agent < 0 else names.get(agent, "No agent" if agent == 0 else ""),
            f["messages_in"],
            f["messages_out"],
            f["opened"],
            f["closed"],
            fr["count"],
            _num(fr["median_seconds"]),
            _num(fr["p90_seconds"]),
            _num(fr["in_hours"]["median_seconds"]),
            _num(fr["in_hours"]["p90_seconds"]),
            _num(fr["out_of_hours"]["median_seconds"]),
            _num(fr["out_of_hours"]["p90_seconds"]),
            fr["unanswered"],
            fr["answered_in_app"],
            res["count"],
            _num(res["median_seconds"]),
            _num(res["p90_seconds"]),
        )


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def due_at(conn: sqlite3.Connection, conversation_ids: Iterable[int]) -> dict[int, str]:
    """first_response_due_at of each conversation with a running wait, when a target is set."""
    minutes = target_minutes(conn)
    if minutes is None:
        return {}
    return {cid: tables.due_at(at, minutes) for cid, at in tables.open_waits(conn, conversation_ids).items()}
