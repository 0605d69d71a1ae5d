"""Canned replies in a real headless Chromium: an admin adds them in Settings, an agent types "/" in
the reply box, picks one with the arrow keys and Enter, the server fills its variables, and the filled
text is what goes to WhatsApp; an agent who is not an admin sees them read-only. Same set-up as
test_browser_dashboard.py; skipped without Debian's chromium and Playwright."""

from __future__ import annotations

import time

import pytest

from whatsapp import agents, db
from whatsapp.simulate import Customer

from .test_browser_dashboard import DOCS, WAIT_MS, open_conversation, playwright_api, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect
MARIA = Customer("Maria Lopez", "14155550123")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-canned")
    running, stop = start_inbox(tmp)
    conn = db.connect(str(tmp / "inbox.sqlite3"))
    agents.set_role(conn, running.agent_ids["Ana Souza"], "admin")  # Ana manages; Bruno answers
    conn.close()
    yield running
    stop()


def add_reply(page, code: str, title: str, body: str) -> None:
    page.locator("#canned-code").fill(code)
    page.locator("#canned-title").fill(title)
    page.locator("#canned-body").fill(body)
    page.locator("#canned-save").click()
    expect(page.locator(f'.canned-admin-list li[data-code="{code}"]')).to_have_count(1, timeout=WAIT_MS)


def test_an_admin_adds_replies_and_an_agent_picks_one_with_slash_and_sends_it_filled(chromium, inbox):
    inbox.customer_says(MARIA, "Where is my refund?")
    watched = signed_in(chromium, inbox)
    page = watched.page
    page.locator("#settings-open").click()
    section = page.locator('[data-section="canned-replies"]')
    expect(section).to_be_visible(timeout=WAIT_MS)
    refund = "Hi {{contact.name}}, {{agent.name}} here: refund #{{conversation.id}} is on its way."
    add_reply(page, "refund", "Refund on its way", refund)
    add_reply(page, "hours", "Opening hours", "We open 9-17, Monday to Friday.")
    add_reply(page, "thanks", "Thanks", "Thank you for writing to us!")
    page.locator("#canned-code").fill("Bad Code")
    page.locator("#canned-title").fill("x")
    page.locator("#canned-body").fill("Hi {{customer.email}}")
    page.locator("#canned-save").click()
    expect(section.locator(".form-error")).to_contain_text("code must be 1 to 32", timeout=WAIT_MS)
    # change one, delete one (two clicks)
    section.get_by_role("button", name="Edit /thanks").click()
    page.locator("#canned-title").fill("Thank you")
    page.locator("#canned-save").click()
    expect(section.locator('li[data-code="thanks"]')).to_contain_text("Thank you", timeout=WAIT_MS)
    section.get_by_role("button", name="Delete /thanks").click()
    section.get_by_role("button", name="Delete /thanks").click()
    expect(section.locator('li[data-code="thanks"]')).to_have_count(0, timeout=WAIT_MS)
    page.locator("#settings-close").click()

    open_conversation(page, "Maria Lopez")
    reply = page.locator("#reply")
    reply.fill("/")
    picker = page.locator("#canned-picker")
    expect(picker.locator(".canned-option")).to_have_count(2, timeout=WAIT_MS)
    reply.press_sequentially("mon")  # "/mon": the opening hours, by a word of its text
    expect(picker.locator(".canned-option")).to_have_count(1, timeout=WAIT_MS)
    reply.fill("/")
    reply.press_sequentially("r")  # "/r": refund by its code first, then hours ("Friday" holds an r)
    expect(picker.locator(".canned-option").first).to_have_attribute("data-code", "refund", timeout=WAIT_MS)
    expect(picker.locator('[aria-selected="true"]')).to_have_attribute("data-code", "refund")
    reply.press("ArrowDown")
    expect(picker.locator('[aria-selected="true"]')).to_have_attribute("data-code", "hours")
    reply.press("ArrowUp")
    expect(picker.locator('[aria-selected="true"]')).to_have_attribute("data-code", "refund")
    page.screenshot(path=str(DOCS / "dashboard-canned.png"))
    reply.press("Enter")  # picks, does not send
    cid = inbox.conversation("+14155550123")["id"]
    filled = f"Hi Maria Lopez, Ana Souza here: refund #{cid} is on its way."
    expect(reply).to_have_value(filled, timeout=WAIT_MS)
    expect(picker).to_be_hidden()
    assert not [m for m in inbox.graph.sent if m.get("type") == "text"]

    reply.press("Enter")  # now it sends, through the normal /send
    expect(page.locator("#messages .msg.out").filter(has_text="refund #")).to_have_count(1, timeout=WAIT_MS)
    deadline = time.monotonic() + 10
    while not [m for m in inbox.graph.sent if m.get("type") == "text"] and time.monotonic() < deadline:
        time.sleep(0.1)
    [sent] = [m for m in inbox.graph.sent if m.get("type") == "text"]
    assert sent["text"]["body"] == filled

    reply.fill("/hou")  # Escape closes the picker and keeps the text
    expect(picker.locator(".canned-option")).to_have_count(1, timeout=WAIT_MS)
    reply.press("Escape")
    expect(picker).to_be_hidden()
    expect(reply).to_have_value("/hou")
    expect(page.locator("#thread")).to_be_visible()  # Escape did not close the conversation too
    page.context.close()
    assert watched.errors == [], "the page threw"


def test_an_agent_who_is_not_an_admin_sees_the_replies_read_only(chromium, inbox):
    watched = signed_in(chromium, inbox, name="Bruno Lima")
    page = watched.page
    page.locator("#settings-open").click()
    section = page.locator('[data-section="canned-replies"]')
    expect(section.locator('li[data-code="refund"]')).to_have_count(1, timeout=WAIT_MS)
    expect(section).to_contain_text("Only an admin can add, change or delete canned replies")
    expect(section.locator("#canned-save")).to_have_count(0)
    expect(section.get_by_role("button", name="Edit /refund")).to_have_count(0)
    page.context.close()
    assert watched.errors == [], "the page threw"
