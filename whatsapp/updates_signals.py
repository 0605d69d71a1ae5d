"""Account signals an operator must see: template status, quality and category, the number's quality
and messaging limit, the account's restrictions and bans, the business's capabilities, and a
customer's marketing preference (stop / resume). Payload -> frozen dataclasses; no SQL, no Flask.

Shapes from Meta's webhook reference for each field (tests/fixtures/SOURCES.md). The template and
account fields are account-wide (no `metadata.phone_number_id`); `user_preferences` is per number.
`at` is Meta's time of the change (the entry's `time`, or the item's `timestamp`) when it sends one,
so a late retry of an older change does not overwrite a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .phones import from_wa_id
from .updates import Delivery, _list, _str, parses, to_db_time


@dataclass(frozen=True)
class TemplateStatusChange:
    """message_template_status_update: a template was approved, paused, disabled, rejected, ..."""

    template_id: str | None
    name: str
    language: str
    event: str
    reason: str | None
    detail: str | None  # other_info / rejection_info / disable_info, as one line
    category: str | None
    at: str | None


@dataclass(frozen=True)
class TemplateQualityChange:
    """message_template_quality_update: a template's quality score (GREEN, YELLOW, RED, UNKNOWN)."""

    template_id: str | None
    name: str
    language: str
    previous: str | None
    quality: str
    at: str | None


@dataclass(frozen=True)
class TemplateCategoryChange:
    """template_category_update: a template was recategorised (or will be, at `upcoming_at`)."""

    template_id: str | None
    name: str
    language: str
    previous: str | None
    category: str | None
    upcoming: str | None  # correct_category of an impending change
    upcoming_at: str | None
    at: str | None


@dataclass(frozen=True)
class NumberQualityChange:
    """phone_number_quality_update: the number's messaging limit / throughput (and, for the events
    FLAGGED / UNFLAGGED Meta sent before 2025, its quality)."""

    display_phone_number: str | None
    event: str | None
    current_limit: str | None
    old_limit: str | None
    quality_rating: str | None
    at: str | None


@dataclass(frozen=True)
class AccountChange:
    """account_update: restrictions, bans (DISABLED_UPDATE), violations and the other account events."""

    event: str
    restrictions: tuple[tuple[str, str | None], ...]  # (restriction_type, expiration as Meta sent it)
    ban_state: str | None
    ban_date: str | None
    violation: str | None
    at: str | None


@dataclass(frozen=True)
class CapabilityChange:
    """business_capability_update: the business portfolio's messaging limit and number limits."""

    messaging_limit: str | None
    max_phone_numbers_per_waba: int | None
    max_phone_numbers_per_business: int | None
    at: str | None


@dataclass(frozen=True)
class MarketingPreference:
    """user_preferences: a customer stopped (`stop`) or resumed (`resume`) marketing messages."""

    phone_number: str | None
    user_id: str | None
    name: str | None
    stopped: bool
    detail: str | None
    at: str


# The template events after which it can be sent again (REINSTATED: no longer flagged or disabled),
# and those that are not a status at all (LOCKED / UNLOCKED: editing; UNARCHIVED: "restored to its
# previous status", which only the listing knows; LIMIT_EXCEEDED: the account's template count).
_SENDABLE_AGAIN = ("APPROVED", "REINSTATED")
_NOT_A_STATUS = ("LOCKED", "UNLOCKED", "UNARCHIVED", "LIMIT_EXCEEDED", "FLAGGED")


def template_status(event: str) -> str | None:
    """The status a template has after Meta's event (None: this event says nothing about it)."""
    if event in _SENDABLE_AGAIN:
        return "APPROVED"
    if event in _NOT_A_STATUS:
        return None
    return event


def language_code(value: Any) -> str | None:
    """Meta's webhooks say `en-US` where the template listing and sends say `en_US`."""
    text = _str(value)
    return text.replace("-", "_") if text else None


def _time(value: Any) -> str | None:
    return to_db_time(value) if value not in (None, "") else None


def _template(value: dict, where: str, delivery: Delivery) -> tuple[str | None, str, str] | None:
    name = _str(value.get("message_template_name"))
    language = language_code(value.get("message_template_language"))
    if not name or not language:
        delivery.problems.append(f"{where}: a template change without message_template_name and _language")
        return None
    return _str(value.get("message_template_id")), name[:512], language[:20]


def _line(*parts: Any) -> str | None:
    text = " — ".join(p for p in (_str(x) for x in parts) if p)
    return text[:1000] or None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@parses("message_template_status_update")
def parse_template_status(value: dict, where: str, delivery: Delivery) -> None:
    template = _template(value, where, delivery)
    event = _str(value.get("event"))
    if template is None:
        return
    if not event:
        delivery.problems.append(f"{where}: a template status change without an event")
        return
    other = _dict(value.get("other_info"))
    rejection = _dict(value.get("rejection_info"))
    disabled = _dict(value.get("disable_info"))
    detail = _line(
        other.get("title"),
        other.get("description"),
        rejection.get("reason"),
        rejection.get("recommendation"),
        f"disabled at {to_db_time(disabled['disable_date'])} UTC" if disabled.get("disable_date") else None,
    )
    reason = _str(value.get("reason"))
    delivery.updates.append(
        TemplateStatusChange(
            *template,
            event=event.upper()[:40],
            reason=None if reason in (None, "NONE") else reason[:200],
            detail=detail,
            category=(_str(value.get("message_template_category")) or "").upper()[:40] or None,
            at=_time(delivery.entry_time),
        )
    )


@parses("message_template_quality_update")
def parse_template_quality(value: dict, where: str, delivery: Delivery) -> None:
    template = _template(value, where, delivery)
    quality = _str(value.get("new_quality_score"))
    if template is None:
        return
    if not quality:
        delivery.problems.append(f"{where}: a template quality change without new_quality_score")
        return
    previous = _str(value.get("previous_quality_score"))
    delivery.updates.append(
        TemplateQualityChange(
            *template,
            previous=previous.upper()[:20] if previous else None,
            quality=quality.upper()[:20],
            at=_time(delivery.entry_time),
        )
    )


@parses("template_category_update")
def parse_template_category(value: dict, where: str, delivery: Delivery) -> None:
    template = _template(value, where, delivery)
    if template is None:
        return
    category = _str(value.get("new_category"))
    upcoming = _str(value.get("correct_category"))
    if not category and not upcoming:
        delivery.problems.append(f"{where}: a template category change without new_category")
        return
    delivery.updates.append(
        TemplateCategoryChange(
            *template,
            previous=(_str(value.get("previous_category")) or "").upper()[:40] or None,
            category=category.upper()[:40] if category else None,
            upcoming=upcoming.upper()[:40] if upcoming else None,
            upcoming_at=_time(value.get("category_update_timestamp")) if upcoming else None,
            at=_time(delivery.entry_time),
        )
    )


# Before 2025 Meta's phone_number_quality_update said FLAGGED when the number's quality rating fell
# to low and UNFLAGGED when it recovered (DOWNGRADE / UPGRADE for the limit); today's events are
# ONBOARDING and THROUGHPUT_UPGRADE, with no rating. A rating sent as such is taken as is.
_QUALITY_OF_EVENT = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}


@parses("phone_number_quality_update")
def parse_number_quality(value: dict, where: str, delivery: Delivery) -> None:
    event = (_str(value.get("event")) or "").upper()[:40] or None
    # current_limit is being replaced by max_daily_conversations_per_business (Meta: February 2026)
    limit = _str(value.get("max_daily_conversations_per_business")) or _str(value.get("current_limit"))
    rating = _str(value.get("quality_rating")) or _str(value.get("current_quality_rating"))
    rating = rating.upper()[:20] if rating else _QUALITY_OF_EVENT.get(event or "")
    if event is None and limit is None and rating is None:
        delivery.problems.append(f"{where}: a phone number quality update without event or limit")
        return
    delivery.updates.append(
        NumberQualityChange(
            display_phone_number=_str(value.get("display_phone_number")),
            event=event,
            current_limit=limit[:40] if limit else None,
            old_limit=(_str(value.get("old_limit")) or "")[:40] or None,
            quality_rating=rating,
            at=_time(delivery.entry_time),
        )
    )


@parses("account_update")
def parse_account(value: dict, where: str, delivery: Delivery) -> None:
    event = _str(value.get("event"))
    if not event:
        delivery.problems.append(f"{where}: an account update without an event")
        return
    restrictions = tuple(
        (str(r["restriction_type"])[:100], _str(r.get("expiration")))
        for r in _list(value.get("restriction_info"))
        if isinstance(r, dict) and _str(r.get("restriction_type"))
    )
    ban = _dict(value.get("ban_info"))
    violation = _dict(value.get("violation_info"))
    delivery.updates.append(
        AccountChange(
            event=event.upper()[:60],
            restrictions=restrictions[:20],
            ban_state=(_str(ban.get("waba_ban_state")) or "").upper()[:40] or None,
            ban_date=(_str(ban.get("waba_ban_date")) or "")[:60] or None,
            violation=(_str(violation.get("violation_type")) or "")[:100] or None,
            at=_time(delivery.entry_time),
        )
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else None


@parses("business_capability_update")
def parse_capability(value: dict, where: str, delivery: Delivery) -> None:
    # max_daily_conversation_per_phone (250, 2000, ..., -1) is being replaced by
    # max_daily_conversations_per_business (TIER_250 ... TIER_UNLIMITED; the example sends 2000)
    limit = _str(value.get("max_daily_conversations_per_business"))
    if limit is None:
        legacy = value.get("max_daily_conversation_per_phone")
        limit = "TIER_UNLIMITED" if legacy == -1 else _str(legacy)
    delivery.updates.append(
        CapabilityChange(
            messaging_limit=limit[:40] if limit else None,
            max_phone_numbers_per_waba=_count(value.get("max_phone_numbers_per_waba")),
            max_phone_numbers_per_business=_count(value.get("max_phone_numbers_per_business")),
            at=_time(delivery.entry_time),
        )
    )


@parses("user_preferences")
def parse_user_preferences(value: dict, where: str, delivery: Delivery) -> None:
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    for index, item in enumerate(_list(value.get("user_preferences"))):
        here = f"{where}.user_preferences[{index}]"
        if not isinstance(item, dict):
            delivery.problems.append(f"{here} is not an object")
            continue
        if _str(item.get("category")) != "marketing_messages":
            delivery.problems.append(f"{here}: a preference of category {item.get('category')!r} (not handled)")
            continue
        choice = (_str(item.get("value")) or "").lower()
        if choice not in ("stop", "resume"):
            delivery.problems.append(f"{here}: a marketing preference {item.get('value')!r} (not stop or resume)")
            continue
        wa_id = _str(item.get("wa_id"))
        user_id = _str(item.get("user_id"))
        matches = (
            c
            for c in contacts
            if (wa_id and _str(c.get("wa_id")) == wa_id) or (user_id and c.get("user_id") == user_id)
        )
        contact = next(matches, {})
        user_id = user_id or _str(contact.get("user_id"))
        phone = from_wa_id(wa_id)
        if not phone and not user_id:
            delivery.problems.append(f"{here}: a marketing preference without wa_id or user_id")
            continue
        delivery.updates.append(
            MarketingPreference(
                phone_number=phone,
                user_id=user_id,
                name=_str(_dict(contact.get("profile")).get("name")),
                stopped=choice == "stop",
                detail=(_str(item.get("detail")) or "")[:500] or None,
                at=to_db_time(item.get("timestamp") or delivery.entry_time),
            )
        )
