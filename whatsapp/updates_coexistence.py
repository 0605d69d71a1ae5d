"""Coexistence (a number used by the WhatsApp Business app and the Cloud API at once): the webhook fields
`smb_message_echoes`, `history` and `smb_app_state_sync` -> frozen dataclasses. Pure: no SQL, no Flask.

Shapes from Meta's webhook reference (developers.facebook.com .../webhooks/reference/history,
.../smb_app_state_sync, .../smb_message_echoes; see tests/fixtures/SOURCES.md). Echoes and history
messages have the body of an inbound message, so `updates.parse_message` reads them, with the
customer as the sender.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from . import updates
from .phones import from_wa_id, is_bsuid
from .updates import Contact, Delivery, InboundMessage, _int, _list, _str, parse_message, to_db_time

# history_context.status of a message the business sent -> the status ladder of our outbound messages
# (PENDING never reached Meta's servers from the phone; it shows as sent, not as a send of ours in flight)
HISTORY_STATUSES = {
    "sent": "sent",
    "pending": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
    "error": "failed",
    "failed": "failed",
}


@dataclass(frozen=True)
class Echo:
    """A message the business sent from the WhatsApp Business app (or a linked device)."""

    message: InboundMessage  # its customer is the recipient (`to`); raw is the echo as Meta sent it


@dataclass(frozen=True)
class HistoryMessage:
    message: InboundMessage  # the thread's customer, whoever sent it
    direction: str  # 'inbound' (the customer wrote) or 'outbound' (the business did)
    status: str  # inbound: 'received'; outbound: sent, delivered, read, played or failed


@dataclass(frozen=True)
class HistoryChunk:
    """One `value.history[]` item: a chunk of the chat history the business agreed to share."""

    phase: int | None
    chunk_order: int | None
    progress: int | None
    messages: tuple[HistoryMessage, ...] = ()
    # the business declined to share its history (Meta's error, e.g. 2593109), or another error
    error_code: int | None = None
    error_title: str | None = None


@dataclass(frozen=True)
class ContactSync:
    """One `state_sync[]` item: the owner added, edited or removed a contact in the app."""

    phone_number: str
    name: str | None  # None when removed
    removed: bool
    timestamp: str


def _as_customer(item: dict, phone: str | None, user_id: str | None) -> dict:
    """The item with the customer as its sender, which is what parse_message keys a message by."""
    copy = {key: value for key, value in item.items() if key not in ("from", "from_user_id")}
    if phone:
        copy["from"] = phone.lstrip("+")
    if user_id:
        copy["from_user_id"] = user_id
    return copy


def parse_echo(item: Any, contacts: list[Contact]) -> Echo:
    if not isinstance(item, dict):
        raise ValueError("echo is not an object")
    group_id = _str(item.get("group_id"))
    if group_id:  # sent in a group from the app: its thread is the group's (`to` is no phone number)
        # parse_message needs a sender to key the message by; a group echo's is the business: dropped.
        message = parse_message(_as_customer(item, "0", None), contacts)
        return Echo(dataclasses.replace(message, raw=item, phone_number=None, user_id=None, contact=None))
    to = _str(item.get("to"))
    if to is not None and not (to.lstrip("+").isascii() and to.lstrip("+").isdigit()):
        raise ValueError("echo's `to` is not a phone number")  # never a made-up number from its digits
    phone, user_id = from_wa_id(to), _str(item.get("to_user_id"))
    if not phone and not user_id:
        raise ValueError("echo has neither to nor to_user_id")
    message = parse_message(_as_customer(item, phone, user_id), contacts)
    return Echo(dataclasses.replace(message, raw=item))


@updates.parses("smb_message_echoes")
def _parse_echoes(value: dict, where: str, delivery: Delivery) -> None:
    contacts = [c for c in (Contact.from_dict(c) for c in _list(value.get("contacts"))) if c]
    for index, item in enumerate(_list(value.get("message_echoes"))):
        try:
            delivery.updates.append(parse_echo(item, contacts))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            delivery.problems.append(f"{where}.message_echoes[{index}]: {exc}")


def _digits(value: Any) -> str:
    return re.sub(r"[^0-9]", "", _str(value) or "")


def parse_history_message(item: Any, thread_id: str, business: str) -> HistoryMessage:
    """One message of a history thread; outbound when `from` is the business number (or, without
    that number, when it is not the thread's customer)."""
    if not isinstance(item, dict):
        raise ValueError("message is not an object")
    user_id = thread_id if is_bsuid(thread_id) else None
    phone = None if user_id else from_wa_id(thread_id)
    if not phone and not user_id:
        raise ValueError("thread has no customer id")
    sender = _digits(item.get("from"))
    if business:
        outbound = sender == business
    else:
        outbound = bool(sender) and sender != _digits(thread_id) or "to" in item
    message = dataclasses.replace(parse_message(_as_customer(item, phone, user_id), []), raw=item)
    context = item.get("history_context") if isinstance(item.get("history_context"), dict) else {}
    status = (_str(context.get("status")) or "").lower()
    if outbound:
        return HistoryMessage(message, "outbound", HISTORY_STATUSES.get(status, "sent"))
    return HistoryMessage(message, "inbound", "received")


@updates.parses("history")
def _parse_history(value: dict, where: str, delivery: Delivery) -> None:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    business = _digits(metadata.get("display_phone_number"))
    for c_index, chunk in enumerate(_list(value.get("history"))):
        here = f"{where}.history[{c_index}]"
        if not isinstance(chunk, dict):
            delivery.problems.append(f"{here} is not an object")
            continue
        meta = chunk.get("metadata") if isinstance(chunk.get("metadata"), dict) else {}
        messages: list[HistoryMessage] = []
        for t_index, thread in enumerate(_list(chunk.get("threads"))):
            thread_id = _str(thread.get("id")) if isinstance(thread, dict) else None
            if not thread_id:
                delivery.problems.append(f"{here}.threads[{t_index}] has no id")
                continue
            for m_index, item in enumerate(_list(thread.get("messages"))):
                try:
                    messages.append(parse_history_message(item, thread_id, business))
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    delivery.problems.append(f"{here}.threads[{t_index}].messages[{m_index}]: {exc}")
        code, title, _details = updates._first_error(chunk) or (None, None, None)
        delivery.updates.append(
            HistoryChunk(
                phase=_int(meta.get("phase")),
                chunk_order=_int(meta.get("chunk_order")),
                progress=_int(meta.get("progress")),
                messages=tuple(messages),
                error_code=code,
                error_title=title,
            )
        )


@updates.parses("smb_app_state_sync")
def _parse_state_sync(value: dict, where: str, delivery: Delivery) -> None:
    for index, item in enumerate(_list(value.get("state_sync"))):
        here = f"{where}.state_sync[{index}]"
        if not isinstance(item, dict) or _str(item.get("type")) != "contact":
            delivery.problems.append(f"{here} is not a contact")  # Meta documents only contacts so far
            continue
        contact = item.get("contact") if isinstance(item.get("contact"), dict) else {}
        phone = from_wa_id(_str(contact.get("phone_number")))
        if not phone:
            delivery.problems.append(f"{here} has no contact.phone_number")
            continue
        removed = _str(item.get("action")) == "remove"
        name = None if removed else _str(contact.get("full_name")) or _str(contact.get("first_name"))
        if not removed and not name:
            delivery.problems.append(f"{here} has no contact name")
            continue
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        delivery.updates.append(ContactSync(phone, name, removed, to_db_time(meta.get("timestamp"))))
