"""Agents, their keys and dashboard sessions: who may call the agent API, and as whom."""

from __future__ import annotations

import hashlib

import pytest

from app import create_app

from .helpers import AGENT_KEY, connection_for, customer_writes, send_ok

SEND_PATH = "/v26.0/110293847561029/messages"
# What a browser adds to a post from the sign-in page (the test client's host is localhost).
OUR_PAGE = {"Origin": "http://localhost"}


def create_agent(runner, name: str) -> str:
    result = runner.invoke(args=["create-agent", name])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def sign_in(app, key: str):
    """A browser-like client (no Authorization header) signed in through the JSON form of /login."""
    browser = app.test_client()
    answer = browser.post("/login", json={"key": key})
    assert answer.status_code == 200, answer.get_json()
    return browser, answer.get_json()["csrf_token"]


@pytest.fixture
def ana_key(runner) -> str:
    return create_agent(runner, "Ana Souza")


def test_create_agent_prints_a_key_once_and_stores_only_its_hash(app, runner, settings):
    key = create_agent(runner, "Ana Souza")
    assert key.startswith("wak_") and len(key) > 40
    with connection_for(settings) as conn:
        rows = [tuple(row) for row in conn.execute("SELECT * FROM agents")]
    assert len(rows) == 1
    assert hashlib.sha256(key.encode()).hexdigest() in rows[0]
    assert not any(key in str(value) for value in rows[0])


def test_an_agent_key_as_bearer_identifies_the_agent(anon, ana_key):
    me = anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {ana_key}"}).get_json()
    assert me["agent"]["name"] == "Ana Souza"
    assert "key_hash" not in me["agent"]


def test_the_service_key_is_no_agent(client):
    assert client.get("/api/whatsapp/me").get_json()["agent"] is None


def test_a_send_with_an_agent_key_is_recorded_under_that_agent_whatever_the_body_says(anon, client, graph, ana_key):
    customer_writes(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok())
    answer = anon.post(
        "/api/whatsapp/send",
        json={"phone_number": "+14155550123", "message": "Hello from Ana", "agent_id": 99},
        headers={"Authorization": f"Bearer {ana_key}"},
    )
    me = anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {ana_key}"}).get_json()["agent"]
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message"]["agent_id"] == me["id"]


def test_a_deactivated_agent_key_is_refused(anon, runner, ana_key):
    assert runner.invoke(args=["deactivate-agent", "1"]).exit_code == 0
    assert anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {ana_key}"}).status_code == 401


def test_signing_in_sets_an_httponly_samesite_strict_session_cookie(app, ana_key):
    browser = app.test_client()
    answer = browser.post("/login", json={"key": ana_key})
    cookie = answer.headers["Set-Cookie"]
    assert answer.status_code == 200
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert ana_key not in cookie


def test_a_wrong_key_does_not_sign_in(app, ana_key):
    browser = app.test_client()
    assert browser.post("/login", json={"key": ana_key + "x"}).status_code == 401
    service_key = browser.post("/login", data={"key": AGENT_KEY}, headers=OUR_PAGE)
    assert service_key.status_code == 401  # the service key is no agent
    assert browser.get("/inbox").status_code == 302


def test_the_login_form_signs_in_and_redirects_to_the_inbox(app, ana_key):
    browser = app.test_client()
    answer = browser.post("/login", data={"key": ana_key}, headers=OUR_PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/inbox")
    page = browser.get("/inbox")
    assert page.status_code == 200 and "Ana Souza" in page.get_data(as_text=True)


def test_a_key_in_the_url_signs_nobody_in(app, ana_key):
    browser = app.test_client()
    browser.get(f"/login?key={ana_key}")
    browser.post(f"/login?key={ana_key}", headers=OUR_PAGE)
    assert browser.get("/inbox").status_code == 302


def test_session_reads_need_no_csrf_token_but_changes_do(app, client, ana_key):
    customer_writes(client)
    browser, csrf = sign_in(app, ana_key)
    assert browser.get("/api/whatsapp/conversations").status_code == 200
    body = {"conversation_id": 1}
    refused = browser.post("/api/whatsapp/close", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.get_json()["error"]
    wrong = browser.post("/api/whatsapp/close", json=body, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    done = browser.post("/api/whatsapp/close", json=body, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.get_json()["conversation"]["status"] == "closed"


def test_bearer_requests_need_no_csrf_token(anon, client, ana_key):
    customer_writes(client)
    answer = anon.post(
        "/api/whatsapp/close", json={"conversation_id": 1}, headers={"Authorization": f"Bearer {ana_key}"}
    )
    assert answer.status_code == 200


def test_a_signed_in_agent_takes_a_conversation_as_themselves(app, client, ana_key):
    customer_writes(client)
    browser, csrf = sign_in(app, ana_key)
    me = browser.get("/api/whatsapp/me").get_json()
    assert me["agent"]["name"] == "Ana Souza" and me["csrf_token"] == csrf
    answer = browser.post(
        "/api/whatsapp/assign-agent",
        json={"conversation_id": 1, "agent_id": me["agent"]["id"]},
        headers={"X-CSRF-Token": csrf},
    )
    mine = browser.get("/api/whatsapp/conversations?filter=mine").get_json()
    assert answer.get_json()["conversation"]["assigned_agent_id"] == me["agent"]["id"]
    assert [c["id"] for c in mine["conversations"]] == [1]


def test_signing_out_ends_the_session_and_needs_the_csrf_token(app, ana_key):
    browser, csrf = sign_in(app, ana_key)
    assert browser.post("/logout").status_code == 403
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert browser.get("/api/whatsapp/me").status_code == 401
    assert browser.get("/inbox").status_code == 302


def test_a_deactivated_agent_loses_their_session(app, runner, ana_key):
    browser, _ = sign_in(app, ana_key)
    runner.invoke(args=["deactivate-agent", "1"])
    assert browser.get("/api/whatsapp/me").status_code == 401


def copy_of_cookie(app, browser):
    """Another browser holding a copy of this one's session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("wa_inbox_session", browser.get_cookie("wa_inbox_session").value)
    return thief


def test_a_session_cookie_copied_before_sign_out_is_refused_after_it(app, ana_key):
    browser, csrf = sign_in(app, ana_key)
    thief = copy_of_cookie(app, browser)
    assert thief.get("/api/whatsapp/me").get_json()["agent"]["name"] == "Ana Souza"
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert thief.get("/api/whatsapp/me").status_code == 401
    closing = thief.post("/api/whatsapp/close", json={"conversation_id": 1}, headers={"X-CSRF-Token": csrf})
    assert closing.status_code == 401
    assert thief.get("/inbox").status_code == 302


def test_signing_out_ends_only_that_session(app, ana_key):
    laptop, csrf = sign_in(app, ana_key)
    phone, _ = sign_in(app, ana_key)
    laptop.post("/logout", data={"csrf_token": csrf})
    assert phone.get("/api/whatsapp/me").get_json()["agent"]["name"] == "Ana Souza"


def test_deactivating_an_agent_ends_every_session_of_theirs_on_the_server(app, runner, settings, ana_key):
    bruno_key = create_agent(runner, "Bruno Lima")
    ana, _ = sign_in(app, ana_key)
    bruno, _ = sign_in(app, bruno_key)
    thief = copy_of_cookie(app, ana)
    assert runner.invoke(args=["deactivate-agent", "1"]).exit_code == 0
    with connection_for(settings) as conn:
        sessions = [tuple(row) for row in conn.execute("SELECT agent_id FROM agent_sessions")]
    assert sessions == [(2,)]
    assert thief.get("/api/whatsapp/me").status_code == 401
    assert bruno.get("/api/whatsapp/me").get_json()["agent"]["name"] == "Bruno Lima"


def test_resetting_a_key_prints_a_new_one_and_ends_the_agents_sessions(app, anon, runner, ana_key):
    browser, _ = sign_in(app, ana_key)
    thief = copy_of_cookie(app, browser)
    result = runner.invoke(args=["reset-agent-key", "1"])
    assert result.exit_code == 0, result.output
    new_key = result.output.strip().splitlines()[-1]
    assert new_key.startswith("wak_") and new_key != ana_key
    assert thief.get("/api/whatsapp/me").status_code == 401
    assert browser.get("/api/whatsapp/me").status_code == 401
    assert anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {ana_key}"}).status_code == 401
    assert anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {new_key}"}).get_json()["agent"]["id"] == 1
    assert runner.invoke(args=["reset-agent-key", "7"]).exit_code != 0


def test_only_a_hash_of_the_session_id_is_stored(app, settings, ana_key):
    browser, _ = sign_in(app, ana_key)
    cookie = browser.get_cookie("wa_inbox_session").value
    session_id = app.session_interface.get_signing_serializer(app).loads(cookie)["sid"]
    with connection_for(settings) as conn:
        rows = [tuple(row) for row in conn.execute("SELECT * FROM agent_sessions")]
    assert len(rows) == 1 and rows[0][0] == hashlib.sha256(session_id.encode()).hexdigest()
    assert not any(session_id in str(value) for value in rows[0])


def test_the_agents_route_lists_ids_and_names_for_the_assign_picker(client, runner):
    create_agent(runner, "Ana Souza")
    create_agent(runner, "Bruno Lima")
    answer = client.get("/api/whatsapp/agents").get_json()
    assert answer["agents"] == [{"id": 1, "name": "Ana Souza"}, {"id": 2, "name": "Bruno Lima"}]


def test_workers_on_one_database_share_the_generated_session_secret(settings, ana_key, app):
    other_worker = create_app(settings)
    assert other_worker.secret_key == app.secret_key and len(app.secret_key) >= 32
    browser, _ = sign_in(app, ana_key)
    cookie = browser.get_cookie("wa_inbox_session")
    elsewhere = other_worker.test_client()
    elsewhere.set_cookie("wa_inbox_session", cookie.value)
    assert elsewhere.get("/api/whatsapp/me").get_json()["agent"]["name"] == "Ana Souza"


def test_secret_key_from_the_environment_is_used_when_set(settings):
    assert create_app({**settings, "SECRET_KEY": "s" * 40}).secret_key == "s" * 40


def test_without_a_service_key_loopback_scripts_are_still_served_but_the_dashboard_needs_sign_in(settings):
    app = create_app({**settings, "AGENT_API_KEY": ""})
    local = app.test_client()
    assert local.get("/api/whatsapp/stats").status_code == 200
    assert local.get("/api/whatsapp/me").get_json()["agent"] is None
    assert local.get("/inbox").status_code == 302
    remote = app.test_client().get("/api/whatsapp/agents", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 401


def test_the_session_cookie_can_be_limited_to_https(settings):
    secure_app = create_app({**settings, "SESSION_COOKIE_SECURE": "true"})
    key = create_agent(secure_app.test_cli_runner(), "Ana Souza")
    answer = secure_app.test_client().post("/login", json={"key": key})
    assert "Secure" in answer.headers["Set-Cookie"]


# --- login CSRF: another site must not sign a browser in (with the attacker's key) -------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, or a page that hides its origin
        {"Origin": "http://localhost.evil.example"},
        {"Referer": "https://evil.example/login"},
        {},  # a browser always sends Origin with a POST: a form post without it is no browser's
        {"Origin": "http://["},  # malformed (an unclosed IPv6 host): refused, not a 500
        {"Referer": "http://[oops/login"},
        {"Origin": "https://a]b"},
    ],
)
def test_a_sign_in_form_post_from_another_site_is_refused(app, ana_key, headers):
    browser = app.test_client()
    answer = browser.post("/login", data={"key": ana_key}, headers=headers)
    assert answer.status_code == 403
    assert "did not come from this site" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    assert browser.get("/inbox").status_code == 302


def test_a_cross_site_json_sign_in_is_refused_with_json(app, ana_key):
    answer = app.test_client().post("/login", json={"key": ana_key}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert answer.get_json() == {
        "success": False,
        "error": "Sign-in refused: it did not come from this site's sign-in page",
    }


@pytest.mark.parametrize("headers", [OUR_PAGE, {"Referer": "http://localhost/login"}])
def test_a_sign_in_form_post_from_our_own_page_signs_in(app, ana_key, headers):
    browser = app.test_client()
    assert browser.post("/login", data={"key": ana_key}, headers=headers).status_code == 303
    assert browser.get("/inbox").status_code == 200


def test_a_script_signs_in_with_json_and_no_origin(app, ana_key):
    assert app.test_client().post("/login", json={"key": ana_key}).status_code == 200


def test_the_sign_in_page_lets_the_browser_send_its_origin(anon):
    # Under Referrer-Policy: no-referrer a browser posts the form with "Origin: null", refused above.
    assert anon.get("/login").headers["Referrer-Policy"] == "same-origin"


def test_signing_in_again_ends_the_session_the_browser_had(app, ana_key):
    browser, _ = sign_in(app, ana_key)
    copied = browser.get_cookie("wa_inbox_session").value
    assert browser.post("/login", json={"key": ana_key}).status_code == 200
    thief = app.test_client()
    thief.set_cookie("wa_inbox_session", copied)
    assert thief.get("/api/whatsapp/me").status_code == 401
    assert browser.get("/api/whatsapp/me").status_code == 200
