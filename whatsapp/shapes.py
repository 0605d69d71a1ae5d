"""Response shapes declared once, as TypedDicts, and their JSON Schema (OpenAPI 3.1) derived from them.

A shape is a `TypedDict`; a field's documentation and limits ride on `Annotated[..., Doc(...)]`; the
class docstring is the schema's description. `schema(Shape)` gives a `$ref` and records the shape (and
every shape it contains) so `components()` can list them once:

    class Place(TypedDict):
        \"\"\"A place on the map.\"\"\"
        latitude: Annotated[float, Doc(minimum=-90, maximum=90)]
        name: str | None

    registry = Registry()
    registry.schema(Place)   # {"$ref": "#/components/schemas/Place"}
    registry.components()    # {"Place": {"type": "object", "properties": {...}, "required": [...]}}

Keys a TypedDict marks `NotRequired` are left out of `required`; every other key is always present
(possibly null), which is what the API promises.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict


@dataclass(frozen=True, eq=False)  # hashed by identity: Annotated[X, Doc(...)] | None hashes it
class Doc:
    """A field's description, examples and JSON Schema keywords (minimum, maximum, format, ...)."""

    description: str | None = None
    examples: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, description: str | None = None, *, examples: tuple[Any, ...] = (), **extra: Any) -> None:
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "examples", tuple(examples))
        object.__setattr__(self, "extra", extra)

    def apply(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = dict(schema)
        if self.description:
            out["description"] = self.description
        if self.examples:
            out["examples"] = list(self.examples)
        out.update(self.extra)
        return out


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


class Registry:
    """The shapes one document refers to, by class name."""

    def __init__(self) -> None:
        self._shapes: dict[str, type] = {}

    def schema(self, kind: Any) -> dict[str, Any]:
        """The JSON Schema of a type: scalars, `X | None`, `list[X]`, `dict[str, X]`, `Literal`, `Any`,
        `Annotated[X, Doc]`, and TypedDicts (as a `$ref`, recorded for `components()`)."""
        origin = get_origin(kind)
        if origin in (typing.NotRequired, typing.Required):
            return self.schema(get_args(kind)[0])
        if origin is typing.Annotated:
            inner, *meta = get_args(kind)
            out = self.schema(inner)
            for item in meta:
                if isinstance(item, Doc):
                    out = item.apply(out)
            return out
        if kind is Any:
            return {}
        if kind in _SCALARS:
            return dict(_SCALARS[kind])
        if is_typeddict(kind):
            name = kind.__name__
            known = self._shapes.setdefault(name, kind)
            if known is not kind:
                raise TypeError(f"two shapes are named {name}")
            return {"$ref": f"#/components/schemas/{name}"}
        if origin is Literal:
            values = list(get_args(kind))
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        if origin in (Union, types.UnionType):
            options = [self.schema(option) for option in get_args(kind)]
            simple = [o.get("type") for o in options if set(o) == {"type"} and isinstance(o.get("type"), str)]
            if len(simple) == len(options):
                return {"type": simple}
            return {"anyOf": options}
        if origin is list:
            (item,) = get_args(kind) or (Any,)
            return {"type": "array", "items": self.schema(item)}
        if origin is dict:
            _key, value = get_args(kind) or (str, Any)
            out: dict[str, Any] = {"type": "object"}
            if value is not Any:
                out["additionalProperties"] = self.schema(value)
            return out
        if kind is dict:
            return {"type": "object"}
        if kind is list:
            return {"type": "array"}
        raise TypeError(f"no JSON Schema for {kind!r}")

    def object_schema(self, shape: type) -> dict[str, Any]:
        """A TypedDict's own schema (not a $ref): its properties, required keys and docstring."""
        hints = get_type_hints(shape, include_extras=True)
        properties = {name: self.schema(hint) for name, hint in hints.items()}
        out: dict[str, Any] = {"type": "object", "properties": properties}
        # Under `from __future__ import annotations` Python 3.11 cannot see NotRequired when it builds
        # __required_keys__, so the resolved hint decides.
        required = [
            name
            for name, hint in hints.items()
            if get_origin(hint) is not typing.NotRequired
            and (name in shape.__required_keys__ or get_origin(hint) is typing.Required)
        ]
        if required:
            out["required"] = required
        if shape.__doc__:
            out["description"] = " ".join(shape.__doc__.split())
        return out

    def components(self) -> dict[str, dict[str, Any]]:
        """Every shape referred to so far (and those they refer to), by name."""
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(self._shapes):
            for name, shape in list(self._shapes.items()):
                if name not in done:
                    done[name] = self.object_schema(shape)
        return dict(sorted(done.items()))


def keys(shape: type) -> tuple[str, ...]:
    """A shape's keys in declaration order (for tests that hold an answer to its shape)."""
    return tuple(get_type_hints(shape))
