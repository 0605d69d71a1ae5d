"""Links that last (issue 15), in a real headless Chromium: each conversation has its own address
(/inbox/c/<id>), the tab and the search live in the query string, and reload, back/forward and a
pasted link land where the agent was. Same set-up as test_browser_dashboard.py; skipped without
Debian's chromium and Playwright.
"""

from __future__ import annotations

import re

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import (
    WAIT_MS,
    Watched,
    open_conversation,
    own_inbox,
    playwright_api,
    row,
)
from .test_browser_dashboard import agent as agent  # noqa: F401 - Ana signed in
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


inbox = own_inbox("browser-links")


def path(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def test_each_conversation_has_its_own_address_and_back_forward_and_reload_come_back_to_it(agent, inbox):
    page = agent.page
    carla, dan = Customer("Carla Mendes", "14155550201"), Customer("Dan Okafor", "14155550202")
    inbox.customer_says(carla, "Is the blue one back?")
    inbox.customer_says(dan, "Can I pick it up?")
    carla_id, dan_id = inbox.conversation("+14155550201")["id"], inbox.conversation("+14155550202")["id"]
    expect(row(page, "Dan Okafor")).to_have_count(1, timeout=WAIT_MS)
    assert path(page) == "/inbox"

    open_conversation(page, "Carla Mendes")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{carla_id}$"))
    open_conversation(page, "Dan Okafor")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{dan_id}$"))

    page.go_back()
    expect(page).to_have_url(re.compile(rf"/inbox/c/{carla_id}$"))
    expect(page.locator("#thread-name")).to_have_text("Carla Mendes", timeout=WAIT_MS)
    expect(page.locator("#messages .msg.in .content")).to_have_text(["Is the blue one back?"], timeout=WAIT_MS)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("#no-thread")).to_be_visible()
    page.go_forward()
    page.go_forward()
    expect(page.locator("#thread-name")).to_have_text("Dan Okafor", timeout=WAIT_MS)

    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(page.locator("#thread-name")).to_have_text("Dan Okafor", timeout=WAIT_MS)
    expect(page.locator("#messages .msg.in .content")).to_have_text(["Can I pick it up?"])
    expect(row(page, "Dan Okafor").locator("button")).to_have_attribute("aria-current", "true")


def test_the_tab_and_the_search_live_in_the_address(agent, inbox):
    page = agent.page
    inbox.customer_says(Customer("Erin Walsh", "14155550203"), "Hello from Erin")
    inbox.customer_says(Customer("Femi Ade", "14155550204"), "Hello from Femi")
    expect(row(page, "Femi Ade")).to_have_count(1, timeout=WAIT_MS)

    page.get_by_role("tab", name=re.compile("^Unassigned")).click()
    expect(page).to_have_url(re.compile(r"/inbox\?filter=unassigned$"))
    page.get_by_label("Search conversations").fill("Erin")
    expect(page).to_have_url(re.compile(r"/inbox\?filter=unassigned&q=Erin$"), timeout=WAIT_MS)
    expect(page.locator("#conversation-list li")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Erin Walsh")
    erin_id = inbox.conversation("+14155550203")["id"]
    expect(page).to_have_url(re.compile(rf"/inbox/c/{erin_id}\?filter=unassigned&q=Erin$"))

    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(page.get_by_label("Search conversations")).to_have_value("Erin")
    expect(page.get_by_role("tab", name=re.compile("^Unassigned"))).to_have_attribute("aria-selected", "true")
    expect(page.locator("#conversation-list li")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#thread-name")).to_have_text("Erin Walsh", timeout=WAIT_MS)

    # Back past the conversation and the tab: the search was typed (it replaced the entry), the tab was a step.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox\?filter=unassigned&q=Erin$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("tab", name=re.compile("^Open"))).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Search conversations")).to_have_value("")
    expect(row(page, "Femi Ade")).to_have_count(1, timeout=WAIT_MS)


def test_a_pasted_link_lands_on_its_conversation_after_signing_in_and_a_wrong_one_says_so(chromium, inbox):  # noqa: F811
    gina = Customer("Gina Rossi", "14155550205")
    inbox.customer_says(gina, "Where is my order?")
    gina_id = inbox.conversation("+14155550205")["id"]
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{inbox.base}/inbox/c/{gina_id}?filter=unassigned")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Agent key").fill(inbox.keys["Bruno Lima"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(rf"/inbox/c/{gina_id}\?filter=unassigned$"))
    expect(page.locator("#thread-name")).to_have_text("Gina Rossi", timeout=WAIT_MS)
    expect(page.get_by_role("tab", name=re.compile("^Unassigned"))).to_have_attribute("aria-selected", "true")

    page.goto(f"{inbox.base}/inbox/c/987654")
    missing = page.locator("#thread-missing")
    expect(missing).to_have_text("Conversation 987654 does not exist (any more).", timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    context.close()
    assert watched.errors == [], "the page threw"


def test_the_tabs_say_what_they_hold_and_a_reply_to_a_closed_conversation_reopens_it(agent, inbox):
    page = agent.page
    hugo = Customer("Hugo Brandt", "14155550206")
    inbox.customer_says(hugo, "Thanks, that was all")
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_text(
        [re.compile(f"^{name}") for name in ("Open", "Unread", "Mine", "Unassigned", "Closed", "Snoozed")]
    )
    open_tab = page.get_by_role("tab", name=re.compile("^Open"))
    expect(open_tab).to_have_attribute("title", "Every conversation that is not closed")
    expect(row(page, "Hugo Brandt")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Hugo Brandt")
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator("#thread-status")).to_have_text("closed", timeout=WAIT_MS)
    expect(row(page, "Hugo Brandt")).to_have_count(0, timeout=WAIT_MS)  # the Open tab holds open ones only
    page.get_by_role("tab", name=re.compile("^Closed")).click()
    expect(row(page, "Hugo Brandt")).to_have_count(1, timeout=WAIT_MS)

    page.get_by_label("Message", exact=True).fill("One more thing: your invoice is attached.")
    page.keyboard.press("Enter")
    expect(page.locator("#thread-status")).to_have_text("open", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Reopen")).to_be_hidden()
    expect(row(page, "Hugo Brandt")).to_have_count(0, timeout=WAIT_MS)  # left the Closed tab, live
    page.get_by_role("tab", name=re.compile("^Open")).click()
    expect(row(page, "Hugo Brandt").locator(".status-chip")).to_have_text("open", timeout=WAIT_MS)
    assert inbox.conversation("+14155550206")["status"] == "open"
