"""The OpenAPI 3.1 description of every route under /api/whatsapp, served at GET /api/whatsapp/openapi.json.

tests/test_openapi.py keeps it true: a route missing here fails the suite, and schemathesis checks
the live app's answers against these schemas.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from . import openapi_dashboard
from .api_doc import Answer, api_doc
from .api_shapes import Error, SendResult

bp = Blueprint("openapi", __name__, url_prefix="/api/whatsapp")

MAX_ID = 2**53  # the API refuses larger integers with a 400


@bp.get("/openapi.json")
@api_doc(
    "This document",
    tag="inbox",
    public=True,
    responses={200: ("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})},
)
def openapi_json() -> Response:
    """The document itself; public, like any API description (it holds no data)."""
    return jsonify(document())


# --- small builders ------------------------------------------------------------------------


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    if isinstance(kind, dict):
        return {"anyOf": [kind, {"type": "null"}], **extra}
    return {"type": [kind, "null"], **extra}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def errors(*codes: int) -> dict[str, Any]:
    """Error answers: every one is {"success": false, "error": "..."}, some with extra fields."""
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def query(name: str, schema: dict[str, Any], description: str, example: Any = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    param["description"] = description
    if example is not None:
        param["example"] = example
    return param


def identifier(low: int = 1) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": MAX_ID}


TIME = nullable("string", description="UTC, 'YYYY-MM-DD HH:MM:SS'", examples=["2026-11-24 08:30:00"])
PHONE = {"type": "string", "description": "E.164 ('+56944328662'); '56944328662' and spaced forms are accepted"}
USER_ID = {"type": "string", "description": "Meta's business-scoped user id (BSUID), e.g. US.13491208655302741918"}

CUSTOMER_QUERY = [
    query("conversation_id", identifier(), "The conversation's id", 1),
    query("phone_number", PHONE, "The customer's phone number", "+14155550123"),
    query("user_id", USER_ID, "The customer's business-scoped user id"),
]
CUSTOMER_FIELDS = {
    "conversation_id": identifier(),
    "phone_number": PHONE,
    "user_id": USER_ID,
}
# 401 (no valid key or session), 429 (this address failed too many keys) and 503 (the database stayed
# busy) can answer any agent route; writes made with a dashboard session also need its CSRF token (403).
AGENT_ERRORS = (401, 429, 503)
WRITE_ERRORS = (401, 403, 429, 503)


# --- schemas -------------------------------------------------------------------------------

CONVERSATION = obj(
    {
        "id": {"type": "integer"},
        "phone_number": nullable("string"),
        "contact_name": nullable("string"),
        "contact_profile_name": nullable("string"),
        "last_message_at": TIME,
        "last_message": nullable("string"),
        "unread_count": {"type": "integer", "minimum": 0},
        "status": {"enum": ["open", "closed", "assigned"]},
        "assigned_agent_id": nullable("integer"),
        "conversation_id": {"type": "integer"},
        "user_id": nullable("string"),
        "username": nullable("string"),
        "last_message_type": nullable("string"),
        "last_inbound_at": TIME,
        "window_expires_at": {
            **TIME,
            "description": "When free-form replies stop: 24 hours after the customer's last message, less 2 minutes",
        },
        "can_reply": {"type": "boolean", "description": "Whether the 24-hour window allows free-form replies"},
        "created_at": TIME,
        "updated_at": TIME,
        "snippet": nullable("string", description="Search results only: the matching text, match in **bold**"),
    },
    required=[
        "id",
        "phone_number",
        "contact_name",
        "contact_profile_name",
        "last_message_at",
        "last_message",
        "unread_count",
        "status",
        "assigned_agent_id",
        "conversation_id",
        "user_id",
        "username",
        "can_reply",
        "window_expires_at",
    ],
)

MEDIA = obj(
    {
        "id": nullable("string", description="Meta's media id"),
        "mime_type": nullable("string"),
        "sha256": nullable("string"),
        "filename": nullable("string"),
        "url": nullable("string"),
        "state": nullable("string", description="pending, downloading, ready or failed"),
        "size": nullable("integer"),
        "download_url": {"type": "string"},
    },
    required=["id", "mime_type", "download_url"],
)

MESSAGE = obj(
    {
        "id": {"type": "integer"},
        "whatsapp_message_id": nullable("string", description="Meta's wamid; null until Meta accepted a send"),
        "phone_number": nullable("string"),
        "direction": {"enum": ["inbound", "outbound"]},
        "type": {"type": "string", "examples": ["text", "image", "reaction", "unsupported"]},
        "text": nullable("string"),
        "status": nullable(
            "string", description="inbound: received; outbound: pending, sent, delivered, read, played, failed"
        ),
        "timestamp": {"type": "string"},
        "agent_id": nullable("integer"),
        "conversation_id": {"type": "integer"},
        "user_id": nullable("string"),
        "media_url": nullable("string"),
        "media_type": nullable("string"),
        "media": nullable(MEDIA),
        "reply_to": nullable("string"),
        "error": nullable(
            obj(
                {"code": nullable("integer"), "title": nullable("string"), "details": nullable("string")},
                required=["code", "title", "details"],
            )
        ),
        "sent_at": TIME,
        "delivered_at": TIME,
        "read_at": TIME,
        "played_at": TIME,
        "failed_at": TIME,
        "created_at": TIME,
        "media_state": nullable("string"),
        "media_error": nullable("string", description="Why the media's download failed (media_state failed)"),
        "placeholder": nullable("string", description="What to show for content WhatsApp did not pass on"),
        "outcome_unknown": {
            "type": "boolean",
            "description": "An outbound send whose answer from WhatsApp was lost (a timeout, a broken connection, "
            "a crash, an answer without a message id): it may or may not have been sent, until a status settles "
            "it. `error.title` says why",
        },
        "quoted": nullable(
            obj(
                {
                    "id": {"type": "integer"},
                    "whatsapp_message_id": nullable("string"),
                    "direction": {"type": "string"},
                    "type": nullable("string"),
                    "text": nullable("string"),
                }
            )
        ),
        "reactions": {
            "type": "array",
            "items": obj(
                {
                    "emoji": {"type": "string"},
                    "direction": {"type": "string"},
                    "timestamp": {"type": "string"},
                    "agent_id": nullable("integer"),
                },
                required=["emoji", "direction"],
            ),
        },
        "edited": {"type": "boolean"},
        "edited_at": TIME,
        "previous_texts": {"type": "array", "items": nullable("string")},
        "deleted": {"type": "boolean"},
        "deleted_at": TIME,
        "target": nullable("string", description="Reactions, edits, deletions: the wamid they change"),
        "forwarded": {"type": "boolean"},
        "referral": nullable("object"),
        "location": nullable(
            obj(
                {
                    "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                    "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                    "name": nullable("string"),
                    "address": nullable("string"),
                    "url": nullable("string"),
                },
                required=["latitude", "longitude", "name", "address", "url"],
            ),
            description="Location messages: the place shared (sent or received); null for other types",
        ),
        "raw": {"description": "include_raw=true: the JSON Meta sent (or the body we sent)"},
    },
    required=[
        "id",
        "whatsapp_message_id",
        "phone_number",
        "direction",
        "type",
        "text",
        "status",
        "timestamp",
        "agent_id",
        "conversation_id",
    ],
)

ERROR = obj(
    {
        "success": {"const": False},
        "error": {"type": "string", "minLength": 1, "description": "A sentence saying what went wrong"},
        "error_code": nullable("integer", description="Meta's error code, when Meta refused"),
        "error_title": nullable("string"),
        "error_details": nullable("string"),
        "window_expires_at": TIME,
        "can_reply": {"type": "boolean"},
        "merged_into": {
            "type": "integer",
            "description": "404 for a conversation folded into the same customer's other one: that one's id",
        },
        "media_state": nullable("string", description="GET /media: the media's download state"),
        "retry_after": nullable(
            "integer",
            description="Seconds before asking again: 503, the media is being downloaded; 502 from GET /media, "
            "the next download attempt (null: none is scheduled, POST /media/<id>/retry tries now)",
        ),
    },
    required=["success", "error"],
)

SEND_RESULT = obj(
    {
        "success": {"type": "boolean"},
        "message_id": nullable("string", description="Meta's wamid (null when Meta did not accept it)"),
        "conversation_id": {"type": "integer"},
        "message": ref("Message"),
        "idempotent_replay": {
            "const": True,
            "description": "A repeated Idempotency-Key answered from its first attempt, without calling Meta",
        },
        "error": {"type": "string"},
        "error_code": nullable("integer"),
        "error_title": nullable("string"),
        "error_details": nullable("string"),
    },
    required=["success", "message_id", "conversation_id", "message"],
)

SEND_REQUEST = obj(
    {
        **CUSTOMER_FIELDS,
        "type": {
            "enum": ["text", "image", "video", "audio", "document", "sticker", "location", "reaction", "template"],
            "default": "text",
        },
        "message": {"type": "string", "maxLength": 4096, "description": "text: the body; media: the caption"},
        "agent_id": nullable(identifier(0)),
        "client_message_id": {"type": "string", "maxLength": 200, "description": "Same as Idempotency-Key"},
        "reply_to": {"type": "string", "description": "The wamid of a message of this inbox to reply to"},
        "media": obj(
            {
                "link": {"type": "string", "format": "uri"},
                "id": {"type": "string", "pattern": "^[0-9]{1,32}$", "description": "Meta's media id: digits"},
                "caption": {"type": "string", "maxLength": 1024},
                "filename": {"type": "string"},
                "voice": {"type": "boolean"},
                "mime_type": {"type": "string"},
            },
            description="Exactly one of link or id",
        ),
        "location": obj(
            {
                "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                "name": {"type": "string"},
                "address": {"type": "string"},
            },
            required=["latitude", "longitude"],
        ),
        "reaction": obj(
            {"message_id": {"type": "string"}, "emoji": {"type": "string", "maxLength": 16}},
            required=["message_id"],
            description='emoji "" removes the reaction',
        ),
        "template": obj(
            {
                "name": {"type": "string"},
                "language": {"anyOf": [{"type": "string"}, obj({"code": {"type": "string"}})]},
                "parameters": obj(
                    {
                        "header": {"description": "Texts, or a media object {type, link|id}"},
                        "body": {"type": "array", "items": {"type": ["string", "number", "object"]}},
                        "buttons": {"type": "array", "items": {"type": "array"}},
                    }
                ),
                "components": {"type": "array", "items": {"type": "object"}, "description": "Meta's own components"},
            },
            required=["name", "language"],
        ),
    },
    description="One of conversation_id, phone_number or user_id; then the fields of `type`.",
    examples=[{"conversation_id": 1, "message": "On its way!", "agent_id": 1}],
)

CONVERSATION_TARGET = obj(CUSTOMER_FIELDS, description="One of conversation_id, phone_number or user_id")

STATS = obj(
    {
        name: {"type": "integer", "minimum": 0}
        for name in (
            "total_conversations",
            "unread_conversations",
            "open_conversations",
            "assigned_conversations",
            "closed_conversations",
            "messages_last_24h",
        )
    },
    required=["total_conversations", "unread_conversations", "open_conversations", "messages_last_24h"],
)

HEALTH = obj(
    {
        "last_webhook_at": TIME,
        "webhook_fields": {
            "type": "object",
            "additionalProperties": obj(
                {"last_received_at": TIME, "deliveries": {"type": "integer", "minimum": 0}},
                required=["last_received_at", "deliveries"],
            ),
            "description": "Per webhook field (messages, message_template_status_update, ...): its last delivery "
            "and how many; a field you subscribed to that never appears is not reaching this service",
        },
        "deliveries": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Journaled webhook deliveries per state: pending, processed, failed",
        },
        "parked_statuses": {"type": "integer", "minimum": 0},
        "sends_pending_over_10_min": {
            "type": "integer",
            "minimum": 0,
            "description": "Sends with no answer from Meta recorded after 10 minutes (the service stopped mid-send)",
        },
        "media_pending": {"type": "integer", "minimum": 0},
        "media_failed": {"type": "integer", "minimum": 0},
        "failed_sends_last_24h": {"type": "integer", "minimum": 0},
        "last_send_error": nullable(
            obj(
                {"code": nullable("integer"), "title": nullable("string"), "details": nullable("string"), "at": TIME},
                required=["code", "title", "details", "at"],
            ),
            description="Meta's latest refusal of a send in the last 24 hours (e.g. 190: the access token expired)",
        ),
    },
    required=["last_webhook_at", "deliveries", "parked_statuses"],
)

TEMPLATE = obj(
    {
        "name": nullable("string"),
        "language": nullable("string"),
        "category": nullable("string"),
        "status": nullable("string"),
        "components": {"type": "array"},
        "parameters": obj(
            {
                "header": {"type": ["integer", "string"]},
                "body": {"type": "integer"},
                "buttons": {"type": "array", "items": {"type": "integer"}},
            }
        ),
    },
    required=["name", "language", "parameters"],
)

WEBHOOK_RESULT = obj(
    {
        "success": {"const": True},
        "delivery_id": {"type": "integer", "description": "The journal row of this delivery"},
        "state": {"enum": ["processed", "failed"], "description": "failed: kept for `flask replay-webhooks`"},
        "stored": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "statuses_applied": {"type": "integer"},
        "statuses_parked": {"type": "integer"},
    },
    required=["success", "delivery_id", "state"],
)

CONVERSATION_RESULT = obj(
    {"success": {"const": True}, "conversation": ref("Conversation")}, ["success", "conversation"]
)

IDEMPOTENCY = (
    "An Idempotency-Key (or client_message_id) belongs to the credential that sent it (the service key, "
    "or one agent) and to the request it came with (the route and the body). Repeating it with the same "
    "request sends nothing again and answers with the first attempt's outcome: 200 once Meta accepted "
    "the message; Meta's refusal (409, 422) with the same status and error; 409 while the first attempt's "
    "outcome is not known (Meta's answer was lost: the message stays pending until a status settles it). "
    "After a failure where Meta certainly did not take the message (429, 502: throttled, unreachable, a "
    "5xx, a bad token) the repeat sends the same message again. The same key with a different request: 422."
)
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The client's id for this send (unique per credential); see the route's description",
    "schema": {"type": "string", "maxLength": 200},
}
SEND_ANSWER_DESCRIPTIONS = {
    409: "The 24-hour customer-service window is closed (only a template may be sent; Meta's 131047 is "
    "stored as failed), or a repeat of an Idempotency-Key whose first attempt has no known outcome yet: "
    "nothing was sent again, repeat it later",
    422: "WhatsApp refused the message (Meta's code, title and details included; stored as failed), or "
    "an Idempotency-Key that was used for a different request: nothing was sent",
    429: "WhatsApp is rate limiting (after bounded retries; stored as failed, and a repeat of the key sends again), "
    "or too many failed key attempts from this address (wait Retry-After seconds)",
    502: "WhatsApp failed or could not be reached; stored as failed, and a repeat of the key sends again",
    504: "WhatsApp's answer was lost (a timeout, a broken connection, a 200 without a message id): the message "
    "may or may not have been sent. It stays pending (outcome_unknown) until a status settles it",
}


def send_answers() -> dict[str, Any]:
    """The send routes' failure answers: the send's result with its error, or a plain error."""
    return {
        str(code): {
            "description": description,
            "content": json_content({"anyOf": [ref("SendResult"), ref("Error")]}),
        }
        for code, description in SEND_ANSWER_DESCRIPTIONS.items()
    }


# The send routes' failure answers: the send's result with its error, or a plain error.
SEND_ANSWERS = {code: Answer(text, SendResult | Error) for code, text in SEND_ANSWER_DESCRIPTIONS.items()}

ERROR_DESCRIPTIONS = {
    400: "The request is malformed or a parameter is invalid",
    401: "Missing or wrong credentials (agent key, or the webhook's X-Hub-Signature-256)",
    403: "Webhook verification refused, or a dashboard session's write without its X-CSRF-Token",
    404: "No such conversation, message or media",
    409: "The 24-hour customer-service window is closed: only a template may be sent",
    413: "The body is over the limit (1 MB; the webhook 4 MB; uploads 101 MB)",
    422: "WhatsApp refused the message (Meta's code, title and details included)",
    429: "Too many failed key attempts from this address (wait Retry-After seconds: retry_after), "
    "or on a send, WhatsApp is rate limiting (after bounded retries)",
    502: "WhatsApp failed or could not be reached",
    503: "The inbox is busy (Retry-After), a setting is missing (the app secret, the business account id), "
    "or the media is being downloaded right now (retry_after)",
    504: "WhatsApp did not answer in time: the message may or may not have been sent",
}


# --- paths ---------------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    conversation_result = ok("The conversation after the change", ref("ConversationResult"))
    lifecycle_body = {"required": True, "content": json_content(ref("ConversationTarget"))}
    return {
        "/api/whatsapp/webhook": {
            "get": {
                "summary": "Meta's verification handshake",
                "tags": ["webhook"],
                "security": [],
                "parameters": [
                    query("hub.mode", {"type": "string"}, "subscribe", "subscribe"),
                    query("hub.verify_token", {"type": "string"}, "WHATSAPP_VERIFY_TOKEN"),
                    query("hub.challenge", {"type": "string"}, "Echoed back on success", "1158201444"),
                ],
                "responses": {
                    "200": {
                        "description": "hub.challenge, echoed as text",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **errors(403),
                },
            },
            "post": {
                "summary": "A signed delivery from Meta: journaled, then processed in the same transaction",
                "description": (
                    "Answered 200 once the body is durably stored. A body that is journaled but cannot be "
                    "read or processed is answered 200 with state 'failed' and kept for `flask replay-webhooks`. "
                    "Only a body that is not a webhook envelope gets 400; one that cannot be stored, 503. "
                    "Duplicates (same wamid, same status) change nothing."
                ),
                "tags": ["webhook"],
                "security": [],
                "parameters": [
                    {
                        "name": "X-Hub-Signature-256",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
                        "description": "'sha256=' + hex HMAC-SHA256 of the raw body, keyed by the App Secret",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        obj(
                            {"object": {"const": "whatsapp_business_account"}, "entry": {"type": "array"}},
                            ["object", "entry"],
                        )
                    ),
                },
                "responses": {
                    "200": ok("Stored (and processed, or kept for replay)", ref("WebhookResult")),
                    **errors(400, 401, 413, 503),
                },
            },
        },
        "/api/whatsapp/conversations": {
            "get": {
                "summary": "Conversations, newest activity first, with the count behind every tab",
                "tags": ["conversations"],
                "parameters": [
                    query("status", {"enum": ["open", "closed", "assigned"]}, "Only this status"),
                    query("unread_only", {"type": "boolean"}, "Only conversations with unread messages"),
                    query("filter", {"enum": ["all", "unread", "mine", "unassigned", "closed"]}, "A dashboard tab"),
                    query("agent_id", identifier(0), "The agent whose 'mine' tab (needed with filter=mine)"),
                    query("q", {"type": "string", "maxLength": 200}, "Search names, numbers and message text"),
                    query("limit", {**identifier(), "maximum": 200, "default": 50}, "Page size"),
                    query("offset", {**identifier(0), "default": 0}, "Rows to skip"),
                ],
                "responses": {
                    "200": ok(
                        "A page of conversations",
                        obj(
                            {
                                "success": {"const": True},
                                "conversations": {"type": "array", "items": ref("Conversation")},
                                "count": {"type": "integer"},
                                "total": {"type": "integer"},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                                "counts": obj(
                                    {t: {"type": "integer"} for t in ("all", "unread", "mine", "unassigned", "closed")},
                                    ["all", "unread", "mine", "unassigned", "closed"],
                                ),
                            },
                            ["success", "conversations", "count", "total", "limit", "offset", "counts"],
                        ),
                    ),
                    **errors(400, *AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/conversation": {
            "get": {
                "summary": "One conversation by conversation_id, phone_number or user_id",
                "tags": ["conversations"],
                "parameters": CUSTOMER_QUERY,
                "responses": {
                    "200": ok("The conversation", ref("ConversationResult")),
                    **errors(400, 404, *AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/messages": {
            "get": {
                "summary": "A thread, oldest first: the newest `limit`, or a page before/after a message",
                "tags": ["messages"],
                "parameters": [
                    *CUSTOMER_QUERY,
                    query("limit", {**identifier(), "maximum": 500, "default": 50}, "Page size"),
                    query("before_id", identifier(), "Page back from this message (exclusive)"),
                    query("after_id", identifier(), "Page forward from this message (exclusive)"),
                    query("include_raw", {"type": "boolean"}, "Add the raw JSON of each message"),
                ],
                "responses": {
                    "200": ok(
                        "The messages",
                        obj(
                            {
                                "success": {"const": True},
                                "messages": {"type": "array", "items": ref("Message")},
                                "count": {"type": "integer"},
                                "conversation_id": {"type": "integer"},
                            },
                            ["success", "messages", "count", "conversation_id"],
                        ),
                    ),
                    **errors(400, 404, *AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/send": {
            "post": {
                "summary": "Send a message of any type (text by default), idempotently with Idempotency-Key",
                "description": (
                    "The message is stored 'pending' before Meta is called, then 'sent' or 'failed' (or left "
                    "'pending' with outcome_unknown when Meta's answer is lost). " + IDEMPOTENCY
                ),
                "tags": ["sending"],
                "parameters": [IDEMPOTENCY_HEADER],
                "requestBody": {"required": True, "content": json_content(ref("SendRequest"))},
                "responses": {
                    "200": ok("Meta accepted the message (or an earlier send with this key)", ref("SendResult")),
                    **errors(400, 404, 413, *WRITE_ERRORS),
                    **send_answers(),
                },
            }
        },
        "/api/whatsapp/send-media": {
            "post": {
                "summary": "Upload a file to Meta and send it by media id (Meta's type and size limits first)",
                "description": "Idempotency-Key (or client_message_id) as for /send: " + IDEMPOTENCY,
                "tags": ["sending"],
                "parameters": [IDEMPOTENCY_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": obj(
                                {
                                    "file": {"type": "string", "format": "binary"},
                                    "type": {"enum": ["image", "video", "audio", "document", "sticker"]},
                                    "caption": {"type": "string"},
                                    "reply_to": {"type": "string"},
                                    "conversation_id": {"type": "string"},
                                    "phone_number": {"type": "string"},
                                    "user_id": {"type": "string"},
                                    "agent_id": {"type": "string"},
                                    "client_message_id": {"type": "string"},
                                },
                                ["file"],
                            )
                        }
                    },
                },
                "responses": {
                    "200": ok("Uploaded and accepted", ref("SendResult")),
                    **errors(400, 404, 413, *WRITE_ERRORS),
                    **send_answers(),
                },
            }
        },
        "/api/whatsapp/media/{message_id}": {
            "get": {
                "summary": "A message's media file with its content type (fetched from Meta first if needed)",
                "description": "A failed download is tried again here only once its backoff step is due (the 502 "
                "says when, in retry_after). The Content-Disposition carries the filename per RFC 6266: an ASCII "
                "`filename` and the exact name as `filename*`.",
                "tags": ["media"],
                "parameters": [{"name": "message_id", "in": "path", "required": True, "schema": identifier(0)}],
                "responses": {
                    "200": {
                        "description": "The file; not images, video or audio are served as attachments",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **errors(404, 502, 503, *AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/media/{message_id}/retry": {
            "post": {
                "summary": "Download an inbound message's media again now",
                "description": "Whatever the backoff says. A copy on disk that still matches its sha256 is kept "
                "as it is (200), without asking Meta, which may no longer have the media.",
                "tags": ["media"],
                "parameters": [{"name": "message_id", "in": "path", "required": True, "schema": identifier(0)}],
                "responses": {
                    "200": ok("Downloaded", ref("MediaRetry")),
                    "502": {
                        "description": "The download failed again",
                        "content": json_content({"anyOf": [ref("MediaRetry"), ref("Error")]}),
                    },
                    **errors(404, *WRITE_ERRORS),
                },
            }
        },
        "/api/whatsapp/mark-read": {
            "post": {
                "summary": "Zero the unread count and send WhatsApp's read receipt for the latest message",
                "tags": ["conversations"],
                "requestBody": {"required": True, "content": json_content(ref("ConversationTarget"))},
                "responses": {
                    "200": ok(
                        "Marked read",
                        obj(
                            {
                                "success": {"const": True},
                                "conversation_id": {"type": "integer"},
                                "unread_count": {"const": 0},
                                "read_receipt": {"enum": ["sent", "failed", "skipped"]},
                            },
                            ["success", "conversation_id", "unread_count", "read_receipt"],
                        ),
                    ),
                    **errors(400, 404, 413, *WRITE_ERRORS),
                },
            }
        },
        "/api/whatsapp/assign-agent": {
            "post": {
                "summary": "Assign a conversation to an agent (status 'assigned'); agent_id null unassigns",
                "tags": ["conversations"],
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        obj({**CUSTOMER_FIELDS, "agent_id": nullable(identifier(0))}, required=["agent_id"])
                    ),
                },
                "responses": {"200": conversation_result, **errors(400, 404, 413, *WRITE_ERRORS)},
            }
        },
        "/api/whatsapp/close": {
            "post": {
                "summary": "Close a conversation (the customer's next message reopens it)",
                "tags": ["conversations"],
                "requestBody": lifecycle_body,
                "responses": {"200": conversation_result, **errors(400, 404, 413, *WRITE_ERRORS)},
            }
        },
        "/api/whatsapp/reopen": {
            "post": {
                "summary": "Reopen a closed conversation",
                "tags": ["conversations"],
                "requestBody": lifecycle_body,
                "responses": {"200": conversation_result, **errors(400, 404, 413, *WRITE_ERRORS)},
            }
        },
        "/api/whatsapp/unassign": {
            "post": {
                "summary": "Remove a conversation's agent",
                "tags": ["conversations"],
                "requestBody": lifecycle_body,
                "responses": {"200": conversation_result, **errors(400, 404, 413, *WRITE_ERRORS)},
            }
        },
        "/api/whatsapp/stats": {
            "get": {
                "summary": "Totals for the inbox",
                "tags": ["inbox"],
                "responses": {
                    "200": ok("Totals", obj({"success": {"const": True}, "stats": ref("Stats")}, ["success", "stats"])),
                    **errors(*AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/health": {
            "get": {
                "summary": "Delivery health: last webhook, journal states, parked statuses, media backlog",
                "tags": ["inbox"],
                "responses": {
                    "200": ok(
                        "Health", obj({"success": {"const": True}, "health": ref("Health")}, ["success", "health"])
                    ),
                    **errors(*AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/templates": {
            "get": {
                "summary": "The business's approved templates with the parameters each needs",
                "tags": ["sending"],
                "parameters": [query("refresh", {"type": "boolean"}, "Re-read them from Meta now")],
                "responses": {
                    "200": ok(
                        "Approved templates",
                        obj(
                            {
                                "success": {"const": True},
                                "templates": {"type": "array", "items": ref("Template")},
                                "count": {"type": "integer"},
                            },
                            ["success", "templates", "count"],
                        ),
                    ),
                    **errors(400, 502, *AGENT_ERRORS),
                },
            }
        },
        "/api/whatsapp/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["inbox"],
                "security": [],
                "responses": {"200": ok("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})},
            }
        },
        **openapi_dashboard.paths(),
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (built fresh: callers may mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wa-inbox agent API",
            "version": "1.0.0",
            "description": (
                "A WhatsApp Business (Cloud API) agent inbox. Every route answers JSON; every error is "
                '{"success": false, "error": "<a sentence>"}. Agent routes take '
                "`Authorization: Bearer <key>` (AGENT_API_KEY, or an agent's own key) or the dashboard's "
                "session cookie, whose writes also send `X-CSRF-Token`. Without AGENT_API_KEY configured, "
                "loopback clients are served without credentials."
            ),
        },
        "security": [{"agentKey": []}, {"dashboardSession": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "agentKey": {"type": "http", "scheme": "bearer", "description": "AGENT_API_KEY or an agent's key"},
                "dashboardSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "wa_inbox_session",
                    "description": "Set by POST /login; writes also need the X-CSRF-Token header from GET /me",
                },
            },
            "schemas": {
                "Conversation": CONVERSATION,
                "ConversationResult": CONVERSATION_RESULT,
                "ConversationTarget": CONVERSATION_TARGET,
                "Message": MESSAGE,
                "Media": MEDIA,
                "SendRequest": SEND_REQUEST,
                "SendResult": SEND_RESULT,
                "MediaRetry": obj(
                    {"success": {"type": "boolean"}, "media_state": nullable("string"), "message": ref("Message")},
                    ["success", "media_state", "message"],
                ),
                "Stats": STATS,
                "Health": HEALTH,
                "Template": TEMPLATE,
                "WebhookResult": WEBHOOK_RESULT,
                "Error": ERROR,
            },
            "responses": {
                f"E{code}": {"description": text, "content": json_content(ref("Error"))}
                for code, text in ERROR_DESCRIPTIONS.items()
            },
        },
    }
