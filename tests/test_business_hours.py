"""Business hours (issue 16): a weekly schedule in a time zone with holidays, read by every agent and
set by admins; the schedule's arithmetic across days, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from whatsapp import business_hours

from .helpers import agent_key, bearer

WEEKDAYS = {day: [{"open": "09:00", "close": "17:30"}] for day in ("mon", "tue", "wed", "thu", "fri")}
BERLIN = {"enabled": True, "timezone": "Europe/Berlin", "week": WEEKDAYS, "holidays": ["2026-12-25"]}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_without_a_schedule_the_inbox_is_always_open(client):
    answer = client.get("/api/whatsapp/business-hours").get_json()
    assert answer["success"] is True
    assert answer["open_now"] is True
    assert answer["business_hours"]["enabled"] is False
    assert answer["business_hours"]["week"]["mon"] == []


def test_an_admin_sets_the_schedule_and_every_agent_reads_it(client, anon, runner):
    admin, agent = agent_key(runner, "Ada", "--admin"), agent_key(runner, "Bo")
    put = anon.put("/api/whatsapp/business-hours", json=BERLIN, headers=bearer(admin))
    assert put.status_code == 200, put.get_json()
    stored = put.get_json()["business_hours"]
    assert stored["timezone"] == "Europe/Berlin"
    assert stored["week"]["mon"] == [{"open": "09:00", "close": "17:30"}]
    assert stored["week"]["sat"] == []
    assert stored["holidays"] == ["2026-12-25"]
    read = anon.get("/api/whatsapp/business-hours", headers=bearer(agent)).get_json()
    assert read["business_hours"] == stored
    assert isinstance(read["open_now"], bool)
    assert read["next_opening"] is not None

    refused = anon.put("/api/whatsapp/business-hours", json=BERLIN, headers=bearer(agent))
    assert refused.status_code == 403
    assert refused.get_json()["success"] is False


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1, 2], "JSON object"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": "localtime"}, "unknown time zone"),  # the host's zone, whatever it is
        ({"timezone": "../../etc/localtime"}, "unknown time zone"),
        ({"timezone": 5}, "IANA"),
        ({"enabled": "yes"}, "true or false"),
        ({"week": {"monday": []}}, "unknown day"),
        ({"week": {"mon": [{"open": "18:00", "close": "09:00"}]}}, "closes before it opens"),
        ({"week": {"mon": [{"open": "9:00", "close": "17:00"}]}}, "HH:MM"),
        ({"week": {"mon": [{"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "13:00"}]}}, "overlap"),
        ({"week": {"mon": [{"open": "24:00", "close": "24:00"}]}}, "24:00"),
        ({"week": {"mon": "09-17"}}, "list"),
        ({"holidays": ["2026-02-30"]}, "calendar"),
        ({"holidays": "2026-12-25"}, "list"),
        ({"enabled": True, "week": {}}, "at least one"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_a_bad_schedule_is_refused_with_what_is_wrong(client, body, says):
    answer = client.put("/api/whatsapp/business-hours", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["success"] is False
    assert says in answer.get_json()["error"]
    assert client.get("/api/whatsapp/business-hours").get_json()["business_hours"]["enabled"] is False


def test_open_and_closed_moments_in_the_schedules_zone():
    schedule = business_hours.parse(BERLIN)
    assert schedule.is_open(utc(2026, 12, 1, 8, 0))  # Tuesday 09:00 in Berlin (UTC+1)
    assert not schedule.is_open(utc(2026, 12, 1, 7, 59))
    assert not schedule.is_open(utc(2026, 12, 1, 16, 30))  # 17:30 local: closed (the end is excluded)
    assert not schedule.is_open(utc(2026, 12, 5, 10, 0))  # Saturday
    assert not schedule.is_open(utc(2026, 12, 25, 10, 0))  # a holiday on a Friday


def test_the_next_opening_skips_nights_weekends_and_holidays():
    schedule = business_hours.parse(BERLIN)
    assert schedule.next_opening(utc(2026, 12, 1, 10, 0)) == utc(2026, 12, 1, 10, 0)  # open now
    assert schedule.next_opening(utc(2026, 12, 1, 18, 0)) == utc(2026, 12, 2, 8, 0)
    assert schedule.next_opening(utc(2026, 12, 4, 17, 0)) == utc(2026, 12, 7, 8, 0)  # Friday evening
    assert schedule.next_opening(utc(2026, 12, 24, 17, 0)) == utc(2026, 12, 28, 8, 0)  # over Christmas


def test_the_opening_follows_daylight_saving_time():
    schedule = business_hours.parse(BERLIN)
    # Berlin moves to UTC+2 on Sunday 29 March 2026: 09:00 on Monday is 07:00 UTC, not 08:00
    assert schedule.next_opening(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 30, 7, 0)
    assert schedule.is_open(utc(2026, 3, 30, 7, 0))


def test_a_schedule_off_or_with_midnight_intervals():
    off = business_hours.parse({**BERLIN, "enabled": False})
    assert off.is_open(utc(2026, 12, 5, 3, 0))
    night = business_hours.parse(
        {
            "enabled": True,
            "week": {"mon": [{"open": "22:00", "close": "24:00"}], "tue": [{"open": "00:00", "close": "06:00"}]},
        }
    )
    assert night.is_open(utc(2026, 11, 30, 23, 59))  # Monday 23:59 UTC
    assert night.is_open(utc(2026, 12, 1, 0, 0))  # Tuesday 00:00
    assert not night.is_open(utc(2026, 12, 1, 6, 0))


def test_an_interval_inside_the_hour_skipped_by_daylight_saving_never_opens():
    # Berlin skips 02:00-03:00 on Sunday 29 March 2026: an interval 02:15-02:45 that day never comes
    schedule = business_hours.parse(
        {
            "enabled": True,
            "timezone": "Europe/Berlin",
            "week": {"sun": [{"open": "02:15", "close": "02:45"}], "mon": [{"open": "09:00", "close": "10:00"}]},
        }
    )
    opening = schedule.next_opening(utc(2026, 3, 28, 12, 0))
    assert opening == utc(2026, 3, 30, 7, 0) and schedule.is_open(opening)
