"""Business hours in the dashboard (issue 16), in headless Chromium against the real app: an admin sets
the weekly hours, the time zone, holidays and the automatic reply in Settings (a bad zone shows the
server's 400), the top bar says "Closed · opens Mon 09:00", a customer writing while closed gets the
automatic reply, shown in the thread as "Automatic reply"; an agent sees the section read-only.
Same set-up as test_browser_dashboard.py; skipped without Debian's chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import (
    DOCS,
    WAIT_MS,
    add_admin,
    close_pages,
    open_conversation,
    playwright_api,
    signed_in,
    start_inbox,
)
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

MARIA = Customer("Maria Lopez", "14155550171")
AWAY = "Thanks for writing! We are closed now and answer on Monday from 9:00."


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-business-hours")
    running, stop = start_inbox(tmp)
    add_admin(running, tmp)
    yield running
    stop()


@pytest.fixture
def pages(chromium, inbox):  # noqa: F811 - the fixture imported above
    admin = signed_in(chromium, inbox, name="Ada Admin", viewport={"width": 1280, "height": 1000})
    agent = signed_in(chromium, inbox, name="Ana Souza")
    yield admin, agent
    close_pages(admin, agent)


def test_an_admin_sets_hours_and_the_automatic_reply_and_a_customer_writing_while_closed_gets_it(pages, inbox):
    admin, agent = (w.page for w in pages)
    admin.locator("#settings-open").click()
    section = admin.locator('[data-section="business-hours"]')
    expect(section).to_be_visible(timeout=WAIT_MS)
    expect(admin.locator("#bh-now")).to_contain_text("always open", timeout=WAIT_MS)
    admin.locator("#bh-enabled").check()
    admin.locator("#bh-timezone").fill("Mars/Olympus")
    for day in ("Monday", "Wednesday"):
        section.get_by_role("button", name=f"Add {day} hours").click()
    expect(section.locator(".bh-interval")).to_have_count(2)
    section.get_by_label("Wednesday opens").fill("10:00")
    section.get_by_label("Wednesday closes").fill("00:00")  # midnight: 24:00
    # yesterday, today and tomorrow are holidays: closed now, whatever the hour
    today = datetime.now(UTC).date()
    for offset in (-1, 0, 1):
        admin.locator("#bh-add-holiday").click()
        section.locator(".bh-holiday").last.fill((today + timedelta(days=offset)).isoformat())
    admin.locator("#away-enabled").check()
    admin.locator("#away-text").fill(AWAY)
    admin.locator("#away-period").fill("24")
    admin.locator("#bh-save").click()
    expect(section.locator(".form-error")).to_contain_text("unknown time zone 'Mars/Olympus'", timeout=WAIT_MS)
    admin.locator("#bh-timezone").fill("Europe/Berlin")
    admin.locator("#bh-save").click()
    expect(section.get_by_role("status")).to_have_text("Saved.", timeout=WAIT_MS)
    expect(section.locator(".form-error")).to_be_hidden()
    expect(admin.locator("#bh-now")).to_contain_text("Closed now", timeout=WAIT_MS)
    expect(section.get_by_label("Wednesday closes")).to_have_value("00:00")
    expect(admin.locator("#hours-status")).to_have_text("Closed · opens Mon 09:00", timeout=WAIT_MS)
    section.scroll_into_view_if_needed()
    admin.locator("#settings-dialog").screenshot(path=str(DOCS / "dashboard-business-hours.png"))
    admin.locator("#settings-close").click()

    stored = inbox.service.get(f"{inbox.base}/api/whatsapp/business-hours").json()["business_hours"]
    assert stored["timezone"] == "Europe/Berlin"
    assert stored["week"]["mon"] == [{"open": "09:00", "close": "17:00"}]
    assert stored["week"]["wed"] == [{"open": "10:00", "close": "24:00"}]
    assert len(stored["holidays"]) == 3

    inbox.customer_says(MARIA, "Hello, is anyone there?")
    open_conversation(admin, "Maria Lopez")
    automatic = admin.locator("#messages li").filter(has_text="Automatic reply")
    expect(automatic).to_have_count(1, timeout=WAIT_MS)
    expect(automatic).to_contain_text(AWAY)
    assert [sent["text"]["body"] for sent in inbox.graph.sent if sent.get("type") == "text"] == [AWAY]

    # an agent reads the same section without being able to change it
    agent.reload()  # (an open page reads the hours again within a minute)
    agent.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(agent.locator("#hours-status")).to_have_text("Closed · opens Mon 09:00", timeout=WAIT_MS)
    agent.locator("#settings-open").click()
    mine = agent.locator('[data-section="business-hours"]')
    expect(mine.locator("#bh-timezone")).to_have_value("Europe/Berlin", timeout=WAIT_MS)
    expect(mine.locator("#bh-timezone")).to_be_disabled()
    expect(mine.locator("#away-text")).to_have_value(AWAY)
    expect(mine.locator("#away-text")).to_be_disabled()
    expect(mine.locator("#bh-save")).to_have_count(0)
    expect(mine.get_by_role("button", name="Add Monday hours")).to_have_count(0)
    expect(mine).to_contain_text("Only an admin can change")
