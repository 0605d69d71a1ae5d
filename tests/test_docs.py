"""The README and .env.example stay true: every route is in the README, every variable is documented."""

from __future__ import annotations

import re
from pathlib import Path

from whatsapp.config import ENV_NAMES

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/whatsapp"


def test_env_example_documents_every_variable_the_service_reads():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    assert sorted(set(ENV_NAMES) - documented) == []


def test_the_readme_names_every_route_with_its_methods(app):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^>:]*:)?(\w+)>", r"<\1>", rule.rule)  # <int(max=...):message_id> -> <message_id>
        if path.startswith(PREFIX + "/"):
            path = path[len(PREFIX) :]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if f"`{method} {path}`" not in readme and f"`GET/POST {path}`" not in readme:
                missing.append(f"{method} {path}")
    assert missing == []
