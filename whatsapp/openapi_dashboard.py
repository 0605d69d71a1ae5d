"""OpenAPI paths of the dashboard's routes under /api/whatsapp (events, agents, me); openapi.py merges them."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
STREAM = {"type": "string"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _cursor(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 10**15 - 1},
        "description": description,
    }


EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["message.created", "message.updated", "conversation.updated", "conversation.merged"]},
        "conversation_id": {"type": ["integer", "null"]},
        "message_id": {"type": ["integer", "null"]},
        "merged_from": {
            "type": ["integer", "null"],
            "description": "conversation.merged: the conversation folded into conversation_id, now deleted",
        },
        "created_at": {"type": "string"},
    },
    "required": ["id", "kind", "conversation_id", "message_id", "merged_from", "created_at"],
}

AGENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "created_at": {"type": "string"},
        "active": {"type": "boolean"},
    },
    "required": ["id", "name"],
}


def paths() -> dict[str, Any]:
    return {
        "/api/whatsapp/events": {
            "get": {
                "summary": "The event log after a cursor, oldest first (integrations poll this)",
                "tags": ["events"],
                "parameters": [
                    _cursor("after", "Return events with a larger id (default 0)"),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of events",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "success": {"const": True},
                                    "events": {"type": "array", "items": EVENT},
                                    "count": {"type": "integer"},
                                    "next_after": {"type": "integer"},
                                    "last_event_id": {"type": "integer"},
                                    "oldest_event_id": {
                                        "type": "integer",
                                        "description": (
                                            "The oldest event kept apart from conversation.merged ones "
                                            "(kept forever): events are pruned after EVENTS_RETENTION_DAYS"
                                        ),
                                    },
                                    "gap": {
                                        "type": "boolean",
                                        "description": (
                                            "true when `after` is older than oldest_event_id: events "
                                            "between them may have been pruned, so reload what you show"
                                        ),
                                    },
                                },
                                "required": [
                                    "success",
                                    "events",
                                    "count",
                                    "next_after",
                                    "last_event_id",
                                    "oldest_event_id",
                                    "gap",
                                ],
                            }
                        ),
                    },
                    **_errors(400, 401, 429, 503),
                },
            }
        },
        "/api/whatsapp/events/stream": {
            "get": {
                "summary": "Server-Sent Events of the event log, resuming after Last-Event-ID (or `after`)",
                "description": (
                    "Each event is `id: <event id>` and `data: <event JSON>`. Comment lines keep the "
                    "connection alive; the server ends each connection after a few minutes and "
                    "EventSource reconnects with Last-Event-ID. Needs `Accept: text/event-stream`. "
                    "A resume from before the oldest event kept (events are pruned after "
                    'EVENTS_RETENTION_DAYS) first gets `event: gap` with `data: {"after": <id>, '
                    '"oldest_event_id": <id>}`: events in between may be gone, reload what you show.'
                ),
                "tags": ["events"],
                "parameters": [
                    _cursor("after", "Start after this event id (default: from now on)"),
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The stream", "content": {"text/event-stream": {"schema": STREAM}}},
                    "406": {"description": "Not asked for as text/event-stream", "content": _json(_ERROR)},
                    **_errors(400, 401, 429, 503),
                },
            }
        },
        "/api/whatsapp/agents": {
            "get": {
                "summary": "Active agents (id and name), for assigning conversations",
                "tags": ["agents"],
                "responses": {
                    "200": {
                        "description": "Agents",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "success": {"const": True},
                                    "agents": {"type": "array", "items": AGENT},
                                    "count": {"type": "integer"},
                                },
                                "required": ["success", "agents", "count"],
                            }
                        ),
                    },
                    **_errors(401, 429, 503),
                },
            }
        },
        "/api/whatsapp/me": {
            "get": {
                "summary": "The agent whose key or session made the call (null for the service key)",
                "tags": ["agents"],
                "responses": {
                    "200": {
                        "description": "The caller",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "success": {"const": True},
                                    "agent": {"anyOf": [AGENT, {"type": "null"}]},
                                    "csrf_token": {"type": "string"},
                                },
                                "required": ["success", "agent"],
                            }
                        ),
                    },
                    **_errors(401, 429, 503),
                },
            }
        },
    }
