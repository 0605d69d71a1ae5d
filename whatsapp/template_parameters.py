"""A template send's short form of parameters -> Meta's components, positional or named.

POSITIONAL templates ({{1}}, {{2}}) take lists: `{"body": ["Jane", "#4471"]}`. NAMED templates
({{first_name}}) take, for the header and the body, an object `{"first_name": "Jane"}` or a list of
`{"name": "first_name", "value": "Jane"}`; each value goes out as Meta's
`{"type": "text", "parameter_name": "first_name", "text": "Jane"}`. URL buttons are positional in both.
"""

from __future__ import annotations

from typing import Any

from .errors import APIError

MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


def components(
    parameters: dict[str, Any], named: bool | None, names: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """{"header": ..., "body": ..., "buttons": [[...], ...]} -> Meta's components.

    `named` is the template's format (None when the template could not be listed: the form given
    decides); `names` its header and body parameter names, for the error messages."""
    out: list[dict[str, Any]] = []
    header = parameters.get("header")
    if header:
        if isinstance(header, dict) and ("link" in header or "id" in header):
            out.append({"type": "header", "parameters": [_media(header)]})
        else:
            out.append({"type": "header", "parameters": _texts(header, "header", named, names or {})})
    body = parameters.get("body")
    if body:
        out.append({"type": "body", "parameters": _texts(body, "body", named, names or {})})
    for index, button in enumerate(_as_list(parameters.get("buttons") or [], "buttons")):
        values = _as_list(button, f"buttons[{index}]")
        if values:
            out.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [_text_param(v) for v in values],
                }
            )
    return out


def _media(header: dict[str, Any]) -> dict[str, Any]:
    """A media header: {"type": "image", "link": "..."} or {"type": "video", "id": "..."}."""
    kind = header.get("type", "image")
    if kind not in MEDIA_FORMATS.values():
        raise APIError(400, f"template.parameters.header.type must be one of {', '.join(MEDIA_FORMATS.values())}")
    source = {k: header[k] for k in ("link", "id", "filename") if k in header}
    return {"type": kind, kind: source}


def _texts(value: Any, part: str, named: bool | None, names: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The text parameters of the header or body, named or in order as the template wants them."""
    pairs = _named_pairs(value, part)
    example = ", ".join(f'"{n}": "..."' for n in names.get(part) or ["first_name"])
    if pairs is None:
        values = _as_list(value, part)
        if named and not all(isinstance(v, dict) and v.get("parameter_name") for v in values):
            raise APIError(
                400,
                f"This template has NAMED parameters: send template.parameters.{part} as an object, "
                f'{{{example}}}, or a list of {{"name": ..., "value": ...}}',
            )
        return [_text_param(v) for v in values]
    if named is False:
        raise APIError(
            400,
            f"This template has POSITIONAL parameters ({{{{1}}}}, {{{{2}}}}, ...): send template.parameters.{part} "
            "as a list of values in order",
        )
    out = []
    for name, item in pairs:
        param = {**item} if isinstance(item, dict) else _text_param(item)
        out.append({"type": param.pop("type", "text"), "parameter_name": name, **param})
    return out


def _named_pairs(value: Any, part: str) -> list[tuple[str, Any]] | None:
    """(name, value) pairs from {"first_name": "Jane"} or [{"name": "first_name", "value": "Jane"}];
    None when the value is the positional form."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list) and value and all(isinstance(v, dict) and set(v) == {"name", "value"} for v in value):
        items = [(v["name"], v["value"]) for v in value]
    else:
        return None
    seen: set[str] = set()
    for name, _ in items:
        if not isinstance(name, str) or not name.strip():
            raise APIError(400, f"template.parameters.{part}: every parameter name must be non-empty text")
        if name in seen:
            raise APIError(400, f"template.parameters.{part}: the parameter {name!r} is given more than once")
        seen.add(name)
    return items


def _as_list(value: Any, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, (str, int, float)):
        return [value]
    raise APIError(400, f"template.parameters.{name} must be a list")


def _text_param(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise APIError(400, "template parameters must be non-empty text")
    return {"type": "text", "text": str(value)}
