"""An agent's send request -> the message Meta expects, with Meta's limits checked first (400s)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import APIError
from .sending import Outbound
from .updates import is_media_id, number

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 100 * 1024 * 1024 + 1024 * 1024  # the largest media (documents) plus the form around it
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
KINDS = ("text", *MEDIA_KINDS, "location", "reaction", "template")
# Meta's accepted MIME types and size limits per media kind (Cloud API media reference).
MEDIA_LIMITS: dict[str, tuple[tuple[str, ...], int]] = {
    "audio": (("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * 1024 * 1024),
    "document": (
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        100 * 1024 * 1024,
    ),
    "image": (("image/jpeg", "image/png"), 5 * 1024 * 1024),
    "sticker": (("image/webp",), 500 * 1024),  # animated; a static sticker: STATIC_STICKER_MAX
    "video": (("video/mp4", "video/3gpp"), 16 * 1024 * 1024),
}
STATIC_STICKER_MAX = 100 * 1024


def webp_animated(content: bytes) -> bool:
    """A WebP with the animation flag of its VP8X header (or an ANIM chunk) is an animated sticker."""
    if len(content) < 21 or content[:4] != b"RIFF" or content[8:12] != b"WEBP" or content[12:16] != b"VP8X":
        return False
    return bool(content[20] & 0x02) or b"ANIM" in content[30:4096]


def kind_for_mime(mime_type: str) -> str | None:
    """The media kind Meta accepts this MIME type as (webp is a sticker), or None."""
    base = mime_type.split(";")[0].strip().lower()
    for kind, (types, _) in MEDIA_LIMITS.items():
        if base in types:
            return kind
    return None


def check_media(kind: str, mime_type: str, size: int, content: bytes = b"") -> None:
    """Refuse, before calling Meta, a file WhatsApp would refuse (131053) or that is too big.
    A sticker's limit depends on its content: 500 KB animated, 100 KB static."""
    types, limit = MEDIA_LIMITS[kind]
    base = mime_type.split(";")[0].strip().lower()
    if base not in types:
        raise APIError(
            400, f"WhatsApp does not accept {base or 'this file type'} as {kind}; accepted: {', '.join(types)}"
        )
    if kind == "audio" and base == "audio/ogg" and "opus" not in mime_type.lower() and ";" in mime_type:
        raise APIError(400, "WhatsApp accepts audio/ogg only with the Opus codec")
    if size > limit:
        raise APIError(400, f"The {kind} is {size} bytes; WhatsApp allows at most {limit} bytes for {kind}")
    if kind == "sticker" and size > STATIC_STICKER_MAX and not webp_animated(content):
        raise APIError(
            400,
            f"The sticker is {size} bytes and not animated; WhatsApp allows at most {STATIC_STICKER_MAX} bytes "
            f"for a static sticker ({limit} for an animated one)",
        )
    if size == 0:
        raise APIError(400, "The file is empty")


def build(data: dict[str, Any]) -> Outbound:
    """Validate a /send body and build the Outbound for its `type` (default text)."""
    kind = data.get("type") or "text"
    if kind not in KINDS:
        raise APIError(400, f"type must be one of {', '.join(KINDS)}")
    reply_to = _optional_str(data, "reply_to")
    if kind == "text":
        outbound = _text(data)
    elif kind in MEDIA_KINDS:
        outbound = _media(kind, data)
    elif kind == "location":
        outbound = _location(data)
    elif kind == "reaction":
        if reply_to:
            raise APIError(400, "A reaction cannot be a reply; send reaction.message_id instead of reply_to")
        outbound = _reaction(data)
    else:
        raise APIError(400, "Templates are built by the template module")  # handled by the caller
    if reply_to:
        outbound = Outbound(outbound.type, outbound.body, outbound.text, reply_to, outbound.media)
    return outbound


def _text(data: dict[str, Any]) -> Outbound:
    text = data.get("message", data.get("text"))
    if not isinstance(text, str) or not text.strip():
        raise APIError(400, "message is required: the text to send")
    if len(text) > MAX_TEXT:
        raise APIError(400, f"message is {len(text)} characters; WhatsApp allows at most {MAX_TEXT}")
    preview = bool(re.search(r"https?://", text))
    return Outbound("text", {"body": text, "preview_url": preview}, text)


def _media(kind: str, data: dict[str, Any]) -> Outbound:
    media = data.get("media")
    if not isinstance(media, dict):
        raise APIError(400, f'media is required for type {kind}: {{"link": "https://..."}} or {{"id": "..."}}')
    link = _optional_str(media, "link", "media.link")
    media_id = _optional_str(media, "id", "media.id")
    if bool(link) == bool(media_id):
        raise APIError(400, "media needs exactly one of link or id")
    if link and not re.match(r"^https?://[^\s/$.?#].[^\s]*$", link):
        raise APIError(400, "media.link must be an http(s) URL that Meta can fetch")
    if media_id and not is_media_id(media_id):
        raise APIError(400, "media.id must be a WhatsApp media id (digits, as /send-media or Meta's upload returns)")
    body: dict[str, Any] = {"link": link} if link else {"id": media_id}
    caption = _optional_str(media, "caption", "media.caption") or _optional_str(data, "message")
    if caption:
        if kind in ("audio", "sticker"):
            raise APIError(400, f"WhatsApp does not allow a caption on {kind}")
        if len(caption) > MAX_CAPTION:
            raise APIError(400, f"caption is {len(caption)} characters; WhatsApp allows at most {MAX_CAPTION}")
        body["caption"] = caption
    filename = _optional_str(media, "filename", "media.filename")
    if filename:
        if kind != "document":
            raise APIError(400, "filename is only for documents")
        body["filename"] = filename
    if kind == "audio" and media.get("voice") is True:
        body["voice"] = True
    stored = {"url": link, "id": media_id, "filename": filename, "mime_type": _optional_str(media, "mime_type")}
    return Outbound(kind, body, caption or filename, None, stored)


def _location(data: dict[str, Any]) -> Outbound:
    location = data.get("location")
    if not isinstance(location, dict):
        raise APIError(400, 'location is required: {"latitude": -23.56, "longitude": -46.65}')
    latitude, longitude = number(location.get("latitude")), number(location.get("longitude"))
    if latitude is None or longitude is None:  # true and false are not numbers
        raise APIError(400, "location.latitude and location.longitude must be numbers")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise APIError(400, "location.latitude must be within ±90 and location.longitude within ±180")
    body: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    for key in ("name", "address"):
        value = _optional_str(location, key, f"location.{key}")
        if value:
            body[key] = value
    text = "\n".join(body[k] for k in ("name", "address") if k in body) or f"{latitude}, {longitude}"
    return Outbound("location", body, text)


def _reaction(data: dict[str, Any]) -> Outbound:
    reaction = data.get("reaction")
    if not isinstance(reaction, dict):
        raise APIError(400, 'reaction is required: {"message_id": "wamid...", "emoji": "👍"}')
    target = _optional_str(reaction, "message_id", "reaction.message_id")
    if not target:
        raise APIError(400, "reaction.message_id is required: the wamid of the message to react to")
    emoji = reaction.get("emoji", "")
    if not isinstance(emoji, str) or len(emoji) > 16 or (emoji and not is_emoji(emoji)):
        raise APIError(400, 'reaction.emoji must be one emoji (or "" to remove the reaction)')
    # The target is kept as the row's context so the reaction folds onto it; Meta gets no context.
    return Outbound("reaction", {"message_id": target, "emoji": emoji}, emoji or None, target)


# What an emoji is made of besides its symbols: joiners, variation selectors, skin tones (Sk), a keycap's
# combining mark and the digits it covers, and the tag characters of subdivision flags.
_EMOJI_GLUE = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3", *"0123456789#*"}


def is_emoji(text: str) -> bool:
    """Whether text is made of emoji (a symbol with its modifiers), as WhatsApp takes in a reaction."""
    symbols = 0
    for ch in text:
        category = unicodedata.category(ch)
        if category == "So":
            symbols += 1
        elif not (category == "Sk" or ch in _EMOJI_GLUE or 0xE0020 <= ord(ch) <= 0xE007F):
            return False
    return symbols > 0 or "\u20e3" in text


def _optional_str(data: dict[str, Any], key: str, name: str | None = None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise APIError(400, f"{name or key} must be a string")
    return value.strip() or None
