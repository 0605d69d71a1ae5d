"""Each route's OpenAPI metadata sits next to it (@api_doc) and the document's paths are built from the
app's URL map: a route without metadata is missing from the document, and the suite says which."""

from __future__ import annotations

from whatsapp.api_doc import operation_of, paths
from whatsapp.shapes import Registry

PREFIX = "/api/whatsapp"


def test_every_route_under_api_whatsapp_carries_its_metadata(app):
    undocumented = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/") and operation_of(app.view_functions[rule.endpoint]) is None
    ]
    assert undocumented == []


def test_path_parameters_come_from_the_rule_with_json_safe_integer_limits(app):
    built = paths(app, Registry())
    (parameter,) = built["/api/whatsapp/media/{message_id}"]["get"]["parameters"]
    assert parameter == {
        "name": "message_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**53},
    }
    assert not any("<" in path for path in built)
