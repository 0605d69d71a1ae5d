"""The contact panel in a real headless Chromium: the business names the customer (apart from the
WhatsApp profile name, and clearing it shows the profile name again), sees their phone, user id and
username, adds, changes and removes attributes, and opens their other conversations (a closed group
too) from the panel. Same set-up as test_browser_dashboard.py; skipped without chromium and Playwright."""

from __future__ import annotations

import pytest

from whatsapp.simulate import Customer

from .helpers import fixture
from .test_browser_dashboard import DOCS, WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture
from .test_browser_groups import group_says

pytestmark = pytest.mark.browser
expect = playwright_api.expect
MARIA = Customer("Maria Lopez", "14155550123")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-contact"))
    yield running
    stop()


def test_the_contact_panel_names_the_customer_keeps_attributes_and_opens_their_conversations(chromium, inbox):
    inbox.deliver(fixture("group_lifecycle_create"))  # "Launch team"
    inbox.deliver(group_says("Count me in for Friday", "14155550123", "Maria Lopez"))
    group_id = inbox.service.get(f"{inbox.base}/api/whatsapp/conversations").json()["conversations"][0]["id"]
    inbox.service.post(f"{inbox.base}/api/whatsapp/close", json={"conversation_id": group_id})
    inbox.customer_says(MARIA, "Hi, about my order")
    cid = inbox.conversation("+14155550123")["id"]
    inbox.service.put(
        f"{inbox.base}/api/whatsapp/contact/attributes", json={"conversation_id": cid, "key": "crm.id", "value": "A-17"}
    )

    watched = signed_in(chromium, inbox)
    page = watched.page
    open_conversation(page, "Maria Lopez")
    page.locator("#contact-open").click()
    panel = page.locator("#contact-panel")
    expect(panel).to_be_visible()
    expect(panel.locator('dd[data-field="phone"]')).to_have_text("+14155550123", timeout=WAIT_MS)
    expect(panel.locator('dd[data-field="user-id"]')).to_have_text("—")
    expect(panel.locator("#contact-name")).to_have_attribute("placeholder", "Maria Lopez")
    expect(panel.locator('.attr-list li[data-key="crm.id"] input')).to_have_value("A-17")

    # the business's name: shown everywhere, the profile name kept beside it
    panel.locator("#contact-name").fill("Maria (VIP)")
    panel.locator("#contact-name-save").click()
    expect(page.locator("#thread-name")).to_have_text("Maria (VIP)", timeout=WAIT_MS)
    expect(row(page, "Maria (VIP)")).to_have_count(1, timeout=WAIT_MS)
    expect(panel).to_contain_text("WhatsApp profile name: Maria Lopez")

    # attributes: add, change, remove; a bad key is refused with the server's sentence
    panel.locator("#attr-new-key").fill("plan")
    panel.locator("#attr-new-value").fill("gold")
    panel.locator("#attr-add").click()
    expect(panel.locator('.attr-list li[data-key="plan"] input')).to_have_value("gold", timeout=WAIT_MS)
    panel.locator('.attr-list li[data-key="plan"] input').fill("platinum")
    panel.get_by_role("button", name="Save plan").click()
    panel.locator("#attr-new-key").fill("Bad Key")
    panel.locator("#attr-new-value").fill("x")
    panel.locator("#attr-add").click()
    expect(panel.locator(".contact-error")).to_contain_text("key must be 1 to 64", timeout=WAIT_MS)
    panel.get_by_role("button", name="Remove crm.id").click()
    expect(panel.locator(".attr-list li")).to_have_count(1, timeout=WAIT_MS)
    saved = inbox.service.get(f"{inbox.base}/api/whatsapp/contact/attributes", params={"conversation_id": cid}).json()
    assert [(a["key"], a["value"]) for a in saved["attributes"]] == [("plan", "platinum")]

    # the customer's conversations: this one, and the closed group they wrote in
    convs = panel.locator(".contact-conv-list li")
    expect(convs).to_have_count(2, timeout=WAIT_MS)
    group = panel.locator(f'.contact-conv-list li[data-id="{group_id}"]')
    expect(group).to_contain_text("Group · Launch team")
    expect(group).to_contain_text("closed")
    expect(panel.locator(f'.contact-conv-list li[data-id="{cid}"] button')).to_be_disabled()
    page.mouse.move(0, 0)
    page.screenshot(path=str(DOCS / "dashboard-contact.png"))
    group.locator("button").click()
    expect(page.locator("#thread-name")).to_have_text("Launch team", timeout=WAIT_MS)
    expect(panel.locator("#contact-name")).to_have_text("Launch team", timeout=WAIT_MS)  # the group's own panel
    expect(panel.locator(".contact-conv-list li")).to_have_count(1)

    # back to Maria: clearing the name shows the WhatsApp profile name again
    open_conversation(page, "Maria (VIP)")
    expect(panel.locator("#contact-name")).to_have_value("Maria (VIP)", timeout=WAIT_MS)
    panel.locator("#contact-name-clear").click()
    expect(page.locator("#thread-name")).to_have_text("Maria Lopez", timeout=WAIT_MS)
    expect(panel.locator("#contact-name")).to_have_value("")
    page.locator("#contact-close").click()
    expect(panel).to_be_hidden()
    page.context.close()
    assert watched.errors == [], "the page threw"


def test_a_customers_message_leaves_the_open_contact_panel_as_it_was(chromium, inbox):
    jo = Customer("Jo Brandt", "14155550177")
    inbox.customer_says(jo, "Hello there")
    watched = signed_in(chromium, inbox)
    page = watched.page
    open_conversation(page, "Jo Brandt")
    page.locator("#contact-open").click()
    panel = page.locator("#contact-panel")
    expect(panel.locator('dd[data-field="phone"]')).to_have_text("+14155550177", timeout=WAIT_MS)
    page.evaluate("() => { for (const s of document.querySelectorAll('.contact-body > *')) s.__probe = 1; }")
    panel.locator("#attr-new-key").fill("half-typed")
    panel.get_by_role("button", name="Add").focus()  # focus on a button: a redraw would drop it

    inbox.customer_says(jo, "One more thing")
    expect(page.locator("#messages .msg.in").last).to_contain_text("One more thing", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # the panel's reload after the event has answered
    kept = page.evaluate("() => Array.from(document.querySelectorAll('.contact-body > *'), (s) => s.__probe === 1)")
    assert kept == [True, True, True, True]
    expect(panel.locator("#attr-new-key")).to_have_value("half-typed")
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "attr-add"

    # a change to the data rebuilds only its own section
    inbox.service.put(
        f"{inbox.base}/api/whatsapp/contact/attributes",
        json={"conversation_id": inbox.conversation("+14155550177")["id"], "key": "tier", "value": "gold"},
    )
    inbox.customer_says(jo, "And another")
    expect(panel.locator('.attr-list li[data-key="tier"] input')).to_have_value("gold", timeout=WAIT_MS)
    kept = page.evaluate("() => Array.from(document.querySelectorAll('.contact-body > *'), (s) => s.__probe === 1)")
    assert kept == [True, True, False, True]
    page.context.close()
    assert watched.errors == [], "the page threw"
