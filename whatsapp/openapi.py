"""The OpenAPI 3.1 document of every route under /api/whatsapp, served at GET /api/whatsapp/openapi.json.

It is assembled, not written: `paths` from each route's @api_doc metadata (whatsapp/api_doc.py, walking
the URL map) and `components.schemas` from the TypedDicts those refer to (whatsapp/api_shapes.py). This
module keeps the document's frame and the snippets several routes share. tests/test_openapi.py keeps it
true: a route without metadata fails the suite, and schemathesis checks the live app against it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from .api_doc import Answer, api_doc, header, paths, query
from .api_shapes import Error, Id, Phone, SendResult, UserId
from .shapes import Registry

bp = Blueprint("openapi", __name__, url_prefix="/api/whatsapp")


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


# --- snippets the routes share ---------------------------------------------------------------

CUSTOMER_QUERY = (
    query("conversation_id", Id, "The conversation's id", 1),
    query("phone_number", Phone, "The customer's phone number", "+14155550123"),
    query("user_id", UserId, "The customer's business-scoped user id"),
)
# 401 (no valid key or session), 429 (this address failed too many keys) and 503 (the database stayed
# busy) can answer any agent route; writes made with a dashboard session also need its CSRF token (403).
AGENT_ERRORS = (401, 429, 503)
WRITE_ERRORS = (401, 403, 429, 503)

IDEMPOTENCY = (
    "An Idempotency-Key (or client_message_id) belongs to the credential that sent it (the service key, "
    "or one agent) and to the request it came with (the route and the body). Repeating it with the same "
    "request sends nothing again and answers with the first attempt's outcome: 200 once Meta accepted "
    "the message; Meta's refusal (409, 422) with the same status and error; 409 while the first attempt's "
    "outcome is not known (Meta's answer was lost: the message stays pending until a status settles it). "
    "After a failure where Meta certainly did not take the message (429, 502: throttled, unreachable, a "
    "5xx, a bad token) the repeat sends the same message again. The same key with a different request: 422."
)
IDEMPOTENCY_HEADER = header(
    "Idempotency-Key",
    {"type": "string", "maxLength": 200},
    "The client's id for this send (unique per credential); see the route's description",
)
SEND_ANSWER_DESCRIPTIONS = {
    409: "The 24-hour customer-service window is closed (only a template may be sent; Meta's 131047 is "
    "stored as failed), a template WhatsApp paused, disabled or rejected (template_status, its reason), a "
    "MARKETING template to a customer who stopped marketing messages (marketing_opt_out), or a repeat of an "
    "Idempotency-Key whose first attempt has no known outcome yet: nothing was sent (again), repeat it later",
    422: "WhatsApp refused the message (Meta's code, title and details included; stored as failed), or "
    "an Idempotency-Key that was used for a different request: nothing was sent",
    429: "WhatsApp is rate limiting (after bounded retries; stored as failed, and a repeat of the key sends again), "
    "or too many failed key attempts from this address (wait Retry-After seconds)",
    502: "WhatsApp failed or could not be reached; stored as failed, and a repeat of the key sends again",
    504: "WhatsApp's answer was lost (a timeout, a broken connection, a 200 without a message id): the message "
    "may or may not have been sent. It stays pending (outcome_unknown) until a status settles it",
}


# The send routes' failure answers: the send's result with its error, or a plain error.
SEND_ANSWERS = {code: Answer(text, SendResult | Error) for code, text in SEND_ANSWER_DESCRIPTIONS.items()}

# Every error answer is {"success": false, "error": "..."}; routes refer to these by status.
ERROR_DESCRIPTIONS = {
    400: "The request is malformed or a parameter is invalid",
    401: "Missing or wrong credentials (agent key, or the webhook's X-Hub-Signature-256)",
    403: "Webhook verification refused, or a dashboard session's write without its X-CSRF-Token",
    404: "No such conversation, message or media",
    409: "The 24-hour customer-service window is closed (only a template may be sent), the template is paused, "
    "disabled or rejected, or a MARKETING template goes to a customer who stopped marketing messages",
    413: "The body is over the limit (1 MB; the webhook 4 MB; uploads 101 MB)",
    422: "WhatsApp refused the message (Meta's code, title and details included)",
    429: "Too many failed key attempts from this address (wait Retry-After seconds: retry_after), "
    "or on a send, WhatsApp is rate limiting (after bounded retries)",
    502: "WhatsApp failed or could not be reached",
    503: "The inbox is busy (Retry-After), a setting is missing (the app secret, the business account id), "
    "or the media is being downloaded right now (retry_after)",
    504: "WhatsApp did not answer in time: the message may or may not have been sent",
}


# --- the document ----------------------------------------------------------------------------


def document(app: Flask | None = None) -> dict[str, Any]:
    """The OpenAPI document of `app` (the current one by default), built fresh: callers may mutate it."""
    registry = Registry()
    operations = paths(app or current_app, registry)
    error = registry.schema(Error)
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
        "paths": operations,
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
            "schemas": registry.components(),
            "responses": {
                f"E{code}": {"description": text, "content": {"application/json": {"schema": error}}}
                for code, text in ERROR_DESCRIPTIONS.items()
            },
        },
    }
