"""Brute force: failed key attempts per client address are counted across workers and locked out
with 429 and Retry-After, on the API's bearer keys and on /login alike."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from whatsapp import throttle

from .helpers import AGENT_KEY, bearer, connection_for
from .test_auth import OUR_PAGE, create_agent
from .test_openapi import DOC_URL, conforms

LIMIT = 3
ME = "/api/whatsapp/me"


@pytest.fixture
def strict(settings):
    """An app that locks an address out after three failures a minute."""
    return create_app({**settings, "AUTH_FAILURE_LIMIT": LIMIT, "AUTH_FAILURE_WINDOW": 60})


@pytest.fixture
def clock(monkeypatch):
    """Time the throttle sees, moved by the test instead of slept through."""
    now = [1_900_000_000.0]
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    return now


def fail(client, times: int, headers: dict[str, str] | None = None, **kwargs) -> list[int]:
    headers = {**bearer("wrong-key"), **(headers or {})}
    return [client.get(ME, headers=headers, **kwargs).status_code for _ in range(times)]


def test_wrong_api_keys_past_the_limit_get_429_with_retry_after_even_with_the_right_key(strict, caplog):
    caplog.set_level(logging.WARNING, logger="whatsapp.auth")
    client = strict.test_client()
    assert fail(client, LIMIT) == [401] * LIMIT
    answer = client.get(ME, headers=bearer(AGENT_KEY))
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "60"
    assert answer.get_json() == {
        "success": False,
        "error": "Too many failed key attempts from your address: try again in 60 s",
        "retry_after": 60,
    }
    assert fail(client, 1) == [429]
    lockouts = [r.getMessage() for r in caplog.records if "locked out" in r.getMessage()]
    assert lockouts == ["3 failed API key attempts from 127.0.0.1 within 60 s: locked out for 60 s"]


def test_by_default_ten_failures_a_minute_are_answered_401_and_the_eleventh_attempt_429(anon):
    assert fail(anon, 10) == [401] * 10
    assert anon.get(ME, headers=bearer(AGENT_KEY)).status_code == 429


def test_wrong_sign_ins_lock_out_the_login_form_and_json(strict):
    key = create_agent(strict.test_cli_runner(), "Ana Souza")
    browser = strict.test_client()
    refused = [browser.post("/login", json={"key": key + "x"}).status_code for _ in range(LIMIT)]
    assert refused == [401] * LIMIT
    answer = browser.post("/login", json={"key": key})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "60"
    assert answer.get_json()["retry_after"] == 60
    page = browser.post("/login", data={"key": key}, headers=OUR_PAGE)
    assert page.status_code == 429 and page.headers["Retry-After"] == "60"
    assert "try again in 60 s" in page.get_data(as_text=True) and page.mimetype == "text/html"
    assert browser.get("/inbox").status_code == 302


def test_sign_in_and_api_failures_count_together(strict):
    key = create_agent(strict.test_cli_runner(), "Ana Souza")
    client = strict.test_client()
    client.post("/login", json={"key": "wrong"})
    assert fail(client, LIMIT - 1) == [401] * (LIMIT - 1)
    assert client.post("/login", json={"key": key}).status_code == 429


def test_workers_on_one_database_share_the_count(strict, settings):
    other_worker = create_app({**settings, "AUTH_FAILURE_LIMIT": LIMIT}).test_client()
    client = strict.test_client()
    assert fail(client, 2) + fail(other_worker, 1) == [401] * 3
    assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 429
    assert other_worker.get(ME, headers=bearer(AGENT_KEY)).status_code == 429


def test_other_addresses_are_not_locked_out(strict):
    client = strict.test_client()
    fail(client, LIMIT, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert client.get(ME, headers=bearer(AGENT_KEY), environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 429
    assert client.get(ME, headers=bearer(AGENT_KEY), environ_base={"REMOTE_ADDR": "203.0.113.10"}).status_code == 200
    assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 200


def test_ipv6_addresses_of_one_64_share_a_count(strict):
    client = strict.test_client()
    for host in range(LIMIT):
        fail(client, 1, environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{host + 1:x}"})
    same_64 = client.get(ME, headers=bearer(AGENT_KEY), environ_base={"REMOTE_ADDR": "2001:db8:1:2::ff"})
    other_64 = client.get(ME, headers=bearer(AGENT_KEY), environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
    assert (same_64.status_code, other_64.status_code) == (429, 200)


def test_the_lockout_ends_and_the_next_one_in_a_row_lasts_twice_as_long(strict, clock):
    client = strict.test_client()
    fail(client, LIMIT)
    assert client.get(ME, headers=bearer(AGENT_KEY)).headers["Retry-After"] == "60"
    clock[0] += 30
    assert client.get(ME, headers=bearer(AGENT_KEY)).headers["Retry-After"] == "30"
    clock[0] += 30
    assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 200
    assert fail(client, LIMIT) == [401] * LIMIT
    assert client.get(ME, headers=bearer(AGENT_KEY)).headers["Retry-After"] == "120"
    clock[0] += 120
    fail(client, LIMIT)
    assert client.get(ME, headers=bearer(AGENT_KEY)).headers["Retry-After"] == "240"
    clock[0] += 240 + throttle.MAX_LOCKOUT  # quiet for an hour: the streak is forgiven
    fail(client, LIMIT)
    assert client.get(ME, headers=bearer(AGENT_KEY)).headers["Retry-After"] == "60"


def test_failures_spread_wider_than_the_window_never_lock_out(strict, clock):
    client = strict.test_client()
    for _ in range(3 * LIMIT):
        assert fail(client, LIMIT - 1) == [401] * (LIMIT - 1)
        clock[0] += 61
    assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 200


def test_successful_requests_write_nothing_to_the_failure_table(strict, settings):
    client = strict.test_client()
    for _ in range(5):
        assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 200
    with connection_for(settings) as conn:
        assert tuple(conn.execute("SELECT COUNT(*) FROM auth_failures").fetchone()) == (0,)


def test_a_forwarded_address_is_ignored_unless_the_proxy_is_trusted(strict):
    client = strict.test_client()
    for n in range(LIMIT):
        fail(client, 1, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    rotated = client.get(ME, headers={**bearer(AGENT_KEY), "X-Forwarded-For": "198.51.100.99"})
    assert rotated.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_counted(settings):
    behind_proxy = create_app({**settings, "AUTH_FAILURE_LIMIT": LIMIT, "TRUSTED_PROXIES": "1"}).test_client()
    attacker = {"X-Forwarded-For": "spoofed-by-client, 198.51.100.7"}  # the proxy appends the real one
    for _ in range(LIMIT):
        behind_proxy.get(ME, headers={**bearer("wrong"), **attacker})
    locked = behind_proxy.get(ME, headers={**bearer(AGENT_KEY), "X-Forwarded-For": "198.51.100.7"})
    someone_else = behind_proxy.get(ME, headers={**bearer(AGENT_KEY), "X-Forwarded-For": "198.51.100.8"})
    assert (locked.status_code, someone_else.status_code) == (429, 200)


def test_the_limit_can_be_turned_off(settings):
    client = create_app({**settings, "AUTH_FAILURE_LIMIT": "0"}).test_client()
    assert fail(client, 12) == [401] * 12
    assert client.get(ME, headers=bearer(AGENT_KEY)).status_code == 200


@pytest.mark.parametrize("key,warned", [("short-key", True), ("x" * 15, True), ("x" * 16, False), ("", False)])
def test_a_service_key_under_16_characters_is_warned_about_at_start_up(settings, caplog, key, warned):
    caplog.set_level(logging.WARNING, logger="whatsapp.config")
    create_app({**settings, "AGENT_API_KEY": key})
    messages = [r.getMessage() for r in caplog.records if r.name == "whatsapp.config"]
    assert any("AGENT_API_KEY is shorter than 16 characters" in m for m in messages) is warned
    assert not key or all(key not in m for m in messages)


def test_the_429_is_in_the_api_document_of_every_agent_route(strict):
    client = strict.test_client()
    doc = client.get(DOC_URL).get_json()
    fail(client, LIMIT)
    for path, method, body in [("/api/whatsapp/stats", "get", None), ("/api/whatsapp/close", "post", {})]:
        answer = getattr(client, method)(path, json=body, headers=bearer(AGENT_KEY))
        assert answer.status_code == 429
        assert conforms(doc, path, method, answer)["retry_after"] == 60
    undocumented = [
        (path, method)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if operation.get("security") != [] and "429" not in operation["responses"]
    ]
    assert undocumented == []


def test_concurrent_wrong_keys_from_one_address_get_no_more_guesses_than_the_limit(strict):
    """Guesses in flight together see each other's failures: not one per server thread."""
    barrier = threading.Barrier(24)

    def guess(_n: int) -> int:
        client = strict.test_client()
        barrier.wait()
        return client.get(ME, headers=bearer("wrong-key")).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(guess, range(24)))
    assert answers.count(401) == LIMIT and answers.count(429) == 24 - LIMIT


@pytest.mark.parametrize(
    "forwarded, counted",
    [("203.0.113.7:51234", "203.0.113.7"), ("[2001:db8::1]:443", "2001:db8::/64"), ("203.0.113.7", "203.0.113.7")],
)
def test_a_port_on_a_forwarded_address_is_not_part_of_it(forwarded, counted):
    assert throttle.address_key(forwarded) == counted


def test_a_proxied_request_is_not_this_machine_when_no_proxy_is_trusted(settings, caplog):
    """Without AGENT_API_KEY only this machine is served; behind a local proxy that is everyone."""
    app = create_app({**settings, "AGENT_API_KEY": ""})
    client = app.test_client()
    assert client.get("/api/whatsapp/stats").status_code == 200  # a script on this machine
    proxied = client.get("/api/whatsapp/stats", headers={"X-Forwarded-For": "198.51.100.9"})
    assert proxied.status_code == 401
    assert any("TRUSTED_PROXIES is 0" in r.getMessage() for r in caplog.records)
