"""Presence and routing in the dashboard (issue 16), in headless Chromium against the real app: each open
page sends heartbeats, the top bar shows who is online and my Online/Away switch, other agents see a
change live, an admin sets the routing rules in Settings (an agent reads them only), and a new
customer is then assigned automatically to an online agent, whose dot shows by the assignee.
Same set-up as test_browser_dashboard.py; skipped without Debian's chromium."""

from __future__ import annotations

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import (
    DOCS,
    WAIT_MS,
    add_admin,
    close_pages,
    open_conversation,
    playwright_api,
    row,
    signed_in,
    start_inbox,
)
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

CARLA = Customer("Carla Mendes", "14155550181")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-presence")
    running, stop = start_inbox(tmp)
    add_admin(running, tmp)
    yield running
    stop()


@pytest.fixture
def pages(chromium, inbox):  # noqa: F811 - the fixture imported above
    admin = signed_in(chromium, inbox, name="Ada Admin")
    agent = signed_in(chromium, inbox, name="Ana Souza")
    yield admin, agent
    close_pages(admin, agent)


def member(page, inbox, name: str):
    return page.locator(f'#presence li[data-agent-id="{inbox.agent_ids[name]}"]')


def test_who_is_online_away_by_hand_routing_settings_and_an_automatic_assignment(pages, inbox):
    admin, agent = (w.page for w in pages)
    # both pages sent a heartbeat: each sees the other online (the admin hears of Ana live)
    expect(member(admin, inbox, "Ana Souza")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
    expect(member(agent, inbox, "Ada Admin")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
    expect(member(admin, inbox, "Bruno Lima")).to_have_attribute("data-state", "offline")
    expect(admin.locator("#presence .presence-count")).to_have_text("2 online")

    # Ana goes away by hand; the admin sees it at once, and it stays across heartbeats
    expect(agent.locator("#presence-toggle")).to_have_text("Online")
    agent.locator("#presence-toggle").click()
    expect(agent.locator("#presence-toggle")).to_have_text("Away", timeout=WAIT_MS)
    expect(agent.locator("#presence-toggle")).to_have_attribute("aria-pressed", "true")
    expect(member(admin, inbox, "Ana Souza")).to_have_attribute("data-state", "away", timeout=WAIT_MS)

    # an agent reads the rules but cannot change them
    agent.locator("#settings-open").click()
    section = agent.locator('[data-section="routing"]')
    expect(section.locator("#routing-mode")).to_be_disabled(timeout=WAIT_MS)
    expect(section).to_contain_text("Only an admin can change these rules")
    expect(section.locator("#routing-save")).to_have_count(0)
    agent.locator("#settings-close").click()

    # the admin turns round-robin on with a capacity of 5 (and 2 for Bruno)
    admin.locator("#settings-open").click()
    section = admin.locator('[data-section="routing"]')
    expect(section.locator("#routing-mode")).to_be_enabled(timeout=WAIT_MS)
    section.locator("#routing-mode").select_option("round_robin")
    section.locator("#routing-capacity").fill("5")
    section.get_by_label("Capacity of Bruno Lima").fill("2")
    section.locator("#routing-save").click()
    expect(section.locator(".routing-saved")).to_have_text("Saved.", timeout=WAIT_MS)
    admin.screenshot(path=str(DOCS / "dashboard-routing.png"))
    admin.locator("#settings-close").click()

    # a new customer goes to the one online agent who is not away: the admin
    inbox.customer_says(CARLA, "Hi, is anyone there?")
    expect(row(admin, CARLA.name).locator(".agent-chip")).to_have_text("You", timeout=WAIT_MS)
    dot = row(admin, CARLA.name).locator(".presence-dot")
    expect(dot).to_have_attribute("data-state", "online")
    open_conversation(admin, CARLA.name)
    expect(admin.locator("#presence-head .presence-dot")).to_have_attribute("data-state", "online")
    expect(admin.locator("#presence-head")).to_contain_text("Ada Admin online")
    admin.screenshot(path=str(DOCS / "dashboard-presence.png"))

    # Ana comes back: online again on both pages
    agent.locator("#presence-toggle").click()
    expect(agent.locator("#presence-toggle")).to_have_text("Online", timeout=WAIT_MS)
    expect(member(admin, inbox, "Ana Souza")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
