"""Typing (issue 16) in headless Chromium against the real app: two agents in two browser contexts see
each other viewing and typing in a thread, typing sends the customer Meta's typing indicator (checked
by the stand-in Graph as Meta checks it, whatsapp/standin_typing.py), and Send asks first when another
agent is typing there or the conversation is assigned to someone else. An admin switches the
indicator off in Settings. Same set-up as test_browser_dashboard.py; skipped without Debian's chromium."""

from __future__ import annotations

import time

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import DOCS, WAIT_MS, add_admin, open_conversation, playwright_api, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

MARIA = Customer("Maria Lopez", "14155550171")
JOAO = Customer("João Pereira", "5511987650172")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-typing")
    running, stop = start_inbox(tmp)
    add_admin(running, tmp)
    running.wamids = {}
    for who, text in ((MARIA, "Where is my order?"), (JOAO, "Vocês abrem no sábado?")):
        # Meta knows the wamids of the messages the business received: a read call for another is refused
        running.wamids[who.name] = running.customer_says(who, text)
        running.graph.customer_sent(running.wamids[who.name])
    yield running
    stop()


@pytest.fixture
def pages(chromium, inbox):  # noqa: F811 - the fixture imported above
    ana = signed_in(chromium, inbox, name="Ana Souza")
    bruno = signed_in(chromium, inbox, name="Bruno Lima")
    yield ana, bruno
    for watched in (ana, bruno):
        if not watched.page.is_closed():
            watched.page.context.close()
        assert watched.errors == [], "the page threw"
        assert watched.dialogs == []


def typing_calls(inbox) -> list[dict]:
    return [r for r in inbox.graph.reads if "typing_indicator" in r["body"]]


def poll(check, what: str, tries: int = 50):
    """What check() gives once it is truthy (page.wait_for_function does not run under the CSP)."""
    for _ in range(tries):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def test_agents_see_each_other_typing_sends_the_indicator_and_send_asks_first(pages, inbox):
    ana, bruno = (w.page for w in pages)
    open_conversation(bruno, MARIA.name)
    activity = bruno.locator("#thread-activity")
    expect(activity).to_be_hidden()
    open_conversation(ana, MARIA.name)
    expect(activity).to_have_text("Ana Souza is viewing", timeout=WAIT_MS)
    # Ana does not see herself, only Bruno
    expect(ana.locator("#thread-activity")).to_have_text("Bruno Lima is viewing", timeout=WAIT_MS)

    # Ana types: the customer gets Meta's typing indicator (the stand-in accepted it), Bruno sees her typing
    ana.locator("#reply").press_sequentially("Let me check", delay=20)
    [call] = poll(lambda: typing_calls(inbox), "a typing indicator reached the stand-in Graph")
    assert call["status"] == 200
    assert set(call["body"]) == {"messaging_product", "status", "message_id", "typing_indicator"}
    assert call["body"]["typing_indicator"] == {"type": "text"}
    assert call["body"]["message_id"] == inbox.wamids[MARIA.name]
    expect(activity).to_have_text("Ana Souza is typing…", timeout=WAIT_MS)
    assert len(typing_calls(inbox)) == 1  # debounced: one call for the whole burst of keys

    # Bruno presses Send while Ana is typing: asked first; Cancel sends nothing and keeps his draft
    sent_before = len(inbox.graph.sent)
    bruno.locator("#reply").fill("Your order left today")
    ana.locator("#reply").press_sequentially(" now", delay=20)  # Ana still typing
    bruno.locator("#send").click()
    confirm = bruno.locator("#send-confirm")
    expect(confirm).to_be_visible(timeout=WAIT_MS)
    expect(confirm).to_contain_text("Ana Souza is typing here. Send anyway?")
    bruno.screenshot(path=str(DOCS / "dashboard-typing.png"))
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    bruno.wait_for_timeout(300)
    assert len(inbox.graph.sent) == sent_before
    expect(bruno.locator("#reply")).to_have_value("Your order left today")
    # again, and Send anyway: it goes
    ana.locator("#reply").press_sequentially("!", delay=20)
    bruno.locator("#reply").press("Enter")
    expect(confirm).to_be_visible(timeout=WAIT_MS)
    confirm.get_by_role("button", name="Send anyway").click()
    poll(lambda: len(inbox.graph.sent) == sent_before + 1, "the reply was sent")
    assert inbox.graph.sent[-1]["text"]["body"] == "Your order left today"
    expect(bruno.locator("#reply")).to_have_value("", timeout=WAIT_MS)

    # Ana closes her page: Bruno no longer sees her (left, sent as the page goes)
    ana.context.close()
    expect(activity).to_be_hidden(timeout=WAIT_MS)


def test_a_conversation_assigned_to_someone_else_asks_before_sending(pages, inbox):
    ana, bruno = (w.page for w in pages)
    joao = inbox.conversation("+" + JOAO.wa_id)
    answer = inbox.service.post(
        f"{inbox.base}/api/whatsapp/assign-agent",
        json={"conversation_id": joao["id"], "agent_id": inbox.agent_ids["Ana Souza"]},
        timeout=10,
    )
    assert answer.status_code == 200
    open_conversation(bruno, JOAO.name)
    sent_before = len(inbox.graph.sent)
    bruno.locator("#reply").fill("Sim, das 9h às 13h")
    bruno.locator("#reply").press("Enter")
    confirm = bruno.locator("#send-confirm")
    expect(confirm).to_contain_text("This conversation is assigned to Ana Souza. Send anyway?", timeout=WAIT_MS)
    bruno.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    assert len(inbox.graph.sent) == sent_before
    bruno.locator("#send").click()
    confirm.get_by_role("button", name="Send anyway").click()
    poll(lambda: len(inbox.graph.sent) == sent_before + 1, "the reply was sent")
    # Ana, whose conversation it is, is not asked (Bruno stopped typing when he pressed Send)
    open_conversation(ana, JOAO.name)
    expect(ana.locator("#thread-activity")).to_have_text("Bruno Lima is viewing", timeout=WAIT_MS)
    ana.locator("#reply").fill("Obrigada, Bruno")
    ana.locator("#reply").press("Enter")
    poll(lambda: len(inbox.graph.sent) == sent_before + 2, "Ana's reply was sent without asking")
    expect(ana.locator("#send-confirm")).to_be_hidden()


def test_an_admin_switches_the_customers_typing_indicator_off_in_settings(chromium, inbox):  # noqa: F811
    admin = signed_in(chromium, inbox, name="Ada Admin")
    page = admin.page
    try:
        page.locator("#settings-open").click()
        section = page.locator('[data-section="typing"]')
        expect(section).to_be_visible(timeout=WAIT_MS)
        toggle = section.locator("#typing-enabled")
        expect(toggle).to_be_checked(timeout=WAIT_MS)
        toggle.uncheck()
        expect(section.get_by_role("status").filter(has_text="Saved")).to_be_visible(timeout=WAIT_MS)
        answer = inbox.service.get(f"{inbox.base}/api/whatsapp/typing-settings", timeout=10).json()
        assert answer["typing_indicators"] == {"enabled": False}
        toggle.check()
        expect(section.get_by_role("status").filter(has_text="Saved")).to_be_visible(timeout=WAIT_MS)
        answer = inbox.service.get(f"{inbox.base}/api/whatsapp/typing-settings", timeout=10).json()
        assert answer["typing_indicators"] == {"enabled": True}
    finally:
        page.context.close()
    assert admin.errors == []
