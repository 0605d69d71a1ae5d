"""Webhook POSTs are answered by a WSGI middleware (webhook.WebhookPost) ahead of Flask: its answers
are the Flask route's, status, JSON and headers, for every kind of delivery and refusal."""

from __future__ import annotations

import json

import pytest

from app import create_app
from whatsapp.request_body import GuardBody
from whatsapp.webhook import WebhookPost

from .helpers import fresh_database, postgres_server, sign, text_message

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


def test_the_middleware_answers_as_the_flask_route_does(settings, tmp_path, request):
    fast = answers(create_app(settings))
    with fresh_database(tmp_path, "route", postgres_server(request)) as other:
        route_app = flask_route_only(create_app({**settings, **other}))
        route = answers(route_app)
        route_app.extensions["database"].close()
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


def call(app, body: bytes, **environ_overrides):
    """The app called as a WSGI server calls it, with the environ changed as given."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(
        method="POST", path=WEBHOOK, data=body, headers={"X-Hub-Signature-256": sign(body)}
    ).get_environ()
    for key, value in environ_overrides.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    data = b"".join(app.wsgi_app(environ, start_response))
    return seen["status"], json.loads(data), seen["headers"]


def test_a_body_shorter_than_its_content_length_is_a_400_not_a_500(app):
    body = json.dumps(text_message("cut short")).encode()
    status, answer, headers = call(app, body, CONTENT_LENGTH=str(len(body) + 100))
    assert status == 400 and answer["success"] is False
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_chunked_body_without_a_length_is_read_to_its_end(app):
    """gunicorn passes a chunked body with no CONTENT_LENGTH and wsgi.input_terminated set."""
    body = json.dumps(text_message("chunked")).encode()
    status, answer, _ = call(app, body, CONTENT_LENGTH=None, **{"wsgi.input_terminated": True})
    assert status == 200 and answer["stored"] == 1


@pytest.mark.parametrize("length", ["abc", "-1", "+12", "1_0", "١٢"])
def test_a_malformed_content_length_is_a_400(app, length):
    body = json.dumps(text_message("odd length")).encode()
    status, answer, _ = call(app, body, CONTENT_LENGTH=length)
    assert status == 400 and answer == {"success": False, "error": "Invalid Content-Length"}


def test_the_answer_bytes_are_the_flask_routes(settings, tmp_path, request):
    body = json.dumps(text_message("same bytes", message_id="wamid.BYTES==")).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
    fast = create_app(settings).test_client()
    with fresh_database(tmp_path, "route", postgres_server(request)) as other:
        route_app = flask_route_only(create_app({**settings, **other}))
        a, b = (
            fast.post(WEBHOOK, data=body, headers=headers),
            route_app.test_client().post(WEBHOOK, data=body, headers=headers),
        )
        route_app.extensions["database"].close()
    assert a.data == b.data and a.headers["Content-Length"] == b.headers["Content-Length"]
