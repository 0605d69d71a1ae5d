"""Business hours: a weekly schedule in a time zone, with holidays (whole days closed).

Stored as the `business_hours` setting (store/settings.py). With no schedule, or one switched off, the
inbox is always open. Times are local wall-clock times of the schedule's zone; a day's interval may
close at "24:00", and an interval never crosses midnight (write 22:00-24:00 and 00:00-06:00).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .store.settings import parsed_setting

SETTING = "business_hours"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS = 4
MAX_HOLIDAYS = 400
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class Interval:
    opens: int  # minutes after local midnight
    closes: int  # minutes after local midnight, up to 1440

    def text(self) -> dict[str, str]:
        return {"open": _clock(self.opens), "close": _clock(self.closes)}


@dataclass(frozen=True)
class Schedule:
    enabled: bool = False
    timezone: str = "UTC"
    week: dict[str, tuple[Interval, ...]] = field(default_factory=lambda: {day: () for day in DAYS})
    holidays: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, at: datetime) -> bool:
        """Whether the team is within its hours at this moment (always, when the schedule is off)."""
        if not self.enabled:
            return True
        local = _aware(at).astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(i.opens <= minute < i.closes for i in self.week[DAYS[local.weekday()]])

    def next_opening(self, at: datetime) -> datetime | None:
        """The next moment (UTC) the team is open, `at` itself when open now; None if never (no hours)."""
        at = _aware(at)
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(0, MAX_HOLIDAYS + 8):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for interval in self.week[DAYS[day.weekday()]]:
                start = _local_moment(day, interval.opens, self.zone)
                if start > at and self.is_open(start):  # an interval inside a skipped DST hour never opens
                    return start.astimezone(UTC)
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "timezone": self.timezone,
            "week": {day: [i.text() for i in self.week[day]] for day in DAYS},
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }


def parse(data: Any) -> Schedule:
    """A schedule from its JSON form (as PUT /business-hours takes it); ScheduleError says what is wrong."""
    if not isinstance(data, dict):
        raise ScheduleError("the schedule must be a JSON object")
    unknown = set(data) - {"enabled", "timezone", "week", "holidays"}
    if unknown:
        raise ScheduleError(f"unknown field {sorted(unknown)[0]!r} (enabled, timezone, week, holidays)")
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ScheduleError("enabled must be true or false")
    zone = data.get("timezone", "UTC")
    if not isinstance(zone, str) or not zone or len(zone) > 64:
        raise ScheduleError("timezone must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {zone!r} (an IANA name such as 'Europe/Berlin')") from None
    if zone not in _zone_names():  # 'localtime' and file paths load too, but mean this host's zone
        raise ScheduleError(f"unknown time zone {zone!r} (an IANA name such as 'Europe/Berlin')")
    week_data = data.get("week", {})
    if not isinstance(week_data, dict):
        raise ScheduleError("week must be an object of days (mon ... sun), each a list of {open, close}")
    bad_days = set(week_data) - set(DAYS)
    if bad_days:
        raise ScheduleError(f"unknown day {sorted(bad_days)[0]!r} (mon, tue, wed, thu, fri, sat, sun)")
    week = {day: _intervals(day, week_data.get(day, [])) for day in DAYS}
    holidays = _holidays(data.get("holidays", []))
    if enabled and not any(week.values()):
        raise ScheduleError("an enabled schedule needs at least one opening interval")
    return Schedule(enabled=enabled, timezone=zone, week=week, holidays=holidays)


def load(conn: sqlite3.Connection) -> Schedule | None:
    """The stored schedule, or None when none was ever set (the inbox is then always open)."""
    return parsed_setting(conn, SETTING, _stored)


def _stored(value: dict[str, Any]) -> Schedule | None:
    try:
        return parse(value)
    except ScheduleError:  # stored by an older version, or its zone vanished: treat as no schedule
        return None


def is_open_now(conn: sqlite3.Connection, at: datetime | None = None) -> bool:
    """Whether the team is within its hours now (True without a schedule)."""
    schedule = load(conn)
    return schedule is None or schedule.is_open(at or datetime.now(UTC))


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # the host's own zone and tzdata's helpers are files, not zones a team lives in
    return (frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}) | {"UTC"}


def _intervals(day: str, value: Any) -> tuple[Interval, ...]:
    if not isinstance(value, list):
        raise ScheduleError(f"week.{day} must be a list of {{open, close}}")
    if len(value) > MAX_INTERVALS:
        raise ScheduleError(f"week.{day} has more than {MAX_INTERVALS} intervals")
    intervals = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"open", "close"}:
            raise ScheduleError(f"week.{day}: each interval is {{'open': 'HH:MM', 'close': 'HH:MM'}}")
        opens, closes = _minutes(day, item["open"]), _minutes(day, item["close"])
        if opens >= 1440:
            raise ScheduleError(f"week.{day}: an interval cannot open at 24:00")
        if closes <= opens:
            raise ScheduleError(
                f"week.{day}: {item['open']}-{item['close']} closes before it opens "
                "(an interval ends by 24:00; split one that crosses midnight)"
            )
        intervals.append(Interval(opens, closes))
    intervals.sort(key=lambda i: i.opens)
    for before, after in zip(intervals, intervals[1:], strict=False):
        if after.opens < before.closes:
            raise ScheduleError(f"week.{day}: intervals overlap")
    return tuple(intervals)


def _minutes(day: str, value: Any) -> int:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ScheduleError(f"week.{day}: times are 'HH:MM' from 00:00 to 24:00, not {value!r}")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _holidays(value: Any) -> frozenset[date]:
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        raise ScheduleError(f"holidays must be a list of at most {MAX_HOLIDAYS} dates 'YYYY-MM-DD'")
    days = set()
    for item in value:
        if not isinstance(item, str) or not _DAY.fullmatch(item):
            raise ScheduleError(f"holidays: {item!r} is not a date 'YYYY-MM-DD'")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ScheduleError(f"holidays: {item!r} is not a date of the calendar") from None
    return frozenset(days)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _local_moment(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The moment local `day` + `minutes` happens in `zone` (a time skipped by a DST jump moves forward)."""
    moment = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes)
    # wall-clock arithmetic in zoneinfo: normalise through UTC so a skipped hour lands after the jump
    return moment.astimezone(UTC).astimezone(zone)
