"""Idempotency-Key as Stripe means it: per credential, bound to its request, never replaying a guess.

Meta is the loopback stand-in (`graph`), or a socket that drops the connection, or a closed port.
"""

from __future__ import annotations

import io
import json
import re
import socket
import sqlite3
import threading

import pytest
from werkzeug import Response

from app import create_app
from whatsapp import agents, db
from whatsapp.store.common import ago

from .helpers import (
    AGENT_KEY,
    connection_for,
    customer_writes,
    fixture,
    post_webhook,
    send_ok,
    status_update,
    text_message,
    wamid,
)

SEND_PATH = "/v26.0/110293847561029/messages"
MARIA, LENA = "+14155550123", "+14155550456"


@pytest.fixture(autouse=True)
def window_open(client):
    """Two customers wrote a moment ago, so free-form replies to both are allowed."""
    customer_writes(client)
    customer_writes(client, "Hallo", wa_id="14155550456", name="Lena")


def send(client, key=None, phone=MARIA, message="Your order 1 ships today", headers=None, **body):
    headers = dict(headers or {})
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/whatsapp/send", json={"phone_number": phone, "message": message, **body}, headers=headers)


def outbound(client, phone=MARIA):
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": phone}).get_json()["messages"]
    return [m for m in messages if m["direction"] == "outbound"]


def sends(graph):
    return [request.get_json() for request, _ in graph.log if request.path == SEND_PATH]


def meta_error(body, status=400):
    return Response(json.dumps(body), status=status, content_type="application/json")


def fresh_wamid(request) -> Response:
    return Response(json.dumps(send_ok(message_id=wamid("out"))), content_type="application/json")


def agent_key(settings, name):
    with connection_for(settings) as conn:
        return agents.create(conn, name)[1]


# --- item 6: a key belongs to one credential and one request ------------------------------------


def test_a_key_reused_for_another_customer_and_text_is_a_422_and_sends_nothing(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.ORDER1"))
    first = send(client, "order-1")
    assert first.status_code == 200 and first.get_json()["message_id"] == "wamid.ORDER1"
    reused = send(client, "order-1", phone=LENA, message="Ihre Bestellung 2 ist unterwegs")
    assert reused.status_code == 422
    body = reused.get_json()
    assert body["success"] is False
    assert "already used for a different request" in body["error"] and "new key" in body["error"]
    assert len(sends(graph)) == 1
    assert outbound(client, LENA) == []
    # Another text to the same customer is another request too; the very same request is a replay.
    assert send(client, "order-1", message="Your order 1 is delayed").status_code == 422
    again = send(client, "order-1")
    assert again.status_code == 200 and again.get_json()["idempotent_replay"] is True
    assert len(sends(graph)) == 1


def test_the_same_key_from_another_credential_is_another_send(client, anon, graph, settings):
    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(fresh_wamid)
    ana, ben = agent_key(settings, "Ana"), agent_key(settings, "Ben")
    answers = {
        who: send(anon, "order-1", headers={"Authorization": f"Bearer {key}"})
        for who, key in (("service", AGENT_KEY), ("ana", ana), ("ben", ben))
    }
    assert {who: a.status_code for who, a in answers.items()} == {"service": 200, "ana": 200, "ben": 200}
    assert len({a.get_json()["message_id"] for a in answers.values()}) == 3
    assert len(sends(graph)) == 3
    # Each credential's repeat gets its own first result back.
    for who, key in (("service", AGENT_KEY), ("ana", ana), ("ben", ben)):
        repeat = send(anon, "order-1", headers={"Authorization": f"Bearer {key}"}).get_json()
        assert repeat["idempotent_replay"] is True
        assert repeat["message_id"] == answers[who].get_json()["message_id"]
    assert len(sends(graph)) == 3


def test_the_key_is_bound_to_the_route_too(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    graph.expect_request("/v26.0/110293847561029/media", method="POST").respond_with_json({"id": "4490709327384033"})
    assert send(client, "draft-9").status_code == 200
    upload = client.post(
        "/api/whatsapp/send-media",
        data={"phone_number": MARIA, "file": (io.BytesIO(b"%PDF-1.4 x"), "a.pdf", "application/pdf")},
        headers={"Idempotency-Key": "draft-9"},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 422 and "different request" in upload.get_json()["error"]
    assert len(sends(graph)) == 1


def old_schema() -> str:
    """schema.sql as it was before keys were scoped: none of the new message columns, nor their index."""
    text = db.SCHEMA_PATH.read_text(encoding="utf-8")
    text = re.sub(r"media_error TEXT,\n.*?\n\);", "media_error TEXT\n);", text, count=1, flags=re.S)
    return re.sub(r"CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_idempotency.*?;\n", "", text, flags=re.S)


@pytest.mark.sqlite_only  # an SQLite file of an older schema, upgraded by ADDED_COLUMNS (PRAGMA table_info)
def test_a_database_from_before_scoped_keys_gains_the_columns_and_keeps_its_keys(settings, graph, tmp_path):
    """An inbox made before this change: its messages table has none of the new columns, and a
    key it stored (globally, without a request hash) still replays instead of sending again."""
    path = str(tmp_path / "old.sqlite3")
    new_columns = {column for table, column, _ in db.ADDED_COLUMNS if table == "whatsapp_messages"}
    with sqlite3.connect(path) as raw:
        raw.executescript(old_schema())
        assert not new_columns & {row[1] for row in raw.execute("PRAGMA table_info(whatsapp_messages)")}
        raw.execute(
            "INSERT INTO whatsapp_conversations (phone_number, contact_name, last_inbound_at, created_at, updated_at)"
            " VALUES (?, 'Maria', datetime('now'), datetime('now'), datetime('now'))",
            (MARIA,),
        )
        raw.execute(
            """INSERT INTO whatsapp_messages (conversation_id, whatsapp_message_id, phone_number, direction,
               message_type, message_text, status, timestamp, created_at, local_id, client_message_id)
               VALUES (1, 'wamid.LEGACY', ?, 'outbound', 'text', 'old', 'sent', datetime('now'),
                       datetime('now'), 'local.legacy', 'legacy-key')""",
            (MARIA,),
        )
    client = create_app({**settings, "DATABASE_PATH": path}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    replay = send(client, "legacy-key", message="anything")
    assert replay.status_code == 200 and replay.get_json()["message_id"] == "wamid.LEGACY"
    assert replay.get_json()["idempotent_replay"] is True
    assert sends(graph) == []
    with sqlite3.connect(path) as raw:
        assert new_columns <= {row[1] for row in raw.execute("PRAGMA table_info(whatsapp_messages)")}
    # New keys are scoped: the same new key from two credentials is two sends, no UNIQUE clash.
    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(fresh_wamid)
    assert send(client, "new-key").status_code == 200
    # A day after its send the old, unscoped key is forgotten: reusing it is a new send.
    with sqlite3.connect(path) as raw:
        raw.execute(
            "UPDATE whatsapp_messages SET created_at = datetime('now', '-25 hours') WHERE local_id = 'local.legacy'"
        )
    reused = send(client, "legacy-key", message="a new order")
    assert reused.status_code == 200 and reused.get_json()["message_id"] != "wamid.LEGACY"
    ana = agent_key({**settings, "DATABASE_PATH": path}, "Ana")
    assert send(client, "new-key", headers={"Authorization": f"Bearer {ana}"}).status_code == 200
    assert len(sends(graph)) == 3


def test_a_key_stored_before_keys_were_scoped_replays_for_a_day_and_is_then_forgotten(client, graph, settings):
    """A message stored under an unscoped key (client_message_id, no request hash): a repeat of the key
    within 24 hours replays it whatever the request says; after that, the key is a new send."""
    [conv] = [
        c for c in client.get("/api/whatsapp/conversations").get_json()["conversations"] if c["phone_number"] == MARIA
    ]
    with connection_for(settings) as conn:
        conn.execute(
            """INSERT INTO whatsapp_messages (conversation_id, whatsapp_message_id, phone_number, direction,
               message_type, message_text, status, timestamp, created_at, local_id, client_message_id)
               VALUES (?, 'wamid.LEGACY', ?, 'outbound', 'text', 'old', 'sent', ?, ?, 'local.legacy', 'legacy-key')""",
            (conv["id"], MARIA, ago(1), ago(1)),
        )
    replay = send(client, "legacy-key", message="anything")
    assert replay.status_code == 200 and replay.get_json()["message_id"] == "wamid.LEGACY"
    assert replay.get_json()["idempotent_replay"] is True
    assert sends(graph) == []
    with connection_for(settings) as conn:
        conn.execute("UPDATE whatsapp_messages SET created_at = ? WHERE local_id = 'local.legacy'", (ago(25),))
    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(fresh_wamid)
    reused = send(client, "legacy-key", message="a new order")
    assert reused.status_code == 200 and reused.get_json()["message_id"] != "wamid.LEGACY"
    assert "idempotent_replay" not in reused.get_json()
    assert len(sends(graph)) == 1


# --- item 7: an unknown outcome is never replayed as a success ----------------------------------


class DroppingServer:
    """A Graph stand-in that reads each request and closes the connection without answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)


def test_a_retry_after_a_dropped_connection_is_a_409_until_a_status_settles_it(settings, graph):
    dropping = DroppingServer()
    path_settings = {**settings, "WHATSAPP_API_URL": dropping.url}
    client = create_app(path_settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    first = send(client, "order-7")
    assert first.status_code == 504
    assert "may or may not have been sent" in first.get_json()["error"]
    assert "127.0.0.1" not in first.get_json()["error"] and "http" not in first.get_json()["error"]
    assert len(dropping.requests) == 1  # a broken connection is never retried: Meta may have it
    [pending] = outbound(client)
    assert pending["status"] == "pending"
    # The retry, through a Meta that would answer this time, sends nothing and says why.
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    retry = send(client, "order-7")
    assert retry.status_code == 409
    body = retry.get_json()
    assert body["success"] is False and body["message_id"] is None and body["idempotent_replay"] is True
    assert "not known yet" in body["error"] and "not sent again" in body["error"]
    assert sends(graph) == [] and len(dropping.requests) == 1
    assert outbound(client)[0]["outcome_unknown"] is True
    # Meta had sent it: its status (echoing our id) settles the message, and the retry now gets it.
    with connection_for(settings) as conn:
        [local_id] = conn.execute(
            "SELECT local_id FROM whatsapp_messages WHERE message_id = ?", (pending["id"],)
        ).fetchone()
    assert post_webhook(client, status_update("wamid.SETTLED", "delivered", callback=local_id)).status_code == 200
    settled = send(client, "order-7")
    assert settled.status_code == 200
    assert settled.get_json()["success"] is True and settled.get_json()["message_id"] == "wamid.SETTLED"
    assert settled.get_json()["message"]["status"] == "delivered"
    assert settled.get_json()["message"]["outcome_unknown"] is False
    assert sends(graph) == []


def test_a_retry_while_a_crashed_send_is_still_pending_is_a_409(client, graph, settings):
    """The service wrote the pending row and died before Meta answered: no reason was recorded."""
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.X"))
    assert send(client, "order-8").status_code == 200
    with connection_for(settings) as conn:  # as if Meta's answer was never written
        conn.execute(
            "UPDATE whatsapp_messages SET status = 'pending', whatsapp_message_id = local_id, sent_at = NULL "
            "WHERE direction = 'outbound'"
        )
    retry = send(client, "order-8")
    assert retry.status_code == 409
    assert "not known yet" in retry.get_json()["error"] and "stopped while sending" in retry.get_json()["error"]
    assert len(sends(graph)) == 1


# --- item 8: a failure Meta certainly did not take lets the retry send; a refusal replays ------


@pytest.mark.parametrize(
    "first_answer,status",
    [
        (meta_error({"error": {"message": "(#131000) Something went wrong", "code": 131000}}, 500), 502),
        (Response("<html>Service Unavailable</html>", status=503, content_type="text/html"), 502),
        (meta_error(fixture("error_131056")), 429),
        (meta_error(fixture("error_190"), 401), 502),
    ],
    ids=["meta-5xx", "html-503", "throttled", "bad-token"],
)
def test_a_retry_after_a_failure_meta_did_not_take_sends_again_in_the_same_message(client, graph, first_answer, status):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(first_answer)
    first = send(client, "order-9")
    assert first.status_code == status
    assert outbound(client)[0]["status"] == "failed"
    graph.clear()
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.SECOND"))
    retry = send(client, "order-9")
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["message_id"] == "wamid.SECOND" and "idempotent_replay" not in retry.get_json()
    [again] = sends(graph)
    assert again["text"]["body"] == "Your order 1 ships today"
    # One message, not a failed bubble and a sent one; it kept its id and local id.
    [message] = outbound(client)
    assert message["id"] == first.get_json()["message"]["id"]
    assert message["status"] == "sent" and message["error"] is None and message["failed_at"] is None
    assert message["whatsapp_message_id"] == "wamid.SECOND"
    # Now it was sent: a further repeat replays it.
    replay = send(client, "order-9")
    assert replay.status_code == 200 and replay.get_json()["idempotent_replay"] is True
    assert len(sends(graph)) == 1


def test_a_retry_after_a_refused_connection_sends_again(settings, graph):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    down = create_app({**settings, "WHATSAPP_API_URL": f"http://127.0.0.1:{closed_port}"}).test_client()
    down.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    first = send(down, "order-10")
    assert first.status_code == 502 and "connection refused" in first.get_json()["error"]
    assert str(closed_port) not in first.get_json()["error"]
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.UP"))
    up = create_app(settings).test_client()
    up.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    retry = send(up, "order-10")
    assert retry.status_code == 200 and retry.get_json()["message_id"] == "wamid.UP"
    assert [m["status"] for m in outbound(up)] == ["sent"]


@pytest.mark.parametrize("errno", [socket.EAI_AGAIN, socket.EAI_NONAME])
def test_a_retry_after_a_failed_name_lookup_sends_again(settings, graph, monkeypatch, errno):
    """A DNS failure (temporary or not) opened no connection: nothing was sent, so a retry sends."""
    graph_host = create_app({**settings, "WHATSAPP_API_URL": "http://graph.example.test"}).test_client()
    graph_host.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    real_lookup = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        if host == "graph.example.test":
            raise socket.gaierror(errno, "Temporary failure in name resolution")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    first = send(graph_host, "order-dns")
    assert first.status_code == 502, first.get_json()
    assert "could not be resolved" in first.get_json()["error"]
    assert "may or may not" not in first.get_json()["error"]
    assert [m["outcome_unknown"] for m in outbound(graph_host)] == [False]
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.DNS"))
    up = create_app(settings).test_client()
    up.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    retry = send(up, "order-dns")
    assert retry.status_code == 200 and retry.get_json()["message_id"] == "wamid.DNS"


def test_a_resend_counts_as_a_fresh_attempt_for_the_stale_pending_check(client, graph, settings):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(
        meta_error({"error": {"message": "(#131000) Something went wrong", "code": 131000}}, 500)
    )
    assert send(client, "order-11").status_code == 502
    with connection_for(settings) as conn:  # the first attempt was 11 minutes ago
        conn.execute("UPDATE whatsapp_messages SET timestamp = ? WHERE direction = 'outbound'", (ago(11 / 60),))
    graph.clear()
    graph.expect_request(SEND_PATH, method="POST").respond_with_json({"messaging_product": "whatsapp"})
    assert send(client, "order-11").status_code == 504  # this attempt's answer had no message id
    [message] = outbound(client)
    assert message["outcome_unknown"] is True
    assert "without a message id" in message["error"]["title"]
    assert client.get("/api/whatsapp/health").get_json()["health"]["sends_pending_over_10_min"] == 0


@pytest.mark.parametrize(
    "error,status",
    [
        (fixture("error_131047"), 409),
        ({"error": {"message": "(#131026) Message undeliverable", "code": 131026}}, 422),
        (
            {
                "error": {
                    "message": "(#100) Invalid parameter",
                    "code": 100,
                    "error_data": {"details": "Parameter value is not valid"},
                }
            },
            422,
        ),
    ],
    ids=["131047", "131026", "100"],
)
def test_a_definite_refusal_replays_with_its_status_and_error(client, graph, error, status):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(meta_error(error))
    first = send(client, "order-12")
    assert first.status_code == status
    replay = send(client, "order-12")
    assert replay.status_code == status
    a, b = first.get_json(), replay.get_json()
    assert b["idempotent_replay"] is True
    for field in ("success", "error", "error_code", "error_title", "error_details", "message_id"):
        assert a[field] == b[field], field
    assert len(sends(graph)) == 1
    assert [m["status"] for m in outbound(client)] == ["failed"]


# --- item 18: a 200 without a message id is an unknown outcome; error texts say what happened ---


@pytest.mark.parametrize(
    "answer",
    [
        Response("OK", status=200, content_type="text/plain"),
        Response(json.dumps({"messaging_product": "whatsapp", "contacts": [{"wa_id": "14155550123"}]}), 200),
        Response(json.dumps({"messages": [{"id": None}]}), 200, content_type="application/json"),
    ],
    ids=["not-json", "no-messages", "null-id"],
)
def test_a_200_without_a_message_id_is_an_unknown_outcome_not_a_failure(client, graph, answer):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(answer)
    first = send(client, "order-18")
    assert first.status_code == 504
    body = first.get_json()
    assert body["success"] is False and body["message_id"] is None
    assert "may or may not have been sent" in body["error"]
    [message] = outbound(client)
    assert message["status"] == "pending" and message["failed_at"] is None
    assert message["outcome_unknown"] is True and "may or may not have been sent" in message["error"]["title"]
    assert len(sends(graph)) == 1
    assert send(client, "order-18").status_code == 409
    assert len(sends(graph)) == 1


@pytest.mark.parametrize(
    "answer,status",
    [
        (Response("<html>Bad gateway</html>", status=502, content_type="text/html"), 502),
        (Response("<html>Not here</html>", status=404, content_type="text/html"), 422),
        (meta_error({"error": {"message": "Something", "code": "oops"}}, 400), 422),
    ],
    ids=["html-502", "html-404", "code-not-a-number"],
)
def test_error_texts_never_say_meta_error_none_or_show_urls(client, graph, answer, status):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(answer)
    reply = send(client)
    assert reply.status_code == status
    error = reply.get_json()["error"]
    assert "None" not in error and "127.0.0.1" not in error and "http://" not in error
    assert error.endswith(".")


def test_a_media_lookup_without_an_error_body_is_not_reported_as_error_none(client, graph):
    payload = text_message(extra={"type": "image", "image": {"id": "555001", "mime_type": "image/jpeg"}})
    payload["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    assert post_webhook(client, payload).status_code == 200
    graph.expect_request("/v26.0/555001", method="GET").respond_with_data("<html>gone</html>", status=404)
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": MARIA}).get_json()["messages"]
    [image] = [m for m in messages if m["type"] == "image"]
    answer = client.get(f"/api/whatsapp/media/{image['id']}")
    assert answer.status_code == 502
    error = answer.get_json()["error"]
    assert "HTTP 404" in error and "None" not in error
