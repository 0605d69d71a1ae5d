"""A message's structured `content`, by type, from its stored raw JSON (contract: /work/briefs/content-spec.md).

One TypedDict per kind of content (like pywa's one class per update), so the OpenAPI schema is derived
from the same declarations (`SHAPES`). `of()` is pure and total: whatever the raw JSON holds (wrong
types, missing keys, absurd numbers, a flow answer that is not JSON), it answers the declared shape,
with nulls where nothing usable was found, and never raises.

Inbound, `raw` is the message item Meta sent; outbound, the body we sent (`{"<type>": {...}}`).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypedDict, Union

from . import surrogates
from .shapes import Doc, Registry

log = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# Amounts and quantities beyond these are not an order anyone placed: they are shown as unknown (null).
MAX_QUANTITY = 10**9
MAX_PRICE = Decimal(10) ** 12
MAX_DEPTH = 64  # raw JSON kept in content is cut below this depth (null), so answering it cannot overflow
UNSUPPORTED_PLACEHOLDER = (
    "The customer sent something WhatsApp does not deliver to businesses{what}; ask them to resend it."
)

Time = Annotated[str | None, Doc("UTC, 'YYYY-MM-DD HH:MM:SS'", examples=("2026-11-24 08:30:00",))]


# --- the parts every content carries ------------------------------------------------------------


class Referral(TypedDict):
    """Where the customer came from: a click-to-WhatsApp ad or post (Meta's `referral`)."""

    source_type: Annotated[str | None, Doc("ad or post", examples=("ad",))]
    source_id: str | None
    source_url: str | None
    headline: str | None
    body: str | None
    media_type: Annotated[str | None, Doc("image or video")]
    image_url: str | None
    video_url: str | None
    thumbnail_url: str | None
    ctwa_clid: Annotated[str | None, Doc("The click id of a click-to-WhatsApp ad")]


class ReferredProduct(TypedDict):
    """A product inquiry: the catalog product the customer asked about (Meta's `context.referred_product`).
    Such a message is not a reply, even though `reply_to` holds Meta's context id."""

    catalog_id: str | None
    product_retailer_id: str | None


class MessageError(TypedDict):
    """One of Meta's `errors[]` on the message (e.g. 131051: a type WhatsApp does not deliver)."""

    code: int | None
    title: str | None
    message: str | None
    details: str | None


class _Common(TypedDict):
    referral: Annotated[Referral | None, Doc("Inbound from an ad or post: where the customer came from")]
    product: Annotated[ReferredProduct | None, Doc("A product inquiry: the product asked about")]
    errors: Annotated[list[MessageError], Doc("Meta's errors on the message; [] when none")]


# --- one shape per kind -------------------------------------------------------------------------


class TextContent(_Common):
    """A text message."""

    type: Literal["text"]
    body: str | None


class MediaContent(_Common):
    """An image, video, audio, document or sticker (the file itself: the message's `media`)."""

    type: Literal["image", "video", "audio", "document", "sticker"]
    caption: str | None
    filename: str | None
    mime_type: str | None
    voice: Annotated[bool | None, Doc("audio: a voice note recorded in WhatsApp; null for other types")]
    animated: Annotated[bool | None, Doc("sticker: animated; null for other types")]


class LocationContent(_Common):
    """A place on the map; latitude and longitude are null when Meta's were not numbers on the globe."""

    type: Literal["location"]
    latitude: Annotated[float | None, Doc(minimum=-90, maximum=90)]
    longitude: Annotated[float | None, Doc(minimum=-180, maximum=180)]
    name: str | None
    address: str | None
    url: str | None


class ContactName(TypedDict):
    formatted_name: str | None
    first_name: str | None
    last_name: str | None
    middle_name: str | None
    prefix: str | None
    suffix: str | None


class ContactPhone(TypedDict):
    phone: str | None
    wa_id: Annotated[str | None, Doc("Set when the number is on WhatsApp (a chat can be opened with it)")]
    type: Annotated[str | None, Doc("CELL, MAIN, IPHONE, HOME, WORK")]


class ContactEmail(TypedDict):
    email: str | None
    type: str | None


class ContactOrg(TypedDict):
    company: str | None
    department: str | None
    title: str | None


class ContactAddress(TypedDict):
    street: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    country_code: str | None
    type: str | None


class ContactUrl(TypedDict):
    url: str | None
    type: str | None


class ContactCard(TypedDict):
    """One shared contact card, every field Meta passes on."""

    name: ContactName
    phones: list[ContactPhone]
    emails: list[ContactEmail]
    org: ContactOrg | None
    addresses: list[ContactAddress]
    urls: list[ContactUrl]
    birthday: Annotated[str | None, Doc("YYYY-MM-DD", examples=("1990-04-12",))]


class ContactsContent(_Common):
    """Shared contact cards."""

    type: Literal["contacts"]
    cards: list[ContactCard]


class OrderItem(TypedDict):
    product_retailer_id: str | None
    quantity: Annotated[int | None, Doc(minimum=0)]
    item_price: Annotated[float | None, Doc("The unit price")]
    currency: Annotated[str | None, Doc("ISO 4217", examples=("USD",))]
    line_total: Annotated[float | None, Doc("quantity x item_price, when both are known")]


class OrderTotal(TypedDict):
    amount: float
    currency: str


class OrderContent(_Common):
    """A catalog cart the customer sent."""

    type: Literal["order"]
    catalog_id: str | None
    note: Annotated[str | None, Doc("The text the customer sent with the order")]
    items: list[OrderItem]
    total: Annotated[
        OrderTotal | None, Doc("Sum of the line totals; null when a price is missing or the items mix currencies")
    ]


class ButtonReplyContent(_Common):
    """The customer tapped a reply button or chose a list row."""

    type: Literal["interactive"]
    kind: Literal["button_reply", "list_reply"]
    id: str | None
    title: str | None
    description: Annotated[str | None, Doc("list_reply: the row's description")]


class FlowReplyContent(_Common):
    """The customer completed a WhatsApp Flow (`nfm_reply`): their answers are `response`."""

    type: Literal["interactive"]
    kind: Literal["nfm_reply"]
    flow_name: str | None
    flow_token: Annotated[str | None, Doc("The flow_token the flow was sent with")]
    body: str | None
    response: Annotated[dict[str, Any] | None, Doc("The parsed response_json (without flow_token)")]
    response_error: Annotated[str | None, Doc("Why response_json could not be read")]
    response_raw: Annotated[str | None, Doc("response_json as Meta sent it, when it could not be read")]


class CallPermissionReplyContent(_Common):
    """The customer answered a request to call them."""

    type: Literal["interactive"]
    kind: Literal["call_permission_reply"]
    response: Annotated[str | None, Doc("accept or reject")]
    is_permanent: bool | None
    expiration_timestamp: Annotated[Time, Doc("A temporary permission: when it ends")]
    response_source: Annotated[str | None, Doc("user_action or automatic")]


class UnknownInteractiveContent(_Common):
    """An interactive reply of a kind this service does not know: shown as a placeholder, raw kept."""

    type: Literal["interactive"]
    kind: str | None
    placeholder: str
    raw: Annotated[Any, Doc("The interactive object as Meta sent it")]


class ButtonContent(_Common):
    """The customer tapped a template's quick-reply button."""

    type: Literal["button"]
    payload: str | None
    text: str | None


class ReactionContent(_Common):
    type: Literal["reaction"]
    emoji: Annotated[str | None, Doc("null: the reaction was removed")]
    message_id: Annotated[str | None, Doc("The wamid reacted to")]


class EditContent(_Common):
    type: Literal["edit"]
    message_id: Annotated[str | None, Doc("The wamid edited")]
    body: Annotated[str | None, Doc("The new text")]


class RevokeContent(_Common):
    type: Literal["revoke"]
    message_id: Annotated[str | None, Doc("The wamid deleted")]


class SystemContent(_Common):
    """A system line: the customer changed number or identity."""

    type: Literal["system"]
    kind: Annotated[str | None, Doc("Meta's system.type", examples=("user_changed_number",))]
    body: str | None
    new_wa_id: str | None
    identity: str | None


class RequestWelcomeContent(_Common):
    """The customer opened the chat for the first time (a welcome message may be sent)."""

    type: Literal["request_welcome"]


class TemplateContent(_Common):
    """A template we sent, as sent."""

    type: Literal["template"]
    name: str | None
    language: Annotated[str | None, Doc("The language code", examples=("en_US",))]
    components: list[dict[str, Any]]


class UnknownContent(_Common):
    """A type this service does not show (or WhatsApp did not pass on): a readable placeholder and the raw JSON."""

    type: str
    placeholder: str
    raw: Annotated[Any, Doc("The message as Meta sent it (or the body we sent)")]


SHAPES: tuple[type, ...] = (
    TextContent,
    MediaContent,
    LocationContent,
    ContactsContent,
    OrderContent,
    ButtonReplyContent,
    FlowReplyContent,
    CallPermissionReplyContent,
    UnknownInteractiveContent,
    ButtonContent,
    ReactionContent,
    EditContent,
    RevokeContent,
    SystemContent,
    RequestWelcomeContent,
    TemplateContent,
    UnknownContent,
)

# The type of a message's `content` (api_shapes.Message.content): any one of the shapes above.
Content = Annotated[
    Union[SHAPES],  # noqa: UP007 (a union built from the tuple: no `|` spelling)
    Doc(
        "The message's content by type (`content.type` is the message's type); fields not known are null, "
        "lists [] when empty"
    ),
]


# --- reading raw JSON defensively ---------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    """Text, or a number shown as text (ids arrive as either); never a boolean, object or list."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _decimal(value: Any) -> Decimal | None:
    """A finite, modest number from a JSON number or numeric text."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and len(value) > 40:
        return None
    if isinstance(value, int) and abs(value) > MAX_PRICE:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    # copy_abs, not abs(): abs() rounds to the context and overflows on 1E+999999999
    return number if number.is_finite() and number.copy_abs() <= MAX_PRICE else None


def _quantity(value: Any) -> int | None:
    number = _decimal(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= MAX_QUANTITY:
        return None
    return int(number)


def _float(number: Decimal | None) -> float | None:
    return None if number is None else float(number)


def _time(value: Any) -> str | None:
    """Unix seconds (number or text) -> the API's UTC time text; null for anything else."""
    number = _decimal(value)
    if number is None or not 0 < number < 32503680000:
        return None
    return datetime.fromtimestamp(int(number), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _coordinate(value: Any, limit: int) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None


def clean(value: Any, depth: int = 0) -> Any:
    """JSON as JSON can answer it: no NaN or infinity, nothing nested deeper than MAX_DEPTH (null)."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Strict JSON (NaN and Infinity refused); ValueError for anything else, deep nesting included."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


# --- the common parts ---------------------------------------------------------------------------


def referral(raw: dict[str, Any]) -> Referral | None:
    ref = raw.get("referral")
    if not isinstance(ref, dict):
        return None
    return {
        "source_type": _str(ref.get("source_type")),
        "source_id": _str(ref.get("source_id")),
        "source_url": _str(ref.get("source_url")),
        "headline": _str(ref.get("headline")),
        "body": _str(ref.get("body")),
        "media_type": _str(ref.get("media_type")),
        "image_url": _str(ref.get("image_url")),
        "video_url": _str(ref.get("video_url")),
        "thumbnail_url": _str(ref.get("thumbnail_url")),
        "ctwa_clid": _str(ref.get("ctwa_clid")),
    }


def product(raw: dict[str, Any]) -> ReferredProduct | None:
    referred = _dict(raw.get("context")).get("referred_product")
    if not isinstance(referred, dict):
        return None
    return {
        "catalog_id": _str(referred.get("catalog_id")),
        "product_retailer_id": _str(referred.get("product_retailer_id")),
    }


def errors(raw: dict[str, Any]) -> list[MessageError]:
    out: list[MessageError] = []
    for error in _list(raw.get("errors")):
        if not isinstance(error, dict):
            continue
        code = error.get("code")
        out.append(
            {
                "code": code if isinstance(code, int) and not isinstance(code, bool) and abs(code) < 2**53 else None,
                "title": _str(error.get("title")),
                "message": _str(error.get("message")),
                "details": _str(_dict(error.get("error_data")).get("details")),
            }
        )
    return out


def _common(raw: dict[str, Any], direction: str) -> dict[str, Any]:
    if direction != "inbound":
        return {"referral": None, "product": None, "errors": []}
    return {"referral": referral(raw), "product": product(raw), "errors": errors(raw)}


# --- per kind -----------------------------------------------------------------------------------


def _media(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "caption": _str(body.get("caption")),
        "filename": _str(body.get("filename")),
        "mime_type": _str(body.get("mime_type")),
        "voice": _bool(body.get("voice")) if kind == "audio" else None,
        "animated": _bool(body.get("animated")) if kind == "sticker" else None,
    }


def _location(body: dict[str, Any]) -> dict[str, Any]:
    latitude, longitude = _coordinate(body.get("latitude"), 90), _coordinate(body.get("longitude"), 180)
    if latitude is None or longitude is None:  # half a place is no place
        latitude = longitude = None
    return {
        "latitude": latitude,
        "longitude": longitude,
        "name": _str(body.get("name")),
        "address": _str(body.get("address")),
        "url": _str(body.get("url")),
    }


def _card(card: dict[str, Any]) -> ContactCard:
    name = _dict(card.get("name"))
    org = card.get("org")
    org_shape: ContactOrg | None = None
    if isinstance(org, dict):
        org_shape = {
            "company": _str(org.get("company")),
            "department": _str(org.get("department")),
            "title": _str(org.get("title")),
        }
        if not any(org_shape.values()):
            org_shape = None
    return {
        "name": {
            key: _str(name.get(key))  # type: ignore[misc]
            for key in ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")
        },
        "phones": [
            {"phone": _str(p.get("phone")), "wa_id": _str(p.get("wa_id")), "type": _str(p.get("type"))}
            for p in _list(card.get("phones"))
            if isinstance(p, dict)
        ],
        "emails": [
            {"email": _str(e.get("email")), "type": _str(e.get("type"))}
            for e in _list(card.get("emails"))
            if isinstance(e, dict)
        ],
        "org": org_shape,
        "addresses": [
            {
                key: _str(a.get(key))  # type: ignore[misc]
                for key in ("street", "city", "state", "zip", "country", "country_code", "type")
            }
            for a in _list(card.get("addresses"))
            if isinstance(a, dict)
        ],
        "urls": [
            {"url": _str(u.get("url")), "type": _str(u.get("type"))}
            for u in _list(card.get("urls"))
            if isinstance(u, dict)
        ],
        "birthday": _str(card.get("birthday")),
    }


def _order(body: dict[str, Any]) -> dict[str, Any]:
    items: list[OrderItem] = []
    lines: list[tuple[Decimal | None, str | None]] = []
    for item in _list(body.get("product_items")):
        if not isinstance(item, dict):
            continue
        quantity, price = _quantity(item.get("quantity")), _decimal(item.get("item_price"))
        line = price * quantity if price is not None and quantity is not None else None
        currency = _str(item.get("currency"))
        currency = currency.strip().upper() if currency else None
        lines.append((line, currency))
        items.append(
            {
                "product_retailer_id": _str(item.get("product_retailer_id")),
                "quantity": quantity,
                "item_price": _float(price),
                "currency": currency,
                "line_total": _float(line),
            }
        )
    total: OrderTotal | None = None
    currencies = {currency for _, currency in lines}
    if lines and all(line is not None for line, _ in lines) and len(currencies) == 1 and None not in currencies:
        amount = sum((line for line, _ in lines if line is not None), Decimal(0))
        total = {"amount": float(amount), "currency": lines[0][1] or ""}
    return {
        "catalog_id": _str(body.get("catalog_id")),
        "note": _str(body.get("text")),
        "items": items,
        "total": total,
    }


def _flow(reply: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "flow_name": _str(reply.get("name")),
        "flow_token": None,
        "body": _str(reply.get("body")),
        "response": None,
        "response_error": None,
        "response_raw": None,
    }
    answer = reply.get("response_json")
    if isinstance(answer, str):
        try:
            parsed = parse_json(answer)
        except ValueError as exc:
            out["response_error"] = f"response_json is not JSON ({exc})"[:300]
            out["response_raw"] = answer
            return out
    elif answer is None:
        return out
    else:
        parsed = answer  # already decoded by whoever sent it
    if not isinstance(parsed, dict):
        out["response_error"] = "response_json is not a JSON object"
        out["response_raw"] = answer if isinstance(answer, str) else None
        return out
    # Its text was JSON inside a JSON string: a lone surrogate escape in it ("\\ud800") was not
    # caught with the webhook's body, and no answer could encode it.
    parsed = surrogates.replace(clean(parsed))
    out["flow_token"] = _str(parsed.pop("flow_token", None))
    out["response"] = parsed
    return out


def _call_permission(reply: dict[str, Any]) -> dict[str, Any]:
    return {
        "response": _str(reply.get("response")),
        "is_permanent": _bool(reply.get("is_permanent")),
        "expiration_timestamp": _time(reply.get("expiration_timestamp")),
        "response_source": _str(reply.get("response_source")),
    }


def _interactive(body: dict[str, Any]) -> dict[str, Any]:
    kind = _str(body.get("type"))
    reply = body.get(kind) if kind else None
    if kind in ("button_reply", "list_reply") and isinstance(reply, dict):
        return {
            "kind": kind,
            "id": _str(reply.get("id")),
            "title": _str(reply.get("title")),
            "description": _str(reply.get("description")),
        }
    if kind == "nfm_reply" and isinstance(reply, dict):
        return {"kind": kind, **_flow(reply)}
    if kind == "call_permission_reply" and isinstance(reply, dict):
        return {"kind": kind, **_call_permission(reply)}
    what = f" ({kind[:60]})" if kind else ""
    return {
        "kind": kind,
        "placeholder": f"The customer sent an interactive reply{what} this inbox cannot show yet; see its raw JSON.",
        "raw": clean(body),
    }


def placeholder(message_type: str, raw: Any, direction: str = "inbound") -> str:
    """A readable sentence for a type that has no content of its own to show."""
    if message_type in ("unsupported", "unknown"):
        inner = _str(_dict(_dict(raw).get("unsupported")).get("type"))
        return UNSUPPORTED_PLACEHOLDER.format(what=f" ({inner[:60]})" if inner else "")
    if message_type == "media_placeholder":  # coexistence history: Meta passes no media older than 14 days
        who = "The customer sent" if direction == "inbound" else "The business sent"
        return f"{who} a photo, video, audio or document here (imported history: WhatsApp did not pass the file on)."
    who = "The customer sent" if direction == "inbound" else "This is"
    return f"{who} a message of type '{message_type[:60]}', which this inbox cannot show yet; see its raw JSON."


def _body(message_type: str, raw: dict[str, Any], direction: str) -> dict[str, Any] | None:
    """The type's own fields, or None for a type with none to show (it gets a placeholder)."""
    value = raw.get(message_type)
    body = _dict(value)
    if message_type == "text":
        return {"body": _str(body.get("body"))}
    if message_type in MEDIA_KINDS:
        return _media(message_type, body)
    if message_type == "location":
        return _location(body)
    if message_type == "contacts":
        return {"cards": [_card(card) for card in _list(value) if isinstance(card, dict)]}
    if message_type == "order":
        return _order(body)
    if message_type == "interactive":
        return _interactive(body)
    if message_type == "button":
        return {"payload": _str(body.get("payload")), "text": _str(body.get("text"))}
    if message_type == "reaction":
        return {"emoji": _str(body.get("emoji")), "message_id": _str(body.get("message_id"))}
    if message_type == "edit":
        inner = _dict(body.get("message"))
        inner_body = _dict(inner.get(_str(inner.get("type")) or "text"))
        return {
            "message_id": _str(body.get("original_message_id")) or _str(body.get("message_id")),
            "body": _str(inner_body.get("body")) or _str(inner_body.get("caption")),
        }
    if message_type == "revoke":
        return {"message_id": _str(body.get("original_message_id")) or _str(body.get("message_id"))}
    if message_type == "system":
        return {
            "kind": _str(body.get("type")),
            "body": _str(body.get("body")),
            "new_wa_id": _str(body.get("wa_id")) or _str(body.get("new_wa_id")),
            "identity": _str(body.get("identity")) or _str(body.get("user_id")),
        }
    if message_type == "request_welcome":
        return {}
    if message_type == "template" and direction == "outbound":
        language = body.get("language")
        code = _str(_dict(language).get("code")) if isinstance(language, dict) else _str(language)
        return {
            "name": _str(body.get("name")),
            "language": code,
            "components": [clean(c) for c in _list(body.get("components")) if isinstance(c, dict)],
        }
    return None


def of(message_type: str, raw: Any, direction: str) -> dict[str, Any]:
    """The `content` of a message of this type, from its raw JSON (None when none was stored)."""
    kind = message_type if isinstance(message_type, str) and message_type else "unknown"
    item = raw if isinstance(raw, dict) else {}
    try:
        fields = _body(kind, item, direction)
        if fields is None:
            fields = {"placeholder": placeholder(kind, item, direction), "raw": clean(raw)}
        return {"type": kind, **fields, **_common(item, direction)}
    except Exception:  # a bug here must not hide the message: it still has a shape and its raw JSON
        log.exception("Could not read the content of a %s message", kind[:60])
        try:
            common, kept = _common(item, direction), clean(raw)
        except Exception:
            common, kept = {"referral": None, "product": None, "errors": []}, None
        return {
            "type": kind,
            "placeholder": placeholder("unknown" if kind == "unsupported" else kind, {}, direction),
            "raw": kept,
            **common,
        }


def schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of `content`: any of the shapes above (recorded in the registry for its components)."""
    return registry.schema(Content)
