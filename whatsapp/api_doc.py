"""Each route's OpenAPI metadata, kept next to the route: `@api_doc(...)` records it on the view function,
and `paths(app, registry)` walks the app's URL map to build the document's `paths`.

    @bp.get("/stats")
    @api_doc("Totals for the inbox", tag="inbox", responses={200: ("Totals", StatsResult)}, errors=(401,))
    def stats() -> Response: ...

Shapes (TypedDicts, `X | Y`, scalars) become JSON Schema through `shapes.Registry`, which records every
TypedDict for the components; a ready JSON Schema dict is used as it is. A route without `@api_doc` is
left out of `paths`, and tests/test_openapi.py fails naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from .api_shapes import MAX_ID
from .shapes import Registry

View = TypeVar("View", bound=Callable[..., Any])
ATTRIBUTE = "api_doc"
PREFIX = "/api/whatsapp"


def schema_of(kind: Any, registry: Registry) -> dict[str, Any]:
    """A JSON Schema dict as it is; anything else (a TypedDict, `X | None`, ...) through the registry."""
    return dict(kind) if isinstance(kind, Mapping) else registry.schema(kind)


@dataclass(frozen=True)
class Answer:
    """One documented answer: its description and its body's shape (in `media_type`)."""

    description: str
    shape: Any = None
    media_type: str = "application/json"

    def build(self, registry: Registry) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.shape is not None:
            out["content"] = {self.media_type: {"schema": schema_of(self.shape, registry)}}
        return out


@dataclass(frozen=True)
class Operation:
    """What the document says about one route (for each of its methods)."""

    summary: str
    tag: str
    description: str | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    body: Any = None
    body_type: str = "application/json"
    example: Any = None
    responses: Mapping[int, Answer] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    public: bool = False

    def build(self, registry: Registry, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary, "tags": [self.tag]}
        if self.description:
            out["description"] = self.description
        if self.public:
            out["security"] = []
        parameters = [*path_parameters, *({**p, "schema": schema_of(p["schema"], registry)} for p in self.parameters)]
        if parameters:
            out["parameters"] = parameters
        if self.body is not None:
            media: dict[str, Any] = {"schema": schema_of(self.body, registry)}
            if self.example is not None:
                media["example"] = self.example
            out["requestBody"] = {"required": True, "content": {self.body_type: media}}
        # Plain error answers ({"success": false, "error": ...}) by reference; a route's own answer for a
        # status (e.g. the send result with its error) takes its place.
        responses: dict[str, Any] = {str(code): {"$ref": f"#/components/responses/E{code}"} for code in self.errors}
        responses.update({str(code): answer.build(registry) for code, answer in self.responses.items()})
        out["responses"] = responses
        return out


def api_doc(
    summary: str,
    *,
    tag: str,
    responses: Mapping[int, Answer | tuple[str, Any] | tuple[str, Any, str]],
    errors: tuple[int, ...] = (),
    description: str | None = None,
    parameters: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
    body: Any = None,
    body_type: str = "application/json",
    example: Any = None,
    public: bool = False,
) -> Callable[[View], View]:
    """Record a route's OpenAPI metadata on its view function. `responses` maps a status to an Answer or
    (description, shape[, media type]); `errors` are statuses answered with the plain error shape;
    `public` routes need no credentials. Path parameters come from the route's rule."""
    answers = {code: answer if isinstance(answer, Answer) else Answer(*answer) for code, answer in responses.items()}
    operation = Operation(
        summary=summary,
        tag=tag,
        description=description,
        parameters=tuple(parameters),
        body=body,
        body_type=body_type,
        example=example,
        responses=answers,
        errors=tuple(errors),
        public=public,
    )

    def record(view: View) -> View:
        setattr(view, ATTRIBUTE, operation)
        return view

    return record


def operation_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, ATTRIBUTE, None)


# --- parameters ----------------------------------------------------------------------------


def query(name: str, schema: Any, description: str | None = None, example: Any = None) -> dict[str, Any]:
    """An optional query parameter; `schema` is a JSON Schema dict or a type the registry knows."""
    return _parameter("query", name, schema, description, example)


def header(name: str, schema: Any, description: str | None = None, *, required: bool = False) -> dict[str, Any]:
    return _parameter("header", name, schema, description, None, required)


def _parameter(
    where: str, name: str, schema: Any, description: str | None, example: Any, required: bool = False
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        param["description"] = description
    if example is not None:
        param["example"] = example
    return param


def identifier(low: int = 1) -> dict[str, Any]:
    """An id the API accepts: JSON-safe integers only (larger ones are refused)."""
    return {"type": "integer", "minimum": low, "maximum": MAX_ID}


def path_parameter(name: str, converter: Any) -> dict[str, Any]:
    """A Flask path variable as an OpenAPI path parameter; an int converter's range is capped at MAX_ID."""
    schema: dict[str, Any] = {"type": "string"}
    if isinstance(converter, IntegerConverter):
        low = converter.min if converter.min is not None else (None if converter.signed else 0)
        schema = {"type": "integer", "maximum": MAX_ID if converter.max is None else min(converter.max, MAX_ID)}
        if low is not None:
            schema["minimum"] = low
    return {"name": name, "in": "path", "required": True, "schema": schema}


# --- paths ---------------------------------------------------------------------------------


def openapi_path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """Flask's /media/<int(max=...):message_id> -> OpenAPI's /media/{message_id}, with its parameters."""
    converters = getattr(rule, "_converters", {})  # werkzeug keeps each variable's converter here
    names = re.findall(r"<(?:[^>:]*:)?(\w+)>", rule.rule)
    path = re.sub(r"<(?:[^>:]*:)?(\w+)>", r"{\1}", rule.rule)
    return path, [path_parameter(name, converters.get(name)) for name in names]


def paths(app: Flask, registry: Registry, prefix: str = PREFIX) -> dict[str, Any]:
    """`paths` of every route under `prefix` that carries @api_doc metadata, in the URL map's order."""
    out: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        operation = operation_of(app.view_functions[rule.endpoint])
        if not (rule.rule == prefix or rule.rule.startswith(prefix + "/")) or operation is None:
            continue  # left out: tests/test_openapi.py names every route the document misses
        path, path_parameters = openapi_path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.setdefault(path, {})[method.lower()] = operation.build(registry, path_parameters)
    return out
