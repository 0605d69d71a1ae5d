"""Business hours (routes on the api blueprint): any agent reads the schedule, admins change it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Response, jsonify

from . import business_hours
from .api import bp, json_body
from .api_doc import api_doc
from .api_shapes import BusinessHoursChange, BusinessHoursResult
from .auth import acting_agent_id, admin_required
from .db import get_db, write_transaction
from .errors import APIError
from .openapi import AGENT_ERRORS, WRITE_ERRORS
from .store import put_setting, stamp

log = logging.getLogger(__name__)


def answer(schedule: business_hours.Schedule) -> Response:
    moment = datetime.now(UTC)
    opening = schedule.next_opening(moment)
    return jsonify(
        success=True,
        business_hours=schedule.as_json(),
        open_now=schedule.is_open(moment),
        next_opening=stamp(opening) if opening else None,
    )


@bp.get("/business-hours")
@api_doc(
    "The team's business hours, and whether it is open now",
    tag="routing",
    description="Outside the hours, auto-assignment waits for the opening and the optional automatic "
    "reply answers. Without a schedule the inbox is always open.",
    responses={200: ("The schedule", BusinessHoursResult)},
    errors=AGENT_ERRORS,
)
def get_business_hours() -> Response:
    return answer(business_hours.load(get_db()) or business_hours.Schedule())


@bp.put("/business-hours")
@api_doc(
    "Set the team's business hours (admins)",
    tag="routing",
    body=BusinessHoursChange,
    example={
        "enabled": True,
        "timezone": "Europe/Berlin",
        "week": {day: [{"open": "09:00", "close": "17:30"}] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-12-25"],
    },
    responses={200: ("The schedule as stored", BusinessHoursResult)},
    errors=(400, 403, 413, *WRITE_ERRORS),
)
@admin_required("set business hours")
def put_business_hours() -> Response:
    try:
        schedule = business_hours.parse(json_body())
    except business_hours.ScheduleError as exc:
        raise APIError(400, f"Business hours: {exc}") from None
    conn = get_db()
    with write_transaction(conn):
        put_setting(conn, business_hours.SETTING, schedule.as_json(), acting_agent_id(None))
    log.info("Business hours changed (enabled=%s, %s)", schedule.enabled, schedule.timezone)
    return answer(schedule)
