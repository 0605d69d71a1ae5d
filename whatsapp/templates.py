"""Approved message templates: listed from the Graph API (cached briefly) and checked before a send."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from . import template_parameters
from .api_shapes import Template, TemplateParameterNames, TemplateParameters
from .errors import APIError
from .graph import GraphClient, GraphError, GraphUnavailable
from .sending import Outbound
from .template_parameters import MEDIA_FORMATS

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
POSITIONAL, NAMED = "POSITIONAL", "NAMED"
TEXT_PARTS = ("header", "body")  # the components whose text parameters may be named


# Statuses in which a template cannot be sent: a send of it is refused (409) with Meta's reason
# before it reaches Meta, and the listing (GET /templates, the dashboard) leaves it out.
UNUSABLE = ("PAUSED", "DISABLED", "REJECTED", "PENDING_DELETION", "DELETED", "ARCHIVED")
# A webhook's state wins over a listing fetched up to this long after it (Meta's clock and ours).
CLOCK_SLACK = timedelta(seconds=60)

# (name, language) -> the template's latest state from Meta's template webhooks (template_states)
States = Callable[[], Mapping[tuple[str, str], Mapping[str, Any]]]


class TemplateCache:
    """The business's templates, fetched at most every CACHE_SECONDS per worker, with the latest
    status, category and quality Meta's template webhooks gave laid over them at once (`states`: the
    webhooks may be stored by another process, so they are read from the database on each use)."""

    def __init__(self, client: GraphClient, states: States | None = None) -> None:
        self.client = client
        self.states = states
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self._fetched_when = ""  # the fetch's wall-clock time, as stored times are written
        self._templates: list[dict[str, Any]] = []

    def all(self, refresh: bool = False) -> list[dict[str, Any]]:
        """Every template Meta lists for the WABA (raises GraphError/GraphUnavailable)."""
        with self._lock:
            if refresh or time.monotonic() - self._fetched_at > CACHE_SECONDS or not self._fetched_at:
                self._templates = self._fetch()
                self._fetched_at = time.monotonic()
                self._fetched_when = (datetime.now(UTC) - CLOCK_SLACK).strftime("%Y-%m-%d %H:%M:%S")
            listed, since = list(self._templates), self._fetched_when
        states = self.state_of_all()
        return [_overlay(t, states.get((str(t.get("name")), str(t.get("language")))), since) for t in listed]

    def state_of_all(self) -> Mapping[tuple[str, str], Mapping[str, Any]]:
        return self.states() if self.states is not None else {}

    def state(self, name: str, language: str) -> Mapping[str, Any] | None:
        """A template's latest state from the webhooks, whether or not Meta's listing can be read."""
        return self.state_of_all().get((name, language))

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
        params: dict[str, Any] | None = {
            "fields": "name,language,status,category,parameter_format,components",
            "limit": 100,
        }
        for _ in range(50):  # bounded paging
            data = self.client.request("GET", url, params=params)
            templates.extend(t for t in data.get("data", []) if isinstance(t, dict))
            url = (data.get("paging") or {}).get("next")
            params = None
            if not url:
                break
        return templates


def _overlay(template: dict[str, Any], state: Mapping[str, Any] | None, since: str) -> dict[str, Any]:
    """The listed template with what the webhooks said since it was listed (status and its reason,
    category, quality); the listing's own values stand for anything older."""
    if not state:
        return template
    template = dict(template)
    if state["status"] and (state["status_at"] or "") >= since:
        template["status"] = state["status"]
        template["status_reason"] = state["status_reason"]
        template["status_detail"] = state["status_detail"]
    if state["category"] and (state["category_at"] or "") >= since:
        template["category"] = state["category"]
    if state["quality"]:
        template["quality_score"] = state["quality"]
    return template


def refusal(name: str, language: str, status: str, reason: Any = None, detail: Any = None) -> APIError:
    """409 for a send of a template WhatsApp paused, disabled or rejected, with Meta's reason."""
    because = "; ".join(str(x) for x in (reason, detail) if x)
    return APIError(
        409,
        f"Template {name!r} ({language}) cannot be sent: WhatsApp reports it {status}"
        + (f" ({because})" if because else "")
        + ". Choose another template, or edit or appeal it in WhatsApp Manager.",
        template_status=status,
        template_reason=str(reason) if reason else None,
    )


def category_of(cache: TemplateCache, name: str, language: str) -> str | None:
    """A template's category (MARKETING, UTILITY, AUTHENTICATION) as last known: the listing with the
    webhooks over it, or the webhooks alone when Meta cannot be asked. None when unknown."""
    try:
        listed = next((t for t in cache.all() if t.get("name") == name and t.get("language") == language), None)
    except (GraphError, GraphUnavailable):
        listed = None
    if listed is not None and listed.get("category"):
        return str(listed["category"]).upper()
    state = cache.state(name, language)
    return str(state["category"]).upper() if state and state["category"] else None


def summary(template: dict[str, Any]) -> Template:
    """A template as the API lists it, with the parameters each component needs."""
    return {
        "name": template.get("name"),
        "language": template.get("language"),
        "category": template.get("category"),
        "status": template.get("status"),
        "parameter_format": NAMED if named(template) else POSITIONAL,
        "components": template.get("components", []),
        "parameters": required_parameters(template),
        "parameter_names": parameter_names(template),
        "quality_score": template.get("quality_score"),
    }


def named(template: dict[str, Any]) -> bool:
    """Meta's `parameter_format`: NAMED, or (when absent, as for older templates) POSITIONAL."""
    return str(template.get("parameter_format") or "").upper() == NAMED


def parameter_names(template: dict[str, Any]) -> TemplateParameterNames:
    """The names of a NAMED template's header and body parameters: its text's {{name}}s in order, or
    else the names its example gives (`body_text_named_params`, `header_text_named_params`)."""
    names: TemplateParameterNames = {"header": [], "body": []}
    if not named(template):
        return names
    for component in template.get("components", []) or []:
        part = str(component.get("type", "")).lower()
        if part not in TEXT_PARTS or (part == "header" and _media_header(component)):
            continue
        found = list(dict.fromkeys(_PLACEHOLDER.findall(component.get("text", "") or "")))
        if not found:
            example = component.get("example") if isinstance(component.get("example"), dict) else {}
            items = example.get(f"{part}_text_named_params") or []
            found = [i["param_name"] for i in items if isinstance(i, dict) and isinstance(i.get("param_name"), str)]
        names[part] = found
    return names


def _media_header(component: dict[str, Any]) -> str | None:
    return MEDIA_FORMATS.get(str(component.get("format", "")).upper())


def required_parameters(template: dict[str, Any]) -> TemplateParameters:
    """{"header": n or "image"/"video"/"document", "body": n, "buttons": [n per button]}."""
    needs: TemplateParameters = {"header": 0, "body": 0, "buttons": []}
    names = parameter_names(template) if named(template) else None
    for component in template.get("components", []) or []:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            media = _media_header(component)
            count = len(names["header"]) if names else len(set(_PLACEHOLDER.findall(component.get("text", "") or "")))
            needs["header"] = media or count
        elif kind == "BODY":
            count = len(names["body"]) if names else len(set(_PLACEHOLDER.findall(component.get("text", "") or "")))
            needs["body"] = count
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
    template = _approved(cache, name, language)
    if components is None:
        if template is None:  # not listed: the form given decides, and Meta checks the rest
            components = template_parameters.components(parameters, None)
        else:
            components = template_parameters.components(parameters, named(template), dict(parameter_names(template)))
    if template is not None:
        _check(template, components)
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        body["components"] = components
    return Outbound("template", body, render(template, components) if template else f"[template {name}]")


def _approved(cache: TemplateCache, name: str, language: str) -> dict[str, Any] | None:
    try:
        listed = cache.all()
    except (GraphError, GraphUnavailable) as exc:
        state = cache.state(name, language)
        if state and state["status"] in UNUSABLE:
            raise refusal(name, language, state["status"], state["status_reason"], state["status_detail"]) from None
        log.warning("Templates could not be listed (%s); Meta will check this one", exc)
        return None
    for template in listed:
        status = str(template.get("status", "")).upper()
        if template.get("name") == name and template.get("language") == language and status in UNUSABLE:
            raise refusal(name, language, status, template.get("status_reason"), template.get("status_detail"))
    templates = [t for t in listed if str(t.get("status", "")).upper() == "APPROVED"]
    for template in templates:
        if template.get("name") == name and template.get("language") == language:
            return template
    languages = sorted({t.get("language") for t in templates if t.get("name") == name})
    if languages:
        raise APIError(
            400, f"Template {name!r} is not approved in {language}; approved languages: {', '.join(languages)}"
        )
    raise APIError(400, f"No approved template named {name!r}")


def _check(template: dict[str, Any], components: list[dict[str, Any]]) -> None:
    """Check the parameters given per component against what the approved template needs: their
    number, and for a NAMED template each header and body parameter's name."""
    needs = required_parameters(template)
    given: dict[str, Any] = {"header": 0, "body": 0, "buttons": {}}
    texts: dict[str, list[Any]] = {"header": [], "body": []}
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
            texts["header"] = [] if media else params
        elif kind == "body":
            given["body"] = len(params)
            texts["body"] = params
        elif kind == "button":
            given["buttons"][_button_index(component.get("index", 0))] = len(params)
    missing = []
    if named(template):
        names = parameter_names(template)
        if isinstance(needs["header"], str):
            if needs["header"] != given["header"]:
                missing.append(f"the header needs a {needs['header']} parameter")
        else:
            missing += _name_problems("header", names["header"], texts["header"])
        missing += _name_problems("body", names["body"], texts["body"])
    else:
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


def _name_problems(part: str, expected: list[str], params: list[Any]) -> list[str]:
    """What is wrong with the names of a NAMED template's header or body parameters (nothing: [])."""
    if not expected and not params:
        return []
    takes = f"its {part} parameters are {', '.join(expected)}" if expected else f"the {part} takes no parameters"
    given = [p.get("parameter_name") if isinstance(p, dict) else None for p in params]
    if any(not isinstance(n, str) or not n.strip() for n in given):
        return [f"every {part} parameter of this NAMED template needs a parameter_name ({takes})"]
    problems = []
    counts = Counter(given)
    unknown = [n for n in counts if n not in expected]
    if unknown:
        problems.append(f"the {part} has no parameter named {_some(unknown)} ({takes})")
    twice = [n for n, times in counts.items() if times > 1]
    if twice:
        problems.append(f"the {part} parameter {_some(twice)} is given more than once")
    absent = [n for n in expected if n not in counts]
    if absent:
        problems.append(f"the {part} is missing {', '.join(map(repr, absent))}")
    return problems


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
    by_name = {
        p["parameter_name"]: p.get("text")
        for p in values
        if isinstance(p, dict) and isinstance(p.get("parameter_name"), str) and p["parameter_name"]
    }
    positional = [p.get("text") for p in values if isinstance(p, dict)]

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in by_name:
            return str(by_name[key])
        if key.isascii() and key.isdigit() and 0 < int(key) <= len(positional):
            return str(positional[int(key) - 1])
        return match.group(0)

    return _PLACEHOLDER.sub(fill, text) or f"[template {template.get('name')}]"


def _some(names: list[str], shown: int = 5) -> str:
    """A few names for an error sentence (a request may hold thousands)."""
    quoted = ", ".join(repr(n[:60]) for n in names[:shown])
    return quoted + (f" and {len(names) - shown} more" if len(names) > shown else "")
