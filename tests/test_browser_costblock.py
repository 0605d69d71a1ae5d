"""The composer's cost hint, the template dialog's charge hint, and blocking, in a real headless Chromium
against the real app; the simulator's stand-in Graph API answers block_users as Meta does
(whatsapp/standin_block.py). Same set-up as test_browser_dashboard.py; skipped without chromium."""

from __future__ import annotations

import json

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-costblock"))
    running.graph.access_token = "browser-access-token"  # Meta checks the bearer token of every block call
    yield running
    stop()


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811 - the fixture imported above
    watched = signed_in(chromium, inbox)
    page = watched.page
    page.remove_listener("dialog", watched._dialog)  # this agent answers "OK" to the Block confirmation

    def accept(dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    yield watched
    page.context.close()
    assert watched.errors == [], "the page threw"


def choose(dialog, label: str) -> None:
    dialog.get_by_label("Approved template").select_option(label=label)


def test_the_composer_and_the_template_dialog_say_what_a_reply_costs(agent, inbox):
    page = agent.page
    amy = Customer("Amy March", "14155550161")
    inbox.customer_says(amy, "Is my parcel coming today?")
    expect(row(page, "Amy March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Amy March")
    hint = page.locator("#cost-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Free · Free: a reply inside the customer service window")
    expect(hint).to_have_attribute("data-charged", "false")
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    cost = dialog.locator("#template-cost")
    choose(dialog, "we_miss_you (en_US) · marketing")
    expect(cost).to_contain_text("Charged · Charged at Meta's marketing rate")
    expect(cost).to_have_attribute("data-charged", "true")
    choose(dialog, "delivery_slot (en_US) · utility")
    expect(cost).to_contain_text("Free: utility templates inside the customer service window")
    dialog.get_by_role("button", name="Cancel").click()


def test_outside_the_window_there_is_no_free_reply_and_utility_templates_are_charged(agent, inbox):
    page = agent.page
    beth = Customer("Beth March", "14155550162")
    inbox.customer_says(beth, "Thanks for yesterday", age=26 * 3600)
    expect(row(page, "Beth March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Beth March")
    expect(page.locator("#cost-hint")).to_be_hidden()
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    choose(dialog, "delivery_slot (en_US) · utility")
    expect(dialog.locator("#template-cost")).to_contain_text("charged outside the customer service window")
    dialog.get_by_role("button", name="Cancel").click()


def test_an_agent_blocks_and_unblocks_a_customer(agent, inbox):
    page = agent.page
    rude = Customer("Rude Person", "14155550163")
    inbox.customer_says(rude, "You are all useless!!!")
    inbox.graph.customer_wrote(rude.wa_id)
    expect(row(page, "Rude Person")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Rude Person")
    page.get_by_role("button", name="Block").click()
    banner = page.locator("#blocked-banner")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_contain_text("This customer is blocked")
    assert any("Block Rude Person on WhatsApp?" in text for text in agent.dialogs)
    expect(page.locator("#reply")).to_be_disabled()
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#template-open")).to_be_disabled()
    expect(page.locator("#cost-hint")).to_be_hidden()
    expect(page.get_by_role("button", name="Unblock")).to_be_visible()
    call = inbox.graph.block_calls[-1]
    assert call["method"] == "POST" and call["path"] == "/v26.0/110293847561029/block_users"
    assert json.loads(call["body"]) == {"messaging_product": "whatsapp", "block_users": [{"user": "14155550163"}]}
    assert rude.wa_id in inbox.graph.blocked
    assert inbox.conversation("+14155550163")["blocked"] is True

    page.get_by_role("button", name="Unblock").click()
    expect(banner).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#reply")).to_be_enabled()
    expect(page.get_by_role("button", name="Block")).to_be_visible()
    assert inbox.graph.block_calls[-1]["method"] == "DELETE"
    assert rude.wa_id not in inbox.graph.blocked


def test_metas_refusal_to_block_is_shown_to_the_agent(agent, inbox):
    page = agent.page
    odd = Customer("Odd Case", "14155550164")
    inbox.customer_says(odd, "hello")  # Meta's stand-in has not seen this customer write: it refuses
    expect(row(page, "Odd Case")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Odd Case")
    page.get_by_role("button", name="Block").click()
    error = page.locator("#send-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("Meta error 131047")
    expect(page.locator("#blocked-banner")).to_be_hidden()
