"""The README, docs/ and .env.example stay true: every route is documented, every variable too, and
every link between the documents lands on a heading that exists."""

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


def documents() -> dict[Path, str]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return {path: path.read_text(encoding="utf-8") for path in paths}


def test_the_docs_name_every_route_with_its_methods(app):
    readme = "\n".join(documents().values())
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


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def test_every_link_between_the_documents_lands_on_a_file_and_heading_that_exist():
    docs = documents()
    headings = {path: {slug(line) for line in text.splitlines() if line.startswith("#")} for path, text in docs.items()}
    broken = []
    for path, text in docs.items():
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([\w-]+))?\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file = (path.parent / target).resolve() if target else path
            if not file.exists() or (anchor and file in headings and anchor not in headings[file]):
                broken.append(f"{path.name}: ({target}#{anchor})")
    assert broken == []
