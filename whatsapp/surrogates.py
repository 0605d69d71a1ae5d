"""Unpaired UTF-16 surrogates: legal in JSON as escapes (\\ud800), impossible in UTF-8, so SQLite
(and any UTF-8 encoder) refuses them. Found and replaced without recursion, at any nesting depth."""

from __future__ import annotations

import re
from typing import Any

LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs: any left is unpaired
# Only an escape can put a surrogate into parsed JSON (UTF-8 text cannot encode one).
_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def may_hold(raw: str | bytes) -> bool:
    """Whether JSON text may have a surrogate escape (the cheap test before walking its value)."""
    if isinstance(raw, (bytes, bytearray)):
        # UTF-16 and UTF-32 JSON (which json.loads detects) spell an escape with NUL bytes between.
        return b"\x00" in raw or _ESCAPE_BYTES.search(raw) is not None
    return _ESCAPE_TEXT.search(raw) is not None


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list):
        return value
    return []


def find(value: Any) -> str | None:
    """The first string (key or value) of a JSON value holding an unpaired surrogate, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return item
        else:
            stack.extend(_children(item))
    return None


def replace(value: Any) -> Any:
    """The JSON value with every unpaired surrogate made U+FFFD (containers are changed in place)."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str):
                    item[index] = LONE_SURROGATE.sub("\ufffd", child)
                elif isinstance(child, (list, dict)):
                    stack.append(child)
        elif isinstance(item, dict):
            pairs = list(item.items())
            item.clear()
            for key, child in pairs:
                if isinstance(child, str):
                    child = LONE_SURROGATE.sub("\ufffd", child)
                elif isinstance(child, (list, dict)):
                    stack.append(child)
                item[LONE_SURROGATE.sub("\ufffd", key)] = child
    return value
