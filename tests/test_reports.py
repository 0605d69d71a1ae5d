"""Reports through HTTP: first response and resolution times (median, p90, in and out of hours), opened
and closed, messages in and out, by day and agent; the CSV; the first-response target and the list's
first_response_due_at.

Clocks: a customer's message counts at its webhook timestamp (chosen here); a reply at the moment the
agent sent it, and a close at the moment of the close: the tests freeze those by replacing the store's
clock (`now`) with a chosen time, instead of sleeping.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from .helpers import (
    agent_key,
    bearer,
    connection_for,
    customer_writes,
    fixture,
    post_webhook,
    send_ok,
    text_message,
)

SEND_PATH = "/v26.0/110293847561029/messages"
TEMPLATE = {"name": "hello_world", "language": "en_US"}
CUSTOMERS = {"A": "14155550101", "B": "14155550102", "C": "14155550103", "D": "14155550104"}


def ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


class Clock:
    """The store's clock, frozen at a chosen time for sends and closes."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch

    def at(self, text: str) -> None:
        stamp = text + ":00"
        for module in ("outbound", "reports", "customers", "common"):
            self.monkeypatch.setattr(f"whatsapp.store.{module}.now", lambda: stamp)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def writes(client, who: str, at: str, body: str = "Hello?") -> None:
    answer = post_webhook(client, text_message(body, wa_id=CUSTOMERS[who], name=f"Customer {who}", timestamp=ts(at)))
    assert answer.status_code == 200, answer.get_json()


def conversation_id(client, who: str) -> int:
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+" + CUSTOMERS[who]})
    return answer.get_json()["conversation"]["id"]


def replies(client, graph, clock, key: str, who: str, at: str) -> None:
    """An agent's reply (a template, so the 24-hour window of these old messages does not matter)."""
    clock.at(at)
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok(CUSTOMERS[who]))
    answer = client.post(
        "/api/whatsapp/send",
        json={"phone_number": "+" + CUSTOMERS[who], "type": "template", "template": TEMPLATE},
        headers=bearer(key),
    )
    assert answer.status_code == 200, answer.get_json()


def closes(client, clock, who: str, at: str) -> None:
    clock.at(at)
    assert client.post("/api/whatsapp/close", json={"conversation_id": conversation_id(client, who)}).status_code == 200


def report(client, **params):
    answer = client.get("/api/whatsapp/reports", query_string=params)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.fixture
def team(client, runner, graph, clock):
    """Two days of a weekday schedule 09:00-17:00 UTC (2026-11-02 is a Monday):

    day 1: A writes 09:00 and 09:01, Ana answers 09:05 (300 s); A writes 09:10, Ana answers 09:30 (1200 s);
           B writes 10:00, Bruno answers 10:02 (120 s). A (Ana's) is closed at 10:00.
    day 2: C writes 08:00 (out of hours), Bruno answers 09:00 (3600 s); D writes 12:00, unanswered.
           B (no agent) is closed at 10:00, a day after it opened.
    """
    hours = {
        "enabled": True,
        "timezone": "UTC",
        "week": {d: [{"open": "09:00", "close": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    assert client.put("/api/whatsapp/business-hours", json=hours).status_code == 200
    ana, bruno = agent_key(runner, "Ana"), agent_key(runner, "Bruno")
    writes(client, "A", "2026-11-02 09:00")
    writes(client, "A", "2026-11-02 09:01")
    replies(client, graph, clock, ana, "A", "2026-11-02 09:05")
    writes(client, "A", "2026-11-02 09:10")
    replies(client, graph, clock, ana, "A", "2026-11-02 09:30")
    writes(client, "B", "2026-11-02 10:00")
    replies(client, graph, clock, bruno, "B", "2026-11-02 10:02")
    assert (
        client.post(
            "/api/whatsapp/assign-agent", json={"conversation_id": conversation_id(client, "A"), "agent_id": 1}
        ).status_code
        == 200
    )
    closes(client, clock, "A", "2026-11-02 10:00")
    writes(client, "C", "2026-11-03 08:00")
    replies(client, graph, clock, bruno, "C", "2026-11-03 09:00")
    writes(client, "D", "2026-11-03 12:00")
    closes(client, clock, "B", "2026-11-03 10:00")
    return {"ana": ana, "bruno": bruno}


def times(count, median, p90):
    return {"count": count, "median_seconds": median, "p90_seconds": p90}


def test_first_response_times_count_every_wait_with_median_and_p90_by_day(client, team):
    body = report(client, **{"from": "2026-11-02", "to": "2026-11-03"})
    assert body["timezone"] == "UTC" and body["group_by"] == "day"
    first = body["totals"]["first_response"]
    # 120, 300, 1200, 3600: the median is the mean of the middle two, p90 the 4th of 4 (nearest rank)
    assert {k: first[k] for k in ("count", "median_seconds", "p90_seconds")} == times(4, 750.0, 3600.0)
    assert first["in_hours"] == times(3, 300.0, 1200.0)
    assert first["out_of_hours"] == times(1, 3600.0, 3600.0)
    assert first["unanswered"] == 1 and first["answered_in_app"] == 0
    day1, day2 = body["groups"]
    assert day1["day"] == "2026-11-02" and day2["day"] == "2026-11-03"
    assert {k: day1["first_response"][k] for k in ("count", "median_seconds", "p90_seconds")} == times(3, 300.0, 1200.0)
    assert day2["first_response"]["count"] == 1 and day2["first_response"]["unanswered"] == 1
    # messages in: A's three and B's on day 1, C's and D's on day 2; out: the four replies
    assert (day1["messages_in"], day1["messages_out"], day1["opened"], day1["closed"]) == (4, 3, 2, 1)
    assert (day2["messages_in"], day2["messages_out"], day2["opened"], day2["closed"]) == (2, 1, 2, 1)


def test_resolution_time_runs_from_opening_to_close(client, team):
    body = report(client, **{"from": "2026-11-02", "to": "2026-11-03"})
    resolution = body["totals"]["resolution"]
    assert {k: resolution[k] for k in ("count", "median_seconds", "p90_seconds")} == times(2, 45000.0, 86400.0)
    assert resolution["in_hours"] == times(2, 45000.0, 86400.0)
    assert body["groups"][0]["resolution"]["count"] == 1 and body["groups"][1]["resolution"]["count"] == 1


def test_the_figures_by_agent_and_for_one_agent(client, team):
    body = report(client, **{"from": "2026-11-02", "to": "2026-11-03", "group_by": "agent"})
    by_agent = {g["agent_name"]: g for g in body["groups"]}
    assert set(by_agent) == {"Ana", "Bruno", None}
    ana, bruno, nobody = by_agent["Ana"], by_agent["Bruno"], by_agent[None]
    assert ana["agent_id"] == 1 and nobody["agent_id"] is None
    assert {k: ana["first_response"][k] for k in ("count", "median_seconds", "p90_seconds")} == times(2, 750.0, 1200.0)
    assert {k: bruno["first_response"][k] for k in ("count", "median_seconds", "p90_seconds")} == times(
        2, 1860.0, 3600.0
    )
    assert nobody["first_response"]["unanswered"] == 1
    assert (ana["messages_out"], bruno["messages_out"], nobody["messages_in"]) == (
        2,
        2,
        6,
    )  # all came before any assignment
    assert ana["closed"] == 1 and ana["resolution"]["count"] == 1 and ana["resolution"]["median_seconds"] == 3600.0
    only_bruno = report(client, **{"from": "2026-11-02", "to": "2026-11-03", "agent_id": 2})
    assert only_bruno["agent_id"] == 2
    assert only_bruno["totals"]["first_response"]["count"] == 2 and only_bruno["totals"]["messages_out"] == 2
    assert only_bruno["totals"]["first_response"]["unanswered"] == 0


def test_the_csv_has_a_header_and_a_row_per_day_and_agent(client, team):
    answer = client.get("/api/whatsapp/reports.csv?from=2026-11-02&to=2026-11-03")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "reports-2026-11-02-2026-11-03.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    keyed = {(r["day"], r["agent_name"]): r for r in rows}
    assert set(keyed) == {
        ("2026-11-02", "Ana"),
        ("2026-11-02", "Bruno"),
        ("2026-11-02", "No agent"),
        ("2026-11-03", "Bruno"),
        ("2026-11-03", "No agent"),
    }
    ana = keyed[("2026-11-02", "Ana")]
    assert (ana["agent_id"], ana["first_responses"], ana["first_response_median_s"], ana["first_response_p90_s"]) == (
        "1",
        "2",
        "750",
        "1200",
    )
    assert (ana["messages_out"], ana["closed"], ana["resolution_median_s"]) == ("2", "1", "3600")
    late = keyed[("2026-11-03", "Bruno")]
    assert late["first_response_out_of_hours_median_s"] == "3600" and late["first_response_in_hours_median_s"] == ""
    assert keyed[("2026-11-03", "No agent")]["unanswered"] == "1"
    by_day = list(
        csv.reader(
            io.StringIO(
                client.get("/api/whatsapp/reports.csv?from=2026-11-02&to=2026-11-03&group_by=day").get_data(
                    as_text=True
                )
            )
        )
    )
    assert by_day[0][0] == "day" and [r[0] for r in by_day[1:]] == ["2026-11-02", "2026-11-03"]


def test_reactions_and_notes_are_no_reply_and_a_text_reply_is(client, graph, runner):
    ana = agent_key(runner, "Ana")
    customer_writes(client, "Where is my order?")
    cid = client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["id"]
    inbound = client.get(f"/api/whatsapp/messages?conversation_id={cid}").get_json()["messages"][0]
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    react = client.post(f"/api/whatsapp/messages/{inbound['id']}/react", json={"emoji": "👍"}, headers=bearer(ana))
    assert react.status_code == 200, react.get_json()
    note = client.post("/api/whatsapp/notes", json={"conversation_id": cid, "body": "checking"}, headers=bearer(ana))
    assert note.status_code == 201
    today = datetime.now(UTC).date().isoformat()
    first = report(client, **{"from": today, "to": today})["totals"]["first_response"]
    assert first["count"] == 0 and first["unanswered"] == 1
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    sent = client.post(
        "/api/whatsapp/send", json={"conversation_id": cid, "message": "On its way"}, headers=bearer(ana)
    )
    assert sent.status_code == 200, sent.get_json()
    body = report(client, **{"from": today, "to": today})["totals"]
    assert body["first_response"]["count"] == 1 and body["first_response"]["unanswered"] == 0
    assert body["messages_out"] == 1  # the reaction is not a message out


def test_a_send_with_the_service_key_is_a_message_out_but_no_agents_reply(client, graph):
    customer_writes(client)
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    assert client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Bot"}).status_code == 200
    today = datetime.now(UTC).date().isoformat()
    body = report(client, **{"from": today, "to": today})["totals"]
    assert body["messages_out"] == 1 and body["first_response"]["unanswered"] == 1


def test_an_answer_from_the_business_app_ends_the_wait_untimed(client):
    post_webhook(client, text_message("Hello?", timestamp=1795500100))  # 2026-11-24 06:01:40
    assert post_webhook(client, fixture("echo_text")).status_code == 200  # 06:03:20, from the app
    body = report(client, **{"from": "2026-11-24", "to": "2026-11-24"})["totals"]["first_response"]
    assert body["count"] == 0 and body["unanswered"] == 0 and body["answered_in_app"] == 1
    assert client.put("/api/whatsapp/response-target", json={"minutes": 5}).status_code == 200
    [row] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert row["first_response_due_at"] is None  # nothing waits any more


def test_without_a_schedule_every_wait_is_in_hours_and_days_are_utc(client, runner, graph, clock):
    ana = agent_key(runner, "Ana")
    writes(client, "A", "2026-11-01 23:50")  # a Sunday, late
    replies(client, graph, clock, ana, "A", "2026-11-02 00:10")
    body = report(client, **{"from": "2026-11-01", "to": "2026-11-02"})
    assert body["timezone"] == "UTC"
    assert body["totals"]["first_response"]["in_hours"] == times(1, 1200.0, 1200.0)
    day1, day2 = body["groups"]
    assert day1["first_response"]["count"] == 1 and day1["messages_in"] == 1 and day2["messages_out"] == 1


def test_days_follow_the_business_hours_zone(client, runner, graph, clock):
    hours = {"enabled": True, "timezone": "America/Santiago", "week": {"mon": [{"open": "09:00", "close": "18:00"}]}}
    assert client.put("/api/whatsapp/business-hours", json=hours).status_code == 200
    writes(client, "A", "2026-11-03 01:00")  # 22:00 on Monday the 2nd in Santiago (UTC-3)
    body = report(client, **{"from": "2026-11-02", "to": "2026-11-03"})
    assert body["timezone"] == "America/Santiago"
    assert [g["messages_in"] for g in body["groups"]] == [1, 0]
    assert body["totals"]["first_response"]["out_of_hours"]["count"] == 0  # unanswered: not timed
    assert body["totals"]["first_response"]["unanswered"] == 1


def test_a_report_with_no_data_answers_every_day_with_empty_figures(client):
    body = report(client, **{"from": "2026-01-01", "to": "2026-01-03"})
    assert [g["day"] for g in body["groups"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert body["totals"]["first_response"]["median_seconds"] is None and body["totals"]["messages_in"] == 0
    assert body["target_minutes"] is None


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=2026-13-01&to=2026-12-01", "from must be a date, YYYY-MM-DD"),
        ("from=yesterday", "from must be a date, YYYY-MM-DD"),
        ("from=2026-1-1", "from must be a date, YYYY-MM-DD"),
        ("from=2026-12-02&to=2026-12-01", "from must not be after to"),
        ("from=2025-01-01&to=2026-12-01", "A report covers at most 366 days"),
        ("group_by=week", "group_by must be day or agent"),
        ("agent_id=abc", "agent_id must be an integer"),
        ("from=9999-12-30&to=9999-12-31", "to must be a date from the year 2000 to 9000"),  # was a 500
        ("from=0001-01-01&to=0001-01-02", "to must be a date from the year 2000 to 9000"),
        ("from=2024-W01-1", "from must be a date, YYYY-MM-DD"),
    ],
)
def test_bad_report_parameters_are_refused(client, query, error):
    for path in ("/api/whatsapp/reports", "/api/whatsapp/reports.csv"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400
        assert answer.get_json() == {"success": False, "error": error}


def test_admins_set_the_response_target_and_agents_may_not(client, runner):
    admin, agent = agent_key(runner, "Root", "--admin"), agent_key(runner, "Ana")
    assert client.get("/api/whatsapp/response-target").get_json() == {"success": True, "minutes": None}
    refused = client.put("/api/whatsapp/response-target", json={"minutes": 15}, headers=bearer(agent))
    assert refused.status_code == 403
    assert client.put("/api/whatsapp/response-target", json={"minutes": 15}, headers=bearer(admin)).get_json() == {
        "success": True,
        "minutes": 15,
    }
    assert client.get("/api/whatsapp/response-target", headers=bearer(agent)).get_json()["minutes"] == 15
    for bad in (
        {"minutes": 0},
        {"minutes": "soon"},
        {"minutes": "15"},
        {"minutes": 1.5},
        {"minutes": True},
        {},
        {"minutes": 100000},
    ):
        assert client.put("/api/whatsapp/response-target", json=bad).status_code == 400, bad
    assert client.put("/api/whatsapp/response-target", json={"minutes": None}).get_json()["minutes"] is None


def test_the_list_shows_when_the_first_response_falls_due(client, graph, runner, settings):
    ana = agent_key(runner, "Ana")
    customer_writes(client)
    [row] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert row["first_response_due_at"] is None  # no target yet
    assert client.put("/api/whatsapp/response-target", json={"minutes": 15}).status_code == 200
    with connection_for(settings) as conn:
        [(customer_at,)] = conn.execute("SELECT customer_at FROM response_waits").fetchall()
    expected = (datetime.strptime(customer_at, "%Y-%m-%d %H:%M:%S") + timedelta(minutes=15)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    [row] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert row["first_response_due_at"] == expected
    one = client.get(f"/api/whatsapp/conversation?conversation_id={row['id']}").get_json()["conversation"]
    assert one["first_response_due_at"] == expected
    customer_writes(client, "Anyone?")  # a second message while waiting keeps the first's time
    assert client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["first_response_due_at"] == expected
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    assert (
        client.post(
            "/api/whatsapp/send", json={"conversation_id": row["id"], "message": "Here"}, headers=bearer(ana)
        ).status_code
        == 200
    )
    assert client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["first_response_due_at"] is None


def test_reopening_a_closed_conversation_starts_a_new_resolution(client, runner, clock):
    writes(client, "A", "2026-11-02 09:00")
    closes(client, clock, "A", "2026-11-02 09:30")
    clock.at("2026-11-02 11:00")
    assert (
        client.post("/api/whatsapp/reopen", json={"conversation_id": conversation_id(client, "A")}).status_code == 200
    )
    closes(client, clock, "A", "2026-11-02 11:10")
    writes(client, "A", "2026-11-02 12:00")  # the customer reopens it
    closes(client, clock, "A", "2026-11-02 13:00")
    body = report(client, **{"from": "2026-11-02", "to": "2026-11-02"})["totals"]
    assert (body["opened"], body["closed"]) == (3, 3)
    assert body["resolution"]["count"] == 3 and body["resolution"]["median_seconds"] == 1800.0
    assert body["resolution"]["p90_seconds"] == 3600.0


def test_backfill_derives_the_waits_and_message_counts_from_stored_messages(client, runner, graph, clock, settings):
    ana = agent_key(runner, "Ana")
    writes(client, "A", "2026-11-02 09:00")
    writes(client, "A", "2026-11-02 09:02")
    replies(client, graph, clock, ana, "A", "2026-11-02 09:10")
    writes(client, "B", "2026-11-02 11:00")
    replies(client, graph, clock, ana, "B", "2026-11-02 11:01")
    writes(client, "A", "2026-11-03 10:00")  # still waiting
    period = {"from": "2026-11-02", "to": "2026-11-03"}
    before = report(client, **period)
    with connection_for(settings) as conn:
        for table in ("response_waits", "conversation_resolutions", "report_daily"):
            conn.execute(f"DELETE FROM {table}")
    assert report(client, **period)["totals"]["messages_in"] == 0
    result = runner.invoke(args=["backfill-reports"])
    assert result.exit_code == 0 and "Backfilled 3 response waits" in result.output, result.output
    after = report(client, **period)
    for figures in (before["totals"], after["totals"]):
        assert figures["first_response"]["count"] == 2 and figures["first_response"]["unanswered"] == 1
        assert figures["first_response"]["median_seconds"] == 330.0  # 600 s and 60 s
        assert (figures["messages_in"], figures["messages_out"]) == (4, 2)
    assert [g["messages_in"] for g in after["groups"]] == [g["messages_in"] for g in before["groups"]]
    again = runner.invoke(args=["backfill-reports"])
    assert "nothing was backfilled" in again.output


def test_a_conversation_closed_without_an_answer_stops_waiting(client, graph, runner, clock):
    ana = agent_key(runner, "Ana")
    writes(client, "A", "2026-11-02 09:00")
    closes(client, clock, "A", "2026-11-02 09:01")
    assert client.put("/api/whatsapp/response-target", json={"minutes": 15}).status_code == 200
    closed = client.get("/api/whatsapp/conversation", query_string={"conversation_id": conversation_id(client, "A")})
    assert closed.get_json()["conversation"]["first_response_due_at"] is None
    writes(client, "A", "2026-11-09 09:00")  # a week later, answered a minute after
    replies(client, graph, clock, ana, "A", "2026-11-09 09:01")
    first = report(client, **{"from": "2026-11-02", "to": "2026-11-09"})["totals"]["first_response"]
    assert (first["count"], first["median_seconds"]) == (1, 60)  # not the week the closed one waited
