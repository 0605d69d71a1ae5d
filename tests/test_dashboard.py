"""The dashboard's pages: who gets them, the headers that keep customer text inert, the static files."""

from __future__ import annotations

import re
from pathlib import Path

from app import create_app

from .helpers import AGENT_KEY, VERIFY_TOKEN, post_webhook
from .test_auth import create_agent, sign_in

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_the_root_and_the_inbox_send_strangers_to_sign_in(anon):
    assert anon.get("/").headers["Location"].endswith("/inbox")
    answer = anon.get("/inbox")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")


def test_the_sign_in_page_is_a_form_that_posts_the_key(anon):
    page = anon.get("/login").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/login">', page)
    assert 'type="password"' in page and 'name="key"' in page


def test_the_service_key_alone_does_not_open_the_dashboard(client):
    assert client.get("/inbox").status_code == 302


def test_the_inbox_page_carries_a_strict_content_security_policy(app, runner):
    browser, csrf = sign_in(app, create_agent(runner, "Ana Souza"))
    answer = browser.get("/inbox")
    policy = answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
    assert f'<meta name="csrf-token" content="{csrf}">' in page
    assert "<script>" not in page, "no inline script"
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), "no inline event handlers"


def test_an_agent_name_with_markup_is_escaped_on_the_page(app, runner):
    browser, _ = sign_in(app, create_agent(runner, "<script>alert(1)</script>"))
    page = browser.get("/inbox").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_script_never_writes_html_from_data():
    modules = sorted((STATIC / "js").glob("*.js"))
    assert len(modules) > 5 and not (STATIC / "inbox.js").exists(), "the dashboard is ES modules under static/js/"
    for module in modules:
        script = module.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in script, f"{module.name} uses {sink}"


def test_the_page_loads_the_dashboard_as_an_es_module_that_imports_only_its_own_folder(app, runner):
    browser, _ = sign_in(app, create_agent(runner, "Ana Souza"))
    page = browser.get("/inbox").get_data(as_text=True)
    assert '<script type="module" src="/static/js/main.js"></script>' in page
    for module in (STATIC / "js").glob("*.js"):
        for target in re.findall(r'^import .* from "([^"]+)";', module.read_text(encoding="utf-8"), re.M):
            assert target.startswith("./") and (STATIC / "js" / target[2:]).exists(), f"{module.name}: {target}"


def test_the_script_and_stylesheet_are_served_by_the_app_itself(anon):
    for name in ("js/main.js", "js/api.js", "inbox.css"):
        answer = anon.get(f"/static/{name}")
        assert answer.status_code == 200
        if name.endswith(".js"):
            assert "javascript" in answer.headers["Content-Type"], "a module script needs a JavaScript MIME type"
        answer.close()


def test_every_answer_says_nosniff_errors_static_files_and_streams_included(settings):
    app = create_app(settings)
    app.config.update(EVENT_STREAM_SECONDS=0.0)

    @app.get("/api/whatsapp/test-crash")
    def crash():
        raise RuntimeError("a bug")

    anon = app.test_client()
    key = {"Authorization": f"Bearer {AGENT_KEY}"}
    verify = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    answers = {
        "api": anon.get("/api/whatsapp/stats", headers=key),
        "401": anon.get("/api/whatsapp/stats"),
        "404": anon.get("/no-such-page"),
        "405": anon.delete("/api/whatsapp/send", headers=key),
        "500": anon.get("/api/whatsapp/test-crash", headers=key),
        "webhook text": anon.get("/api/whatsapp/webhook", query_string=verify),
        "webhook 401": post_webhook(anon, b"{}", signature="sha256=" + "0" * 64),
        "openapi": anon.get("/api/whatsapp/openapi.json"),
        "login page": anon.get("/login"),
        "static": anon.get("/static/js/main.js"),
        "stream": anon.get("/api/whatsapp/events/stream", headers={**key, "Accept": "text/event-stream"}),
    }
    assert [a.status_code for a in answers.values()] == [200, 401, 404, 405, 500, 200, 401, 200, 200, 200, 200]
    missing = [name for name, answer in answers.items() if answer.headers.get("X-Content-Type-Options") != "nosniff"]
    for answer in answers.values():
        answer.close()
    assert missing == []
