"""`@name` mentions in a private note, found in its text and matched to agents (pure: no SQL, no Flask).

- `@"Ana Souza"` names the agent whose whole name that is; `@Ana` names an agent called exactly "Ana",
  and failing that every agent whose first name is Ana (two Anas both hear about it: a note meant for
  one of them is better read twice than missed). Case does not matter (`@ana`, `@ANA`).
- An @ inside a word (`ana@example.com`) is not a mention; a full stop or comma after the name is not
  part of it (`thanks @Ana.`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Not after a letter, digit or another @: an e-mail address is not a mention.
QUOTED = re.compile(r'(?<![\w@])@"([^"\n]{1,100})"')
PLAIN = re.compile(r"(?<![\w@])@([^\W_][\w.\-']{0,99})")


@dataclass(frozen=True)
class Handle:
    """One @name as written: its text and whether it was quoted (a whole name)."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class Person:
    """An agent that may be mentioned."""

    agent_id: int
    name: str


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def handles(body: str) -> list[Handle]:
    """Every @name of a note, in order of appearance (quoted ones first found, then plain ones)."""
    found = [Handle(m.group(1).strip(), True) for m in QUOTED.finditer(body) if m.group(1).strip()]
    unquoted = QUOTED.sub(" ", body)
    found += [Handle(m.group(1).rstrip(".-'"), False) for m in PLAIN.finditer(unquoted)]
    return [h for h in found if h.text]


def match(handle: Handle, people: Iterable[Person]) -> list[Person]:
    """The agents one @name names: the whole name, else (unquoted) everyone with that first name."""
    people = list(people)
    wanted = _key(handle.text)
    whole = [p for p in people if _key(p.name) == wanted]
    if whole or handle.quoted:
        return whole
    return [p for p in people if p.name.split() and p.name.split()[0].casefold() == wanted]


def mentioned(body: str, people: Iterable[Person], author_id: int | None = None) -> list[Person]:
    """The agents a note mentions, each once, in order of first mention; never its own author."""
    people = list(people)
    out: dict[int, Person] = {}
    for handle in handles(body):
        for person in match(handle, people):
            if person.agent_id != author_id:
                out.setdefault(person.agent_id, person)
    return list(out.values())
