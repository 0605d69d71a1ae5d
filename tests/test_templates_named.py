"""Templates with named parameters (issue 13): listed with their format and names, sent in Meta's
format, checked before Meta; against a stand-in Graph API that checks template sends as Meta does."""

from __future__ import annotations

import jsonschema
import pytest
import requests

from app import create_app

from .helpers import AGENT_KEY, PHONE_NUMBER_ID, WABA_ID, fixture, serve_meta_templates

SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"
TEMPLATES_PATH = f"/v26.0/{WABA_ID}/message_templates"
NAMED = fixture("template_named")
POSITIONAL = fixture("template_positional")
CUSTOMER = "+14155550123"


@pytest.fixture
def client(settings):
    app = create_app({**settings, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID})
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    return test_client


@pytest.fixture
def meta(graph):
    serve_meta_templates(graph, [POSITIONAL, NAMED])
    return graph


def sends(graph) -> list[dict]:
    return [r.get_json() for r, _ in graph.log if r.path == SEND_PATH]


def send_template(client, name: str, parameters: dict | None = None, components: list | None = None):
    template: dict = {"name": name, "language": "en_US"}
    if parameters is not None:
        template["parameters"] = parameters
    if components is not None:
        template["components"] = components
    return client.post("/api/whatsapp/send", json={"phone_number": CUSTOMER, "type": "template", "template": template})


def listed(client) -> dict[str, dict]:
    answer = client.get("/api/whatsapp/templates")
    assert answer.status_code == 200, answer.get_json()
    return {t["name"]: t for t in answer.get_json()["templates"]}


# --- the list -------------------------------------------------------------------------------------


def test_the_template_list_asks_meta_for_parameter_format_and_gives_each_names(client, meta):
    templates = listed(client)
    fields = [r for r, _ in meta.log if r.path == TEMPLATES_PATH][0].args["fields"].split(",")
    assert "parameter_format" in fields
    assert templates["delivery_update"]["parameter_format"] == "NAMED"
    assert templates["delivery_update"]["parameter_names"] == {
        "header": ["order_id"],
        "body": ["first_name", "order_id", "day"],
    }
    assert templates["delivery_update"]["parameters"] == {"header": 1, "body": 3, "buttons": []}
    assert templates["order_update"]["parameter_format"] == "POSITIONAL"
    assert templates["order_update"]["parameter_names"] == {"header": [], "body": []}
    assert templates["order_update"]["parameters"] == {"header": 1, "body": 2, "buttons": [1]}


def test_a_template_without_parameter_format_is_positional(client, graph):
    older = {k: v for k, v in POSITIONAL.items() if k != "parameter_format"}
    serve_meta_templates(graph, [older])
    assert listed(client)["order_update"]["parameter_format"] == "POSITIONAL"


def test_names_come_from_the_example_when_the_text_has_none(client, graph):
    body = {"type": "BODY", "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Jo"}]}}
    serve_meta_templates(graph, [{**NAMED, "components": [body]}])
    assert listed(client)["delivery_update"]["parameter_names"] == {"header": [], "body": ["first_name"]}


# --- sending both formats through the stand-in -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": "Jane", "order_id": "#4471", "day": "Friday"},
        [
            {"name": "first_name", "value": "Jane"},
            {"name": "order_id", "value": "#4471"},
            {"name": "day", "value": "Friday"},
        ],
    ],
    ids=["object", "name-value-list"],
)
def test_a_named_template_goes_out_with_each_parameter_name(client, meta, body):
    answer = send_template(client, "delivery_update", {"header": {"order_id": "#4471"}, "body": body})
    assert answer.status_code == 200, answer.get_json()
    (sent,) = sends(meta)
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "#4471"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Jane"},
                {"type": "text", "parameter_name": "order_id", "text": "#4471"},
                {"type": "text", "parameter_name": "day", "text": "Friday"},
            ],
        },
    ]
    message = answer.get_json()["message"]
    assert message["status"] == "sent" and message["text"] == "Hi Jane, your order #4471 arrives on Friday."


def test_a_positional_template_goes_out_in_order_as_before(client, meta):
    answer = send_template(
        client, "order_update", {"header": ["#4471"], "body": ["Maria", "#4471"], "buttons": [["4471"]]}
    )
    assert answer.status_code == 200, answer.get_json()
    (sent,) = sends(meta)
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "#4471"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "#4471"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4471"}]},
    ]
    assert answer.get_json()["message"]["text"] == "Hi Maria, your order #4471 is on its way."


def test_meta_own_components_with_parameter_names_are_accepted(client, meta):
    components = [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "#1"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": name, "text": value}
                for name, value in (("day", "Monday"), ("first_name", "Lee"), ("order_id", "#1"))
            ],
        },
    ]
    answer = send_template(client, "delivery_update", components=components)
    assert answer.status_code == 200, answer.get_json()
    assert sends(meta)[0]["template"]["components"] == components


# --- refused before Meta --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameters,error",
    [
        (
            {"header": {"order_id": "#1"}, "body": {"first_name": "Jane", "order_id": "#1"}},
            "the body is missing 'day'",
        ),
        (
            {
                "header": {"order_id": "#1"},
                "body": {"first_name": "Jane", "order_id": "#1", "day": "Fri", "city": "Oslo"},
            },
            "the body has no parameter named 'city' (its body parameters are first_name, order_id, day)",
        ),
        (
            {"body": {"first_name": "Jane", "order_id": "#1", "day": "Fri"}},
            "the header is missing 'order_id'",
        ),
        (
            {"header": ["#1"], "body": ["Jane", "#1", "Fri"]},
            'send template.parameters.header as an object, {"order_id": "..."}',
        ),
        (
            {
                "header": {"order_id": "#1"},
                "body": [{"name": "first_name", "value": "Jane"}, {"name": "", "value": "x"}],
            },
            "every parameter name must be non-empty text",
        ),
        (
            {"header": {"order_id": "  "}, "body": {"first_name": "Jane", "order_id": "#1", "day": "Fri"}},
            "template parameters must be non-empty text",
        ),
    ],
    ids=["missing", "unknown", "missing-header", "positional-list", "empty-name", "empty-value"],
)
def test_a_named_send_with_missing_or_unknown_names_is_a_400_before_meta(client, meta, parameters, error):
    answer = send_template(client, "delivery_update", parameters)
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["success"] is False and error in body["error"]
    assert sends(meta) == []


def test_meta_own_components_without_parameter_name_are_a_400_before_meta(client, meta):
    components = [
        {"type": "header", "parameters": [{"type": "text", "text": "#1"}]},
        {"type": "body", "parameters": [{"type": "text", "text": v} for v in ("Jane", "#1", "Fri")]},
    ]
    answer = send_template(client, "delivery_update", components=components)
    assert answer.status_code == 400
    assert "every header parameter of this NAMED template needs a parameter_name" in answer.get_json()["error"]
    assert sends(meta) == []


def test_named_values_for_a_positional_template_are_a_400(client, meta):
    answer = send_template(client, "order_update", {"header": ["#1"], "body": {"first_name": "Maria"}})
    assert answer.status_code == 400
    assert "POSITIONAL parameters" in answer.get_json()["error"]
    assert sends(meta) == []


# --- the stand-in refuses as Meta does ---------------------------------------------------------------------


def meta_send(graph, template: dict) -> requests.Response:
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "template", "template": template}
    return requests.post(graph.url_for(SEND_PATH), json=body, timeout=5)


def test_the_stand_in_refuses_a_named_template_sent_without_parameter_names(meta):
    """What the service did before issue 13: Meta answers (#100) Parameter name is missing or empty."""
    answer = meta_send(
        meta,
        {
            "name": "delivery_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "#1"}]},
                {"type": "body", "parameters": [{"type": "text", "text": v} for v in ("Jane", "#1", "Fri")]},
            ],
        },
    )
    assert answer.status_code == 400 and answer.json() == fixture("error_100_parameter_name")


def test_the_stand_in_refuses_a_wrong_number_of_parameters(meta):
    answer = meta_send(
        meta,
        {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "#1"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Maria"}]},
            ],
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 132000
    assert "number of localizable_params (1) does not match the expected number of params (2)" in answer.text


def test_when_meta_cannot_be_asked_for_the_list_a_named_object_still_goes_out_named(client, graph):
    graph.expect_request(TEMPLATES_PATH, method="GET").respond_with_json(
        {"error": {"message": "boom", "type": "OAuthException", "code": 2}}, status=503
    )
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(
        {"messaging_product": "whatsapp", "contacts": [], "messages": [{"id": "wamid.NAMED"}]}
    )
    answer = send_template(client, "delivery_update", {"body": {"first_name": "Jane"}})
    assert answer.status_code == 200, answer.get_json()
    assert sends(graph)[0]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Jane"}]}
    ]


def test_the_listing_of_both_formats_matches_the_openapi_document(client, meta):
    doc = client.get("/api/whatsapp/openapi.json").get_json()
    response = doc["paths"]["/api/whatsapp/templates"]["get"]["responses"]["200"]
    schema = {**response["content"]["application/json"]["schema"], "components": doc["components"]}
    answer = client.get("/api/whatsapp/templates").get_json()
    jsonschema.Draft202012Validator(schema).validate(answer)
    template = doc["components"]["schemas"]["Template"]
    assert {"parameter_format", "parameter_names"} <= set(template["required"])


def test_an_odd_parameter_name_on_a_positional_template_is_not_a_500(client, meta):
    components = [
        {"type": "header", "parameters": [{"type": "text", "text": "#1"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Maria", "parameter_name": [1]}, {"type": "text", "text": "#1"}],
        },
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "1"}]},
    ]
    answer = send_template(client, "order_update", components=components)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"]["text"] == "Hi Maria, your order #1 is on its way."


def test_thousands_of_unknown_names_get_a_short_400(client, meta):
    body = {"first_name": "Jane", "order_id": "#1", "day": "Fri", **{f"p{n}": "x" for n in range(5000)}}
    answer = send_template(client, "delivery_update", {"header": {"order_id": "#1"}, "body": body})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert "'p0', 'p1', 'p2', 'p3', 'p4' and 4995 more" in error and len(error) < 400
    assert sends(meta) == []
