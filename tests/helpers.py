"""Small builders for webhook payloads and signed requests, shared by the tests."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "test-app-secret"
AGENT_KEY = "test-agent-key"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "110293847561029"

_counter = itertools.count(1)

# The fields of the original spec, in its order; answers may add fields after them, never rename.
SPEC_CONVERSATION_FIELDS = [
    "id",
    "phone_number",
    "contact_name",
    "contact_profile_name",
    "last_message_at",
    "last_message",
    "unread_count",
    "status",
    "assigned_agent_id",
]
SPEC_MESSAGE_FIELDS = [
    "id",
    "whatsapp_message_id",
    "phone_number",
    "direction",
    "type",
    "text",
    "status",
    "timestamp",
    "agent_id",
]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(client, body: Any, *, secret: str = APP_SECRET, signature: str | None = None):
    """POST a webhook body (dict or raw bytes) signed as Meta signs it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature or sign(raw, secret)}
    return client.post("/api/whatsapp/webhook", data=raw, headers=headers)


def envelope(value: dict, field: str = "messages") -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "109283746501928", "changes": [{"field": field, "value": value}]}],
    }


def wamid(prefix: str = "in") -> str:
    return f"wamid.TEST{prefix.upper()}{next(_counter):08d}=="


def text_message(
    body: str = "Hello",
    *,
    wa_id: str | None = "14155550123",
    user_id: str | None = None,
    name: str | None = "Maria Lopez",
    username: str | None = None,
    message_id: str | None = None,
    timestamp: int = 1795500000,
    extra: dict | None = None,
) -> dict:
    """An envelope with one inbound text message and its contact."""
    contact: dict[str, Any] = {"profile": {"name": name} if name else {}}
    message: dict[str, Any] = {
        "id": message_id or wamid(),
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": body},
    }
    if username:
        contact["profile"]["username"] = username
    if wa_id:
        contact["wa_id"] = wa_id
        message["from"] = wa_id
    if user_id:
        contact["user_id"] = user_id
        message["from_user_id"] = user_id
    message.update(extra or {})
    return envelope({"contacts": [contact], "messages": [message]})


def status_update(
    message_id: str,
    status: str,
    *,
    timestamp: int = 1795500100,
    recipient: str = "14155550123",
    errors: list | None = None,
    callback: str | None = None,
) -> dict:
    item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(timestamp), "recipient_id": recipient}
    if errors:
        item["errors"] = errors
    if callback:
        item["biz_opaque_callback_data"] = callback
    return envelope({"statuses": [item]})


def send_ok(wa_id: str = "14155550123", message_id: str | None = None) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+" + wa_id, "wa_id": wa_id}],
        "messages": [{"id": message_id or wamid("out")}],
    }


def now_ts() -> int:
    import time

    return int(time.time())


def customer_writes(client, body: str = "Hi, I need help", **kwargs):
    """An inbound message sent just now, which opens the 24-hour customer-service window."""
    answer = post_webhook(client, text_message(body, timestamp=now_ts() - 5, **kwargs))
    assert answer.status_code == 200, answer.get_json()
    return answer


WABA_ID = "109283746501928"


def serve_meta_templates(graph, templates: list[dict], waba_id: str = WABA_ID) -> None:
    """Make the stand-in Graph API hold these templates the way Meta does: the listing answers only the
    `fields` asked for, and a template send Meta would refuse (a NAMED template without each
    `parameter_name`, a wrong count, an unknown template) gets Meta's error; other sends are accepted."""
    from werkzeug import Response

    from whatsapp import standin_templates

    def listing(request):
        body = standin_templates.listing(templates, request.args.get("fields"))
        return Response(json.dumps(body), content_type="application/json")

    def send(request):
        refused = standin_templates.refusal(templates, request.get_json())
        if refused is not None:
            return Response(json.dumps(refused[1]), status=refused[0], content_type="application/json")
        return Response(json.dumps(send_ok()), content_type="application/json")

    graph.expect_request(f"/v26.0/{waba_id}/message_templates", method="GET").respond_with_handler(listing)
    graph.expect_request(f"/v26.0/{PHONE_NUMBER_ID}/messages", method="POST").respond_with_handler(send)


def meta_calls(graph) -> list[str]:
    """What the stand-in Graph was asked, less media lookups (GET /<version>/<media id>), which an
    earlier test's media worker may still be making: 'METHOD path' each."""
    return [
        f"{request.method} {request.path}"
        for request, _ in graph.log
        if not (request.method == "GET" and request.path.rsplit("/", 1)[-1].isdigit())
    ]


def agent_key(runner, name: str, *flags: str) -> str:
    """Create an agent with the CLI (`--admin` among flags for an admin) and return its API key."""
    result = runner.invoke(args=["create-agent", name, *flags])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def serve_meta_messages(graph, known: set[str]) -> list[dict]:
    """Make the stand-in Graph API answer POST /messages as Meta does: a read call (read receipt or
    typing indicator) is checked like Meta checks it (whatsapp/standin_typing.py; `known`: the wamids
    the business received), any other body is a send and is accepted. Returns the list that each
    read call's body is appended to (with the HTTP status it was answered), in order."""
    from werkzeug import Response

    from whatsapp import standin_typing

    reads: list[dict] = []

    def handle(request):
        body = json.loads(request.data or b"null")
        if standin_typing.is_read_call(body):
            status, answer = standin_typing.answer(body, known.__contains__)
            reads.append({"body": body, "status": status})
            return Response(json.dumps(answer), status=status, content_type="application/json")
        return Response(json.dumps(send_ok()), content_type="application/json")

    graph.expect_request(f"/v26.0/{PHONE_NUMBER_ID}/messages", method="POST").respond_with_handler(handle)
    return reads


def database_for(settings: dict):
    """A Database on the test's database, whichever the engine (for reading what the app stored)."""
    from whatsapp import db

    if settings.get("DATABASE_URL"):
        from whatsapp.db_postgres import PostgresDatabase

        return PostgresDatabase(settings["DATABASE_URL"], pool_size=2)
    return db.Database(settings["DATABASE_PATH"])


@contextlib.contextmanager
def connection_for(settings: dict):
    """A connection on the test's database, whichever the engine; closed (and its pool) after."""
    database = database_for(settings)
    try:
        with database.connection() as conn:
            yield conn
    finally:
        database.close()


def statement_as_run(conn, sql: str, params=()) -> str:
    """A PostgreSQL statement with its parameters filled in, as SQLite's trace callback shows one."""
    import re

    from psycopg import sql as pgsql

    from whatsapp import pg

    translation = pg.translate(sql)
    values = pg.bind(translation, params) or []
    return re.sub(r"\$(\d+)", lambda m: pgsql.Literal(values[int(m.group(1)) - 1]).as_string(conn.raw), translation.sql)


@contextlib.contextmanager
def statements_seen(app):
    """Every statement the app's Database runs meanwhile, its parameters filled in: SQLite's trace
    callback (Database.tracing), or on PostgreSQL each execute of a connection, seen as it passes."""
    seen: list[str] = []
    database = app.extensions["database"]
    if database.engine != "postgresql":
        with database.tracing(seen.append):
            yield seen
        return
    from whatsapp import pg

    original = pg.PgConnection.execute

    def execute(self, sql, params=()):
        seen.append(statement_as_run(self, sql, params))
        return original(self, sql, params)

    pg.PgConnection.execute = execute
    try:
        yield seen
    finally:
        pg.PgConnection.execute = original
