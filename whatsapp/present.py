"""Stored rows -> the JSON shapes of the API (the spec's fields first, additions after)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from .store import LOCAL_PREFIX

WINDOW = timedelta(hours=24)
_FORMAT = "%Y-%m-%d %H:%M:%S"


def window(last_inbound_at: str | None, at: datetime | None = None) -> tuple[str | None, bool]:
    """When the 24-hour customer-service window closes, and whether free-form replies are allowed now."""
    if not last_inbound_at:
        return None, False
    opened = datetime.strptime(last_inbound_at, _FORMAT).replace(tzinfo=UTC)
    closes = opened + WINDOW
    return closes.strftime(_FORMAT), (at or datetime.now(UTC)) < closes


def conversation(row: sqlite3.Row) -> dict[str, Any]:
    expires_at, can_reply = window(row["last_inbound_at"])
    return {
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
    }


def message(row: sqlite3.Row, include_raw: bool = False) -> dict[str, Any]:
    wamid = row["whatsapp_message_id"]
    media = None
    if row["media_id"] or row["media_url"]:
        media = {
            "id": row["media_id"],
            "mime_type": row["media_type"],
            "sha256": row["media_sha256"],
            "filename": row["media_filename"],
            "url": row["media_url"],
        }
    error = None
    if row["error_code"] is not None or row["error_title"]:
        error = {"code": row["error_code"], "title": row["error_title"], "details": row["error_details"]}
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
    }
    if include_raw:
        data["raw"] = json.loads(row["raw_json"]) if row["raw_json"] else None
    return data
