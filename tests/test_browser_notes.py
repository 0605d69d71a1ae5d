"""Private notes in a real headless Chromium (issue 15): the composer's "Private note" toggle writes a
yellow note into the thread that never reaches WhatsApp, script in it stays text, and the agent it
@mentions hears about it live (a notification, their Mentions view) and opens the conversation from
there. Same set-up as test_browser_dashboard.py; skipped without Debian's chromium and Playwright.
"""

from __future__ import annotations

import json
import time

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import DOCS, WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

XSS_NOTE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-notes"))
    yield running
    stop()


def watch_notifications(page) -> None:
    """Record every notification the page raises through the shell's notify hook (notes.js's fallback
    tells the hook's listeners; notify.js, where present, does the same)."""
    page.evaluate(
        """async () => {
            const hooks = await import('/static/js/hooks.js');
            window.__notified = [];
            hooks.hooks.notify.push((kind, conversation, text) =>
                window.__notified.push({kind, id: conversation.id, text}));
        }"""
    )


def test_a_private_note_stays_in_the_inbox_and_its_mention_reaches_the_agent(chromium, inbox):  # noqa: F811
    ana = signed_in(chromium, inbox)
    bruno = signed_in(chromium, inbox, name="Bruno Lima")
    page, other = ana.page, bruno.page
    watch_notifications(other)
    lena = Customer("Lena Ortiz", "14155550177")
    inbox.customer_says(lena, "My order arrived broken")
    expect(row(page, "Lena Ortiz")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Lena Ortiz")
    sent_before = len(inbox.graph.sent)

    page.get_by_role("button", name="Private note").click()
    expect(page.locator("#composer.note-mode")).to_have_count(1)
    expect(page.locator("#send")).to_have_text("Add note")
    page.get_by_role("textbox", name="Private note").fill(f'@"Bruno Lima" can you approve a refund? {XSS_NOTE}')
    page.keyboard.press("Enter")

    note = page.locator("#messages li.note")
    expect(note).to_have_count(1, timeout=WAIT_MS)
    expect(note.locator(".note-by")).to_have_text("Private note by you")
    expect(note.locator(".text")).to_have_text(f'@"Bruno Lima" can you approve a refund? {XSS_NOTE}')
    expect(note.locator("mark.mention")).to_have_text('@"Bruno Lima"')
    expect(page.get_by_role("textbox", name="Private note")).to_have_value("")
    # placed after the customer's message, in its own (yellow) colour
    items = page.locator("#messages > li.msg, #messages > li.note")
    assert items.last.get_attribute("class") == "note"
    background = note.evaluate("n => getComputedStyle(n).backgroundColor")
    assert background == "rgb(255, 244, 184)"

    # Bruno: a notification, the Mentions count, and the view that opens the conversation
    other.wait_for_function("() => window.__notified.length === 1", timeout=WAIT_MS)
    notified = other.evaluate("window.__notified[0]")
    assert notified["kind"] == "mention" and "Ana Souza mentioned you in Lena Ortiz" in notified["text"]
    expect(other.locator("#mentions-count")).to_have_text("1", timeout=WAIT_MS)
    open_conversation(other, "Lena Ortiz")
    expect(other.locator("#messages li.note .note-by")).to_have_text("Private note by Ana Souza")
    other.get_by_role("button", name="Mentions").click()
    mention = other.locator("#mentions-list li.mention-item.unread")
    expect(mention).to_have_count(1, timeout=WAIT_MS)
    expect(mention.locator(".conv-name")).to_have_text("Lena Ortiz")
    expect(mention.locator(".mention-text")).to_contain_text('Ana Souza: @"Bruno Lima" can you approve')
    other.get_by_role("button", name="Private note").click()
    other.get_by_role("textbox", name="Private note").fill("@Ana approved, go ahead")
    DOCS.mkdir(exist_ok=True)
    other.screenshot(path=str(DOCS / "dashboard-notes.png"))
    other.get_by_role("button", name="Reply", exact=True).click()
    mention.locator("button").click()
    expect(other.locator("#thread-name")).to_have_text("Lena Ortiz", timeout=WAIT_MS)
    expect(other.locator("#mentions-count")).to_have_text("", timeout=WAIT_MS)
    expect(other.locator("#conversation-list")).to_be_visible()

    # nothing went to WhatsApp, and nothing ran
    time.sleep(0.5)
    assert not any("approve a refund" in json.dumps(s) for s in inbox.graph.sent[sent_before:])
    for watched in (ana, bruno):
        assert watched.dialogs == [] and watched.errors == []
        assert watched.page.evaluate("window.__pwned") is None
        assert watched.page.locator("#messages img[src=x], #messages script").count() == 0

    # back to Reply: the same box sends to WhatsApp again
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator("#send")).to_have_text("Send")
    page.get_by_label("Message", exact=True).fill("We are sending a new one today")
    page.keyboard.press("Enter")
    expect(page.locator("#messages .msg.out")).to_have_count(1, timeout=WAIT_MS)
    assert any("sending a new one" in json.dumps(s) for s in inbox.graph.sent[sent_before:])
    page.context.close()
    other.context.close()


def test_a_note_can_be_written_after_the_24_hour_window_closed(chromium, inbox):  # noqa: F811
    ana = signed_in(chromium, inbox)
    page = ana.page
    old = Customer("Olga Berg", "14155550178")
    inbox.customer_says(old, "Hello from last week", age=3 * 86400)
    expect(row(page, "Olga Berg")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Olga Berg")
    expect(page.locator("#reply")).to_be_disabled()
    page.get_by_role("button", name="Private note").click()
    expect(page.locator("#reply")).to_be_enabled()
    page.locator("#reply").fill("Called her by phone instead")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#messages li.note .text")).to_have_text("Called her by phone instead", timeout=WAIT_MS)
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator("#reply")).to_be_disabled()
    assert ana.errors == []
    page.context.close()
