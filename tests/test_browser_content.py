"""Every message shown in full (issue 13): the dashboard in a real headless Chromium renders each
message's `content`, from signed webhooks of Meta's shapes (tests/fixtures/dashboard_content.json):
an order as a table with its total, a flow reply's answers as labelled fields, a location's map link
with its coordinates, a contact card whose "Open chat" opens (or starts) the number's conversation,
a call permission reply as a system line, a product inquiry as "Asked about", an ad referral, and an
unknown type as a placeholder with its raw JSON. Customers' content stays text, and only http(s)
addresses become links. Same set-up as test_browser_dashboard.py; skipped without Chromium/Playwright.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from whatsapp.simulate import Customer, inbound

from .test_browser_dashboard import (
    DOCS,
    PHONE_NUMBER_ID,
    WAIT_MS,
    Inbox,
    open_conversation,
    playwright_api,
    row,
    signed_in,
    start_inbox,
)
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "dashboard_content.json").read_text(encoding="utf-8"))
XSS = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'


def body(name: str) -> dict:
    return copy.deepcopy(FIXTURES[name])


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-content"))
    yield running
    stop()


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811 - the fixture imported above
    watched = signed_in(chromium, inbox, viewport={"width": 1280, "height": 1000})
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def deliver_rich_thread(inbox: Inbox, who: Customer) -> None:
    """One of each rich kind from `who`, in this order."""
    say = inbox.customer_says
    inbox.deliver(inbound(who, "order", body("order"), PHONE_NUMBER_ID))
    inbox.deliver(inbound(who, "interactive", body("nfm_reply"), PHONE_NUMBER_ID))
    inbox.deliver(inbound(who, "location", body("location"), PHONE_NUMBER_ID))
    inbox.deliver(inbound(who, "contacts", body("contacts"), PHONE_NUMBER_ID))
    inbox.deliver(inbound(who, "interactive", body("call_permission_reply"), PHONE_NUMBER_ID))
    say(who, "Is this mug dishwasher safe?", context=body("product_inquiry_context"))
    say(who, "Hi! I saw your ad", referral=body("referral"))
    unknown = body("unknown")
    inbox.deliver(inbound(who, unknown["type"], unknown[unknown["type"]], PHONE_NUMBER_ID))


def bubble(page, has_text: str):
    return page.locator("#messages .msg").filter(has_text=has_text)


def assert_no_empty_bubble(page) -> None:
    texts = page.locator("#messages .msg .content").evaluate_all("nodes => nodes.map(n => n.innerText.trim())")
    assert texts and all(texts), texts


def test_every_rich_message_is_shown_in_full_and_a_contact_opens_its_chat(agent, inbox):
    page = agent.page
    rosa, tomas = Customer("Rosa Jimenez", "14155550301"), Customer("Tomas Berg", "14155550302")
    inbox.customer_says(tomas, "Tomas here, Rosa gave me your number")
    deliver_rich_thread(inbox, rosa)
    expect(row(page, "Rosa Jimenez")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Rosa Jimenez")
    expect(page.locator("#messages .msg")).to_have_count(8, timeout=WAIT_MS)

    # The order: one row per product (product, qty, unit price, line total) and the total.
    order = page.locator("#messages table.order")
    expect(order.locator("caption")).to_have_text("🛒 Order · 2 items")
    expect(order.locator("thead th")).to_have_text(["Product", "Qty", "Unit price", "Line total"])
    cells = order.locator("tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.innerText))")
    assert [[c[0], c[1]] for c in cells] == [["SKU-MUG-BLUE", "2"], ["SKU-TEE-M", "1"]]
    assert re.search(r"12\.50", cells[0][2]) and re.search(r"25\.00", cells[0][3]), cells
    assert re.search(r"20\.00", cells[1][2]) and re.search(r"20\.00", cells[1][3]), cells
    expect(order.locator("tfoot th")).to_have_text("Total")
    expect(order.locator("tfoot td")).to_have_text(re.compile(r"45\.00"))
    assert "€" in order.locator("tfoot td").inner_text()
    expect(bubble(page, "Order").locator(".order-note")).to_have_text("Gift-wrap the mugs please")

    # The flow reply: its answers as labelled fields, nested keys flattened, lists joined.
    flow = bubble(page, "Form reply")
    expect(flow.locator(".flow-title")).to_have_text("📝 Form reply · table_booking")
    expect(flow.locator("dt")).to_have_text(["date", "guests.adults", "guests.children", "extras"])
    expect(flow.locator("dd")).to_have_text(["2026-12-24", "2", "1", "window seat, high chair"])
    expect(flow).not_to_contain_text("booking-7781")  # the flow_token is routing data, not an answer

    # The location: a map link carrying the coordinates, the place's name and address.
    place = page.locator("#messages a.location")
    expect(place).to_contain_text("Lisbon shop")
    expect(place.locator(".address")).to_have_text("Rua Augusta 24, Lisboa")
    expect(place.locator(".coords")).to_have_text("38.7223, -9.1393")
    assert place.get_attribute("href").startswith("https://www.openstreetmap.org/?mlat=38.7223&mlon=-9.1393")
    assert page.locator("#messages a.geo-link").get_attribute("href") == "geo:38.7223,-9.1393"

    # The contact card: every field, and "Open chat" only for the numbers on WhatsApp.
    card = page.get_by_role("group", name="Contact card: Tomas Berg")
    expect(card.locator(".contact-name")).to_have_text("👤 Tomas Berg")
    expect(card.locator(".contact-org")).to_have_text("Berg Ceramics · Sales · Buyer")
    expect(card.locator(".phone .field-value")).to_have_text(["+1 415-555-0302", "+1 415-555-0399", "+1 415-555-0300"])
    expect(card.locator(".email")).to_contain_text("tomas@example.com")
    expect(card.locator(".address")).to_contain_text("1 Harbour St, Oakland, CA, 94607, United States")
    assert card.locator(".url a").get_attribute("href") == "https://berg.example.com/"
    expect(card.locator(".birthday")).to_contain_text("1988-03-14")
    expect(card.get_by_role("button", name=re.compile("^Open chat"))).to_have_count(2)

    # The call permission reply: a centred system line, not a bubble.
    line = page.locator("#messages .msg.system")
    expect(line).to_have_count(1)
    expect(line.locator(".system-text")).to_have_text(re.compile(r"^Customer accepted calls until .*2027"))
    assert line.evaluate("n => getComputedStyle(n).alignSelf") == "center"

    # The product inquiry: what was asked about, and no "reply to a message not in this inbox".
    asked = bubble(page, "Is this mug dishwasher safe?")
    expect(asked.locator(".inquiry")).to_have_text("🛍 Asked about SKU-MUG-BLUE (catalog CAT-4471)")
    expect(asked.locator(".quoted")).to_have_count(0)

    # The ad the customer came from.
    ad = page.get_by_role("group", name="From ad")
    expect(ad.locator(".referral-headline")).to_have_text("Winter sale: mugs 20% off")
    expect(ad.locator(".referral-body")).to_have_text("Tap to chat with us")
    assert ad.locator("a.referral-source").get_attribute("href") == "https://fb.me/winter-sale"

    # A type the inbox does not know: a readable placeholder, and its raw JSON on demand.
    unknown = page.locator("#messages .msg").filter(has=page.locator("details.raw"))
    expect(unknown).to_have_count(1)
    expect(unknown.locator(".placeholder")).to_have_count(1)
    expect(unknown.locator(".placeholder")).not_to_have_text("")
    raw = unknown.locator("details.raw pre")
    expect(raw).to_be_hidden()
    unknown.get_by_text("Show raw JSON").click()
    expect(raw).to_be_visible()
    expect(raw).to_contain_text('"shape": "cube"')
    expect(unknown.locator("summary")).to_have_text("Hide raw JSON")
    assert_no_empty_bubble(page)

    # The picture for docs/dashboard.md: the whole thread, the raw JSON open.
    page.set_viewport_size({"width": 1280, "height": 1320})
    page.mouse.move(1, 1)
    page.locator("#messages").evaluate("b => { b.scrollTop = 0; }")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard-content.png"))
    page.set_viewport_size({"width": 1280, "height": 1000})
    unknown.locator("summary").click()
    expect(raw).to_be_hidden()

    # "Open chat" on a number with a conversation opens it.
    card.get_by_role("button", name="Open chat with +1 415-555-0302").click()
    expect(page.locator("#thread-name")).to_have_text("Tomas Berg", timeout=WAIT_MS)
    expect(page.locator("#messages .msg.in .text")).to_have_text(["Tomas here, Rosa gave me your number"])

    # On a number that never wrote, it starts the conversation: only a template can, so the dialog
    # opens addressed to that number, and the send opens the new thread.
    open_conversation(page, "Rosa Jimenez")
    page.get_by_role("group", name="Contact card: Tomas Berg").get_by_role(
        "button", name="Open chat with +1 415-555-0399"
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog.locator("#template-title")).to_have_text("Start a chat with +14155550399: send a template")
    dialog.get_by_label("Approved template").select_option(label="hello_world (en_US) · utility")
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#thread-sub")).to_have_text("+14155550399", timeout=WAIT_MS)
    expect(page.locator("#messages .msg.out")).to_have_count(1, timeout=WAIT_MS)
    sent = inbox.graph.sent[-1]
    assert sent["type"] == "template" and sent["template"]["name"] == "hello_world"
    assert re.sub(r"\D", "", sent["to"]) == "14155550399"
    assert inbox.conversation("+14155550399")["phone_number"] == "+14155550399"
    # The dialog is the plain template dialog again afterwards.
    page.get_by_role("button", name="Template").click()
    expect(dialog.locator("#template-title")).to_have_text("Send a template")
    dialog.get_by_role("button", name="Cancel").click()


def test_script_in_a_contact_card_a_flow_answer_and_an_ad_stays_text_and_a_javascript_link_is_no_link(agent, inbox):
    page = agent.page
    mallory = Customer("Mallory Quinn", "14155550311")
    cards = body("contacts")
    cards[0]["name"]["formatted_name"] = XSS
    cards[0]["org"]["company"] = "<script>window.__xss=1</script>"
    cards[0]["urls"] = [{"url": "javascript:window.__xss=1", "type": "HOME"}]
    inbox.deliver(inbound(mallory, "contacts", cards, PHONE_NUMBER_ID))
    flow = body("nfm_reply")
    flow["nfm_reply"]["response_json"] = json.dumps({"flow_token": "t", "comment": XSS, XSS: "key"})
    inbox.deliver(inbound(mallory, "interactive", flow, PHONE_NUMBER_ID))
    referral = body("referral") | {"source_url": "javascript:window.__xss=1", "headline": XSS}
    inbox.customer_says(mallory, "From the ad", referral=referral)
    expect(row(page, "Mallory Quinn")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Mallory Quinn")
    expect(page.locator("#messages .msg")).to_have_count(3, timeout=WAIT_MS)

    card = page.locator("#messages .contact-card")
    expect(card.locator(".contact-name")).to_have_text("👤 " + XSS)
    expect(card.locator(".contact-org")).to_contain_text("<script>window.__xss=1</script>")
    expect(card.locator(".url .field-value")).to_have_text("javascript:window.__xss=1")
    fields = page.locator("#messages .flow-fields")
    expect(fields.locator("dt")).to_have_text(["comment", XSS])
    expect(fields.locator("dd")).to_have_text([XSS, "key"])
    ad = page.get_by_role("group", name="From ad")
    expect(ad.locator(".referral-headline")).to_have_text(XSS)
    expect(ad.locator(".referral-source")).to_have_text("javascript:window.__xss=1")

    assert page.locator("#messages img, #messages script").count() == 0
    hrefs = page.locator("#messages a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(re.match(r"^(https?:|geo:|/api/whatsapp/media/)", h or "") for h in hrefs), hrefs
    assert not page.locator("#messages a[href^='javascript' i]").count()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert agent.dialogs == []
    assert_no_empty_bubble(page)
