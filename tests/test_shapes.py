"""Shapes declared once as TypedDicts give the JSON Schema the OpenAPI document publishes."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

import jsonschema
import pytest

from whatsapp.shapes import Doc, Registry, keys


class Item(TypedDict):
    """One line of an order."""

    product: str
    quantity: Annotated[int, Doc("How many", minimum=1)]
    price: float | None


class Order(TypedDict):
    kind: Literal["order"]
    items: list[Item]
    note: NotRequired[str | None]
    extra: dict[str, Any]
    mode: Literal["a", "b"]


def test_a_typeddict_becomes_a_component_with_its_nested_shapes():
    registry = Registry()
    assert registry.schema(Order) == {"$ref": "#/components/schemas/Order"}
    components = registry.components()
    assert set(components) == {"Item", "Order"}
    order = components["Order"]
    assert order["required"] == ["kind", "items", "extra", "mode"]
    assert order["properties"]["kind"] == {"const": "order"}
    assert order["properties"]["mode"] == {"enum": ["a", "b"]}
    assert order["properties"]["items"] == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    assert order["properties"]["note"] == {"type": ["string", "null"]}
    item = components["Item"]
    assert item["description"] == "One line of an order."
    assert item["properties"]["quantity"] == {"type": "integer", "description": "How many", "minimum": 1}
    assert "description" not in order


def test_the_derived_schema_accepts_the_shape_and_refuses_what_breaks_it():
    registry = Registry()
    root = registry.schema(Order)
    schema = {**root, "components": {"schemas": registry.components()}}
    good = {"kind": "order", "items": [{"product": "p1", "quantity": 2, "price": None}], "extra": {}, "mode": "a"}
    jsonschema.Draft202012Validator(schema).validate(good)
    for bad in (
        {**good, "kind": "text"},
        {**good, "items": [{"product": "p1", "quantity": 0, "price": 1.0}]},
        {k: v for k, v in good.items() if k != "items"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(bad)


def test_unions_of_shapes_use_any_of_and_unknown_types_are_refused():
    registry = Registry()
    assert registry.schema(Item | None) == {"anyOf": [{"$ref": "#/components/schemas/Item"}, {"type": "null"}]}
    with pytest.raises(TypeError):
        registry.schema(set[int])
    assert keys(Item) == ("product", "quantity", "price")


def test_an_annotated_optional_field_is_a_nullable_schema_with_its_limits():
    class Target(TypedDict):
        agent_id: Annotated[int, Doc("An agent", minimum=0)] | None

    registry = Registry()
    registry.schema(Target)
    assert registry.components()["Target"]["properties"]["agent_id"] == {
        "anyOf": [{"type": "integer", "description": "An agent", "minimum": 0}, {"type": "null"}]
    }
