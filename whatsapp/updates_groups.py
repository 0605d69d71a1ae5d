"""The Groups API's webhook fields -> frozen dataclasses (one per kind of update). Pure: no SQL.

Meta sends `value.groups[]` on four fields (developers.facebook.com/docs/whatsapp/cloud-api/groups/webhooks):
`group_lifecycle_update` (group_create / group_delete), `group_participants_update`
(group_participants_add / group_participants_remove; join requests change no membership),
`group_settings_update` (subject, description, picture, each with `update_successful`) and
`group_status_update` (group_suspend / group_suspend_cleared). An item with `errors` and nothing
that succeeded changes nothing. Messages written in a group arrive on `messages` with `group_id`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import phones
from .updates import Delivery, _list, _str, parses, to_db_time


@dataclass(frozen=True)
class Participant:
    """A member as Meta names one: `wa_id` and/or `input` (a phone or a BSUID), `user_id`, `username`."""

    phone_number: str | None
    user_id: str | None
    username: str | None

    @classmethod
    def from_dict(cls, data: Any) -> Participant | None:
        if not isinstance(data, dict):
            return None
        given = _str(data.get("input"))
        user_id = _str(data.get("user_id")) or (given if given and phones.is_bsuid(given) else None)
        phone = phones.from_wa_id(_str(data.get("wa_id")))
        if phone is None and given and not phones.is_bsuid(given):
            phone = phones.from_wa_id(given)
        if phone is None and user_id is None:
            return None
        return cls(phone_number=phone, user_id=user_id, username=_str(data.get("username")))


@dataclass(frozen=True)
class GroupParticipantsChanged:
    """Members joined (`added`) or left or were removed (`removed`)."""

    group_id: str
    timestamp: str
    change: str  # 'added' | 'removed'
    participants: tuple[Participant, ...]
    initiated_by: str | None  # removals: 'business' or 'participant' (they left)
    key: str  # the same webhook item twice is the same key: applied once


@dataclass(frozen=True)
class GroupSubjectChanged:
    group_id: str
    timestamp: str
    subject: str
    key: str


@dataclass(frozen=True)
class GroupLifecycle:
    """The group was created (with its subject) or deleted."""

    group_id: str
    timestamp: str
    event: str  # 'created' | 'deleted'
    subject: str | None
    key: str


@dataclass(frozen=True)
class GroupSuspension:
    """WhatsApp suspended the group (no activity possible) or cleared the suspension."""

    group_id: str
    timestamp: str
    suspended: bool
    key: str


def _items(value: dict, where: str, delivery: Delivery, field: str) -> list[tuple[dict, str, str, str]]:
    """(item, group_id, timestamp, key) of each `value.groups[]` item that names its group."""
    found = []
    for index, item in enumerate(_list(value.get("groups"))):
        group_id = _str(item.get("group_id")) if isinstance(item, dict) else None
        if group_id is None:
            delivery.problems.append(f"{where}.groups[{index}] has no group_id")
            continue
        canonical = json.dumps([field, item], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        key = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        found.append((item, group_id, to_db_time(item.get("timestamp")), key))
    return found


@parses("group_participants_update")
def parse_participants(value: dict, where: str, delivery: Delivery) -> None:
    for item, group_id, timestamp, key in _items(value, where, delivery, "group_participants_update"):
        kind = _str(item.get("type"))
        if kind not in ("group_participants_add", "group_participants_remove"):
            continue  # join requests created, revoked: nobody joined yet
        listed = "added_participants" if kind == "group_participants_add" else "removed_participants"
        members = tuple(p for p in (Participant.from_dict(p) for p in _list(item.get(listed))) if p)
        if not members:
            continue  # a removal that failed for everyone (failed_participants only)
        delivery.updates.append(
            GroupParticipantsChanged(
                group_id=group_id,
                timestamp=timestamp,
                change="added" if kind == "group_participants_add" else "removed",
                participants=members,
                # Meta's samples put it inside the item or, malformed, beside it
                initiated_by=_str(item.get("initiated_by")) or _str(value.get("initiated_by")),
                key=key,
            )
        )


@parses("group_settings_update")
def parse_settings(value: dict, where: str, delivery: Delivery) -> None:
    for item, group_id, timestamp, key in _items(value, where, delivery, "group_settings_update"):
        subject = item.get("group_subject") if isinstance(item.get("group_subject"), dict) else {}
        text = _str(subject.get("text"))
        if text and subject.get("update_successful") is True:
            delivery.updates.append(GroupSubjectChanged(group_id, timestamp, text[:500], key))


@parses("group_lifecycle_update")
def parse_lifecycle(value: dict, where: str, delivery: Delivery) -> None:
    for item, group_id, timestamp, key in _items(value, where, delivery, "group_lifecycle_update"):
        kind = _str(item.get("type"))
        if _list(item.get("errors")) or kind not in ("group_create", "group_delete"):
            continue  # a create or delete that failed changed nothing
        subject = _str(item.get("subject"))
        event = "created" if kind == "group_create" else "deleted"
        delivery.updates.append(GroupLifecycle(group_id, timestamp, event, subject[:500] if subject else None, key))


@parses("group_status_update")
def parse_status(value: dict, where: str, delivery: Delivery) -> None:
    for item, group_id, timestamp, key in _items(value, where, delivery, "group_status_update"):
        kind = _str(item.get("type"))
        if kind in ("group_suspend", "group_suspend_cleared"):
            delivery.updates.append(GroupSuspension(group_id, timestamp, kind == "group_suspend", key))
