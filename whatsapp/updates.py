"""Webhook payload -> frozen dataclasses, one per kind of update. Pure: no SQL, no Flask.

Every level of the envelope is iterated (entries x changes x messages/statuses); an item that
cannot be understood is reported in `Delivery.problems` and skipped, never fatal to its neighbours.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .phones import from_wa_id

_MEDIA_ID = re.compile(r"[0-9]{1,32}")


def is_media_id(value: object) -> bool:
    """Meta's media ids are digits; anything else (a URL, a path) is refused before any call."""
    return isinstance(value, str) and _MEDIA_ID.fullmatch(value) is not None


log = logging.getLogger(__name__)

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# Types that change another message instead of being a bubble of their own.
ANNOTATION_TYPES = ("reaction", "edit", "revoke")
STATUS_VALUES = ("sent", "delivered", "read", "played", "failed")


class MalformedPayload(ValueError):
    """The body is not a WhatsApp webhook envelope at all."""


@dataclass(frozen=True)
class Contact:
    """A customer as an envelope's `contacts[]` item describes them."""

    phone_number: str | None
    user_id: str | None
    name: str | None
    username: str | None

    @classmethod
    def from_dict(cls, data: Any) -> Contact | None:
        if not isinstance(data, dict):
            return None
        profile = data.get("profile") if isinstance(data.get("profile"), dict) else {}
        return cls(
            phone_number=from_wa_id(_str(data.get("wa_id"))),
            user_id=_str(data.get("user_id")),
            name=_str(profile.get("name")),
            username=_str(profile.get("username")),
        )


@dataclass(frozen=True)
class Media:
    id: str | None
    mime_type: str | None
    sha256: str | None
    url: str | None
    filename: str | None = None

    @property
    def id_error(self) -> str | None:
        """Why this media cannot be downloaded (an id that is not Meta's), or None."""
        if self.id is None or is_media_id(self.id):
            return None
        return "Not a WhatsApp media id (media ids are digits), so it was not downloaded"

    @property
    def downloadable(self) -> bool:
        return self.id is not None and self.id_error is None


@dataclass(frozen=True)
class IdentityChange:
    """A `system` message saying the customer changed number or business-scoped user id."""

    kind: str
    new_phone_number: str | None
    new_user_id: str | None
    previous_user_id: str | None


@dataclass(frozen=True)
class InboundMessage:
    wamid: str
    phone_number: str | None
    user_id: str | None
    timestamp: str
    type: str
    text: str | None
    raw: dict
    contact: Contact | None = None
    media: Media | None = None
    context_id: str | None = None
    reaction_to: str | None = None
    identity_change: IdentityChange | None = None
    # Meta's reason when it could not pass the content on (131051 unsupported, 131052 too big).
    error: tuple[int | None, str | None, str | None] | None = None
    # Written in a WhatsApp group (Groups API): it belongs to the group's thread, `from` is its sender.
    group_id: str | None = None

    @property
    def is_annotation(self) -> bool:
        """A reaction, edit or deletion: it changes the message it points at, not the thread."""
        return self.type in ANNOTATION_TYPES

    @property
    def counts_as_unread(self) -> bool:
        return self.type != "system" and not self.is_annotation

    @property
    def opens_window(self) -> bool:
        """Whether it (re)opens the 24-hour customer-service window: a real message from the user.

        Meta does not say whether reactions, system or unsupported messages count, so they don't.
        """
        return self.type not in ("system", "unsupported", "unknown") and not self.is_annotation

    @property
    def raw_json(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str
    timestamp: str
    phone_number: str | None
    user_id: str | None
    local_id: str | None
    error_code: int | None = None
    error_title: str | None = None
    error_details: str | None = None
    pricing: Pricing | None = None
    # A send to a group: Meta's recipient_id is the group id (one status per participant).
    group_id: str | None = None
    participant: str | None = None  # the member a group status is about (recipient_participant_id)


@dataclass(frozen=True)
class Pricing:
    """A status's `pricing` object: what Meta charges (or not) for the message, and in which category."""

    billable: bool | None
    pricing_model: str | None  # PMP (per-message, since 1 July 2025) or CBP (before)
    category: str | None  # marketing, utility, authentication, authentication-international, service, ...
    type: str | None  # regular, free_customer_service, free_entry_point
    # a free entry point window's end, from the status's `conversation.expiration_timestamp`
    entry_expires_at: str | None = None

    @property
    def charged(self) -> bool:
        """Meta deprecates `billable`: `type` decides (regular is charged); `billable` only without it."""
        if self.type is not None:
            return self.type == "regular"
        return bool(self.billable)

    @classmethod
    def from_status(cls, item: dict) -> Pricing | None:
        data = item.get("pricing")
        if not isinstance(data, dict):
            return None
        conversation = item.get("conversation") if isinstance(item.get("conversation"), dict) else {}
        billable = data.get("billable")
        if isinstance(billable, str):  # some samples quote it
            billable = {"true": True, "false": False}.get(billable.strip().lower())
        expires = conversation.get("expiration_timestamp")
        return cls(
            billable=billable if isinstance(billable, bool) else None,
            pricing_model=_word(data.get("pricing_model")),
            category=_word(data.get("category")),
            type=_word(data.get("type")),
            entry_expires_at=to_db_time(expires) if _str(expires) and _int(expires) else None,
        )


@dataclass(frozen=True)
class ReportedError:
    """A value-level `errors[]` item of a `messages` change (Meta could not pass something on, or a
    rate limit was hit): counted for /health. `key` names the report, so the same delivery twice
    counts once."""

    key: str
    code: int | None
    title: str | None
    details: str | None


@dataclass(frozen=True)
class ForeignChange:
    """A change for another phone number of the business account, skipped: counted for /health."""

    key: str
    phone_number_id: str
    field: str | None


def report_key(where: str, value: Any, entry_time: Any = None) -> str:
    """A stable name for one item of a delivery (the same delivery twice gives the same keys)."""
    text = json.dumps([where, entry_time, value], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Delivery:
    """Everything one webhook POST carried."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)
    # phone_number_ids of changes for another number of the same business account, skipped
    other_numbers: list[str] = field(default_factory=list)
    # the `field` of every change, handled or not (delivery health, per field)
    fields: list[str] = field(default_factory=list)
    # typed updates of the other fields (FIELD_PARSERS), applied in order by store.apply_delivery
    updates: list[Any] = field(default_factory=list)
    # `time` of the entry being parsed (Meta's Unix seconds, when it sends one), for the parsers
    entry_time: Any = None


# The other webhook fields: field name -> parse(value, where, delivery), which appends typed updates
# (frozen dataclasses of an `updates_*` module) to `delivery.updates` and problems to
# `delivery.problems`. A field without a parser is acknowledged and counted, never stored.
FieldParser = Callable[[dict, str, "Delivery"], None]
FIELD_PARSERS: dict[str, FieldParser] = {}


def parses(*names: str) -> Callable[[FieldParser], FieldParser]:
    """Register a parser for these webhook fields (used by the `updates_*` modules)."""

    def register(parser: FieldParser) -> FieldParser:
        for name in names:
            if name in FIELD_PARSERS or name == "messages":
                raise ValueError(f"field {name!r} already has a parser")
            FIELD_PARSERS[name] = parser
        return parser

    return register


def parse_delivery(body: Any, phone_number_id: str = "") -> Delivery:
    """Parse a decoded webhook body. Raises MalformedPayload only when the envelope itself is wrong.

    With `phone_number_id`, a change whose `metadata.phone_number_id` names another number (the
    same app can serve several numbers of a business account) is skipped: it is not this inbox's.
    """
    if not isinstance(body, dict):
        raise MalformedPayload("the body must be a JSON object")
    entries = body.get("entry")
    if body.get("object") != "whatsapp_business_account" or not isinstance(entries, list):
        raise MalformedPayload("not a WhatsApp Business Account webhook (need object and entry[])")
    delivery = Delivery()
    for e_index, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            delivery.problems.append(f"entry[{e_index}] has no changes[]")
            continue
        delivery.entry_time = entry.get("time")
        for c_index, change in enumerate(changes):
            where = f"entry[{e_index}].changes[{c_index}]"
            if not isinstance(change, dict):
                delivery.problems.append(f"{where} is not an object")
                continue
            name = change["field"][:100] if isinstance(change.get("field"), str) else None
            if name is not None and name not in delivery.fields:
                delivery.fields.append(name)
            parser = _parse_value if name == "messages" else FIELD_PARSERS.get(name or "")
            if parser is None:
                delivery.ignored_fields.append(str(change.get("field")))
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                delivery.problems.append(f"{where}.value is not an object")
                continue
            # Fields of one number carry its metadata; account-wide fields (templates) carry none.
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            number = metadata.get("phone_number_id")
            if phone_number_id and number is not None and str(number) != phone_number_id:
                delivery.other_numbers.append(str(number))
                delivery.updates.append(
                    ForeignChange(report_key(where, value, delivery.entry_time), str(number)[:100], name)
                )
                continue
            parser(value, where, delivery)
    return delivery


def _parse_value(value: dict, where: str, delivery: Delivery) -> None:
    contacts = [c for c in (Contact.from_dict(c) for c in _list(value.get("contacts"))) if c]
    # Meta may report a message's problem beside it, in `value.errors` (an interactive message whose
    # content it could not pass on): each message of the value without errors of its own takes the
    # first as its error (its raw JSON stays as Meta sent it).
    beside = _first_error(value)
    for index, item in enumerate(_list(value.get("messages"))):
        try:
            delivery.messages.append(parse_message(item, contacts, beside))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            delivery.problems.append(f"{where}.messages[{index}]: {exc}")
    for index, item in enumerate(_list(value.get("statuses"))):
        try:
            delivery.statuses.append(parse_status(item, contacts))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            delivery.problems.append(f"{where}.statuses[{index}]: {exc}")
    for index, error in enumerate(_list(value.get("errors"))):
        if isinstance(error, dict):
            log.warning("WhatsApp reported an error: code=%s title=%s", error.get("code"), error.get("title"))
            code, title, details = _first_error({"errors": [error]}) or (None, None, None)
            key = report_key(f"{where}.errors[{index}]", value, delivery.entry_time)
            delivery.updates.append(ReportedError(key, code, title, details))


def parse_message(
    item: Any, contacts: list[Contact], beside: tuple[int | None, str | None, str | None] | None = None
) -> InboundMessage:
    """One `value.messages[]` item; its contact is joined by wa_id or user_id, never by position."""
    if not isinstance(item, dict):
        raise ValueError("message is not an object")
    wamid = _str(item.get("id"))
    if not wamid:
        raise ValueError("message has no id")
    phone = from_wa_id(_str(item.get("from")))
    user_id = _str(item.get("from_user_id"))
    if not phone and not user_id:
        raise ValueError("message has neither from nor from_user_id")
    kind = _str(item.get("type")) or "unknown"
    contact = _match_contact(contacts, phone, user_id)
    context = item.get("context") if isinstance(item.get("context"), dict) else {}
    media = _media(item, kind)
    identity = _identity_change(item) if kind == "system" else None
    reaction_to = None
    if kind in ANNOTATION_TYPES:
        inner = item.get(kind) if isinstance(item.get(kind), dict) else {}
        reaction_to = _str(inner.get("message_id")) or _str(inner.get("original_message_id"))
    return InboundMessage(
        wamid=wamid,
        phone_number=phone,
        user_id=user_id or (contact.user_id if contact else None),
        timestamp=to_db_time(item.get("timestamp")),
        type=kind,
        text=visible_text(item, kind),
        raw=item,
        contact=contact,
        media=media,
        context_id=_str(context.get("id")) or reaction_to,
        reaction_to=reaction_to,
        identity_change=identity,
        error=_first_error(item) or beside,
        group_id=_str(item.get("group_id")),
    )


def parse_status(item: Any, contacts: list[Contact]) -> StatusUpdate:
    if not isinstance(item, dict):
        raise ValueError("status is not an object")
    wamid = _str(item.get("id"))
    status = _str(item.get("status"))
    if not wamid or not status:
        raise ValueError("status has no id or status")
    if status not in STATUS_VALUES:
        raise ValueError(f"unknown status {status!r}")
    group_id = _str(item.get("recipient_id")) if item.get("recipient_type") == "group" else None
    # A group's id is no phone number, and its statuses name no one customer.
    phone = None if group_id else from_wa_id(_str(item.get("recipient_id")))
    user_id = None if group_id else _str(item.get("recipient_user_id"))
    if not user_id and not group_id:
        contact = _match_contact(contacts, phone, None) or (contacts[0] if len(contacts) == 1 else None)
        user_id = contact.user_id if contact else None
    code, title, details = _first_error(item) or (None, None, None)
    return StatusUpdate(
        wamid=wamid,
        status=status,
        timestamp=to_db_time(item.get("timestamp")),
        phone_number=phone,
        user_id=user_id,
        local_id=_str(item.get("biz_opaque_callback_data")),
        error_code=code,
        error_title=title,
        error_details=details,
        pricing=Pricing.from_status(item),
        group_id=group_id,
        participant=from_wa_id(_str(item.get("recipient_participant_id"))) if group_id else None,
    )


def _word(value: Any) -> str | None:
    """A short code word of Meta's (a pricing category or type); anything longer is cut."""
    text = _str(value)
    return text[:64] if text else None


def _first_error(item: dict) -> tuple[int | None, str | None, str | None] | None:
    """(code, title, details) of the first of an item's `errors[]`, if any."""
    errors = [e for e in _list(item.get("errors")) if isinstance(e, dict)]
    if not errors:
        return None
    first = errors[0]
    data = first.get("error_data") if isinstance(first.get("error_data"), dict) else {}
    return _int(first.get("code")), _str(first.get("title")) or _str(first.get("message")), _str(data.get("details"))


def visible_text(item: dict, kind: str) -> str | None:
    """What a person sees of the message: its body, caption, title or summary."""
    body = item.get(kind)
    if kind == "contacts":
        body = body if isinstance(body, list) else []
    elif not isinstance(body, dict):
        body = {}
    if kind == "text":
        return _str(body.get("body"), strip=False)
    if kind in MEDIA_TYPES:
        return _str(body.get("caption"), strip=False) or (_str(body.get("filename")) if kind == "document" else None)
    if kind == "location":
        parts = [_str(body.get("name")), _str(body.get("address"))]
        named = "\n".join(p for p in parts if p)
        if named:
            return named
        coordinates = location_coordinates(body)
        return f"{coordinates[0]}, {coordinates[1]}" if coordinates else None
    if kind == "contacts":
        names = []
        for card in body:
            if not isinstance(card, dict):
                continue
            name = card.get("name") if isinstance(card.get("name"), dict) else {}
            phones = [
                p["phone"] for p in _list(card.get("phones")) if isinstance(p, dict) and isinstance(p.get("phone"), str)
            ]
            label = _str(name.get("formatted_name")) or _str(name.get("first_name")) or "Contact"
            names.append(f"{label} ({', '.join(phones)})" if phones else label)
        return "\n".join(names) or None
    if kind == "interactive":
        sub = _str(body.get("type"))
        reply = body.get(sub) if sub and isinstance(body.get(sub), dict) else {}
        if sub == "nfm_reply":
            return _str(reply.get("body")) or _str(reply.get("name"))
        return _str(reply.get("title"))
    if kind == "button":
        return _str(body.get("text")) or _str(body.get("payload"))
    if kind == "reaction":
        return _str(body.get("emoji")) or None
    if kind == "system":
        return _str(body.get("body"))
    if kind == "order":
        items = _list(body.get("product_items"))
        return _str(body.get("text")) or f"Order of {len(items)} item(s)"
    if kind == "edit":
        inner = body.get("message") if isinstance(body.get("message"), dict) else {}
        return visible_text(inner, _str(inner.get("type")) or "")
    return None


def to_db_time(value: Any) -> str:
    """Meta's Unix-seconds string -> 'YYYY-MM-DD HH:MM:SS' UTC; missing or absurd -> now."""
    try:
        seconds = int(str(value).strip())
        if not 0 < seconds < 32503680000:
            raise ValueError
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _media(item: dict, kind: str) -> Media | None:
    if kind not in MEDIA_TYPES or not isinstance(item.get(kind), dict):
        return None
    body = item[kind]
    return Media(
        id=_str(body.get("id")),
        mime_type=_str(body.get("mime_type")),
        sha256=_str(body.get("sha256")),
        url=_str(body.get("url")),
        filename=_str(body.get("filename")),
    )


def _identity_change(item: dict) -> IdentityChange | None:
    system = item.get("system") if isinstance(item.get("system"), dict) else {}
    kind = _str(system.get("type"))
    if kind not in ("user_changed_number", "customer_changed_number", "user_changed_user_id"):
        return None
    return IdentityChange(
        kind=kind,
        new_phone_number=from_wa_id(_str(system.get("wa_id")) or _str(system.get("new_wa_id"))),
        new_user_id=_str(system.get("user_id")),
        previous_user_id=_str(system.get("previous_user_id")),
    )


def _match_contact(contacts: list[Contact], phone: str | None, user_id: str | None) -> Contact | None:
    for contact in contacts:
        if user_id and contact.user_id == user_id:
            return contact
        if phone and contact.phone_number == phone:
            return contact
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any, strip: bool = True) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)
    if strip:
        text = text.strip()
    return text or None


SQLITE_MAX_INT = 2**63 - 1


def _int(value: Any) -> int | None:
    """An integer SQLite can hold, or None (Meta's codes are small; anything else is not a code)."""
    if isinstance(value, bool):  # true is not the code 1
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -SQLITE_MAX_INT - 1 <= number <= SQLITE_MAX_INT else None


def number(value: Any) -> float | None:
    """A finite number from JSON: a number or numeric text, never a boolean (`true` is not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def location_coordinates(body: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a location message's body, when both are numbers on the globe."""
    if not isinstance(body, dict):
        return None
    latitude, longitude = number(body.get("latitude")), number(body.get("longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


# --- the other fields' parsers: each module registers its fields with @parses on import ---------
from . import updates_coexistence, updates_groups, updates_signals  # noqa: E402, F401
