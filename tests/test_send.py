"""Sending through a real loopback server standing in for Meta's Graph API."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from werkzeug import Request, Response

from app import create_app

from .helpers import connection_for, customer_writes, fixture, meta_calls, post_webhook, send_ok, status_update, wamid

SEND_PATH = "/v26.0/110293847561029/messages"


@pytest.fixture(autouse=True)
def window_open(client):
    """The customer wrote a minute ago, so free-form replies are allowed."""
    customer_writes(client)


def send(client, headers=None, **body):
    body.setdefault("phone_number", "+14155550123")
    body.setdefault("message", "Hola! Gracias por contactarnos.")
    return client.post("/api/whatsapp/send", json=body, headers=headers or {})


def thread(client, phone="+14155550123"):
    """The outbound messages of a customer's thread."""
    messages = client.get("/api/whatsapp/messages", query_string={"phone_number": phone}).get_json()["messages"]
    return [m for m in messages if m["direction"] == "outbound"]


def meta_error(name, status=400):
    return Response(json.dumps(fixture(name)), status=status, content_type="application/json")


def test_a_send_calls_meta_and_stores_the_outbound_message(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.OK1"))
    answer = send(client, agent_id=1)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["success"] is True
    assert body["message_id"] == "wamid.OK1"
    assert isinstance(body["conversation_id"], int)
    [request, _] = graph.log[0]
    assert request.headers["Authorization"] == "Bearer test-access-token"
    sent = request.get_json()
    assert sent["messaging_product"] == "whatsapp" and sent["recipient_type"] == "individual"
    assert sent["to"] == "+14155550123"
    assert sent["type"] == "text" and sent["text"]["body"] == "Hola! Gracias por contactarnos."
    assert sent["biz_opaque_callback_data"].startswith("local.")
    [stored] = thread(client)
    assert stored["direction"] == "outbound" and stored["agent_id"] == 1
    assert stored["whatsapp_message_id"] == "wamid.OK1" and stored["status"] == "sent"
    conv = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+14155550123"}).get_json()
    assert conv["conversation"]["last_message"] == "Hola! Gracias por contactarnos."


def test_a_send_to_an_existing_conversation_by_id_joins_its_thread(client, graph):
    cid = client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["id"]
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = client.post("/api/whatsapp/send", json={"conversation_id": cid, "message": "hello"})
    assert answer.get_json()["conversation_id"] == cid
    messages = client.get(f"/api/whatsapp/messages?conversation_id={cid}").get_json()["messages"]
    assert [m["direction"] for m in messages] == ["inbound", "outbound"]


def test_a_closed_24_hour_window_is_explained_and_stored_as_failed(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(meta_error("error_131047"))
    answer = send(client)
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["success"] is False
    assert "24-hour customer service window has closed" in body["error"] and "template" in body["error"]
    assert body["error_code"] == 131047
    [stored] = thread(client)
    assert stored["status"] == "failed"
    assert stored["error"]["code"] == 131047 and stored["error"]["title"] == "Re-engagement message"
    assert stored["whatsapp_message_id"] is None


def test_an_expired_token_is_explained(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(meta_error("error_190", 401))
    answer = send(client)
    assert answer.status_code == 502
    body = answer.get_json()
    assert "access token is invalid or expired" in body["error"] and body["error_code"] == 190
    assert thread(client)[0]["status"] == "failed"
    # Every send fails until an operator replaces the token: the health route says why.
    health = client.get("/api/whatsapp/health").get_json()["health"]
    assert health["failed_sends_last_24h"] == 1
    assert health["last_send_error"]["code"] == 190 and health["last_send_error"]["at"] is not None


def test_a_template_error_names_meta_code_and_details(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(meta_error("error_132001", 404))
    body = send(client).get_json()
    assert body["error_code"] == 132001
    assert "does not exist in en_US" in body["error"]


def test_throttling_is_retried_and_then_succeeds(client, graph):
    graph.expect_ordered_request(SEND_PATH, method="POST").respond_with_response(meta_error("error_130429"))
    graph.expect_ordered_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.RETRY"))
    answer = send(client)
    assert answer.status_code == 200
    assert answer.get_json()["message_id"] == "wamid.RETRY"
    assert len(graph.log) == 2
    assert thread(client)[0]["status"] == "sent"


def test_persistent_throttling_gives_429_after_a_bounded_number_of_attempts(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_response(meta_error("error_131056"))
    answer = send(client)
    assert answer.status_code == 429
    assert answer.get_json()["error_code"] == 131056
    assert len(graph.log) == 3
    assert thread(client)[0]["status"] == "failed"


def test_a_meta_server_error_is_a_502_and_not_retried(client, graph):
    error = {"error": {"message": "(#131000) Something went wrong", "code": 131000, "type": "OAuthException"}}
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(error, status=500)
    answer = send(client)
    assert answer.status_code == 502
    assert answer.get_json()["error_code"] == 131000
    assert len(graph.log) == 1


def test_a_non_json_answer_from_meta_is_a_502(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_data("<html>Bad gateway</html>", status=502)
    answer = send(client)
    assert answer.status_code == 502
    assert answer.get_json()["success"] is False


def test_a_timeout_is_a_504_and_the_message_waits_for_meta_statuses(settings, graph):
    app = create_app({**settings, "graph_timeout": 0.3})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"

    seen: list[dict] = []
    finished = threading.Event()

    def slow(request: Request) -> Response:
        seen.append(request.get_json())
        time.sleep(1.0)
        finished.set()
        return Response(json.dumps(send_ok(message_id="wamid.LATE")), content_type="application/json")

    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(slow)
    answer = send(client)
    assert answer.status_code == 504
    assert "may or may not have been sent" in answer.get_json()["error"]
    assert len(seen) == 1  # a read timeout is never retried: Meta may have sent it
    [pending] = thread(client)
    assert pending["status"] == "pending"
    # Meta did send it: its status webhook echoes our id and the message gets its wamid and ticks.
    local_id = seen[0]["biz_opaque_callback_data"]
    assert post_webhook(client, status_update("wamid.LATE", "delivered", callback=local_id)).status_code == 200
    [delivered] = thread(client)
    assert delivered["whatsapp_message_id"] == "wamid.LATE"
    assert delivered["status"] == "delivered"
    assert delivered["error"] is None  # "may or may not have been sent" no longer applies
    finished.wait(5)  # let the stand-in finish before the next test reuses it


def test_a_failed_status_that_beats_our_write_of_the_wamid_keeps_its_error(app, client, graph):
    """Meta's failed status (echoing our id) reaches another worker before the send's answer is stored."""
    webhook_client = app.test_client()
    answers: list[int] = []

    def accept_after_the_status(request: Request) -> Response:
        local_id = request.get_json()["biz_opaque_callback_data"]
        errors = [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Not on WhatsApp"}}]
        status = status_update("wamid.RACE", "failed", callback=local_id, errors=errors)
        answers.append(post_webhook(webhook_client, status).status_code)
        return Response(json.dumps(send_ok(message_id="wamid.RACE")), content_type="application/json")

    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(accept_after_the_status)
    assert send(client).status_code == 200
    assert answers == [200]
    [failed] = thread(client)
    assert failed["whatsapp_message_id"] == "wamid.RACE"
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": 131026, "title": "Message undeliverable", "details": "Not on WhatsApp"}


def test_an_unreachable_graph_api_is_a_502_stored_as_failed(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app({**settings, "WHATSAPP_API_URL": f"http://127.0.0.1:{port}"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"
    answer = send(client)
    assert answer.status_code == 502
    assert "connection refused" in answer.get_json()["error"]
    assert thread(client)[0]["status"] == "failed"


def test_a_repeated_idempotency_key_returns_the_first_result_and_sends_nothing(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.ONCE"))
    first = send(client, headers={"Idempotency-Key": "agent-7-draft-1"})
    second = send(client, headers={"Idempotency-Key": "agent-7-draft-1"})
    third = send(client, client_message_id="agent-7-draft-1")
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.get_json()["message_id"] == second.get_json()["message_id"] == "wamid.ONCE"
    assert second.get_json()["idempotent_replay"] is True
    assert len(graph.log) == 1
    assert len(thread(client)) == 1


def test_a_status_that_beats_the_send_is_parked_and_applied(client, graph):
    early = wamid("early")
    assert post_webhook(client, status_update(early, "delivered")).get_json()["statuses_parked"] == 1
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id=early))
    send(client)
    [stored] = thread(client)
    assert stored["status"] == "delivered" and stored["delivered_at"] is not None


def test_meta_resolving_a_brazilian_number_keeps_one_thread(client, graph):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok("551187654321"))
    answer = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+55 11 98765-4321",
            "type": "template",
            "template": {"name": "hello_world", "language": "en_US"},
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert graph.log[0][0].get_json()["to"] == "+5511987654321"
    customer_writes(client, "obrigado", wa_id="551187654321")
    brazil = client.get("/api/whatsapp/conversations?q=5511").get_json()["conversations"]
    assert len(brazil) == 1
    assert brazil[0]["phone_number"] == "+551187654321"
    texts = [
        m["text"]
        for m in client.get(f"/api/whatsapp/messages?conversation_id={brazil[0]['id']}").get_json()["messages"]
    ]
    assert "obrigado" in texts


@pytest.mark.parametrize(
    "body,status,error",
    [
        ({"message": "hi"}, 400, "phone_number, user_id or conversation_id is required"),
        ({"phone_number": "+14155550123"}, 400, "message is required: the text to send"),
        ({"phone_number": "+14155550123", "message": "   "}, 400, "message is required: the text to send"),
        ({"phone_number": "+14155550123", "message": 5}, 400, "message is required: the text to send"),
        (
            {"phone_number": "+14155550123", "message": "x" * 4097},
            400,
            "message is 4097 characters; WhatsApp allows at most 4096",
        ),
        ({"conversation_id": 42, "message": "hi"}, 404, "Conversation not found"),
        ({"phone_number": "+14155550123", "message": "hi", "agent_id": "me"}, 400, "agent_id must be an integer"),
        ({"phone_number": ["+1"], "message": "hi"}, 400, "phone_number must be a string"),
    ],
)
def test_a_send_with_bad_input_is_refused_before_calling_meta(client, graph, body, status, error):
    answer = client.post("/api/whatsapp/send", json=body)
    assert answer.status_code == status
    assert answer.get_json() == {"success": False, "error": error}
    assert meta_calls(graph) == []


def test_a_send_with_a_non_json_body_is_refused(client, graph):
    answer = client.post("/api/whatsapp/send", data="phone_number=1", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert "JSON object" in answer.get_json()["error"]


def test_a_send_cut_off_by_a_crash_says_so_and_a_later_status_settles_it(client, settings):
    """The process wrote the pending row, then died before Meta answered (or before it was called)."""
    from whatsapp import db, store
    from whatsapp.store.common import ago

    customer_writes(client)
    [conv] = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    with connection_for(settings) as conn:
        with db.write_transaction(conn):  # the first step of a send, as sending.py does it
            local_id = store.new_local_id()
            message_id = store.create_outbound(
                conn,
                conv["id"],
                message_type="text",
                text="sent just before the crash",
                agent_id=None,
                local_id=local_id,
            )
        [fresh] = thread(client)
        assert fresh["status"] == "pending" and fresh["error"] is None  # a send in flight is not an error yet
        conn.execute(  # ...eleven minutes later
            "UPDATE whatsapp_messages SET timestamp = ? WHERE message_id = ?", (ago(11 / 60), message_id)
        )
    [stale] = thread(client)
    assert stale["status"] == "pending" and "may or may not have been sent" in stale["error"]["title"]
    assert client.get("/api/whatsapp/health").get_json()["health"]["sends_pending_over_10_min"] == 1
    # Meta had sent it: its status echoes our id, and the message gets its wamid, ticks, and no error.
    assert post_webhook(client, status_update("wamid.AFTERCRASH", "delivered", callback=local_id)).status_code == 200
    [settled] = thread(client)
    assert settled["whatsapp_message_id"] == "wamid.AFTERCRASH" and settled["status"] == "delivered"
    assert settled["error"] is None
    assert client.get("/api/whatsapp/health").get_json()["health"]["sends_pending_over_10_min"] == 0


def test_a_wamid_meta_gives_twice_is_kept_by_the_first_message_and_the_second_send_is_no_500(client, graph):
    """Meta's ids are unique; a stand-in that reuses one must not make a send fail with a 500."""
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.SAME"))
    assert send(client, message="first").status_code == 200
    second = send(client, message="second")
    assert second.status_code == 200, second.get_json()
    first_row, second_row = thread(client)
    assert first_row["whatsapp_message_id"] == "wamid.SAME" and first_row["text"] == "first"
    assert second_row["status"] == "sent" and second_row["whatsapp_message_id"] is None
    assert "another message already has" in second_row["error"]["title"]
