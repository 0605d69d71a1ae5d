"""The dashboard's ES modules (issue 15) in a real headless Chromium: the extension points of
static/js/hooks.js (static/js/README.md) that feature modules use, exercised by a stand-in feature
imported into the running page: a list badge, a header button, thread items placed among the messages
by time, a per-message action, live events and a settings section. Same set-up as
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

# A feature module as another helper would write one, loaded into the page the way main.js loads it.
FEATURE = """async () => {
  const { ctx } = await import("/static/js/main.js");
  window.__events = [];
  ctx.addListBadge((c) => ctx.el("span", { class: "test-badge" }, `#${c.id}`));
  const button = ctx.el("button", { type: "button", id: "test-head" }, "Test");
  ctx.addHeadPart(button, (c) => { button.textContent = `Test ${c.id}`; });
  ctx.addThreadSource({
    name: "test-notes",
    load: async (id) => [
      { id: 1, at: "2000-01-01 00:00:00", text: "very first" },
      { id: 2, at: "2999-01-01 00:00:00", text: `last of ${id}` },
    ],
    time: (n) => n.at,
    key: (n) => String(n.id),
    sig: (n) => n.text,
    render: (n) => ctx.el("li", { class: "test-note" }, n.text),
  });
  ctx.addMessageAction({
    name: "test",
    sig: (m) => String(m.id),
    build: (m) => ctx.el("button", { type: "button", class: "test-action" }, `act ${m.id}`),
  });
  ctx.onEvent((event) => window.__events.push(event.kind));
  ctx.addSettingsSection({
    id: "test", title: "Test section", render: (box) => box.append(ctx.el("p", {}, "settings body")),
  });
  ctx.refreshList();
}"""
KINDS = "nodes => nodes.map(n => n.classList.contains('test-note') ? n.textContent : 'message')"


inbox = own_inbox("browser-hooks")


def test_a_feature_module_hooks_into_the_list_the_header_the_thread_events_and_settings(agent, inbox):
    page = agent.page
    lena = Customer("Lena Berg", "14155550501")
    inbox.customer_says(lena, "First question")
    expect(row(page, "Lena Berg")).to_have_count(1, timeout=WAIT_MS)
    cid = inbox.conversation("+14155550501")["id"]
    page.evaluate(FEATURE)

    expect(row(page, "Lena Berg").locator(".test-badge")).to_have_text(f"#{cid}", timeout=WAIT_MS)
    open_conversation(page, "Lena Berg")
    expect(page.locator("#test-head")).to_have_text(f"Test {cid}")
    items = page.locator("#messages > li:not(.day)")
    expect(page.locator("#messages > li.test-note")).to_have_count(2, timeout=WAIT_MS)
    assert items.evaluate_all(KINDS) == ["very first", "message", f"last of {cid}"]
    first = page.locator("#messages .msg.in").get_attribute("data-id")
    expect(page.locator("#messages .msg.in .test-action")).to_have_text([f"act {first}"])

    inbox.customer_says(lena, "Second question")
    expect(page.locator("#messages .msg.in")).to_have_count(2, timeout=WAIT_MS)
    kinds = page.evaluate("window.__events")
    assert "message.created" in kinds
    assert items.evaluate_all(KINDS) == ["very first", "message", "message", f"last of {cid}"]

    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("dialog").get_by_role("heading", name="Test section")).to_be_visible()
    expect(page.get_by_role("dialog")).to_contain_text("settings body")
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
