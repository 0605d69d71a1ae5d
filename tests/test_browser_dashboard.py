"""End-to-end: the dashboard in a real headless Chromium against the real app on a loopback port,
with the simulator's stand-in Graph API answering sends, uploads, media and read receipts.

Needs Debian's `chromium` (/usr/bin/chromium) and `pip install playwright`; skipped without them.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from whatsapp import agents, db
from whatsapp.simulate import Customer, FakeGraph, envelope, inbound, new_wamid, png, sign, status

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
if not shutil.which(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

DOCS = Path(__file__).resolve().parent.parent / "docs"
APP_SECRET = "browser-app-secret"
PHONE_NUMBER_ID = "110293847561029"
WAIT_MS = 5000  # live updates must show within 2 s; leave room for a slow CI machine
LOADED_320 = "img => img.complete && img.naturalWidth === 320"  # the test PNGs are 320 px wide


class Inbox:
    """The running service, its stand-in Graph API, and two agents' keys."""

    def __init__(self, base: str, graph: FakeGraph, keys: dict[str, str], agent_ids: dict[str, int]) -> None:
        self.base = base
        self.graph = graph
        self.keys = keys
        self.agent_ids = agent_ids
        self.service = requests.Session()
        self.service.headers["Authorization"] = "Bearer browser-service-key"

    def deliver(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        answer = requests.post(
            f"{self.base}/api/whatsapp/webhook",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def customer_says(self, who: Customer, text: str, **extra) -> str:
        payload = inbound(who, "text", {"body": text}, PHONE_NUMBER_ID, **extra)
        self.deliver(payload)
        return payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]

    def status(self, wamid: str, state: str, recipient: str) -> None:
        self.deliver(status(wamid, state, recipient, PHONE_NUMBER_ID))

    def conversation(self, phone: str) -> dict:
        answer = self.service.get(f"{self.base}/api/whatsapp/conversation", params={"phone_number": phone}, timeout=10)
        return answer.json()["conversation"]


def start_inbox(tmp: Path):
    """The real app on a free loopback port (threads, so event streams stay open) and its Graph stand-in."""
    graph = FakeGraph(app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID, auto_status=False).start()
    app = create_app(
        {
            "DATABASE_PATH": str(tmp / "inbox.sqlite3"),
            "MEDIA_DIR": str(tmp / "media"),
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "verify",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": "browser-access-token",
            "WHATSAPP_BUSINESS_ACCOUNT_ID": "109283746501928",
            "WHATSAPP_API_URL": graph.url,
            "WHATSAPP_MEDIA_FROM_API_URL": "true",
            "AGENT_API_KEY": "browser-service-key",
            "graph_timeout": 5.0,
            "graph_backoff": 0.0,
        }
    )
    app.config.update(EVENT_POLL_SECONDS=0.2, EVENT_HEARTBEAT_SECONDS=2.0, EVENT_RECHECK_SECONDS=0.5)
    conn = db.connect(str(tmp / "inbox.sqlite3"))
    keys, ids = {}, {}
    for name in ("Ana Souza", "Bruno Lima"):
        row, keys[name] = agents.create(conn, name)
        ids[name] = row["agent_id"]
    conn.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    graph.webhook_url = f"{base}/api/whatsapp/webhook"

    def stop() -> None:
        server.shutdown()
        graph.stop()
        app.extensions["media"].stop()
        app.extensions["away_reply"].stop()

    return Inbox(base, graph, keys, ids), stop


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser"))
    yield running
    stop()


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page plus everything that would betray script running where it must not."""

    def __init__(self, page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def signed_in(chromium, inbox: Inbox, *, name: str = "Ana Souza", viewport=None) -> Watched:
    context = chromium.new_context(viewport=viewport or {"width": 1280, "height": 800}, timezone_id="UTC")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{inbox.base}/login")
    page.get_by_label("Agent key").fill(inbox.keys[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
    return watched


@pytest.fixture
def agent_page(chromium, inbox):
    watched = signed_in(chromium, inbox)
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def own_inbox(name: str):
    """A module's own running inbox (`inbox = own_inbox("browser-x")` at module level)."""

    @pytest.fixture(scope="module")
    def inbox(tmp_path_factory):
        running, stop = start_inbox(tmp_path_factory.mktemp(name))
        yield running
        stop()

    return inbox


def add_admin(running, folder, name: str = "Ada Admin") -> None:
    """An admin beside the inbox's agents (Ana and Bruno), in its keys and ids."""
    from whatsapp import agents, db

    conn = db.connect(str(folder / "inbox.sqlite3"))
    try:
        row_, running.keys[name] = agents.create(conn, name, "admin")
    finally:
        conn.close()
    running.agent_ids[name] = row_["agent_id"]


def close_pages(*watched) -> None:
    """End each signed-in page's context; a page that threw or opened a dialog fails the test."""
    for one in watched:
        one.page.context.close()
        assert one.errors == [], "the page threw"
        assert one.dialogs == []


@pytest.fixture
def agent(chromium, inbox):
    """Ana signed in on the module's inbox; a page that threw fails the test."""
    watched = signed_in(chromium, inbox)
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def row(page, name: str):
    return page.locator("#conversation-list li").filter(has_text=name)


def open_conversation(page, name: str) -> None:
    row(page, name).locator("button").click()
    page.wait_for_selector("#thread:not([hidden])")
    playwright_api.expect(page.locator("#thread-name")).to_have_text(name, timeout=WAIT_MS)


# --- tests --------------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_and_an_agent_key_signs_in(chromium, inbox):
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{inbox.base}/inbox")
    assert page.url.endswith("/login")
    page.get_by_label("Agent key").fill("wak_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("does not belong to an active agent")
    page.get_by_label("Agent key").fill(inbox.keys["Bruno Lima"])
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.locator("#me-name")).to_have_text("Bruno Lima")
    assert inbox.keys["Bruno Lima"] not in page.url
    context.close()


def test_signing_out_in_another_tab_sends_this_one_to_the_sign_in_page(agent_page):
    """The session ends on the server: the open tab's live stream is ended and the tab follows."""
    page = agent_page.page
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.wait_for_url("**/login")
    page.wait_for_url("**/login", timeout=WAIT_MS)
    assert page.get_by_label("Agent key").is_visible()


def test_a_webhook_delivery_appears_live_with_its_unread_badge_and_opening_it_clears_the_badge(agent_page, inbox):
    page = agent_page.page
    carla = Customer("Carla Mendes", "14155550101")
    inbox.customer_says(carla, "Hi, is the blue one back in stock?")
    inbox.customer_says(carla, "Size M please")
    item = row(page, "Carla Mendes")
    playwright_api.expect(item.locator(".badge")).to_have_text("2", timeout=WAIT_MS)
    playwright_api.expect(item.locator(".conv-preview")).to_have_text("Size M please")
    open_conversation(page, "Carla Mendes")
    playwright_api.expect(page.locator("#messages .msg.in")).to_have_count(2)
    playwright_api.expect(item.locator(".badge")).to_have_count(0, timeout=WAIT_MS)
    assert inbox.conversation("+14155550101")["unread_count"] == 0
    # A message arriving while the conversation is open shows up in the thread and is read at once.
    inbox.customer_says(carla, "Thanks!")
    playwright_api.expect(page.locator("#messages .msg.in")).to_have_count(3, timeout=WAIT_MS)
    playwright_api.expect(page.get_by_role("status").filter(has_text="New message")).to_have_text(
        "New message from Carla Mendes: Thanks!"
    )
    playwright_api.expect(item.locator(".badge")).to_have_count(0, timeout=WAIT_MS)


def test_a_reply_gets_its_ticks_as_status_webhooks_arrive(agent_page, inbox):
    page = agent_page.page
    dan = Customer("Dan Okafor", "14155550102")
    inbox.customer_says(dan, "Can I pick it up tomorrow?")
    playwright_api.expect(row(page, "Dan Okafor")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Dan Okafor")
    page.get_by_label("Message", exact=True).fill("Yes, from 9 am. See you!")
    page.keyboard.press("Enter")
    bubble = page.locator("#messages .msg.out").filter(has_text="Yes, from 9 am. See you!")
    playwright_api.expect(bubble).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(bubble.locator(".by")).to_have_text("You")
    sent = next(m for m in inbox.graph.sent if m.get("text", {}).get("body") == "Yes, from 9 am. See you!")
    for state in ("sent", "delivered", "read"):
        inbox.status(sent["_wamid"], state, dan.wa_id)
        playwright_api.expect(bubble.locator(f".ticks[data-status={state}]")).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(bubble.locator(".ticks")).to_have_attribute("aria-label", "Read")


def test_a_reply_to_a_message_shows_the_quoted_message_and_a_failure_shows_its_reason(agent_page, inbox):
    page = agent_page.page
    eve = Customer("Eve Martin", "14155550103")
    inbox.customer_says(eve, "Which colours do you have?")
    playwright_api.expect(row(page, "Eve Martin")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Eve Martin")
    page.locator("#messages .msg.in").first.hover()
    page.get_by_role("button", name="Reply to this message").first.click()
    playwright_api.expect(page.locator("#reply-text")).to_have_text("Which colours do you have?")
    page.get_by_label("Message", exact=True).fill("Blue, green and red.")
    page.get_by_role("button", name="Send", exact=True).click()
    bubble = page.locator("#messages .msg.out").filter(has_text="Blue, green and red.")
    playwright_api.expect(bubble.locator(".quoted")).to_contain_text("Which colours do you have?", timeout=WAIT_MS)
    sent = next(m for m in inbox.graph.sent if m.get("text", {}).get("body") == "Blue, green and red.")
    assert sent["context"]["message_id"]
    failed = status(sent["_wamid"], "failed", eve.wa_id, PHONE_NUMBER_ID)
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
        {"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement."}
    ]
    inbox.deliver(failed)
    playwright_api.expect(bubble.locator(".ticks[data-status=failed]")).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(bubble.locator(".failed-reason")).to_contain_text("healthy ecosystem engagement")


def test_a_send_whose_answer_is_lost_says_it_may_or_may_not_have_been_sent(agent_page, inbox):
    """Meta answered 200 with no message id: the outcome is unknown, and the bubble says so (not "Sending")."""
    page = agent_page.page
    gus = Customer("Gus Ortega", "14155550116")
    inbox.customer_says(gus, "Did my refund go through?")
    playwright_api.expect(row(page, "Gus Ortega")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Gus Ortega")
    inbox.graph.send_answers.append((200, b"<html>upstream hiccup</html>", "text/html"))
    page.get_by_label("Message", exact=True).fill("Yes, on Monday.")
    page.get_by_role("button", name="Send", exact=True).click()
    bubble = page.locator("#messages .msg.out").filter(has_text="Yes, on Monday.")
    playwright_api.expect(bubble.locator(".unknown-outcome")).to_contain_text("may or may not have been sent")
    playwright_api.expect(bubble.locator(".ticks")).to_have_attribute("title", "Outcome unknown")
    playwright_api.expect(page.get_by_label("Message", exact=True)).to_have_value("")  # Enter won't send it twice


def test_an_image_is_sent_from_the_attach_button_and_shown_inline(agent_page, inbox):
    page = agent_page.page
    fay = Customer("Fay Wong", "14155550104")
    inbox.customer_says(fay, "Can you send me a photo of it?")
    playwright_api.expect(row(page, "Fay Wong")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Fay Wong")
    uploads = len(inbox.graph.uploads)
    page.get_by_label("Message", exact=True).fill("Here it is")
    page.set_input_files("#file", files=[{"name": "product.png", "mimeType": "image/png", "buffer": png(seed=90)}])
    image = page.locator("#messages .msg.out img.image")
    playwright_api.expect(image).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(page.locator("#messages .msg.out").last).to_contain_text("Here it is")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=image.element_handle(), timeout=WAIT_MS
    )
    assert len(inbox.graph.uploads) == uploads + 1
    assert inbox.graph.sent[-1]["type"] == "image" and inbox.graph.sent[-1]["image"]["caption"] == "Here it is"


def test_inbound_media_locations_and_reactions_render_in_the_thread(agent_page, inbox):
    page = agent_page.page
    gus = Customer("Gus Berg", "14155550105")
    photo = inbox.graph.add_file(png(seed=10), "image/png")
    first = inbox.customer_says(gus, "Look at this")
    inbox.deliver(inbound(gus, "image", {**inbox.graph.media_fields(photo), "caption": "Scratched"}, PHONE_NUMBER_ID))
    inbox.deliver(
        inbound(gus, "location", {"latitude": 59.3293, "longitude": 18.0686, "name": "Stockholm"}, PHONE_NUMBER_ID)
    )
    inbox.deliver(inbound(gus, "reaction", {"message_id": first, "emoji": "👍"}, PHONE_NUMBER_ID))
    playwright_api.expect(row(page, "Gus Berg")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Gus Berg")
    image = page.locator("#messages .msg.in img.image")
    playwright_api.expect(image).to_have_count(1, timeout=WAIT_MS)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=image.element_handle(), timeout=WAIT_MS
    )
    link = page.locator("#messages a.location")
    playwright_api.expect(link).to_contain_text("Stockholm")
    assert link.get_attribute("href").startswith("https://www.openstreetmap.org/?mlat=59.3293&mlon=18.0686")
    playwright_api.expect(page.locator("#messages .msg.in").first.locator(".reaction")).to_have_text("👍")


def test_assign_take_unassign_close_and_reopen(agent_page, inbox):
    page = agent_page.page
    hal = Customer("Hal Jordan", "14155550106")
    inbox.customer_says(hal, "I want to return my order")
    playwright_api.expect(row(page, "Hal Jordan")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Hal Jordan")
    page.get_by_label("Assigned agent").select_option(label="Bruno Lima")
    playwright_api.expect(row(page, "Hal Jordan").locator(".agent-chip")).to_have_text("Bruno Lima", timeout=WAIT_MS)
    assert inbox.conversation("+14155550106")["assigned_agent_id"] == inbox.agent_ids["Bruno Lima"]
    page.get_by_role("button", name="Take it").click()
    playwright_api.expect(row(page, "Hal Jordan").locator(".agent-chip")).to_have_text("You", timeout=WAIT_MS)
    assert inbox.conversation("+14155550106")["assigned_agent_id"] == inbox.agent_ids["Ana Souza"]
    page.get_by_role("tab", name="Mine").click()
    playwright_api.expect(row(page, "Hal Jordan")).to_have_count(1, timeout=WAIT_MS)
    page.get_by_label("Assigned agent").select_option(label="Unassigned")
    playwright_api.expect(row(page, "Hal Jordan")).to_have_count(0, timeout=WAIT_MS)
    assert inbox.conversation("+14155550106")["assigned_agent_id"] is None
    page.get_by_role("button", name="Close", exact=True).click()
    playwright_api.expect(page.locator("#thread-status")).to_have_text("closed", timeout=WAIT_MS)
    page.get_by_role("tab", name="Closed").click()
    playwright_api.expect(row(page, "Hal Jordan")).to_have_count(1, timeout=WAIT_MS)
    page.get_by_role("button", name="Reopen").click()
    playwright_api.expect(page.locator("#thread-status")).to_have_text("open", timeout=WAIT_MS)
    playwright_api.expect(row(page, "Hal Jordan")).to_have_count(0, timeout=WAIT_MS)
    assert inbox.conversation("+14155550106")["status"] == "open"


def test_after_the_24_hour_window_only_a_template_can_be_sent(agent_page, inbox):
    page = agent_page.page
    ivy = Customer("Ivy Chen", "14155550107")
    payload = inbound(ivy, "text", {"body": "Thanks, bye"}, PHONE_NUMBER_ID)
    two_days_ago = int((datetime.now(UTC) - timedelta(days=2)).timestamp())
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(two_days_ago)
    inbox.deliver(payload)
    page.get_by_role("tab", name="Open").click()
    playwright_api.expect(row(page, "Ivy Chen")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Ivy Chen")
    playwright_api.expect(page.locator("#window-notice")).to_contain_text("24-hour window closed")
    playwright_api.expect(page.get_by_label("Message", exact=True)).to_be_disabled()
    page.get_by_role("button", name="Template").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Approved template").select_option(label="order_update (en_US) · utility")
    dialog.get_by_label("Header {{1}}").fill("#5521")
    dialog.get_by_label("Body {{1}}").fill("Ivy")
    dialog.get_by_label("Body {{2}}").fill("#5521")
    dialog.get_by_label("Button 1 {{1}}").fill("5521")
    dialog.get_by_role("button", name="Send template").click()
    playwright_api.expect(dialog).to_be_hidden(timeout=WAIT_MS)
    playwright_api.expect(page.locator("#messages .msg.out")).to_have_count(1, timeout=WAIT_MS)
    sent = inbox.graph.sent[-1]
    assert sent["type"] == "template" and sent["template"]["name"] == "order_update"
    components = {c["type"]: c for c in sent["template"]["components"]}
    assert [p["text"] for p in components["header"]["parameters"]] == ["#5521"]
    assert [p["text"] for p in components["body"]["parameters"]] == ["Ivy", "#5521"]
    assert [p["text"] for p in components["button"]["parameters"]] == ["5521"]


def test_search_finds_a_conversation_by_message_text_and_shows_the_match(agent_page, inbox):
    page = agent_page.page
    kim = Customer("Kim Lee", "14155550109")
    inbox.customer_says(kim, "My parcel tracking says quarantined at customs")
    playwright_api.expect(row(page, "Kim Lee")).to_have_count(1, timeout=WAIT_MS)
    page.get_by_role("tab", name="Open").click()
    page.keyboard.press("/")
    page.keyboard.type("quarantined")
    items = page.locator("#conversation-list li")
    playwright_api.expect(items).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(items.first.locator("mark")).to_have_text("quarantined")
    page.get_by_label("Search conversations").fill("")
    playwright_api.expect(row(page, "Carla Mendes")).to_have_count(1, timeout=WAIT_MS)


def test_an_open_thread_folded_into_the_same_customers_other_thread_follows_it(agent_page, inbox):
    page = agent_page.page
    gil = Customer("Gil Ramos", "14155550131")

    def by_user_id(body: str, with_phone: bool) -> None:
        contact = {"profile": {"name": "Gil Ramos", "username": "@gil"}, "user_id": "US.51505150"}
        message = {
            "from_user_id": "US.51505150",
            "id": new_wamid(),
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": body},
        }
        if with_phone:
            contact["wa_id"] = message["from"] = gil.wa_id
        inbox.deliver(envelope({"contacts": [contact], "messages": [message]}, PHONE_NUMBER_ID))

    inbox.customer_says(gil, "by phone")
    by_user_id("by user id", with_phone=False)
    playwright_api.expect(row(page, "Gil Ramos")).to_have_count(2, timeout=WAIT_MS)
    row(page, "Gil Ramos").filter(has_text="by user id").click()
    playwright_api.expect(page.locator("#messages .msg.in")).to_have_count(1, timeout=WAIT_MS)
    by_user_id("both", with_phone=True)  # Meta now sends both ids: the two threads are one customer's
    playwright_api.expect(row(page, "Gil Ramos")).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(page.locator("#messages .msg.in")).to_have_count(3, timeout=WAIT_MS)


def test_a_long_thread_pages_back_with_load_earlier(agent_page, inbox):
    page = agent_page.page
    leo = Customer("Leo Costa", "14155550110")
    for n in range(105):
        inbox.customer_says(leo, f"line {n}")
    playwright_api.expect(row(page, "Leo Costa")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Leo Costa")
    bubbles = page.locator("#messages .msg.in")
    playwright_api.expect(bubbles).to_have_count(100, timeout=WAIT_MS)
    playwright_api.expect(bubbles.first).to_contain_text("line 5")
    page.get_by_role("button", name="Load earlier messages").click()
    playwright_api.expect(bubbles).to_have_count(105, timeout=WAIT_MS)
    playwright_api.expect(bubbles.first).to_contain_text("line 0")
    playwright_api.expect(page.get_by_role("button", name="Load earlier messages")).to_have_count(0)
    inbox.customer_says(leo, "line 105")  # a live refresh keeps the earlier page
    playwright_api.expect(bubbles).to_have_count(106, timeout=WAIT_MS)


XSS_NAME = "<img src=x onerror=\"window.__pwned='name'\">"
XSS_TEXT = "<script>window.__pwned='text'</script><b>bold?</b>"
XSS_FILE = "<img src=x onerror=alert(1)>.pdf"


def test_script_in_customer_names_texts_and_file_names_stays_inert_and_literal(agent_page, inbox):
    watched = agent_page
    page = watched.page
    mallory = Customer(XSS_NAME, "14155550666")
    inbox.customer_says(mallory, XSS_TEXT)
    document = inbox.graph.add_file(b"%PDF-1.4 not really", "application/pdf")
    inbox.deliver(
        inbound(
            mallory,
            "document",
            {**inbox.graph.media_fields(document), "filename": XSS_FILE, "caption": "<svg onload=alert(2)>"},
            PHONE_NUMBER_ID,
        )
    )
    page.get_by_role("tab", name="Open").click()
    item = page.locator("#conversation-list li").filter(has_text="window.__pwned")
    playwright_api.expect(item).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(item.locator(".conv-name")).to_have_text(XSS_NAME)
    item.locator("button").click()
    playwright_api.expect(page.locator("#thread-name")).to_have_text(XSS_NAME, timeout=WAIT_MS)
    playwright_api.expect(page.locator("#messages .msg.in .text").first).to_have_text(XSS_TEXT)
    playwright_api.expect(page.locator("#messages a.document")).to_contain_text(XSS_FILE)
    playwright_api.expect(page.locator("#messages .msg.in .text").last).to_have_text("<svg onload=alert(2)>")
    time.sleep(0.5)  # give any injected handler the chance to run
    assert watched.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"], #messages script, #messages b, svg').count() == 0


def test_the_dashboard_on_a_phone_shows_one_pane_at_a_time(chromium, inbox):
    watched = signed_in(chromium, inbox, viewport={"width": 390, "height": 780})
    page = watched.page
    inbox.customer_says(Customer("Jo Park", "14155550108"), "Hello from my phone")
    playwright_api.expect(row(page, "Jo Park")).to_have_count(1, timeout=WAIT_MS)
    assert not page.locator(".thread-pane").is_visible()
    open_conversation(page, "Jo Park")
    assert not page.locator(".list-pane").is_visible()
    page.get_by_role("button", name="Back to conversations").click()
    playwright_api.expect(page.locator(".list-pane")).to_be_visible()
    page.context.close()


def test_screenshot_of_a_living_dashboard_for_the_readme(chromium, tmp_path):
    """Runs the simulator's script against a fresh service, then photographs the inbox into docs/."""
    from whatsapp import simulate

    inbox, stop = start_inbox(tmp_path)
    inbox.graph.auto_status = True
    inbox.graph.status_delays = (0.1, 0.2, 0.3)
    try:
        simulate.run(inbox.base, APP_SECRET, graph=inbox.graph, phone_number_id=PHONE_NUMBER_ID, speed=0.05)
        watched = signed_in(chromium, inbox)
        page = watched.page
        open_conversation(page, "Maria Lopez")
        page.get_by_label("Message", exact=True).fill("So sorry about that! A replacement ships today 📦")
        page.keyboard.press("Enter")
        bubble = page.locator("#messages .msg.out").last
        playwright_api.expect(bubble.locator(".ticks[data-status=read]")).to_have_count(1, timeout=WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        page.get_by_role("button", name="Take it").click()
        playwright_api.expect(row(page, "Maria Lopez").locator(".agent-chip")).to_have_text("You", timeout=WAIT_MS)
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "dashboard.png"))
        page.context.close()
        phone = signed_in(chromium, inbox, viewport={"width": 390, "height": 780}).page
        open_conversation(phone, "Priya Nair")
        phone.screenshot(path=str(DOCS / "dashboard-phone.png"))
        phone.context.close()
    finally:
        stop()
    assert (DOCS / "dashboard.png").stat().st_size > 10_000
