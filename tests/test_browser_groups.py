"""WhatsApp groups in a real headless Chromium: the group is marked as a group in the list, its
messages show who wrote them, members' joins show as system lines, and the composer's reply goes to
the group (the simulator's stand-in checks group sends like Meta). Same set-up as
test_browser_dashboard.py; skipped without Debian's chromium and Playwright."""

from __future__ import annotations

import copy
import time

import pytest

from whatsapp.simulate import Customer

from .helpers import fixture, wamid
from .test_browser_dashboard import WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect
GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-groups"))
    running.graph.groups.add(GROUP)
    yield running
    stop()


def group_says(text: str, wa_id: str, name: str) -> dict:
    """Meta's group message webhook (tests/fixtures/group_text.json), written now by this member."""
    payload = copy.deepcopy(fixture("group_text"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"][0].update({"from": wa_id, "id": wamid("grp"), "timestamp": str(int(time.time()) - 5)})
    value["messages"][0]["text"]["body"] = text
    return payload


def test_a_group_is_marked_its_messages_name_their_senders_and_a_reply_goes_to_the_group(chromium, inbox):
    sheena = Customer("Sheena Nelson", "16505551234")
    inbox.customer_says(sheena, "A private question about my invoice")
    inbox.deliver(fixture("group_lifecycle_create"))  # subject "Launch team"
    inbox.deliver(fixture("group_participants_add"))  # +16315551111 joins by invite link
    inbox.deliver(group_says("What do you all think about this?", "16505551234", "Sheena Nelson"))
    inbox.deliver(group_says("Looks good to me", "16315551111", "Ravi Patel"))

    watched = signed_in(chromium, inbox)
    page = watched.page
    group_row = row(page, "Launch team")
    expect(group_row.locator(".group-chip")).to_have_text("Group", timeout=WAIT_MS)
    private_row = page.locator("#conversation-list li").filter(has=page.locator(".conv-name", has_text="Sheena Nelson"))
    expect(private_row.locator(".group-chip")).to_have_count(0)

    open_conversation(page, "Launch team")
    expect(page.locator("#thread-sub")).to_contain_text("2 participants", timeout=WAIT_MS)
    expect(page.locator("#thread-sub")).to_contain_text("Ravi Patel")
    bubbles = page.locator("#messages .msg.in:not(.system)")
    expect(bubbles).to_have_count(2, timeout=WAIT_MS)
    expect(bubbles.nth(0).locator(".sender")).to_have_text("Sheena Nelson")
    expect(bubbles.nth(1).locator(".sender")).to_have_text("Ravi Patel")
    expect(page.locator("#messages .msg.system").filter(has_text="+16315551111 joined the group")).to_have_count(1)

    page.locator("#reply").fill("Thanks both, we ship Friday")
    page.locator("#send").click()
    expect(page.locator("#messages .msg.out").filter(has_text="we ship Friday")).to_have_count(1, timeout=WAIT_MS)
    deadline = time.monotonic() + 10
    while not [m for m in inbox.graph.sent if m.get("type") == "text"] and time.monotonic() < deadline:
        time.sleep(0.1)
    [sent] = [m for m in inbox.graph.sent if m.get("type") == "text"]
    assert (sent["recipient_type"], sent["to"], sent["text"]["body"]) == ("group", GROUP, "Thanks both, we ship Friday")

    # Sheena's own conversation has only what she wrote privately.
    private_row.locator("button").click()
    expect(page.locator("#thread-name")).to_have_text("Sheena Nelson", timeout=WAIT_MS)
    expect(page.locator("#messages .msg.in")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#messages .msg")).to_have_count(1)
    expect(page.locator("#messages .msg")).to_contain_text("A private question about my invoice")
    expect(page.locator("#messages .sender")).to_have_count(0)
    assert watched.errors == [], "the page threw"
    page.context.close()
