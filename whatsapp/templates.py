"""Approved message templates: listed from the Graph API (cached briefly) and checked before a send."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from .errors import APIError
from .graph import GraphClient, GraphError, GraphUnavailable
from .sending import Outbound

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


class TemplateCache:
    """The business's templates, fetched at most every CACHE_SECONDS per worker."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self._templates: list[dict[str, Any]] = []

    def all(self, refresh: bool = False) -> list[dict[str, Any]]:
        """Every template Meta lists for the WABA (raises GraphError/GraphUnavailable)."""
        with self._lock:
            if refresh or time.monotonic() - self._fetched_at > CACHE_SECONDS or not self._fetched_at:
                self._templates = self._fetch()
                self._fetched_at = time.monotonic()
            return list(self._templates)

    def approved(self, refresh: bool = False) -> list[dict[str, Any]]:
        return [t for t in self.all(refresh) if str(t.get("status", "")).upper() == "APPROVED"]

    def find(self, name: str, language: str) -> dict[str, Any] | None:
        for template in self.approved():
            if template.get("name") == name and template.get("language") == language:
                return template
        return None

    def _fetch(self) -> list[dict[str, Any]]:
        waba = self.client.settings.business_account_id
        if not waba:
            raise GraphError(None, "WHATSAPP_BUSINESS_ACCOUNT_ID is not configured", "Set it to list templates.")
        templates: list[dict[str, Any]] = []
        url: str | None = f"{waba}/message_templates"
        params: dict[str, Any] | None = {"fields": "name,language,status,category,components", "limit": 100}
        for _ in range(50):  # bounded paging
            data = self.client.request("GET", url, params=params)
            templates.extend(t for t in data.get("data", []) if isinstance(t, dict))
            url = (data.get("paging") or {}).get("next")
            params = None
            if not url:
                break
        return templates


def summary(template: dict[str, Any]) -> dict[str, Any]:
    """A template as the API lists it, with the parameters each component needs."""
    return {
        "name": template.get("name"),
        "language": template.get("language"),
        "category": template.get("category"),
        "status": template.get("status"),
        "components": template.get("components", []),
        "parameters": required_parameters(template),
    }


def required_parameters(template: dict[str, Any]) -> dict[str, Any]:
    """{"header": n or "image"/"video"/"document", "body": n, "buttons": [n per button]}."""
    needs: dict[str, Any] = {"header": 0, "body": 0, "buttons": []}
    for component in template.get("components", []) or []:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            media = MEDIA_FORMATS.get(str(component.get("format", "")).upper())
            needs["header"] = media or len(set(_PLACEHOLDER.findall(component.get("text", "") or "")))
        elif kind == "BODY":
            needs["body"] = len(set(_PLACEHOLDER.findall(component.get("text", "") or "")))
        elif kind == "BUTTONS":
            for button in component.get("buttons", []) or []:
                url = button.get("url", "") if str(button.get("type", "")).upper() == "URL" else ""
                needs["buttons"].append(len(set(_PLACEHOLDER.findall(url or ""))))
    return needs


def build(data: dict[str, Any], cache: TemplateCache) -> Outbound:
    """A /send body of type template -> Outbound, checked against the approved template when known."""
    spec = data.get("template")
    if not isinstance(spec, dict):
        raise APIError(400, 'template is required: {"name": "order_update", "language": "en_US", ...}')
    name = spec.get("name")
    language = spec.get("language")
    if isinstance(language, dict):
        language = language.get("code")
    if not isinstance(name, str) or not name.strip():
        raise APIError(400, "template.name is required")
    if not isinstance(language, str) or not language.strip():
        raise APIError(400, "template.language is required (e.g. en_US)")
    name, language = name.strip(), language.strip()
    components = spec.get("components")
    if components is not None and not isinstance(components, list):
        raise APIError(400, "template.components must be a list of Meta's components")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise APIError(400, 'template.parameters must be an object: {"body": ["Ana"], ...}')
    if components is None:
        components = _components(parameters)
    template = _approved(cache, name, language)
    if template is not None:
        _check(template, components)
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        body["components"] = components
    return Outbound("template", body, render(template, components) if template else f"[template {name}]")


def _approved(cache: TemplateCache, name: str, language: str) -> dict[str, Any] | None:
    try:
        templates = cache.approved()
    except (GraphError, GraphUnavailable) as exc:
        log.warning("Templates could not be listed (%s); Meta will check this one", exc)
        return None
    for template in templates:
        if template.get("name") == name and template.get("language") == language:
            return template
    languages = sorted({t.get("language") for t in templates if t.get("name") == name})
    if languages:
        raise APIError(
            400, f"Template {name!r} is not approved in {language}; approved languages: {', '.join(languages)}"
        )
    raise APIError(400, f"No approved template named {name!r}")


def _components(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The simple form {"header": [...], "body": [...], "buttons": [[...], ...]} -> Meta's components."""
    components: list[dict[str, Any]] = []
    header = parameters.get("header")
    if header:
        if isinstance(header, dict):  # a media header: {"type": "image", "link": "..."} or {"id": ...}
            kind = header.get("type", "image")
            if kind not in MEDIA_FORMATS.values():
                raise APIError(
                    400, f"template.parameters.header.type must be one of {', '.join(MEDIA_FORMATS.values())}"
                )
            source = {k: header[k] for k in ("link", "id", "filename") if k in header}
            components.append({"type": "header", "parameters": [{"type": kind, kind: source}]})
        else:
            components.append({"type": "header", "parameters": [_text_param(v) for v in _as_list(header, "header")]})
    body = parameters.get("body")
    if body:
        components.append({"type": "body", "parameters": [_text_param(v) for v in _as_list(body, "body")]})
    for index, button in enumerate(_as_list(parameters.get("buttons") or [], "buttons")):
        values = _as_list(button, f"buttons[{index}]")
        if values:
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [_text_param(v) for v in values],
                }
            )
    return components


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


def _check(template: dict[str, Any], components: list[dict[str, Any]]) -> None:
    """Count the parameters given per component against what the approved template needs."""
    needs = required_parameters(template)
    given: dict[str, Any] = {"header": 0, "body": 0, "buttons": {}}
    for component in components:
        if not isinstance(component, dict):
            raise APIError(400, "each template component must be an object")
        kind = str(component.get("type", "")).lower()
        params = component.get("parameters") or []
        if not isinstance(params, list):
            raise APIError(400, f"the parameters of the template's {kind or 'unnamed'} component must be a list")
        if kind == "header":
            media = [p for p in params if isinstance(p, dict) and p.get("type") in MEDIA_FORMATS.values()]
            given["header"] = media[0]["type"] if media else len(params)
        elif kind == "body":
            given["body"] = len(params)
        elif kind == "button":
            given["buttons"][_button_index(component.get("index", 0))] = len(params)
    missing = []
    if needs["header"] != given["header"]:
        if isinstance(needs["header"], str):
            missing.append(f"the header needs a {needs['header']} parameter")
        else:
            missing.append(f"the header needs {needs['header']} parameter(s), got {given['header']}")
    if needs["body"] != given["body"]:
        missing.append(f"the body needs {needs['body']} parameter(s), got {given['body']}")
    for index, count in enumerate(needs["buttons"]):
        if count and given["buttons"].get(index, 0) != count:
            missing.append(f"button {index} needs {count} parameter(s), got {given['buttons'].get(index, 0)}")
    if missing:
        raise APIError(400, f"Template {template.get('name')!r} ({template.get('language')}): " + "; ".join(missing))


def _button_index(value: Any) -> int:
    """Meta's button `index` ("0", "1", ...: the button's position in the template)."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if len(text) != 1 or not text.isascii() or not text.isdigit():
        raise APIError(400, "a template button component needs an index: the button's position, 0 to 9")
    return int(text)


def render(template: dict[str, Any] | None, components: list[dict[str, Any]]) -> str | None:
    """The body text the customer will see, placeholders filled in order, for the thread."""
    if template is None:
        return None
    text = next((c.get("text", "") for c in template.get("components", []) if str(c.get("type")).upper() == "BODY"), "")
    values = next((c.get("parameters", []) for c in components if str(c.get("type")).lower() == "body"), [])
    named = {p.get("parameter_name"): p.get("text") for p in values if isinstance(p, dict) and p.get("parameter_name")}
    positional = [p.get("text") for p in values if isinstance(p, dict)]

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in named:
            return str(named[key])
        if key.isdigit() and 0 < int(key) <= len(positional):
            return str(positional[int(key) - 1])
        return match.group(0)

    return _PLACEHOLDER.sub(fill, text) or f"[template {template.get('name')}]"
