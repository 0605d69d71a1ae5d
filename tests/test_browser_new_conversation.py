"""Starting a conversation from the dashboard (issue 15) in a real headless Chromium: "New
conversation", a number, an approved template filled in, sent to the simulator's stand-in Graph API
(which refuses a template send as Meta does), and the new thread opens. Same set-up as
test_browser_dashboard.py; skipped without Debian's chromium and Playwright.
"""

from __future__ import annotations

import re

import pytest

from .test_browser_dashboard import DOCS, WAIT_MS, own_inbox, playwright_api, row
from .test_browser_dashboard import agent as agent  # noqa: F401 - Ana signed in
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


inbox = own_inbox("browser-new-conversation")


def test_an_agent_starts_a_conversation_with_a_number_and_a_template(agent, inbox):
    page = agent.page
    page.get_by_role("button", name="New conversation").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("New conversation: send a template")
    number = dialog.get_by_label("WhatsApp number (with country code)")
    expect(number).to_be_focused()

    # A number without its country code is refused in the dialog, before anything is sent.
    dialog.get_by_label("Approved template").select_option(label="delivery_slot (en_US) · utility")
    dialog.get_by_label("Header order_id").fill("#9001")
    dialog.get_by_label("Body first_name").fill("Lena")
    dialog.get_by_label("Body day").fill("Friday")
    number.fill("55-01")
    sent_before = len(inbox.graph.sent)
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog.get_by_role("alert")).to_contain_text("with its country code")
    assert len(inbox.graph.sent) == sent_before

    number.fill("+1 (415) 555-0401")
    expect(dialog.get_by_role("alert")).to_be_hidden()
    expect(dialog.locator("#template-cost")).to_contain_text("Charged")
    page.screenshot(path=str(DOCS / "dashboard-new-conversation.png"))
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)

    # The thread of the new conversation opens with the template in it, at its own address.
    expect(page.locator("#thread-name")).to_have_text("+14155550401", timeout=WAIT_MS)
    template = page.locator("#messages .msg.out")
    expect(template).to_contain_text("Hi Lena, your order arrives on Friday.", timeout=WAIT_MS)
    conversation = inbox.conversation("+14155550401")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{conversation['id']}$"))
    expect(row(page, "+14155550401")).to_have_count(1, timeout=WAIT_MS)
    assert inbox.graph.refused == []
    sent = inbox.graph.sent[-1]
    assert sent["to"] == "+14155550401" and sent["type"] == "template"
    assert sent["template"]["name"] == "delivery_slot"
    # Only a template can follow until the customer answers.
    expect(page.get_by_label("Message", exact=True)).to_be_disabled()

    # The dialog is the plain template dialog again afterwards.
    page.get_by_role("button", name="Template", exact=True).click()
    expect(dialog.get_by_role("heading")).to_have_text("Send a template")
    expect(dialog.get_by_label("WhatsApp number (with country code)")).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
