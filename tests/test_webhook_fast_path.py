"""Webhook POSTs are answered by a WSGI middleware (webhook.WebhookPost) ahead of Flask: its answers
are the Flask route's, status, JSON and headers, for every kind of delivery and refusal."""

from __future__ import annotations

import json

import pytest

from app import create_app
from whatsapp.request_body import GuardBody
from whatsapp.webhook import WebhookPost

from .helpers import sign, text_message

WEBHOOK = "/api/whatsapp/webhook"


def flask_route_only(app):
    """The same app with the middleware taken out: the POST reaches the Flask route."""
    fast = app.wsgi_app.app
    assert isinstance(fast, WebhookPost)
    app.wsgi_app = GuardBody(fast.wsgi_app)
    return app


def cases() -> list[tuple[str, bytes, dict[str, str]]]:
    good = json.dumps(text_message("hi")).encode()
    again = json.dumps(text_message("hello", message_id="wamid.SAME==")).encode()
    bad_json = b'{"object": "whatsapp_business_account", "entry": ['
    not_envelope = b'{"object": "page", "entry": []}'
    deep = b'{"object": "whatsapp_business_account", "entry": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    return [
        ("good", good, {"X-Hub-Signature-256": sign(good)}),
        ("first", again, {"X-Hub-Signature-256": sign(again)}),
        ("duplicate", again, {"X-Hub-Signature-256": sign(again)}),
        ("unsigned", good, {}),
        ("wrong signature", good, {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        ("not JSON", bad_json, {"X-Hub-Signature-256": sign(bad_json)}),
        ("not an envelope", not_envelope, {"X-Hub-Signature-256": sign(not_envelope)}),
        ("too deep to read", deep, {"X-Hub-Signature-256": sign(deep)}),
        ("too large", b"x" * (4 * 1024 * 1024 + 1), {}),
    ]


def answers(app) -> list[tuple[str, int, dict, dict]]:
    client = app.test_client()
    found = []
    for name, body, headers in cases():
        response = client.post(WEBHOOK, data=body, headers={"Content-Type": "application/json", **headers})
        found.append((name, response.status_code, response.get_json(), dict(response.headers)))
    return found


def test_the_middleware_answers_as_the_flask_route_does(settings, tmp_path):
    fast = answers(create_app({**settings, "DATABASE_PATH": str(tmp_path / "fast.sqlite3")}))
    route = answers(flask_route_only(create_app({**settings, "DATABASE_PATH": str(tmp_path / "route.sqlite3")})))
    assert [(n, s, body) for n, s, body, _ in fast] == [(n, s, body) for n, s, body, _ in route]
    statuses = {name: status for name, status, _, _ in fast}
    assert statuses == {
        "good": 200,
        "first": 200,
        "duplicate": 200,
        "unsigned": 401,
        "wrong signature": 401,
        "not JSON": 400,
        "not an envelope": 400,
        "too deep to read": 200,  # journaled as failed, for a replay
        "too large": 413,
    }
    by_name = {name: body for name, _, body, _ in fast}
    assert by_name["good"]["stored"] == 1 and by_name["duplicate"]["duplicates"] == 1
    assert by_name["too deep to read"]["state"] == "failed"
    for name, _, body, headers in fast:
        assert headers["Content-Type"] == "application/json", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert int(headers["Content-Length"]) > 0, name
        assert body["success"] is (name in ("good", "first", "duplicate", "too deep to read")), name


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_requests_to_the_webhook_go_on_to_flask(client, method):
    response = client.open(WEBHOOK, method=method)
    assert response.status_code in (403, 405)
    assert response.get_json()["success"] is False


def test_a_trailing_slash_is_not_the_webhook(client):
    body = json.dumps(text_message("hi")).encode()
    response = client.post(WEBHOOK + "/", data=body, headers={"X-Hub-Signature-256": sign(body)})
    assert response.status_code in (404, 405, 308)
