"""The template dialog in a real headless Chromium (issue 13): a NAMED template's fields are labelled
with its parameter names and sent by name; the simulator's stand-in Graph API refuses a template
send as Meta does, so a send without parameter_name would fail here. Same set-up as
test_browser_dashboard.py; skipped without Debian's chromium and Playwright.
"""

from __future__ import annotations

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import WAIT_MS, open_conversation, own_inbox, playwright_api, row
from .test_browser_dashboard import agent as agent  # noqa: F401 - Ana signed in
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


inbox = own_inbox("browser-templates")


def test_a_named_template_is_filled_by_name_and_goes_out_with_parameter_names(agent, inbox):
    page = agent.page
    jo = Customer("Jo March", "14155550141")
    inbox.customer_says(jo, "When does my order come?")
    expect(row(page, "Jo March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Jo March")
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Approved template").select_option(label="delivery_slot (en_US) · utility")
    labels = dialog.locator("#template-params label")
    expect(labels).to_have_text(["Header order_id", "Body first_name", "Body day"])
    dialog.get_by_label("Header order_id").fill("#7781")
    dialog.get_by_label("Body first_name").fill("Jo")
    dialog.get_by_label("Body day").fill("Tuesday")
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#messages .msg.out")).to_contain_text("Hi Jo, your order arrives on Tuesday.", timeout=WAIT_MS)
    assert inbox.graph.refused == []
    sent = inbox.graph.sent[-1]
    assert sent["template"]["name"] == "delivery_slot"
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "#7781"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Jo"},
                {"type": "text", "parameter_name": "day", "text": "Tuesday"},
            ],
        },
    ]


def test_a_positional_template_keeps_its_numbered_labels(agent, inbox):
    page = agent.page
    meg = Customer("Meg March", "14155550142")
    inbox.customer_says(meg, "Hi there")
    expect(row(page, "Meg March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Meg March")
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Approved template").select_option(label="we_miss_you (en_US) · marketing")
    expect(dialog.locator("#template-params label")).to_have_text(["Body {{1}}"])
    dialog.get_by_label("Body {{1}}").fill("Meg")
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    assert inbox.graph.refused == []
    assert inbox.graph.sent[-1]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Meg"}]}
    ]


def test_a_double_click_on_send_template_sends_it_once(agent, inbox):
    page = agent.page
    meg = Customer("Meg March", "14155550149")
    inbox.customer_says(meg, "Is my slot booked?")
    expect(row(page, "Meg March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Meg March")
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Approved template").select_option(label="delivery_slot (en_US) · utility")
    dialog.get_by_label("Header order_id").fill("#7790")
    dialog.get_by_label("Body first_name").fill("Meg")
    dialog.get_by_label("Body day").fill("Friday")
    before = len(inbox.graph.sent)
    # two submits in the same moment, as a double click or Enter pressed twice gives
    page.evaluate("() => { const f = document.getElementById('template-form'); f.requestSubmit(); f.requestSubmit(); }")
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#messages .msg.out").last).to_contain_text("your order arrives on Friday", timeout=WAIT_MS)
    page.wait_for_timeout(300)
    assert len(inbox.graph.sent) == before + 1
