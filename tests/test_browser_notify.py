"""Notifications (issue 15) in a real headless Chromium: opt-in, the permission asked only on the
agent's click, a desktop notification and a sound for a new customer message in a conversation that is
mine or unassigned, nothing for a colleague's conversation or for what agents send. window.Notification
and the audio element's play() are replaced by recorders before the page loads. Same set-up as
test_browser_dashboard.py; skipped without Debian's chromium and Playwright.
"""

from __future__ import annotations

import time

import pytest
import requests

from whatsapp.simulate import Customer

from .test_browser_dashboard import WAIT_MS, Watched, open_conversation, playwright_api, row, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

RECORDERS = """
window.__notes = [];
window.__asked = 0;
window.__sounds = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body }); }
  close() {}
}
FakeNotification.permission = sessionStorage.getItem("fake-permission") || "default";
FakeNotification.requestPermission = () => {
  window.__asked += 1;
  FakeNotification.permission = "granted";
  sessionStorage.setItem("fake-permission", "granted");
  return Promise.resolve("granted");
};
window.Notification = FakeNotification;
HTMLMediaElement.prototype.play = function () { window.__sounds.push(this.src); return Promise.resolve(); };
"""


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-notify"))
    yield running
    stop()


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811 - the fixture imported above
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    context.add_init_script(RECORDERS)
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{inbox.base}/login")
    page.get_by_label("Agent key").fill(inbox.keys["Ana Souza"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
    yield watched
    context.close()
    assert watched.errors == [], "the page threw"


def wait_until(page, script: str) -> None:
    """Poll a page expression (page.wait_for_function would eval it, which the page's CSP forbids)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"never true: {script}"
        time.sleep(0.05)


def notes(page) -> list[dict]:
    return page.evaluate("window.__notes")


def assign(inbox, phone: str, agent_id: int) -> None:
    cid = inbox.conversation(phone)["id"]
    answer = inbox.service.post(
        f"{inbox.base}/api/whatsapp/assign-agent", json={"conversation_id": cid, "agent_id": agent_id}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def test_notifications_are_opt_in_and_come_for_my_and_unassigned_conversations_only(agent, inbox):
    page = agent.page
    toggle = page.get_by_role("button", name="Notifications off")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    ivan, jana, kofi = (
        Customer("Ivan Petrov", "14155550301"),
        Customer("Jana Novak", "14155550302"),
        Customer("Kofi Mensah", "14155550303"),
    )
    inbox.customer_says(ivan, "Before the agent opted in")
    expect(row(page, "Ivan Petrov")).to_have_count(1, timeout=WAIT_MS)
    assert page.evaluate("window.__asked") == 0, "the permission is asked only on the agent's click"

    toggle.click()
    expect(page.get_by_role("button", name="Notifications on")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.__asked") == 1

    # A colleague's conversation first: nothing. Then an unassigned one: a notification and the sound.
    inbox.customer_says(jana, "Hello")
    assign(inbox, "+14155550302", inbox.agent_ids["Bruno Lima"])
    inbox.customer_says(jana, "Bruno's customer writing")
    inbox.customer_says(kofi, "Is anyone there?")
    wait_until(page, "window.__notes.some(n => n.title === 'Kofi Mensah')")
    assert {"title": "Kofi Mensah", "body": "Is anyone there?"} in notes(page)
    assert all(n["body"] != "Bruno's customer writing" for n in notes(page))
    assert page.evaluate("window.__sounds.length") >= 1
    assert page.evaluate("window.__sounds.every(s => s.endsWith('/static/notify.wav'))")

    # Mine: notified. My own reply: not.
    assign(inbox, "+14155550301", inbox.agent_ids["Ana Souza"])
    before = len(notes(page))
    open_conversation(page, "Kofi Mensah")
    page.get_by_label("Message", exact=True).fill("Yes, how can I help?")
    page.keyboard.press("Enter")
    expect(page.locator("#messages .msg.out")).to_have_count(1, timeout=WAIT_MS)
    inbox.customer_says(ivan, "My order 1234 did not arrive")
    wait_until(page, "window.__notes.some(n => n.body === 'My order 1234 did not arrive')")
    after = notes(page)[before:]
    assert after == [{"title": "Ivan Petrov", "body": "My order 1234 did not arrive"}], after

    # The choice outlives a reload, and the browser is not asked again.
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Notifications on")).to_be_visible()
    assert page.evaluate("window.__asked") == 0

    page.get_by_role("button", name="Notifications on").click()
    expect(page.get_by_role("button", name="Notifications off")).to_be_visible()
    inbox.customer_says(kofi, "Turned off now")
    expect(row(page, "Kofi Mensah").locator(".conv-preview")).to_have_text("Turned off now", timeout=WAIT_MS)
    assert all(n["body"] != "Turned off now" for n in notes(page))


def test_the_sound_file_is_served(inbox):
    answer = requests.get(f"{inbox.base}/static/notify.wav", timeout=10)
    assert answer.status_code == 200 and answer.content[:4] == b"RIFF" and answer.content[8:12] == b"WAVE"
