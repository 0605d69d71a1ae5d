"""Property-based tests of the webhook (hypothesis): whatever JSON a signed POST carries, the answer
is a 200 with the delivery processed or a 4xx, never a 500 or a delivery that failed to process; and
what customers write comes back from the API exactly as they wrote it."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from whatsapp import db

from .helpers import (
    AGENT_KEY,
    APP_SECRET,
    FIXTURES,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    envelope,
    post_webhook,
    postgres_server,
)
from .postgres import Reusable

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEBHOOK_FIXTURES = sorted(
    path.stem for path in FIXTURES.glob("*.json") if '"whatsapp_business_account"' in path.read_text()
)


ENGINE: dict[str, Reusable | None] = {"postgres": None}


@pytest.fixture(autouse=True, scope="module")
def _engine(request):
    """On a PostgreSQL run, the examples' database: one of their own, emptied before each example
    (module scope: hypothesis examples cannot use function-scoped fixtures)."""
    server = postgres_server(request)
    if server is not None:
        ENGINE["postgres"] = Reusable(*server)
    yield
    if ENGINE["postgres"] is not None:
        ENGINE["postgres"].drop()
    ENGINE["postgres"] = None


@contextlib.contextmanager
def fresh_client() -> Iterator[Any]:
    """An app over its own new database, of the run's engine (Meta unreachable: nothing here calls it)."""
    reusable = ENGINE["postgres"]
    with tempfile.TemporaryDirectory() as folder:
        database = {
            "DATABASE_PATH": str(Path(folder) / "inbox.sqlite3"),
            "DATABASE_URL": reusable.reset() if reusable is not None else "",
        }
        app = create_app(
            {
                **database,
                "MEDIA_DIR": str(Path(folder) / "media"),
                "WHATSAPP_APP_SECRET": APP_SECRET,
                "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                "WHATSAPP_ACCESS_TOKEN": "test-access-token",
                "WHATSAPP_API_URL": "http://127.0.0.1:9",
                "AGENT_API_KEY": AGENT_KEY,
                "media_auto_download": False,
            }
        )
        db.database(app).synchronous = "OFF"  # no fsync per example: durability is tested elsewhere
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        try:
            yield client
        finally:
            db.database(app).close()  # its connections go before its database does


def assert_handled(answer) -> None:
    """200 with the delivery processed, or a 4xx with the JSON error shape; nothing else."""
    body = answer.get_json()
    if answer.status_code == 200:
        assert body["success"] is True
        assert body["state"] == "processed", body
    else:
        assert 400 <= answer.status_code < 500, (answer.status_code, body)
        assert body["success"] is False and body["error"]


# --- any JSON at all -----------------------------------------------------------------------

# Any size of number (Python's json reads 2**64, 1e300 and Infinity), any text but lone surrogates
# (hypothesis does not make them; a test below does).
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
# Keys the parser looks for, so random documents reach deep into it rather than bouncing at the top.
KEYS = [
    "object", "entry", "changes", "field", "value", "messages", "statuses", "contacts", "errors", "id", "from",
    "from_user_id", "type", "text", "body", "timestamp", "status", "recipient_id", "wa_id", "user_id", "profile",
    "name", "context", "reaction", "message_id", "emoji", "image", "caption", "system", "biz_opaque_callback_data",
    "interactive", "location", "latitude", "code", "error_data", "details", "username", "edit", "revoke",
]  # fmt: skip
shaped_values = st.recursive(
    scalars | st.sampled_from(["whatsapp_business_account", "messages", "text", "read", "14155550123"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=40,
)


@SETTINGS
@pytest.mark.slow
@given(value=json_values)
def test_any_json_value_is_processed_or_refused_with_a_4xx(value):
    with fresh_client() as client:
        assert_handled(post_webhook(client, json.dumps(value).encode()))


@SETTINGS
@pytest.mark.slow
@given(value=shaped_values)
def test_any_envelope_shaped_json_is_processed_or_refused_with_a_4xx(value):
    body = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}
    with fresh_client() as client:
        assert_handled(post_webhook(client, json.dumps(body).encode()))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"x"', b"{", b"\xff\xfe", b'{"object": NaN}', b"1e999"])
def test_bodies_that_are_not_a_json_object_get_a_400(raw):
    with fresh_client() as client:
        answer = post_webhook(client, raw)
    assert answer.status_code == 400 and answer.get_json()["success"] is False


# --- mutations of Meta's documented payloads -----------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "‮RTL override‬",
    "مرحبا بالعالم",
    "👩🏽‍💻🇨🇱",
    "<script>alert(1)</script>",
    "'); DROP TABLE whatsapp_messages; --",
    "9" * 40,
    "-1",
    "1e309",
    "x" * 100_000,
    "wamid.",
    "US.",
]
replacements = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(HOSTILE_STRINGS)
    | st.text(max_size=30)
    | st.just([])
    | st.just({})
)


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indexes) to a node of a JSON document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, (*prefix, index))
    return found


def mutate(document: Any, path: tuple, how: str, replacement: Any) -> Any:
    """A copy of `document` with the node at `path` dropped, replaced, or wrapped in a list/object."""
    if not path:
        return replacement if how == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if how == "drop":
        del parent[key]
    elif how == "replace":
        parent[key] = replacement
    elif how == "wrap_list":
        parent[key] = [parent[key]]
    elif how == "wrap_object":
        parent[key] = {"value": parent[key]}
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[key])))
    return document


@st.composite
def mutated_fixture(draw) -> bytes:
    document = json.loads((FIXTURES / f"{draw(st.sampled_from(WEBHOOK_FIXTURES))}.json").read_text())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(paths_of(document)))
        how = draw(st.sampled_from(["drop", "replace", "replace", "wrap_list", "wrap_object", "duplicate"]))
        document = mutate(document, path, how, draw(replacements))
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode()


@SETTINGS
@pytest.mark.slow
@given(bodies=st.lists(mutated_fixture(), min_size=1, max_size=3))
def test_any_mutation_of_the_documented_payloads_is_processed_or_refused_with_a_4xx(bodies):
    with fresh_client() as client:
        for body in bodies:
            assert_handled(post_webhook(client, body))
        # Whatever was stored reads back without an error.
        for conversation in client.get("/api/whatsapp/conversations?limit=200").get_json()["conversations"]:
            thread = client.get(f"/api/whatsapp/messages?conversation_id={conversation['id']}&include_raw=true")
            assert thread.status_code == 200


# --- round trip ----------------------------------------------------------------------------

# Any character Meta could send (no lone surrogates: they cannot be UTF-8), weighted to the nasty ones.
pieces = st.characters(exclude_categories=["Cs"]) | st.sampled_from(
    ["\x00", "\u202e", "\u200f", "\ufeff", "<", ">", "&", "'", '"', "\\", "\n", "\r", "%", "@", "😀", "👍🏽", "ש"]
)
bodies = st.lists(pieces, min_size=1, max_size=300).map("".join) | st.sampled_from(
    ["x" * 4096, "😀" * 4096, "<img src=x onerror=alert(1)>", "Robert'); DROP TABLE whatsapp_messages;--", "\x00"]
)
names = st.lists(pieces, min_size=1, max_size=40).map("".join).filter(lambda name: name.strip() == name)


@SETTINGS
@pytest.mark.slow
@given(body=bodies, name=names, ascii_only=st.booleans())
def test_a_text_message_comes_back_from_the_api_exactly_as_sent(body, name, ascii_only):
    message = {"from": "14155550123", "id": "wamid.ROUNDTRIP==", "timestamp": "1795500000", "type": "text"}
    payload = envelope(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": "14155550123"}],
            "messages": [{**message, "text": {"body": body}}],
        }
    )
    with fresh_client() as client:
        assert_handled(post_webhook(client, json.dumps(payload, ensure_ascii=ascii_only).encode()))
        [conversation] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
        [stored] = client.get(f"/api/whatsapp/messages?conversation_id={conversation['id']}").get_json()["messages"]
    assert stored["text"] == body
    assert stored["whatsapp_message_id"] == "wamid.ROUNDTRIP=="
    assert conversation["contact_name"] == name


# Identifiers and enums keep their documented values; every other string may be anything.
PROTECTED_KEYS = {
    "object", "field", "messaging_product", "display_phone_number", "phone_number_id", "id", "from",
    "from_user_id", "wa_id", "user_id", "type", "timestamp", "message_id", "mime_type", "sha256", "url",
}  # fmt: skip
MESSAGE_FIXTURES = [
    name
    for name in WEBHOOK_FIXTURES
    if "messages" in (value := json.loads((FIXTURES / f"{name}.json").read_text())["entry"][0]["changes"][0]["value"])
    # reactions, edits and deletions are folded into their target, not listed in the thread
    and value["messages"][0].get("type") not in ("reaction", "edit", "revoke")
]


def rewrite_strings(node: Any, draw, key: str | None = None) -> Any:
    if isinstance(node, dict):
        return {k: rewrite_strings(v, draw, k) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_strings(item, draw, key) for item in node]
    if isinstance(node, str) and key not in PROTECTED_KEYS:
        return draw(st.lists(pieces, min_size=1, max_size=60).map("".join))
    return node


@SETTINGS
@pytest.mark.slow
@given(name=st.sampled_from(MESSAGE_FIXTURES), data=st.data(), ascii_only=st.booleans())
def test_every_documented_message_comes_back_raw_exactly_as_meta_sent_it(name, data, ascii_only):
    payload = rewrite_strings(json.loads((FIXTURES / f"{name}.json").read_text()), data.draw)
    [item] = payload["entry"][0]["changes"][0]["value"]["messages"]
    with fresh_client() as client:
        assert_handled(post_webhook(client, json.dumps(payload, ensure_ascii=ascii_only).encode()))
        [conversation] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
        thread = client.get(f"/api/whatsapp/messages?conversation_id={conversation['id']}&include_raw=true")
    [stored] = [m for m in thread.get_json()["messages"] if m["whatsapp_message_id"] == item["id"]]
    assert stored["raw"] == item
    assert stored["type"] == item["type"]
    if item["type"] == "text":
        assert stored["text"] == item["text"]["body"]


def test_a_lone_surrogate_escape_in_one_message_does_not_fail_the_messages_batched_with_it():
    good = {"from": "14155550123", "id": "wamid.GOOD==", "timestamp": "1795500000", "type": "text"}
    odd = {**good, "id": "wamid.ODD==", "text": {"body": "SURROGATE"}}
    payload = envelope(
        {
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "14155550123"}],
            "messages": [{**good, "text": {"body": "fine"}}, odd],
        }
    )
    # JSON allows "\ud800" on its own; Python decodes it to a str that UTF-8 (and SQLite) cannot hold.
    raw = json.dumps(payload).replace("SURROGATE", "a\\ud800b").encode()
    with fresh_client() as client:
        assert_handled(post_webhook(client, raw))
        stored = client.get("/api/whatsapp/messages?phone_number=%2B14155550123").get_json()["messages"]
    assert [m["whatsapp_message_id"] for m in stored] == ["wamid.GOOD==", "wamid.ODD=="]


@pytest.mark.parametrize(
    "code", [2**64, 1e300, float("inf"), "9" * 40], ids=["2**64", "1e300", "Infinity", "40 digits as text"]
)
@pytest.mark.parametrize("name", ["unsupported", "status_failed"])
def test_an_error_code_too_large_for_sqlite_does_not_fail_the_delivery(name, code):
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    (value.get("messages") or value.get("statuses"))[0]["errors"][0]["code"] = code
    with fresh_client() as client:
        assert_handled(post_webhook(client, json.dumps(payload).encode()))
