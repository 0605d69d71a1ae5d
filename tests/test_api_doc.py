"""Each route's OpenAPI metadata sits next to it (@api_doc) and the document's paths are built from the
app's URL map: a route without metadata is missing from the document, and the suite says which."""

from __future__ import annotations

from typing import is_typeddict

from app import create_app
from whatsapp import api_shapes, content
from whatsapp.api_doc import operation_of, paths
from whatsapp.shapes import Registry

from .test_openapi import app_operations

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


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item}


def test_a_route_added_without_metadata_is_missing_from_the_document(settings):
    app = create_app(settings)
    app.add_url_rule(PREFIX + "/undocumented/<int:item_id>", "undocumented", lambda item_id: "")
    doc = app.test_client().get(PREFIX + "/openapi.json").get_json()
    assert app_operations(app) - documented(doc) == {("/api/whatsapp/undocumented/{item_id}", "get")}


def inline_objects(value: object, where: str = "") -> list[str]:
    """Where an object schema is written out in place instead of referring to a declared shape."""
    if isinstance(value, dict):
        found = [where] if "properties" in value else []
        return found + [spot for key, item in value.items() for spot in inline_objects(item, f"{where}/{key}")]
    if isinstance(value, list):
        return [spot for i, item in enumerate(value) for spot in inline_objects(item, f"{where}[{i}]")]
    return []


def test_every_schema_of_the_document_is_a_declared_shape(anon):
    doc = anon.get(PREFIX + "/openapi.json").get_json()
    registry = Registry()
    schemas = doc["components"]["schemas"]
    # Declared in api_shapes, or (a message's content, one per kind) in content.py; never in both.
    declared = {module: {n for n, v in vars(module).items() if is_typeddict(v)} for module in (api_shapes, content)}
    assert declared[api_shapes] & declared[content] == set()
    home = {name: module for module, names in declared.items() for name in names}
    assert schemas == {name: registry.object_schema(getattr(home[name], name)) for name in schemas}
    assert {shape.__name__ for shape in content.SHAPES} <= set(schemas)
    assert {"Conversation", "Message", "Media", "SendRequest", "SendResult", "Error"} <= set(schemas)
    outside = {key: part for key, part in doc.items() if key != "components"}
    assert inline_objects(outside) + inline_objects(doc["components"]["responses"]) == []
