"""Reports (routes on the api blueprint): the figures as JSON and CSV, and the first-response target."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, timedelta

from flask import Response, jsonify, request

from . import reports
from .api import bp, int_param, json_body
from .api_doc import api_doc, identifier, query
from .api_shapes import ReportResult, ResponseTarget, ResponseTargetResult
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS
from .store import put_setting
from .store.reports import zone

log = logging.getLogger(__name__)

MAX_TARGET = 7 * 24 * 60

PARAMETERS = [
    query("from", {"type": "string", "format": "date"}, "First day, YYYY-MM-DD (default: 29 days before `to`)"),
    query("to", {"type": "string", "format": "date"}, "Last day, included (default: today)"),
    query("agent_id", identifier(), "Only this agent's figures"),
]


def _day(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) != 10 or value[4] != "-" or value[7] != "-":  # 2024-W01-1 is ISO too, but no day
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise APIError(400, f"{name} must be a date, YYYY-MM-DD") from None
    if not 2000 <= day.year <= 9000:  # the period's ends, in any zone, stay on the calendar
        raise APIError(400, f"{name} must be a date from the year 2000 to 9000")
    return day


def period() -> tuple[date, date, int | None]:
    """The period and agent a report request asks for; 400 for a bad date, from after to, or a range
    over MAX_DAYS days."""
    from datetime import UTC, datetime

    last = _day("to") or datetime.now(UTC).astimezone(zone(get_db())).date()
    first = _day("from") or last - timedelta(days=29)
    if first > last:
        raise APIError(400, "from must not be after to")
    if (last - first).days + 1 > reports.MAX_DAYS:
        raise APIError(400, f"A report covers at most {reports.MAX_DAYS} days")
    agent_id = int_param(request.args.get("agent_id"), "agent_id", low=1)
    return first, last, agent_id


def _group_by(default: str | None) -> str | None:
    value = request.args.get("group_by", "").strip() or default
    if value is not None and value not in reports.GROUPINGS:
        raise APIError(400, "group_by must be day or agent")
    return value


@bp.get("/reports")
@api_doc(
    "Response times and volumes of a period, by day or by agent",
    tag="reports",
    description="First response: from a customer's first unanswered message (its WhatsApp time) to the "
    "first agent reply after it (when the agent sent it; reactions, notes, automatic replies and messages "
    "from the WhatsApp Business app are not replies), each such wait counted in the day it began. "
    "Resolution: from the conversation being opened or reopened to its close. Group threads have neither. "
    "Median and 90th percentile (nearest rank), in and out of business hours. Days are those of the business "
    "hours' time zone (UTC without a schedule). The figures start when this version was installed.",
    parameters=[
        *PARAMETERS,
        query("group_by", {"enum": ["day", "agent"], "default": "day"}, "Groups: every day, or each agent"),
    ],
    responses={200: ("The figures", ReportResult)},
    errors=(400, *AGENT_ERRORS),
)
def get_reports() -> Response:
    first, last, agent_id = period()
    group_by = _group_by("day") or "day"
    return jsonify(reports.report(get_db(), first, last, agent_id, group_by))


@bp.get("/reports.csv")
@api_doc(
    "The same figures as CSV: a header row, then a row per day and agent (or per day, or per agent)",
    tag="reports",
    parameters=[
        *PARAMETERS,
        query("group_by", {"enum": ["day", "agent"]}, "Rows per day or per agent (default: per day and agent)"),
    ],
    responses={200: ("CSV, seconds as whole numbers", {"type": "string"}, "text/csv")},
    errors=(400, *AGENT_ERRORS),
)
def get_reports_csv() -> Response:
    first, last, agent_id = period()
    group_by = _group_by(None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in reports.csv_rows(get_db(), first, last, agent_id, group_by):
        writer.writerow(_safe(cell) for cell in row)
    filename = f"reports-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _safe(cell: object) -> object:
    """An agent's name that a spreadsheet would run as a formula is written as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


@bp.get("/response-target")
@api_doc(
    "The first-response target (minutes), or null",
    tag="reports",
    responses={200: ("The target", ResponseTargetResult)},
    errors=AGENT_ERRORS,
)
def get_response_target() -> Response:
    return jsonify(success=True, minutes=reports.target_minutes(get_db()))


@bp.put("/response-target")
@api_doc(
    "Set the first-response target (admins); null removes it",
    tag="reports",
    description="The list's conversations then carry first_response_due_at: the customer's unanswered "
    "message's time plus the target.",
    body=ResponseTarget,
    example={"minutes": 15},
    responses={200: ("The target as stored", ResponseTargetResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
@admin_required("set the response target")
def put_response_target() -> Response:
    data = json_body()
    if "minutes" not in data:
        raise APIError(400, "minutes is required (a number of minutes, or null for no target)")
    minutes = data["minutes"]
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int):  # a JSON number, not "15"
            raise APIError(400, f"minutes must be a whole number from 1 to {MAX_TARGET}, or null")
        minutes = int_param(minutes, "minutes", low=1, high=MAX_TARGET)
    conn = get_db()
    with write_transaction(conn):
        put_setting(conn, reports.TARGET_SETTING, {"minutes": minutes}, acting_agent_id(None))
    log.info("First-response target set to %s minutes", minutes)
    return jsonify(success=True, minutes=minutes)
