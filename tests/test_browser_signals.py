"""Account signals in a real headless Chromium (issue 14): the banner shows the number's quality and
the account's restrictions live, the template dialog stops offering a template WhatsApp paused, and a
customer who stopped marketing messages is marked. Webhooks are posted signed in the shapes of
Meta's reference (tests/fixtures). Same set-up as test_browser_dashboard.py; skipped without Debian's
chromium and Playwright.
"""

from __future__ import annotations

import copy
import time

import pytest

from whatsapp.simulate import Customer

from .helpers import fixture
from .test_browser_dashboard import WAIT_MS, open_conversation, own_inbox, playwright_api, row
from .test_browser_dashboard import agent as agent  # noqa: F401 - Ana signed in
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect


inbox = own_inbox("browser-signals")


def sent_now(name: str, **value) -> dict:
    """A fixture as Meta sends it now, with some of its value's fields changed."""
    body = copy.deepcopy(fixture(name))
    body["entry"][0]["time"] = int(time.time())
    body["entry"][0]["changes"][0]["value"].update(value)
    return body


def test_the_banner_shows_a_flagged_number_and_a_restriction_live_and_goes_when_they_do(agent, inbox):
    page = agent.page
    banner = page.locator("#account-banner")
    expect(banner).to_be_hidden()
    inbox.deliver(sent_now("phone_number_quality_flagged"))
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_contain_text("quality rating is RED")
    inbox.deliver(sent_now("account_update_restriction"))
    expect(banner).to_contain_text("RESTRICTED_BIZ_INITIATED_MESSAGING", timeout=WAIT_MS)

    inbox.deliver(sent_now("phone_number_quality_unflagged"))
    lifted = [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1641330498}]
    inbox.deliver(sent_now("account_update_restriction", restriction_info=lifted))
    expect(banner).to_be_hidden(timeout=WAIT_MS)


def test_a_paused_template_leaves_the_dialog_and_a_stopped_customer_is_marked(agent, inbox):
    page = agent.page
    beth = Customer("Beth March", "14155550143")
    inbox.customer_says(beth, "Any news?")
    expect(row(page, "Beth March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Beth March")
    expect(page.locator("#marketing-chip")).to_be_hidden()
    dialog = page.get_by_role("dialog")
    options = dialog.locator("#template-select option")

    page.get_by_role("button", name="Template").click()
    expect(options.filter(has_text="we_miss_you")).to_have_count(1, timeout=WAIT_MS)
    dialog.get_by_role("button", name="Cancel").click()

    paused = sent_now(
        "template_status_paused", message_template_name="we_miss_you", message_template_category="MARKETING"
    )
    inbox.deliver(paused)
    stop = fixture("user_preferences_stop")
    item = stop["entry"][0]["changes"][0]["value"]
    item["contacts"][0]["wa_id"] = item["user_preferences"][0]["wa_id"] = beth.wa_id
    inbox.deliver(stop)
    expect(page.locator("#marketing-chip")).to_be_visible(timeout=WAIT_MS)

    page.get_by_role("button", name="Template").click()
    expect(options.filter(has_text="delivery_slot")).to_have_count(1, timeout=WAIT_MS)
    expect(options.filter(has_text="we_miss_you")).to_have_count(0)
