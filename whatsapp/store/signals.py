"""Account signals: the latest template states, number quality and limits, account restrictions,
capabilities, customers' marketing preferences, and counts of value-level errors and of changes for
another number. Each applier runs in the delivery's transaction and is idempotent (the same
delivery twice changes nothing; an older change arriving late does not overwrite a newer one)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..updates import ForeignChange, ReportedError
from ..updates_signals import (
    AccountChange,
    CapabilityChange,
    MarketingPreference,
    NumberQualityChange,
    TemplateCategoryChange,
    TemplateQualityChange,
    TemplateStatusChange,
    template_status,
)
from .common import ago, emit, now, one
from .customers import resolve_conversation
from .inbound import IngestResult, applies

KEEP_COUNTED_DAYS = 30


def _changed(cur: sqlite3.Cursor, conn: sqlite3.Connection) -> None:
    """Tell the dashboards (event `account.updated`) when an upsert changed a row."""
    if cur.rowcount:
        emit(conn, "account.updated", None)


# --- templates -----------------------------------------------------------------------------


@applies(TemplateStatusChange)
def apply_template_status(conn: sqlite3.Connection, update: TemplateStatusChange, result: IngestResult) -> None:
    at = update.at or now()
    cur = conn.execute(
        """INSERT INTO template_states (name, language, template_id, status, status_event, status_reason,
                                        status_detail, status_at, category, category_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN CAST(? AS TEXT) IS NULL THEN NULL ELSE ? END)
           ON CONFLICT (name, language) DO UPDATE SET
               template_id = COALESCE(excluded.template_id, template_states.template_id),
               status = excluded.status, status_event = excluded.status_event,
               status_reason = excluded.status_reason, status_detail = excluded.status_detail,
               status_at = excluded.status_at,
               category = CASE WHEN excluded.category IS NOT NULL
                                    AND excluded.status_at >= COALESCE(template_states.category_at, '')
                               THEN excluded.category ELSE template_states.category END,
               category_at = CASE WHEN excluded.category IS NOT NULL
                                       AND excluded.status_at >= COALESCE(template_states.category_at, '')
                                  THEN excluded.status_at ELSE template_states.category_at END
           WHERE template_states.status_at IS NULL OR excluded.status_at > template_states.status_at
              OR (excluded.status_at = template_states.status_at
                  AND excluded.status_event IS DISTINCT FROM template_states.status_event)""",
        (
            update.name,
            update.language,
            update.template_id,
            template_status(update.event),
            update.event,
            update.reason,
            update.detail,
            at,
            update.category,
            update.category,
            at,
        ),
    )
    _changed(cur, conn)


@applies(TemplateQualityChange)
def apply_template_quality(conn: sqlite3.Connection, update: TemplateQualityChange, result: IngestResult) -> None:
    cur = conn.execute(
        """INSERT INTO template_states (name, language, template_id, quality, quality_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name, language) DO UPDATE SET
               template_id = COALESCE(excluded.template_id, template_states.template_id),
               quality = excluded.quality, quality_at = excluded.quality_at
           WHERE template_states.quality_at IS NULL OR excluded.quality_at > template_states.quality_at
              OR (excluded.quality_at = template_states.quality_at
                  AND excluded.quality IS DISTINCT FROM template_states.quality)""",
        (update.name, update.language, update.template_id, update.quality, update.at or now()),
    )
    _changed(cur, conn)


@applies(TemplateCategoryChange)
def apply_template_category(conn: sqlite3.Connection, update: TemplateCategoryChange, result: IngestResult) -> None:
    at = update.at or now()
    cur = conn.execute(
        """INSERT INTO template_states (name, language, template_id, category, upcoming_category,
                                        upcoming_category_at, category_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name, language) DO UPDATE SET
               template_id = COALESCE(excluded.template_id, template_states.template_id),
               category = COALESCE(excluded.category, template_states.category),
               upcoming_category = excluded.upcoming_category,
               upcoming_category_at = excluded.upcoming_category_at,
               category_at = excluded.category_at
           WHERE template_states.category_at IS NULL OR excluded.category_at > template_states.category_at
              OR (excluded.category_at = template_states.category_at
                  AND (excluded.category IS DISTINCT FROM template_states.category
                       OR excluded.upcoming_category IS DISTINCT FROM template_states.upcoming_category))""",
        (update.name, update.language, update.template_id, update.category, update.upcoming, update.upcoming_at, at),
    )
    _changed(cur, conn)


def template_states(conn: sqlite3.Connection) -> dict[tuple[str, str], sqlite3.Row]:
    """Every template's latest state from the webhooks, by (name, language)."""
    rows = conn.execute("SELECT * FROM template_states ORDER BY name, language LIMIT 5000").fetchall()
    return {(row["name"], row["language"]): row for row in rows}


# --- the number and the account ------------------------------------------------------------


def _signal(conn: sqlite3.Connection, signal: str, event: str | None, detail: dict[str, Any], at: str | None) -> bool:
    """Store a signal's latest state; whether it changed."""
    cur = conn.execute(
        """INSERT INTO account_signals (signal, event, detail, event_at, received_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (signal) DO UPDATE SET
               event = excluded.event, detail = excluded.detail, event_at = excluded.event_at,
               received_at = excluded.received_at
           WHERE excluded.event_at > account_signals.event_at
              OR (excluded.event_at = account_signals.event_at
                  AND (excluded.event IS DISTINCT FROM account_signals.event
                       OR excluded.detail IS DISTINCT FROM account_signals.detail))""",
        (signal, event, json.dumps(detail, sort_keys=True, ensure_ascii=False), at or now(), now()),
    )
    return cur.rowcount > 0


def _tell(conn: sqlite3.Connection, changed: list[bool]) -> None:
    if any(changed):
        emit(conn, "account.updated", None)


@applies(NumberQualityChange)
def apply_number_quality(conn: sqlite3.Connection, update: NumberQualityChange, result: IngestResult) -> None:
    changed = []
    if update.quality_rating:
        changed.append(
            _signal(conn, "number.quality", update.event, {"quality_rating": update.quality_rating}, update.at)
        )
    if update.current_limit or update.event:
        detail = {
            "display_phone_number": update.display_phone_number,
            "current_limit": update.current_limit,
            "old_limit": update.old_limit,
        }
        changed.append(_signal(conn, "number.limit", update.event, detail, update.at))
    _tell(conn, changed)


@applies(AccountChange)
def apply_account(conn: sqlite3.Connection, update: AccountChange, result: IngestResult) -> None:
    changed = []
    if update.event == "ACCOUNT_RESTRICTION" or update.restrictions:
        restrictions = [{"type": kind, "expiration": expiration} for kind, expiration in update.restrictions]
        changed.append(_signal(conn, "account.restriction", update.event, {"restrictions": restrictions}, update.at))
    if update.ban_state:
        ban = {"state": update.ban_state, "date": update.ban_date}
        changed.append(_signal(conn, "account.ban", update.event, ban, update.at))
    if update.violation:
        changed.append(_signal(conn, "account.violation", update.event, {"type": update.violation}, update.at))
    changed.append(_signal(conn, "account.event", update.event, {}, update.at))
    _tell(conn, changed)


@applies(CapabilityChange)
def apply_capability(conn: sqlite3.Connection, update: CapabilityChange, result: IngestResult) -> None:
    detail = {
        "messaging_limit": update.messaging_limit,
        "max_phone_numbers_per_waba": update.max_phone_numbers_per_waba,
        "max_phone_numbers_per_business": update.max_phone_numbers_per_business,
    }
    _tell(conn, [_signal(conn, "business.capability", None, detail, update.at)])


def account_signals(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """signal -> {event, detail (decoded), event_at, received_at}."""
    found = {}
    for row in conn.execute("SELECT * FROM account_signals ORDER BY signal LIMIT 100"):
        try:
            detail = json.loads(row["detail"]) if row["detail"] else {}
        except ValueError:
            detail = {}
        found[row["signal"]] = {
            "event": row["event"],
            "detail": detail if isinstance(detail, dict) else {},
            "event_at": row["event_at"],
            "received_at": row["received_at"],
        }
    return found


# --- counted reports ---------------------------------------------------------------------------


@applies(ReportedError)
def apply_reported_error(conn: sqlite3.Connection, update: ReportedError, result: IngestResult) -> None:
    cur = conn.execute(
        """INSERT INTO webhook_value_errors (report_key, code, title, details, received_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (report_key) DO NOTHING""",
        (update.key, update.code, (update.title or "")[:500] or None, (update.details or "")[:1000] or None, now()),
    )
    if cur.rowcount:
        conn.execute("DELETE FROM webhook_value_errors WHERE received_at < ?", (ago(24 * KEEP_COUNTED_DAYS),))
        emit(conn, "account.updated", None)


@applies(ForeignChange)
def apply_foreign_change(conn: sqlite3.Connection, update: ForeignChange, result: IngestResult) -> None:
    cur = conn.execute(
        """INSERT INTO other_number_changes (change_key, phone_number_id, field, received_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (change_key) DO NOTHING""",
        (update.key, update.phone_number_id, update.field, now()),
    )
    if cur.rowcount:
        conn.execute("DELETE FROM other_number_changes WHERE received_at < ?", (ago(24 * KEEP_COUNTED_DAYS),))


def reported_errors(conn: sqlite3.Connection, limit_codes: tuple[int, ...]) -> dict[str, Any]:
    """Value-level errors of the last 24 hours and 30 days, the latest, and rate-limit hits (24 h)."""
    since = ago(24)
    marks = ",".join("?" * len(limit_codes))
    counts = conn.execute(
        f"""SELECT COUNT(*), COUNT(*) FILTER (WHERE received_at >= ?),
                   COUNT(*) FILTER (WHERE received_at >= ? AND code IN ({marks}))
            FROM webhook_value_errors""",
        (since, since, *limit_codes),
    ).fetchone()
    last = one(conn, "SELECT * FROM webhook_value_errors ORDER BY received_at DESC, report_key LIMIT 1")
    return {
        "last_30_days": int(counts[0]),
        "last_24h": int(counts[1]),
        "limit_hits_last_24h": int(counts[2]),
        "last": (
            {"code": last["code"], "title": last["title"], "details": last["details"], "at": last["received_at"]}
            if last
            else None
        ),
    }


def failed_sends_with(conn: sqlite3.Connection, codes: tuple[int, ...]) -> int:
    """Sends of the last 24 hours that Meta failed with one of these codes."""
    marks = ",".join("?" * len(codes))
    row = conn.execute(
        f"""SELECT COUNT(*) FROM whatsapp_messages WHERE timestamp >= ? AND direction = 'outbound'
            AND status = 'failed' AND error_code IN ({marks})""",
        (ago(24), *codes),
    ).fetchone()
    return int(row[0])


def other_number_changes(conn: sqlite3.Connection) -> dict[str, Any]:
    since = ago(24)
    counts = conn.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE received_at >= ?) FROM other_number_changes", (since,)
    ).fetchone()
    numbers = [
        row[0]
        for row in conn.execute(
            "SELECT phone_number_id FROM other_number_changes GROUP BY phone_number_id ORDER BY MAX(received_at) DESC"
            " LIMIT 20"
        )
    ]
    return {"last_30_days": int(counts[0]), "last_24h": int(counts[1]), "phone_number_ids": numbers}


# --- customers' marketing preference -----------------------------------------------------------


@applies(MarketingPreference)
def apply_marketing_preference(conn: sqlite3.Connection, update: MarketingPreference, result: IngestResult) -> None:
    conversation_id = resolve_conversation(conn, update.phone_number, update.user_id, name=update.name)
    cur = conn.execute(
        """UPDATE whatsapp_conversations SET marketing_opt_out = ?, marketing_preference_at = ?, updated_at = ?
           WHERE conversation_id = ? AND (marketing_preference_at IS NULL OR marketing_preference_at < ?
                 OR (marketing_preference_at = ? AND marketing_opt_out != ?))""",
        (int(update.stopped), update.at, now(), conversation_id, update.at, update.at, int(update.stopped)),
    )
    if cur.rowcount:
        emit(conn, "conversation.updated", conversation_id)
