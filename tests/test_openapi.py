"""The OpenAPI document is kept true: every route is in it, real answers match it, and schemathesis
finds no 500 and no answer that breaks it."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate as validate_openapi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug import Response

from .helpers import AGENT_KEY, customer_writes, fixture_bytes, post_webhook, send_ok, status_update

DOC_URL = "/api/whatsapp/openapi.json"
SEND_PATH = "/v26.0/110293847561029/messages"


@pytest.fixture
def doc(anon) -> dict:
    answer = anon.get(DOC_URL)
    assert answer.status_code == 200
    return answer.get_json()


def openapi_path(rule: str) -> str:
    """Flask's /media/<int:message_id> -> OpenAPI's /media/{message_id}."""
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule)


def app_operations(app) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/whatsapp")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def response_schema(doc: dict, path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the document gives for this answer, with the components it refers to."""
    response = doc["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return {**response["content"]["application/json"]["schema"], "components": doc["components"]}


def conforms(doc: dict, path: str, method: str, answer) -> dict:
    body = answer.get_json()
    jsonschema.Draft202012Validator(response_schema(doc, path, method, answer.status_code)).validate(body)
    return body


def test_the_document_is_valid_openapi_3(doc):
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.")


def test_every_route_under_api_whatsapp_is_documented(app, doc):
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert app_operations(app) - documented == set()


def test_the_document_describes_no_route_that_does_not_exist(app, doc):
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented - app_operations(app) == set()


def test_the_document_is_public_but_agent_routes_need_the_key(anon, doc):
    assert anon.get(DOC_URL).status_code == 200
    assert doc["security"] == [{"agentKey": []}, {"dashboardSession": []}]
    assert doc["paths"]["/api/whatsapp/webhook"]["post"]["security"] == []


def test_real_answers_validate_against_their_schemas(client, anon, graph, doc):
    webhook = post_webhook(client, fixture_bytes("text"))
    conforms(doc, "/api/whatsapp/webhook", "post", webhook)
    customer_writes(client, "Is my order on its way? 📦")
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id="wamid.DOC1"))
    sent = conforms(
        doc,
        "/api/whatsapp/send",
        "post",
        client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Yes!"}),
    )
    conforms(doc, "/api/whatsapp/webhook", "post", post_webhook(client, status_update("wamid.DOC1", "read")))
    cid = sent["conversation_id"]

    listed = conforms(doc, "/api/whatsapp/conversations", "get", client.get("/api/whatsapp/conversations?q=order"))
    assert listed["conversations"] and listed["conversations"][0]["snippet"]
    thread = client.get(f"/api/whatsapp/messages?conversation_id={cid}&include_raw=true")
    assert [m["status"] for m in conforms(doc, "/api/whatsapp/messages", "get", thread)["messages"]][-1] == "read"
    for path in ("/api/whatsapp/stats", "/api/whatsapp/health", f"/api/whatsapp/conversation?conversation_id={cid}"):
        conforms(doc, path.split("?")[0], "get", client.get(path))
    for path, body in (
        ("/api/whatsapp/assign-agent", {"conversation_id": cid, "agent_id": 2}),
        ("/api/whatsapp/close", {"conversation_id": cid}),
        ("/api/whatsapp/reopen", {"conversation_id": cid}),
        ("/api/whatsapp/unassign", {"conversation_id": cid}),
    ):
        assert conforms(doc, path, "post", client.post(path, json=body))["success"] is True

    errors = [
        ("/api/whatsapp/conversation", "get", client.get("/api/whatsapp/conversation?conversation_id=999")),
        ("/api/whatsapp/conversations", "get", client.get("/api/whatsapp/conversations?limit=0")),
        ("/api/whatsapp/stats", "get", anon.get("/api/whatsapp/stats")),
        ("/api/whatsapp/send", "post", client.post("/api/whatsapp/send", json={"conversation_id": cid})),
        ("/api/whatsapp/webhook", "post", post_webhook(client, b"{}", signature="sha256=" + "0" * 64)),
        ("/api/whatsapp/webhook", "get", anon.get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=no")),
    ]
    assert [conforms(doc, path, method, answer)["success"] for path, method, answer in errors] == [False] * 6
    assert [answer.status_code for _, _, answer in errors] == [404, 400, 401, 400, 401, 403]


# --- schemathesis against the live app -----------------------------------------------------


@pytest.fixture
def api_schema(app, client, graph):
    """The live app with a conversation in it, and a Graph stand-in that accepts every call."""
    graph.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: Response(json.dumps(send_ok()), content_type="application/json")
    )
    customer_writes(client)
    post_webhook(client, fixture_bytes("image"))
    return schemathesis.openapi.from_wsgi(DOC_URL, app)


schema = schemathesis.pytest.from_fixture("api_schema")


def no_internal_error(ctx, response, case) -> None:
    """502/503/504 are documented answers about Meta or a busy database; a 500 is always a bug."""
    assert response.status_code != 500, f"500 from {case.method} {case.formatted_path}: {response.text[:300]}"
    assert "database is locked" not in response.text


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(case):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {AGENT_KEY}"},
        checks=[no_internal_error, response_schema_conformance, status_code_conformance, content_type_conformance],
    )


@pytest.mark.parametrize("method,path", [("get", "/media/{}"), ("post", "/media/{}/retry")])
def test_a_media_id_beyond_sqlite_integers_is_a_404_not_a_500(client, method, path):
    answer = getattr(client, method)("/api/whatsapp" + path.format(2**64))
    assert answer.status_code == 404
    assert answer.get_json()["success"] is False
