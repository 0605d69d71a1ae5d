"""What /health and the dashboard's banner say about the number and the account: its quality, its
messaging limit, restrictions and bans, templates WhatsApp stopped, value-level errors and changes
for another number, with the alerts an operator must act on."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from .api_shapes import AccountHealth, AccountRestriction
from .store import signals as stored
from .store.common import now
from .templates import UNUSABLE

# Meta's codes for a rate or messaging limit hit: 130429 throughput, 131048 spam rate limit,
# 131056 too many messages to one customer (pair rate limit).
LIMIT_CODES = (130429, 131048, 131056)
# Ban states of DISABLED_UPDATE that stop the account: DISABLE, SCHEDULE_FOR_DISABLE (REINSTATE lifts it)
BANNED = ("DISABLE", "SCHEDULE_FOR_DISABLE")
# Events of phone_number_quality_update that lower the number's limit (Meta's events before 2025)
LIMIT_LOWERED = ("DOWNGRADE",)


def _expired(expiration: str | None) -> bool:
    """Whether a restriction's `expiration` (Unix seconds or a date Meta writes out) has passed;
    one that cannot be read is taken as still in force."""
    if not expiration:
        return False
    text = expiration.strip()
    try:
        moment = datetime.fromtimestamp(int(text), UTC) if text.isdigit() else datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < datetime.now(UTC)


def account_health(conn: sqlite3.Connection) -> AccountHealth:
    found = stored.account_signals(conn)

    def detail(signal: str) -> dict[str, Any]:
        return found.get(signal, {}).get("detail", {})

    quality = found.get("number.quality")
    limit = found.get("number.limit")
    restriction = found.get("account.restriction")
    restrictions: list[AccountRestriction] = [
        {"type": str(r.get("type")), "expiration": r.get("expiration")}
        for r in detail("account.restriction").get("restrictions", [])
        if isinstance(r, dict) and not _expired(r.get("expiration"))
    ]
    errors = stored.reported_errors(conn, LIMIT_CODES)
    limit_hits = errors["limit_hits_last_24h"] + stored.failed_sends_with(conn, LIMIT_CODES)
    unusable = [
        {
            "name": name,
            "language": language,
            "status": row["status"],
            "reason": row["status_reason"],
            "detail": row["status_detail"],
            "at": row["status_at"],
        }
        for (name, language), row in stored.template_states(conn).items()
        if row["status"] in UNUSABLE
    ]
    health: AccountHealth = {
        "number": {
            "quality_rating": detail("number.quality").get("quality_rating"),
            "quality_event": quality["event"] if quality else None,
            "quality_updated_at": quality["event_at"] if quality else None,
            "messaging_limit": detail("number.limit").get("current_limit"),
            "previous_limit": detail("number.limit").get("old_limit"),
            "limit_event": limit["event"] if limit else None,
            "limit_updated_at": limit["event_at"] if limit else None,
            "limit_hits_last_24h": limit_hits,
        },
        "account": {
            "restrictions": restrictions,
            "restricted_since": restriction["event_at"] if restriction and restrictions else None,
            "ban_state": detail("account.ban").get("state"),
            "ban_date": detail("account.ban").get("date"),
            "violation": detail("account.violation").get("type"),
            "violation_at": found["account.violation"]["event_at"] if "account.violation" in found else None,
            "last_event": found["account.event"]["event"] if "account.event" in found else None,
            "last_event_at": found["account.event"]["event_at"] if "account.event" in found else None,
        },
        "business_capabilities": {
            "messaging_limit": detail("business.capability").get("messaging_limit"),
            "max_phone_numbers_per_waba": detail("business.capability").get("max_phone_numbers_per_waba"),
            "max_phone_numbers_per_business": detail("business.capability").get("max_phone_numbers_per_business"),
            "updated_at": found["business.capability"]["event_at"] if "business.capability" in found else None,
        },
        "templates_unusable": unusable,
        "value_errors": {
            "last_24h": errors["last_24h"],
            "last_30_days": errors["last_30_days"],
            "last": errors["last"],
        },
        "other_number_changes": stored.other_number_changes(conn),
        "alerts": [],
        "checked_at": now(),
    }
    health["alerts"] = alerts(health)
    return health


def alerts(health: AccountHealth) -> list[str]:
    """The lines the dashboard's banner shows: quality not GREEN, a limit hit, a restriction or ban."""
    lines = []
    number, account = health["number"], health["account"]
    rating = number["quality_rating"]
    if rating and rating != "GREEN":
        lines.append(
            f"The number's quality rating is {rating}: customers are blocking or reporting its messages. "
            "Send fewer, more expected messages."
        )
    if number["limit_event"] in LIMIT_LOWERED:
        lines.append(
            f"WhatsApp lowered the number's messaging limit to {number['messaging_limit'] or 'a lower tier'} "
            f"(from {number['previous_limit'] or 'its previous tier'})."
        )
    if number["limit_hits_last_24h"]:
        lines.append(
            f"A WhatsApp rate or messaging limit was hit {number['limit_hits_last_24h']} time(s) in the last "
            "24 hours: some messages were not sent."
        )
    for restriction in account["restrictions"]:
        until = f" until {restriction['expiration']}" if restriction["expiration"] else ""
        lines.append(f"WhatsApp restricted the account: {restriction['type']}{until}.")
    if account["ban_state"] in BANNED:
        verb = "disabled" if account["ban_state"] == "DISABLE" else "scheduled to be disabled"
        since = f" ({account['ban_date']})" if account["ban_date"] else ""
        lines.append(f"WhatsApp {verb} the business account{since}.")
    return lines
