"""The conversation list updates in place (issue 15, "Shape"): a live event rebuilds only the item whose
conversation changed and moves it, every other <li> stays the same DOM node, so the focus, a ticked
selection checkbox and what the agent sees where they scrolled live on. Opening another conversation
moves aria-current without rebuilding the list. Real headless Chromium against the real app, a signed
webhook delivery through the test server; same set-up as test_browser_dashboard.py."""

from __future__ import annotations

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import WAIT_MS, open_conversation, own_inbox, playwright_api, row
from .test_browser_dashboard import agent as agent  # noqa: F401 - Ana signed in
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

inbox = own_inbox("browser-list-inplace")

CUSTOMERS = [Customer(f"Customer {i:02d}", f"1415555{i:04d}") for i in range(12)]

# Each <li> gets a JS property naming its conversation: a rebuilt item has none.
PROBE = "() => { for (const li of document.querySelectorAll('#conversation-list > li')) li.__probe = li.dataset.id; }"
PROBES = "() => [...document.querySelectorAll('#conversation-list>li')].map(li => [li.dataset.id, li.__probe ?? null])"
TOP_OF_VIEW = """() => {
    const list = document.getElementById('conversation-list');
    const top = list.getBoundingClientRect().top;
    const li = [...list.children].find(li => li.getBoundingClientRect().bottom > top + 1);
    return { id: li.dataset.id, offset: li.getBoundingClientRect().top - top };
}"""


@pytest.fixture(scope="module")
def ids(inbox):
    """Twelve conversations, a second apart, minutes ago (Customer 11 is the newest: top of the list)."""
    for i, who in enumerate(CUSTOMERS):
        inbox.customer_says(who, f"Hello from {who.name}", age=300 - i)
    return {who.name: str(inbox.conversation("+" + who.wa_id)["id"]) for who in CUSTOMERS}


def test_a_live_event_rebuilds_only_the_changed_item_and_keeps_focus_selection_and_scroll(ids, agent, inbox):
    page = agent.page
    items = page.locator("#conversation-list > li")
    expect(items).to_have_count(len(CUSTOMERS), timeout=WAIT_MS)
    expect(items.first).to_contain_text("Customer 11", timeout=WAIT_MS)

    # the agent scrolled a little, focused one item's button and ticked another's checkbox
    page.evaluate("() => { document.getElementById('conversation-list').scrollTop = 60; }")
    page.get_by_label("Select Customer 08").check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    row(page, "Customer 09").locator("button.conv").focus()
    view = page.evaluate(TOP_OF_VIEW)
    page.evaluate(PROBE)

    # one customer writes: a signed webhook delivery, and the live event refreshes the list
    changed = CUSTOMERS[3]
    inbox.customer_says(changed, "Something new")
    expect(items.first).to_contain_text(changed.name, timeout=WAIT_MS)
    expect(items.first.locator(".conv-preview")).to_have_text("Something new")

    probes = page.evaluate(PROBES)
    assert [id_ for id_, _ in probes] == [ids[changed.name]] + [
        ids[who.name] for who in reversed(CUSTOMERS) if who is not changed
    ]
    kept = {id_: probe for id_, probe in probes if id_ != ids[changed.name]}
    assert all(probe == id_ for id_, probe in kept.items()), f"items rebuilt: {probes}"
    # the focus stayed on the same button, the tick on the same checkbox, the bulk bar with it
    focused = page.evaluate(
        "() => { const a = document.activeElement; return [a.matches('button.conv'), a.closest('li')?.__probe]; }"
    )
    assert focused == [True, ids["Customer 09"]]
    expect(page.get_by_label("Select Customer 08")).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    # what was at the top of the agent's view is still there (the new item went in above it)
    after = page.evaluate(TOP_OF_VIEW)
    assert after["id"] == view["id"] and abs(after["offset"] - view["offset"]) <= 2, (view, after)

    # Clear empties the selection and unticks the kept box
    page.locator("#bulk-clear").click()
    expect(page.get_by_label("Select Customer 08")).not_to_be_checked()
    expect(page.locator("#bulk-bar")).to_be_hidden()


def test_opening_another_conversation_moves_aria_current_without_rebuilding_the_list(ids, agent, inbox):
    page = agent.page
    first, second = CUSTOMERS[10].name, CUSTOMERS[9].name
    expect(row(page, first)).to_have_count(1, timeout=WAIT_MS)
    for name in (second, first):  # both read now: opening them again changes no row
        open_conversation(page, name)
        expect(row(page, name).locator(".badge")).to_have_count(0, timeout=WAIT_MS)
    expect(row(page, first).locator("button.conv")).to_have_attribute("aria-current", "true")
    page.evaluate(PROBE)

    open_conversation(page, second)
    expect(row(page, second).locator("button.conv")).to_have_attribute("aria-current", "true", timeout=WAIT_MS)
    expect(row(page, first).locator("button.conv")).not_to_have_attribute("aria-current", "true")
    assert page.locator("#conversation-list button.conv[aria-current=true]").count() == 1
    probes = page.evaluate(PROBES)
    assert all(probe == id_ for id_, probe in probes), f"items rebuilt: {probes}"


OPTION_PROBES = (
    "() => [...document.querySelectorAll('#label-filter option')].map(o => [o.textContent, o.__probe??null])"
)
MENTION_PROBES = (
    "() => [...document.querySelectorAll('#mentions-list > li')].map(li => [li.dataset.mentionId, li.__probe??null])"
)


def test_the_label_filter_and_the_mentions_view_update_in_place(ids, agent, inbox):
    page = agent.page
    api = f"{inbox.base}/api/whatsapp"
    for name, colour in (("Billing", "#2563eb"), ("VIP", "#e11d48")):
        assert inbox.service.post(f"{api}/labels", json={"name": name, "colour": colour}, timeout=10).status_code == 201
    for who, label in ((CUSTOMERS[0], "VIP"), (CUSTOMERS[1], "Billing")):
        added = inbox.service.post(
            f"{api}/add-label", json={"phone_number": "+" + who.wa_id, "label": label}, timeout=10
        )
        assert added.status_code == 200, added.text
    options = page.locator("#label-filter option")
    expect(options).to_have_text(["All labels", "Billing (1)", "VIP (1)"], timeout=WAIT_MS)
    page.evaluate("() => { for (const o of document.querySelectorAll('#label-filter option')) o.__probe = o.value; }")

    added = inbox.service.post(
        f"{api}/add-label", json={"phone_number": "+" + CUSTOMERS[2].wa_id, "label": "VIP"}, timeout=10
    )
    assert added.status_code == 200, added.text
    expect(options).to_have_text(["All labels", "Billing (1)", "VIP (2)"], timeout=WAIT_MS)
    probes = dict(page.evaluate(OPTION_PROBES))
    assert probes["All labels"] == "" and probes["Billing (1)"] is not None, probes  # kept: same nodes
    assert probes["VIP (2)"] is None, probes  # its count changed: rebuilt

    # Bruno mentions Ana twice; her open Mentions view keeps the first item's node when the second arrives
    bruno = {"Authorization": f"Bearer {inbox.keys['Bruno Lima']}"}
    conversation = int(ids[CUSTOMERS[0].name])

    def mention(text: str) -> None:
        note = {"conversation_id": conversation, "body": f'@"Ana Souza" {text}'}
        answer = inbox.service.post(f"{api}/notes", json=note, headers=bruno, timeout=10)
        assert answer.status_code in (200, 201), answer.text

    mention("first look")
    expect(page.locator("#mentions-count")).to_have_text("1", timeout=WAIT_MS)
    page.locator("#mentions-open").click()
    mentions = page.locator("#mentions-list > li")
    expect(mentions).to_have_count(1, timeout=WAIT_MS)
    mentions.first.locator("button").focus()
    page.evaluate("() => { for (const li of document.querySelectorAll('#mentions-list > li')) li.__probe = 1; }")
    mention("second look")
    expect(mentions).to_have_count(2, timeout=WAIT_MS)
    expect(mentions.first.locator(".mention-text")).to_contain_text("second look")
    probes = page.evaluate(MENTION_PROBES)
    assert [probe for _, probe in probes] == [None, 1], probes
    assert page.evaluate("() => document.activeElement.closest('li')?.__probe") == 1  # the focus stayed


def test_the_open_threads_assign_menu_is_not_rebuilt_by_a_live_refresh(ids, agent, inbox):
    page = agent.page
    who = CUSTOMERS[5]
    expect(row(page, who.name)).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, who.name)
    expect(page.locator("#assign option")).to_have_count(3, timeout=WAIT_MS)  # Unassigned, Ana, Bruno
    page.evaluate("() => { for (const o of document.querySelectorAll('#assign option')) o.__probe = 1; }")
    inbox.customer_says(who, "One more thing")
    expect(page.locator("#messages .msg.in").last).to_contain_text("One more thing", timeout=WAIT_MS)
    assert page.evaluate("() => [...document.querySelectorAll('#assign option')].map(o => o.__probe ?? null)") == [
        1,
        1,
        1,
    ]
