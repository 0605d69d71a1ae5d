"""Stored rows -> the JSON shapes of the API (the spec's fields first, additions after)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from . import content
from . import pricing as pricing_rules
from .api_shapes import Conversation, Label, LabelRef, Location, Message, MessagePricing, Participant, Sender
from .store import LOCAL_PREFIX, STALE_PENDING
from .store import now as store_now
from .updates import location_coordinates

WINDOW = timedelta(hours=24)
# Stop free-form replies a little early: a send Meta receives just after the 24 hours is accepted
# and then failed by a status webhook (131047), and clocks differ (cloud-api-pitfalls.md, item 9).
WINDOW_MARGIN = timedelta(minutes=2)
STALE_PENDING_TITLE = (
    "No answer from WhatsApp was recorded for this send (the service may have stopped while sending): "
    "it may or may not have been sent; a status from WhatsApp will settle it"
)


def _parse(stamp: str) -> datetime:
    """A stored time ('YYYY-MM-DD HH:MM:SS', UTC); ValueError for anything else. (strptime took a
    tenth of a conversation list's time.)"""
    if len(stamp) != 19 or stamp[10] != " ":
        raise ValueError(f"not a stored time: {stamp!r}")
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def window(last_inbound_at: str | None, at: datetime | None = None) -> tuple[str | None, bool]:
    """When free-form replies stop (the 24-hour window less a 2-minute margin), and whether they're allowed now."""
    if not last_inbound_at:
        return None, False
    closes = _parse(last_inbound_at) + WINDOW - WINDOW_MARGIN
    return closes.replace(tzinfo=None).isoformat(" "), (at or datetime.now(UTC)) < closes


def _older_than(stamp: str | None, age: timedelta) -> bool:
    try:
        then = _parse(stamp or "")
    except ValueError:
        return False
    return datetime.now(UTC) - then > age


def conversation(row: sqlite3.Row, *, costs: bool = True, labels: list[sqlite3.Row] | None = None) -> Conversation:
    """One conversation; `costs=False` leaves out `reply_cost` (a list: it doubled a page's bytes, and
    the composer reads it from the conversation it shows); `labels` (store.labels_for) adds them."""
    expires_at, can_reply = window(row["last_inbound_at"])
    data: Conversation = {
        "id": row["conversation_id"],
        "phone_number": row["phone_number"],
        "contact_name": row["contact_name"],
        "contact_profile_name": row["contact_profile_name"],
        "last_message_at": row["last_message_at"],
        "last_message": row["last_message"],
        "unread_count": row["unread_count"],
        "status": row["status"],
        "assigned_agent_id": row["assigned_agent_id"],
        "conversation_id": row["conversation_id"],
        "user_id": row["user_id"],
        "username": row["username"],
        "last_message_type": row["last_message_type"],
        "last_inbound_at": row["last_inbound_at"],
        "window_expires_at": expires_at,
        "can_reply": can_reply,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "blocked": row["blocked_at"] is not None,
        "blocked_at": row["blocked_at"],
        "kind": row["kind"],
        "group_id": row["group_id"],
        "marketing_opt_out": bool(row["marketing_opt_out"]),
        "marketing_preference_at": row["marketing_preference_at"],
        "snoozed_until": snoozed_until(row["snoozed_until"]),
    }
    if costs:
        data["reply_cost"] = pricing_rules.reply_cost(can_reply, expires_at, row["free_entry_until"])
    if labels is not None:
        data["labels"] = [label_ref(label) for label in labels]
    return data


def label_ref(row: sqlite3.Row) -> LabelRef:
    return {"id": row["label_id"], "name": row["name"], "colour": row["colour"]}


def label(row: sqlite3.Row) -> Label:
    """A label with its counts (store.all_labels / get_label)."""
    return {
        **label_ref(row),
        "created_at": row["created_at"],
        "conversations": int(row["active"]),
        "closed_conversations": int(row["closed"]),
    }


def snoozed_until(stamp: str | None) -> str | None:
    """A snooze still running (its time is ahead); one whose time passed reads as none."""
    return stamp if stamp and stamp > store_now() else None


def location(message_type: str, raw: Any) -> Location | None:
    """A location message's place, from what Meta sent (inbound) or the body we sent (outbound)."""
    if message_type != "location" or not isinstance(raw, dict) or not isinstance(raw.get("location"), dict):
        return None
    place = raw["location"]
    coordinates = location_coordinates(place)
    if coordinates is None:
        return None

    def text(key: str) -> str | None:
        value = place.get(key)
        return value if isinstance(value, str) and value else None

    return {
        "latitude": coordinates[0],
        "longitude": coordinates[1],
        "name": text("name"),
        "address": text("address"),
        "url": text("url"),
    }


def _raw(raw_json: str | None) -> Any:
    """The stored raw JSON, decoded; None when there is none (or it is not JSON)."""
    if not raw_json:
        return None
    try:
        return json.loads(raw_json)
    except (ValueError, RecursionError):
        return None


def thread(
    rows: list[sqlite3.Row],
    annotations: dict[str, list[sqlite3.Row]],
    quoted: dict[str, sqlite3.Row],
    include_raw: bool = False,
) -> list[Message]:
    """A page of messages with their reactions, edits, deletions and quoted messages folded in."""
    return [
        message(
            row,
            include_raw,
            annotations.get(row["whatsapp_message_id"], []),
            quoted.get(row["context_message_id"]) if row["context_message_id"] else None,
        )
        for row in rows
    ]


def _fold(data: dict[str, Any], notes: list[sqlite3.Row]) -> None:
    latest_reaction: dict[str, sqlite3.Row] = {}
    edits = []
    for note in notes:
        if note["message_type"] == "reaction":
            latest_reaction[note["direction"]] = note
        elif note["message_type"] == "edit":
            edits.append(note)
        elif note["message_type"] == "revoke":
            data["deleted"] = True
            data["deleted_at"] = note["timestamp"]
    data["reactions"] = [
        {
            "emoji": r["message_text"],
            "direction": r["direction"],
            "timestamp": r["timestamp"],
            "agent_id": r["agent_id"],
        }
        for r in latest_reaction.values()
        if r["message_text"]
    ]
    if edits:
        data["previous_texts"] = [data["text"], *[e["message_text"] for e in edits[:-1]]]
        data["text"] = edits[-1]["message_text"]
        data["edited"] = True
        data["edited_at"] = edits[-1]["timestamp"]


def pricing(row: sqlite3.Row) -> MessagePricing | None:
    """What Meta's statuses said it charges for an outbound message (None until one said)."""
    if row["pricing_category"] is None and row["pricing_type"] is None and row["pricing_model"] is None:
        return None
    billable = row["pricing_billable"]
    return {
        "billable": None if billable is None else bool(billable),
        "pricing_model": row["pricing_model"],
        "category": row["pricing_category"],
        "type": row["pricing_type"],
        "charged": bool(row["pricing_charged"]),
    }


def _sender(row: sqlite3.Row) -> Sender | None:
    """A group message's writer (a participant); None for a customer's own thread and system lines."""
    if not row["group_id"] or row["direction"] != "inbound" or row["message_type"] == "system":
        return None
    return {"phone_number": row["phone_number"], "user_id": row["user_id"], "name": row["sender_name"]}


def participant(row: sqlite3.Row) -> Participant:
    return {
        "phone_number": row["phone_number"],
        "user_id": row["user_id"],
        "username": row["username"],
        "name": row["name"],
        "state": row["state"],
        "joined_at": row["joined_at"],
        "left_at": row["left_at"],
    }


def message(
    row: sqlite3.Row,
    include_raw: bool = False,
    notes: list[sqlite3.Row] | None = None,
    quoted: sqlite3.Row | None = None,
) -> Message:
    wamid = row["whatsapp_message_id"]
    media = None
    if row["media_id"] or row["media_url"]:
        media = {
            "id": row["media_id"],
            "mime_type": row["media_type"],
            "sha256": row["media_sha256"],
            "filename": row["media_filename"],
            "url": row["media_url"],
            "state": row["media_state"],
            "size": row["media_size"],
            "download_url": f"/api/whatsapp/media/{row['message_id']}",
        }
    error = None
    if row["error_code"] is not None or row["error_title"]:
        error = {"code": row["error_code"], "title": row["error_title"], "details": row["error_details"]}
    elif row["status"] == "pending" and _older_than(row["attempted_at"] or row["timestamp"], STALE_PENDING):
        error = {"code": None, "title": STALE_PENDING_TITLE, "details": None}
    # Sent, but Meta's answer was lost (a timeout, a broken connection, a crash, an answer without a
    # message id): WhatsApp may or may not have sent it, until a status settles it.
    outcome_unknown = row["status"] == "pending" and error is not None and wamid.startswith(LOCAL_PREFIX)
    data = {
        "id": row["message_id"],
        "whatsapp_message_id": None if wamid.startswith(LOCAL_PREFIX) else wamid,
        "phone_number": row["phone_number"],
        "direction": row["direction"],
        "type": row["message_type"],
        "text": row["message_text"],
        "status": row["status"],
        "timestamp": row["timestamp"],
        "agent_id": row["agent_id"],
        "conversation_id": row["conversation_id"],
        "user_id": row["user_id"],
        "media_url": row["media_url"],
        "media_type": row["media_type"],
        "media": media,
        "reply_to": row["context_message_id"],
        "error": error,
        "sent_at": row["sent_at"],
        "delivered_at": row["delivered_at"],
        "read_at": row["read_at"],
        "played_at": row["played_at"],
        "failed_at": row["failed_at"],
        "created_at": row["created_at"],
        "media_state": row["media_state"],
        "media_error": row["media_error"] if row["media_state"] == "failed" else None,
        "placeholder": None,  # set below, from the content
        "outcome_unknown": outcome_unknown,
        "quoted": None,
        "reactions": [],
        "edited": False,
        "previous_texts": [],
        "deleted": False,
        "origin": row["origin"],
        "pricing": pricing(row),
        "sender": _sender(row),
        "retried_by": row["retried_by"],
        "automatic": bool(row["automatic"]),
    }
    if quoted is not None:
        data["quoted"] = {
            "id": quoted["message_id"],
            "whatsapp_message_id": quoted["whatsapp_message_id"],
            "direction": quoted["direction"],
            "type": quoted["message_type"],
            "text": quoted["message_text"],
        }
    if row["message_type"] in ("reaction", "edit", "revoke"):
        data["reply_to"] = None
        data["target"] = row["context_message_id"]
    _fold(data, notes or [])
    raw = _raw(row["raw_json"])  # once per row: the content, the location, the referral and include_raw
    data["content"] = content.of(row["message_type"], raw, row["direction"])
    if row["direction"] == "inbound" and not data["content"]["errors"] and error and error["code"] is not None:
        # Meta reported it beside the message (value.errors): stored with the message, not in its raw JSON.
        data["content"]["errors"] = [
            {"code": error["code"], "title": error["title"], "message": None, "details": error["details"]}
        ]
    # A type or interactive kind with nothing of its own to show gets a readable sentence, never an empty bubble.
    data["placeholder"] = data["content"].get("placeholder")
    data["location"] = location(row["message_type"], raw)
    if row["direction"] == "inbound" and isinstance(raw, dict):
        context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
        data["forwarded"] = bool(context.get("forwarded") or context.get("frequently_forwarded"))
        data["referral"] = raw.get("referral") if isinstance(raw.get("referral"), dict) else None
        if include_raw:
            data["raw"] = raw
    elif include_raw:
        data["raw"] = raw
    return data
