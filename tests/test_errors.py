"""Every error path answers JSON {"success": false, "error": "..."} with the right status."""

from __future__ import annotations

import pytest

from .helpers import post_webhook

CASES = [
    ("get", "/api/whatsapp/nope", None, {}, 404),
    ("get", "/nothing-here", None, {}, 404),
    ("delete", "/api/whatsapp/conversations", None, {}, 405),
    ("get", "/api/whatsapp/send", None, {}, 405),
    ("put", "/api/whatsapp/webhook", None, {}, 405),
    ("get", "/api/whatsapp/conversation", None, {}, 400),
    ("get", "/api/whatsapp/conversation?conversation_id=7", None, {}, 404),
    ("post", "/api/whatsapp/send", "not json", {"Content-Type": "application/json"}, 400),
    ("post", "/api/whatsapp/mark-read", [1, 2], {}, 400),
    ("post", "/api/whatsapp/assign-agent", {"conversation_id": -1, "agent_id": 1}, {}, 400),
    ("get", "/api/whatsapp/stats", None, {"Authorization": "Bearer nope"}, 401),
    ("get", "/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=x", None, {}, 403),
]


@pytest.mark.parametrize("method,url,body,headers,status", CASES)
def test_every_error_is_json_with_success_false(client, method, url, body, headers, status):
    kwargs = {"headers": headers}
    if isinstance(body, str):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    answer = getattr(client, method)(url, **kwargs)
    assert answer.status_code == status
    assert answer.mimetype == "application/json"
    payload = answer.get_json()
    assert set(payload) >= {"success", "error"}
    assert payload["success"] is False
    assert isinstance(payload["error"], str) and payload["error"]


def test_405_names_the_allowed_methods(client):
    answer = client.delete("/api/whatsapp/send")
    assert "POST" in answer.headers["Allow"]


def test_an_oversized_webhook_is_refused_before_it_is_read(client):
    answer = client.post(
        "/api/whatsapp/webhook",
        data=b"x" * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"},
    )
    assert answer.status_code == 413
    assert answer.get_json()["success"] is False


def test_an_unexpected_exception_becomes_a_json_500_and_a_log_line(client, monkeypatch, caplog):
    from whatsapp import store

    def explode(conn):
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "stats", explode)
    answer = client.get("/api/whatsapp/stats")
    assert answer.status_code == 500
    assert answer.get_json() == {"success": False, "error": "Internal error"}
    assert "boom" not in answer.get_data(as_text=True)
    assert any("Unhandled error" in r.getMessage() for r in caplog.records)


def test_a_webhook_error_never_leaks_a_stack_trace(client):
    answer = post_webhook(client, b"{not json")
    assert answer.status_code == 400
    assert "Traceback" not in answer.get_data(as_text=True)


def test_an_oversized_api_body_gets_413(client):
    answer = client.post(
        "/api/whatsapp/send", data=b"{" + b" " * (2 * 1024 * 1024) + b"}", content_type="application/json"
    )
    assert answer.status_code == 413
    assert answer.get_json()["success"] is False
