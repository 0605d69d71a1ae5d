"""Canned replies' rules and their variables, as pure functions (no SQL, no Flask).

A body may hold `{{contact.name}}`, `{{contact.phone}}`, `{{agent.name}}` and `{{conversation.id}}`
(spaces inside the braces are allowed). Anything else in double braces is refused when the reply is
saved, so a customer can never receive a literal `{{...}}` from a snippet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CODE = re.compile(r"[a-z0-9_-]{1,32}")
MAX_TITLE = 100
MAX_BODY = 4096  # WhatsApp's limit for a text message's body
MAX_REPLIES = 500
VARIABLES = ("contact.name", "contact.phone", "agent.name", "conversation.id")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def unknown_variables(body: str) -> list[str]:
    """The names in double braces that are not variables, in order of appearance (each once)."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(body):
        name = match.group(1)
        if name not in VARIABLES and name not in seen:
            seen.append(name)
    return seen


def render(body: str, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """The body with its variables filled; a variable without a value becomes '' and is listed as missing.
    An unknown name (a body saved before the rule) is left as it is."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in VARIABLES:
            return match.group(0)
        value = values.get(name)
        if not value:
            if name not in missing:
                missing.append(name)
            return ""
        return value

    return PLACEHOLDER.sub(fill, body), missing


def search_words(query: str) -> list[str]:
    """The words of a picker's query, lower-cased ('/ref' searches 'ref')."""
    return query.strip().lstrip("/").lower().split()
