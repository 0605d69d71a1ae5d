"""The thread in a real headless Chromium: failed media, drafts, scrolling, in-place updates, the server
going away. Same set-up as test_browser_dashboard.py (the real app on a loopback port, the simulator's
stand-in Graph API); skipped without Debian's chromium and Playwright.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
import wave

import pytest

from whatsapp.simulate import Customer, inbound, png

from .test_browser_dashboard import (
    LOADED_320,
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

# How far the newest message is below the visible part of the thread, in px (0: in view at the bottom).
AT_BOTTOM = """() => {
    const box = document.getElementById('messages');
    return box.scrollHeight - box.scrollTop - box.clientHeight;
}"""
IMAGES_LOADED = "() => [...document.querySelectorAll('#messages img')].every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-thread"))
    yield running
    stop()


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811 - the fixture imported above
    watched = signed_in(chromium, inbox)
    watched.requests = []
    watched.page.on("request", lambda request: watched.requests.append(request.url))
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def media_state(inbox: Inbox, phone: str, message_type: str) -> str | None:
    answer = inbox.service.get(f"{inbox.base}/api/whatsapp/messages", params={"phone_number": phone}, timeout=10)
    found = [m for m in answer.json()["messages"] if m["type"] == message_type]
    return found[-1]["media_state"] if found else None


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def wav_of_silence(seconds: int) -> bytes:
    """A valid WAV file (8 kHz, 8-bit mono) that Chromium plays: a stand-in voice note."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 8000 * seconds)
    return out.getvalue()


def sent_texts(inbox: Inbox) -> list[tuple[str, str]]:
    return [(m.get("to"), m["text"]["body"]) for m in inbox.graph.sent if m.get("type") == "text"]


# --- 19: a failed download ----------------------------------------------------------------------


def test_a_failed_inbound_image_shows_not_available_with_retry_and_is_not_fetched_again_and_again(agent, inbox):
    page = agent.page
    nia = Customer("Nia Holt", "14155550201")
    photo = png(seed=40)
    media_id = str(uuid.uuid4().int % 10**15)  # a Meta-style id the stand-in does not (yet) have
    inbox.customer_says(nia, "Here is the damage")
    image = {"id": media_id, "mime_type": "image/png", "sha256": hashlib.sha256(photo).hexdigest()}
    inbox.deliver(inbound(nia, "image", image, PHONE_NUMBER_ID))
    wait_for(lambda: media_state(inbox, "+14155550201", "image") == "failed")
    expect(row(page, "Nia Holt")).to_have_count(1, timeout=WAIT_MS)

    open_conversation(page, "Nia Holt")
    bubble = page.locator("#messages .msg.in").filter(has_text="not available")
    expect(bubble.locator(".media-missing")).to_have_text("Image not available", timeout=WAIT_MS)
    retry = bubble.get_by_role("button", name="Retry downloading the image")
    expect(retry).to_be_visible()
    page.wait_for_timeout(3000)
    media_gets = [u for u in agent.requests if "/api/whatsapp/media/" in u and not u.endswith("/retry")]
    thread_gets = [u for u in agent.requests if "/api/whatsapp/messages?" in u]
    assert len(media_gets) <= 1, media_gets
    assert len(thread_gets) <= 2, thread_gets

    # Meta has it now: Retry downloads it and the photo shows in place of the notice.
    inbox.graph.files[media_id] = (photo, "image/png")
    retry.click()
    shown = page.locator("#messages .msg.in img.image")
    expect(shown).to_have_count(1, timeout=WAIT_MS)
    page.wait_for_function(LOADED_320, arg=shown.element_handle(), timeout=WAIT_MS)
    expect(page.locator("#messages .media-failed")).to_have_count(0)


def test_an_image_that_fails_while_the_thread_is_open_settles_on_not_available(agent, inbox):
    page = agent.page
    oto = Customer("Oto Lind", "14155550202")
    inbox.customer_says(oto, "One moment, sending a photo")
    expect(row(page, "Oto Lind")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Oto Lind")
    before = len(agent.requests)
    image = {"id": str(uuid.uuid4().int % 10**15), "mime_type": "image/png", "sha256": "0" * 64}
    inbox.deliver(inbound(oto, "image", image, PHONE_NUMBER_ID))
    expect(page.locator("#messages .media-failed .media-missing")).to_have_text("Image not available", timeout=WAIT_MS)
    page.wait_for_timeout(3000)
    media_gets = [u for u in agent.requests[before:] if "/api/whatsapp/media/" in u]
    assert len(media_gets) <= 1, media_gets


# --- 21: drafts belong to their conversation -----------------------------------------------------


def test_a_draft_stays_with_its_conversation_and_enter_sends_only_there(agent, inbox):
    page = agent.page
    priya, lena = Customer("Priya Nair", "14155550211"), Customer("Lena Fischer", "14155550212")
    inbox.customer_says(priya, "Where is my refund?")
    inbox.customer_says(lena, "Do you ship to Austria?")
    expect(row(page, "Lena Fischer")).to_have_count(1, timeout=WAIT_MS)
    box = page.get_by_label("Message", exact=True)

    open_conversation(page, "Priya Nair")
    box.fill("Your refund left today, Priya")
    open_conversation(page, "Lena Fischer")
    expect(box).to_have_value("")
    box.focus()
    page.keyboard.press("Enter")
    box.fill("Yes, we ship to Austria")
    page.wait_for_timeout(500)
    assert sent_texts(inbox) == [], "nothing was sent: Lena's box was empty"

    open_conversation(page, "Priya Nair")
    expect(box).to_have_value("Your refund left today, Priya")
    box.focus()
    page.keyboard.press("Enter")
    sent = page.locator("#messages .msg.out").filter(has_text="Your refund left today")
    expect(sent).to_have_count(1, timeout=WAIT_MS)
    expect(box).to_have_value("")
    assert sent_texts(inbox) == [("+" + priya.wa_id, "Your refund left today, Priya")]

    open_conversation(page, "Lena Fischer")
    expect(box).to_have_value("Yes, we ship to Austria")
    page.reload()  # a draft survives a reload of the tab
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    open_conversation(page, "Lena Fischer")
    expect(box).to_have_value("Yes, we ship to Austria")
    open_conversation(page, "Priya Nair")
    expect(box).to_have_value("")
    assert sent_texts(inbox) == [("+" + priya.wa_id, "Your refund left today, Priya")]
    page.get_by_role("button", name="Sign out").click()  # and signing out leaves no draft in the tab
    page.wait_for_url("**/login")
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('wa-inbox:draft:'))") == []


# --- 22: the newest message stays in view --------------------------------------------------------


def test_a_thread_with_photos_opens_at_the_newest_message_and_a_message_below_the_fold_gets_a_button(agent, inbox):
    page = agent.page
    ray = Customer("Ray Toivonen", "14155550221")
    for n in range(12):
        inbox.customer_says(ray, f"question {n}")
    for seed in (60, 61, 62):
        photo = inbox.graph.add_file(png(seed=seed), "image/png")
        inbox.deliver(inbound(ray, "image", inbox.graph.media_fields(photo), PHONE_NUMBER_ID))
    inbox.customer_says(ray, "the newest message")
    expect(row(page, "Ray Toivonen")).to_have_count(1, timeout=WAIT_MS)

    # The photos arrive only once the thread has settled (opened, marked read, refreshed): so what
    # brings the newest message back into view is the photos loading, not a later refresh.
    held = []
    page.route("**/api/whatsapp/media/**", lambda route: held.append(route))
    open_conversation(page, "Ray Toivonen")
    expect(page.locator("#messages img.image")).to_have_count(3, timeout=WAIT_MS)
    for _ in range(100):  # Playwright runs the route handler only while the page is waited on
        if len(held) == 3:
            break
        page.wait_for_timeout(50)
    assert len(held) == 3
    expect(row(page, "Ray Toivonen").locator(".badge")).to_have_count(0, timeout=WAIT_MS)
    page.wait_for_timeout(1000)
    for route in held:
        route.continue_()
    page.unroute("**/api/whatsapp/media/**")
    page.wait_for_function(IMAGES_LOADED, timeout=WAIT_MS)
    assert page.evaluate(AT_BOTTOM) <= 2
    assert page.locator("#messages .msg").last.is_visible()

    # While at the bottom, a live photo keeps the newest message in view once it has loaded.
    photo = inbox.graph.add_file(png(seed=63), "image/png")
    inbox.deliver(inbound(ray, "image", inbox.graph.media_fields(photo), PHONE_NUMBER_ID))
    expect(page.locator("#messages img.image")).to_have_count(4, timeout=WAIT_MS)
    page.wait_for_function(IMAGES_LOADED, timeout=WAIT_MS)
    assert page.evaluate(AT_BOTTOM) <= 2

    # Scrolled up, a live message does not move the view: a button says it came, and goes there.
    page.locator("#messages").evaluate("b => { b.scrollTop = 0; }")
    page.wait_for_function("() => document.getElementById('messages').scrollTop === 0")
    inbox.customer_says(ray, "are you there?")
    button = page.get_by_role("button", name="1 new message ↓")
    expect(button).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#messages").evaluate("b => b.scrollTop") == 0
    button.click()
    expect(button).to_be_hidden()
    assert page.evaluate(AT_BOTTOM) <= 2
    expect(page.locator("#messages .msg").last).to_contain_text("are you there?")


# --- 23: bubbles are updated in place, and no include_raw ----------------------------------------


def test_a_status_changes_the_tick_in_place_and_every_other_node_of_the_thread_stays(agent, inbox):
    page = agent.page
    sam = Customer("Sam Achebe", "14155550231")
    voice = inbox.graph.add_file(wav_of_silence(seconds=30), "audio/wav")
    inbox.customer_says(sam, "Listen to this")
    inbox.deliver(inbound(sam, "audio", {**inbox.graph.media_fields(voice), "voice": True}, PHONE_NUMBER_ID))
    helsinki = {"latitude": 60.1699, "longitude": 24.9384, "name": "Helsinki"}
    inbox.deliver(inbound(sam, "location", helsinki, PHONE_NUMBER_ID))
    expect(row(page, "Sam Achebe")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Sam Achebe")
    page.get_by_label("Message", exact=True).fill("Got it, thanks")
    page.keyboard.press("Enter")
    reply = page.locator("#messages .msg.out").filter(has_text="Got it, thanks")
    expect(reply.locator(".ticks")).to_have_count(1, timeout=WAIT_MS)
    link = page.locator("#messages a.location")
    expect(link).to_contain_text("Helsinki")
    assert link.get_attribute("href").startswith("https://www.openstreetmap.org/?mlat=60.1699&mlon=24.9384")
    # The agent plays the voice note (muted: headless Chromium's autoplay rule), then ticks arrive.
    player = page.locator("#messages audio")
    expect(player).to_have_count(1, timeout=WAIT_MS)
    player.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("() => { const a = document.querySelector('#messages audio'); return a && !a.paused; }")
    # Mark every bubble and the player as they are now.
    marked = page.evaluate(
        """() => {
            const nodes = [...document.querySelectorAll('#messages > li, #messages audio, #messages .content')];
            nodes.forEach((n, i) => { n.__mark = i; });
            return nodes.length;
        }"""
    )
    sent = next(m for m in inbox.graph.sent if m.get("text", {}).get("body") == "Got it, thanks")
    for state in ("sent", "delivered", "read"):
        inbox.status(sent["_wamid"], state, sam.wa_id)
        expect(reply.locator(f".ticks[data-status={state}]")).to_have_count(1, timeout=WAIT_MS)
    still = page.evaluate(
        """() => [...document.querySelectorAll('#messages > li, #messages audio, #messages .content')]
                 .filter(n => n.__mark !== undefined).length"""
    )
    assert still == marked
    assert player.evaluate("a => a.__mark !== undefined && !a.paused && a.currentTime > 0"), "the voice note stopped"
    assert not [u for u in agent.requests if "include_raw" in u]


# --- 24: the server going away --------------------------------------------------------------------


def test_with_the_server_unreachable_the_page_says_so_throws_nothing_and_recovers(agent, inbox):
    page = agent.page
    uma = Customer("Uma Rossi", "14155550241")
    inbox.customer_says(uma, "Hello?")
    expect(row(page, "Uma Rossi")).to_have_count(1, timeout=WAIT_MS)

    page.route("**/api/whatsapp/**", lambda route: route.abort("connectionrefused"))
    row(page, "Uma Rossi").locator("button").click()
    banner = page.locator("#offline")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(banner).to_have_role("alert")
    expect(banner).to_contain_text("Can't reach the inbox server — retrying…")
    expect(page.locator("#messages")).to_have_text("The messages will show when the inbox server is back.")
    page.get_by_label("Message", exact=True).fill("Are you still there?")
    page.keyboard.press("Enter")
    expect(page.locator("#send-error")).to_contain_text("Not sent: can't reach the inbox server", timeout=WAIT_MS)
    assert "Failed to fetch" not in page.locator("body").inner_text()
    assert agent.errors == []

    page.unroute("**/api/whatsapp/**")
    expect(banner).to_be_hidden(timeout=20_000)
    expect(page.locator("#messages .msg.in .text")).to_have_text(["Hello?"], timeout=WAIT_MS)
    expect(page.get_by_label("Message", exact=True)).to_have_value("Are you still there?")
    assert "Failed to fetch" not in page.locator("body").inner_text()
