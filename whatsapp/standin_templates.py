"""Meta's side of message templates, for the stand-in Graph APIs (the simulator's and the tests').

The listing answers only the `fields` asked for, as Meta does (so a client that does not ask for
`parameter_format` never sees it), and a template send is refused the way Meta refuses it. This is
written apart from `templates.py` on purpose: it stands for Meta, so the service's own checks are
tested against it rather than against themselves. The codes and sentences are Meta's as reported in
public issues (tests/fixtures/SOURCES.md names them).
"""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_TEXT_PARTS = ("header", "body")


def listing(templates: list[dict[str, Any]], fields: str | None) -> dict[str, Any]:
    """GET /<WABA_ID>/message_templates: every template, reduced to the requested fields (and id)."""
    if not fields:
        return {"data": [dict(t) for t in templates], "paging": {}}
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
    return {"data": [{k: v for k, v in t.items() if k in wanted} for t in templates], "paging": {}}


def refusal(templates: list[dict[str, Any]], message: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """Meta's (HTTP status, error body) for a template send it would refuse; None for any other send."""
    if message.get("type") != "template" or not isinstance(message.get("template"), dict):
        return None
    spec = message["template"]
    name = spec.get("name")
    language = (spec.get("language") or {}).get("code") if isinstance(spec.get("language"), dict) else None
    template = next((t for t in templates if t.get("name") == name and t.get("language") == language), None)
    if template is None:
        return 404, _error(
            132001,
            "(#132001) Template name does not exist in the translation",
            f"template name ({name}) does not exist in {language}",
        )
    named = str(template.get("parameter_format") or "").upper() == "NAMED"
    given = {str(c.get("type", "")).lower(): c.get("parameters") or [] for c in spec.get("components") or []}
    for part in _TEXT_PARTS:
        expected = _expected(template, part)
        if expected is None:  # no such component, or a media header
            continue
        params = [p for p in given.get(part, []) if isinstance(p, dict) and p.get("type") == "text"]
        if named and any(not str(p.get("parameter_name") or "").strip() for p in params):
            return 400, _error(100, "(#100) Invalid parameter", "Parameter name is missing or empty")
        if len(params) != len(expected):
            return 400, _error(
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                f"{part}: number of localizable_params ({len(params)}) does not match the expected number "
                f"of params ({len(expected)})",
            )
        unknown = [p["parameter_name"] for p in params if named and p["parameter_name"] not in expected]
        if unknown:
            return 400, _error(
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                f"{part}: parameter name ({unknown[0]}) is not a parameter of this template",
            )
    return None


def _expected(template: dict[str, Any], part: str) -> list[str] | None:
    """The placeholders ({{1}} or {{first_name}}) of a component's text, once each, in order."""
    for component in template.get("components") or []:
        if str(component.get("type", "")).lower() != part:
            continue
        if part == "header" and str(component.get("format") or "TEXT").upper() != "TEXT":
            return None
        return list(dict.fromkeys(_PLACEHOLDER.findall(component.get("text") or "")))
    return None


def _error(code: int, message: str, details: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AStandInTraceId",
        }
    }
