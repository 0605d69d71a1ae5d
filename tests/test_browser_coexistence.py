"""Coexistence in the dashboard (issue 14): in a real headless Chromium, a message the owner sends from
the WhatsApp Business app appears live in the open thread, on the business's side and marked as sent
from the app; imported chat history shows in the threads it belongs to (the open one reloads), marked
as imported, media placeholders as such, without unread badges and without reordering the list; the
owner's name for a customer is the conversation's name. Signed webhooks of Meta's shapes
(tests/fixtures/echo_*.json, history_*.json, state_sync_*.json). Same set-up as test_browser_dashboard.py;
skipped without Chromium/Playwright.
"""

from __future__ import annotations

import time

import pytest

from whatsapp.simulate import Customer

from .helpers import fixture
from .test_browser_dashboard import WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-coexistence"))
    yield running
    stop()


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811 - the fixture imported above
    watched = signed_in(chromium, inbox, viewport={"width": 1280, "height": 1000})
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def value(body: dict) -> dict:
    return body["entry"][0]["changes"][0]["value"]


def test_echoes_and_imported_history_show_in_the_dashboard(agent, inbox):
    page = agent.page
    maria = Customer("Maria Lopez", "14155550123")
    inbox.customer_says(maria, "Hi, is my cake ready?")
    open_conversation(page, "Maria Lopez")
    expect(page.locator("#messages .msg")).to_have_count(1, timeout=WAIT_MS)

    # The owner answers from the phone: the echo appears live, on the business's side, marked.
    echo = fixture("echo_text")
    value(echo)["message_echoes"][0]["timestamp"] = str(int(time.time()) + 1)
    inbox.deliver(echo)
    sent = page.locator("#messages .msg.out").filter(has_text="Hi Maria, your order ships tomorrow")
    expect(sent).to_have_count(1, timeout=WAIT_MS)
    expect(sent.locator(".origin")).to_have_text("Sent from the WhatsApp Business app")
    expect(page.locator("#messages .msg.in .origin")).to_have_count(0)  # the customer's own message is not

    # The owner named another customer in the app, then the chat history arrives (Maria's and theirs).
    named = fixture("state_sync_add")
    value(named)["state_sync"][0]["contact"].update(full_name="Tom from the market", phone_number="14155550777")
    inbox.deliver(named)
    inbox.deliver(fixture("history_phase0_chunk1"))
    # The open thread reloads: the imported messages sit before today's, in their own time order.
    expect(page.locator("#messages .msg")).to_have_count(5, timeout=WAIT_MS)
    imported = page.locator("#messages .msg").filter(has=page.locator(".origin", has_text="Imported"))
    expect(imported).to_have_count(3)
    expect(imported.nth(0)).to_contain_text("Hello, do you deliver to Oakland?")
    expect(imported.nth(0)).to_have_class("msg in")
    expect(imported.nth(1)).to_contain_text("Yes, every weekday")
    expect(imported.nth(1)).to_have_class("msg out")
    expect(imported.nth(2).locator(".placeholder")).to_contain_text("photo, video, audio or document")
    expect(page.locator("#messages .msg").last).to_contain_text("Hi Maria, your order ships tomorrow")

    # The history-only thread: in the list under its owner's name, below Maria, with no unread badge.
    tom = row(page, "Tom from the market")
    expect(tom).to_have_count(1, timeout=WAIT_MS)
    expect(tom.locator(".badge")).to_have_count(0)
    expect(tom.locator(".conv-preview")).to_have_text("Closed on Sundays, sorry")
    names = page.locator("#conversation-list li .conv-name").all_inner_texts()
    assert names.index("Maria Lopez") < names.index("Tom from the market"), names
    open_conversation(page, "Tom from the market")
    expect(page.locator("#messages .msg .origin")).to_have_text(
        ["Imported from the WhatsApp Business app's chat history"] * 2, timeout=WAIT_MS
    )
