"""Hostile input: oversized bodies refused unread, customer text kept verbatim, agent keys compared
in constant time, and secrets never written to the logs."""

from __future__ import annotations

import hmac
import io
import json
import logging
import socket
import threading

import pytest
from werkzeug.serving import make_server

from app import create_app
from whatsapp import auth, webhook

from .helpers import AGENT_KEY, PHONE_NUMBER_ID, envelope, now_ts, post_webhook, send_ok, sign, text_message

HUNDRED_MB = 100 * 1024 * 1024
SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"


# --- bodies too large ----------------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """A request body that would be 100 MB of zeros, counting what the server reads of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.consumed)
        buffer[:count] = b"0" * count
        self.consumed += count
        return count


@pytest.fixture
def live_server(app):
    """The app on a real loopback socket (werkzeug's server), for requests a test client cannot make."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def raw_exchange(address, head: bytes, body_part: bytes) -> bytes:
    """Send a request head and only the start of its body, then read whatever the server answers."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(head + body_part)
        answer = b""
        for _ in range(1000):  # bounded: the status line and headers fit in a few reads
            chunk = sock.recv(65536)
            answer += chunk
            if not chunk or b"\r\n\r\n" in answer:
                break
        return answer


def test_a_100_mb_webhook_is_answered_413_before_its_body_is_sent(live_server):
    head = (
        f"POST /api/whatsapp/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {HUNDRED_MB}\r\n\r\n"
    ).encode()
    # Only 64 KB of the announced 100 MB ever leave this process: an answer proves none was awaited.
    answer = raw_exchange(live_server, head, b"0" * 65536)
    assert answer.startswith(b"HTTP/1.1 413")


def raw_call(app, path: str, stream: CountingStream, length: int | None, **headers: str) -> tuple[str, dict]:
    """Call the WSGI app with this body stream; no Content-Length means chunked (the server ends the
    stream, as gunicorn and werkzeug mark with wsgi.input_terminated)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {AGENT_KEY}",
        **{"HTTP_" + name.upper(): value for name, value in headers.items()},
    }
    if length is None:
        environ.update({"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    else:
        environ["CONTENT_LENGTH"] = str(length)
    statuses: list[str] = []
    body = b"".join(app.wsgi_app(environ, lambda status, headers, *exc: statuses.append(status)))
    return statuses[0], json.loads(body)


BAD_SIGNATURE = {"X_HUB_SIGNATURE_256": "sha256=" + "0" * 64}


def test_a_100_mb_webhook_is_refused_without_reading_a_byte_of_it(app):
    stream = CountingStream(HUNDRED_MB)
    status, body = raw_call(app, "/api/whatsapp/webhook", stream, HUNDRED_MB, **BAD_SIGNATURE)
    assert status.startswith("413") and body["success"] is False
    assert stream.consumed == 0


def test_a_chunked_webhook_without_a_length_is_read_no_further_than_the_limit(app):
    stream = CountingStream(HUNDRED_MB)
    status, body = raw_call(app, "/api/whatsapp/webhook", stream, None, **BAD_SIGNATURE)
    assert status[:3] in ("401", "413") and body["success"] is False
    assert stream.consumed <= app.config["SETTINGS"].max_webhook_bytes + 64 * 1024


def test_a_chunked_webhook_over_the_limit_gets_413(app):
    status, _ = raw_call(app, "/api/whatsapp/webhook", CountingStream(HUNDRED_MB), None, **BAD_SIGNATURE)
    assert status.startswith("413")


def test_an_agent_api_body_over_a_megabyte_is_refused_unread(app):
    stream = CountingStream(HUNDRED_MB)
    status, body = raw_call(app, "/api/whatsapp/send", stream, HUNDRED_MB)
    assert status.startswith("413") and body["success"] is False
    assert stream.consumed == 0


# --- customer text is data, never code -----------------------------------------------------

HOSTILE_TEXTS = {
    "emoji": "👩🏽‍💻 ok 👍🏽🇨🇱 ❤️‍🔥",
    "rtl": "مرحبا! ‏שלום‎ \u202eevil.exe\u202c",
    "4096 characters": "é" * 4095 + "!",
    "4096 emoji": "😀" * 4096,
    "nul bytes": "before\x00after\x00",
    "only a nul": "\x00",
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;',
    "sql": "'); DROP TABLE whatsapp_messages; -- \" OR 1=1; SELECT * FROM webhook_deliveries",
    "fts syntax": 'NEAR(a b) OR "x" AND -y* ^z',
    "whitespace": "  \t leading and trailing \n ",
    "json-looking": '{"success": false, "error": "forged"}',
    "control characters": "\x01\x07\x1b[31mred\x1b[0m\r\n",
}


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_customer_text_is_stored_and_returned_verbatim(client, text):
    answer = post_webhook(client, text_message(text, name=text[:60] or "x", timestamp=now_ts()))
    assert answer.status_code == 200 and answer.get_json()["stored"] == 1
    [conv] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    thread = client.get(f"/api/whatsapp/messages?conversation_id={conv['id']}")
    assert thread.mimetype == "application/json"
    [message] = thread.get_json()["messages"]
    assert message["text"] == text
    assert conv["last_message"] == (text if len(text) <= 200 else text[:199] + "…")
    tables = client.get("/api/whatsapp/stats").get_json()["stats"]
    assert tables["total_conversations"] == 1


def test_text_sent_as_escaped_json_is_stored_as_the_characters_it_encodes(client):
    text = "ä @ / < % \x00 😀"
    raw = json.dumps(text_message(text), ensure_ascii=True).encode()  # Meta escapes non-ASCII as \\uXXXX
    assert b"\\u00e4" in raw
    post_webhook(client, raw)
    [message] = client.get("/api/whatsapp/messages?phone_number=%2B14155550123").get_json()["messages"]
    assert message["text"] == text


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_agent_text_reaches_meta_exactly_as_written(client, graph, text):
    post_webhook(client, text_message("hi", timestamp=now_ts() - 5))
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": text})
    if not text.strip():
        assert answer.status_code == 400  # nothing visible to send
        return
    assert answer.status_code == 200, answer.get_json()
    assert graph.log[-1][0].get_json()["text"]["body"] == text
    assert answer.get_json()["message"]["text"] == text


@pytest.mark.parametrize("query", ["' OR 1=1 --", '"', "NEAR(", "*", "a AND", "\x00", "🙂", "%_%", "a" * 200])
def test_search_treats_any_query_as_text(client, query):
    post_webhook(client, text_message("' OR 1=1 -- looks like SQL"))
    answer = client.get("/api/whatsapp/conversations", query_string={"q": query})
    assert answer.status_code == 200, answer.get_json()


def test_a_customer_named_like_markup_keeps_the_name_verbatim(client):
    name = "<b onmouseover=alert(1)>Ana</b> 🇧🇷"
    post_webhook(client, text_message("hola", name=name))
    [conv] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert conv["contact_name"] == name and conv["contact_profile_name"] == name


# --- agent authentication ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "x" * len(AGENT_KEY),  # same length, wrong
        "Bearer " + AGENT_KEY[:-1] + chr(ord(AGENT_KEY[-1]) + 1),  # one character off
        "Bearer " + AGENT_KEY[:-1],  # a prefix
        "Bearer " + AGENT_KEY + "x",  # longer
        "Bearer " + "x" * 4000,  # much longer
        "Bearer ",
        "Bearer",
        AGENT_KEY,  # no scheme
        "Basic " + AGENT_KEY,
        "Bearer " + AGENT_KEY.upper(),
        "Bearer é" + AGENT_KEY,
    ],
)
def test_a_wrong_agent_key_of_any_length_gets_401(anon, header):
    answer = anon.get("/api/whatsapp/stats", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.get_json()["success"] is False


def test_the_right_agent_key_is_accepted_with_any_case_of_scheme(anon):
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert anon.get("/api/whatsapp/stats", headers={"Authorization": f"{scheme} {AGENT_KEY}"}).status_code == 200


def test_keys_and_signatures_are_compared_in_constant_time(anon, client, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert webhook.hmac is auth.hmac  # one module object: the spy sees both comparisons
    anon.get("/api/whatsapp/stats", headers={"Authorization": "Bearer " + "x" * len(AGENT_KEY)})
    assert (b"x" * len(AGENT_KEY), AGENT_KEY.encode()) in compared
    post_webhook(client, b"{}", signature="sha256=" + "0" * 64)
    assert any(b == b"0" * 64 for _, b in compared)
    anon.get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
    assert (b"nope", b"test-verify-token") in compared


# --- secrets stay out of the logs ----------------------------------------------------------

VERIFY_SECRET = "vt-5ecret-verify-7f3a91"
APP_SECRET_VALUE = "as-5ecret-app-9c1e44"
ACCESS_SECRET = "EAAG-5ecret-access-token"
AGENT_SECRET = "ak-5ecret-agent-key-d00d"
SESSION_SECRET = "sk-5ecret-session-signing"
SECRETS = (VERIFY_SECRET, APP_SECRET_VALUE, ACCESS_SECRET, AGENT_SECRET, SESSION_SECRET)


def secret_app(tmp_path, database_url: str = "", **overrides):
    """An app with these secrets over a new SQLite file, or the test's PostgreSQL database (`database_url`)."""
    config = {
        "DATABASE_PATH": str(tmp_path / "secrets.sqlite3"),
        "DATABASE_URL": database_url,
        "MEDIA_DIR": str(tmp_path / "media"),
        "WHATSAPP_VERIFY_TOKEN": VERIFY_SECRET,
        "WHATSAPP_APP_SECRET": APP_SECRET_VALUE,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_SECRET,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": "http://127.0.0.1:9",
        "AGENT_API_KEY": AGENT_SECRET,
        "SECRET_KEY": SESSION_SECRET,
        "graph_backoff": 0.0,
        "graph_timeout": 1.0,
        "media_auto_download": False,
        **overrides,
    }
    return create_app({k: v for k, v in config.items() if v is not None})


def logged_text(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)


def test_neither_the_verify_token_nor_the_app_secret_is_ever_logged(tmp_path, caplog, database_url):
    caplog.set_level(logging.DEBUG)
    # Start-up, with every gap the start-up warnings talk about.
    secret_app(tmp_path / "a", database_url, WHATSAPP_APP_SECRET=None)
    secret_app(tmp_path / "b", database_url, WHATSAPP_APP_SECRET=None, WEBHOOK_ALLOW_UNSIGNED="true")
    secret_app(tmp_path / "c", database_url, WHATSAPP_VERIFY_TOKEN=None)
    app = secret_app(tmp_path / "d", database_url)
    client = app.test_client()

    # Verification: wrong token, a prefix of the right one, the wrong mode, and success.
    for query in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_SECRET[:-1], "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_SECRET, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_SECRET, "hub.challenge": "1"},
    ):
        client.get("/api/whatsapp/webhook", query_string=query)
    # Signatures: none, wrong, made with another secret, right but for a body that is not JSON, right.
    body = json.dumps(text_message("hello")).encode()
    post_webhook(client, body, signature="")
    post_webhook(client, body, signature="sha256=" + "0" * 64)
    post_webhook(client, body, secret="another-secret")
    post_webhook(client, b"{not json", secret=APP_SECRET_VALUE)
    assert post_webhook(client, body, secret=APP_SECRET_VALUE).status_code == 200
    errors = envelope({"errors": [{"code": 1, "title": "x"}]})
    post_webhook(client, json.dumps(errors).encode(), secret=APP_SECRET_VALUE)
    # Agent calls: a wrong key, a refused dashboard sign-in, and a send that fails to reach Meta.
    client.get("/api/whatsapp/stats", headers={"Authorization": "Bearer nope"})
    client.post("/login", data={"key": AGENT_SECRET[:-1]})
    client.post(
        "/api/whatsapp/send",
        json={"phone_number": "+14155550123", "message": "hi"},
        headers={"Authorization": f"Bearer {AGENT_SECRET}"},
    )

    text = logged_text(caplog)
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    assert "verification refused" in text.lower() and "signature" in text.lower()
    for secret in SECRETS:
        assert secret not in text
    assert sign(body, APP_SECRET_VALUE)[7:] not in text  # nor a valid signature derived from it


def test_the_verify_token_stays_out_of_the_access_log_of_a_real_server(tmp_path, caplog, database_url):
    caplog.set_level(logging.INFO)
    server = make_server("127.0.0.1", 0, secret_app(tmp_path, database_url), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        query = f"hub.mode=subscribe&hub.verify_token={VERIFY_SECRET}&hub.challenge=42"
        head = f"GET /api/whatsapp/webhook?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        assert raw_exchange(server.server_address, head, b"").startswith(b"HTTP/1.1 200")
    finally:
        server.shutdown()
        server.server_close()
    assert "/api/whatsapp/webhook" in logged_text(caplog)  # the request was logged...
    assert VERIFY_SECRET not in logged_text(caplog)  # ...without the token


# --- deeply nested JSON --------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: under every size limit, deeper than Python's recursion limit


@pytest.mark.parametrize("path", ["/api/whatsapp/send", "/api/whatsapp/mark-read", "/login"])
def test_deeply_nested_json_is_a_400_not_a_500(client, path):
    answer = client.post(path, data=DEEP, content_type="application/json")
    assert answer.status_code == 400


def test_a_signed_webhook_nested_deeper_than_python_reads_is_journaled_as_failed_not_a_500(client):
    # Signed, so Meta's: a retry would fail the same way, so it is kept (for a replay after a fix)
    # and answered 200. tests/test_durability.py has the rest of the story.
    body = b'{"object": "whatsapp_business_account", "entry": ' + DEEP + b"}"
    answer = post_webhook(client, body)
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "failed"


# --- text that is not Unicode: unpaired surrogate escapes ----------------------------------

LONE = "a\\ud800b"  # JSON allows it; no UTF-8 (so neither SQLite nor Meta) can hold it
JSON_ROUTES = [
    ("/api/whatsapp/send", '{"conversation_id": 1, "message": "%s"}'),
    ("/api/whatsapp/send", '{"conversation_id": 1, "message": "hi", "client_message_id": "%s"}'),
    ("/api/whatsapp/send", '{"conversation_id": 1, "message": "hi", "reply_to": "%s"}'),
    (
        "/api/whatsapp/send",
        '{"conversation_id": 1, "type": "image", "media": {"link": "https://e.com/a.jpg", "caption": "%s"}}',
    ),
    (
        "/api/whatsapp/send",
        '{"conversation_id": 1, "type": "location", "location": {"latitude": 1, "longitude": 2, "name": "%s"}}',
    ),
    (
        "/api/whatsapp/send",
        '{"conversation_id": 1, "type": "reaction", "reaction": {"message_id": "%s", "emoji": "x"}}',
    ),
    (
        "/api/whatsapp/send",
        '{"phone_number": "+14155550123", "type": "template", "template": {"name": "%s", "language": "en"}}',
    ),
    ("/api/whatsapp/send", '{"conversation_id": 1, "message": "hi", "\\udc00%s": 1}'),
    ("/api/whatsapp/mark-read", '{"phone_number": "%s"}'),
    ("/api/whatsapp/mark-read", '{"user_id": "%s"}'),
    ("/api/whatsapp/assign-agent", '{"conversation_id": 1, "agent_id": 1, "note": ["%s"]}'),
    ("/api/whatsapp/close", '{"conversation_id": 1, "reason": "%s"}'),
    ("/api/whatsapp/reopen", '{"phone_number": "%s"}'),
    ("/api/whatsapp/unassign", '{"conversation_id": 1, "x": {"y": "%s"}}'),
    ("/login", '{"key": "%s"}'),
]


@pytest.mark.parametrize(("path", "template"), JSON_ROUTES)
def test_an_unpaired_surrogate_in_any_json_body_is_a_400(client, path, template):
    post_webhook(client, text_message("Hi", timestamp=now_ts() - 5))
    answer = client.post(path, data=template % LONE, content_type="application/json")
    assert answer.status_code == 400, answer.get_data()
    assert "unpaired surrogate" in answer.get_json()["error"]


def test_an_unpaired_surrogate_in_utf16_json_is_a_400_too(client):
    post_webhook(client, text_message("Hi", timestamp=now_ts() - 5))
    raw = ('{"conversation_id": 1, "message": "' + LONE + '"}').encode("utf-16")
    answer = client.post("/api/whatsapp/send", data=raw, content_type="application/json")
    assert answer.status_code == 400


def test_a_surrogate_pair_escape_is_a_character_and_is_sent(client, graph):
    post_webhook(client, text_message("Hi", timestamp=now_ts() - 5))
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post(
        "/api/whatsapp/send",
        data='{"conversation_id": 1, "message": "a\\ud83d\\ude00b"}',
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.get_json()
    assert graph.log[-1][0].get_json()["text"]["body"] == "a\U0001f600b"
