"""Agent actions and the admins' Agents settings in a real headless Chromium against the real app (issue 15):
react with the emoji picker, retry a failed send, mark unread, snooze, select several conversations and
assign or close them at once; an admin creates an agent (key shown once), deactivates one, resets a key and
changes a role; an agent never gets the Agents section. Same set-up as test_browser_dashboard.py."""

from __future__ import annotations

import json

import pytest
import requests

from whatsapp.simulate import Customer

from .test_browser_dashboard import DOCS, WAIT_MS, open_conversation, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect
META_DOWN = (
    500,
    json.dumps({"error": {"message": "An unexpected error has occurred", "code": 2}}).encode(),
    "application/json",
)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    running, stop = start_inbox(tmp_path_factory.mktemp("browser-actions"))
    yield running
    stop()


def watched_page(chromium, inbox, name):  # noqa: F811
    watched = signed_in(chromium, inbox, name=name)
    page = watched.page
    page.remove_listener("dialog", watched._dialog)

    def accept(dialog) -> None:  # "OK" to the reset-key confirmation
        watched.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return watched


@pytest.fixture
def agent(chromium, inbox):  # noqa: F811
    watched = watched_page(chromium, inbox, "Bruno Lima")
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


@pytest.fixture
def admin(chromium, inbox):  # noqa: F811
    promoted = inbox.service.post(
        f"{inbox.base}/api/whatsapp/agents/{inbox.agent_ids['Ana Souza']}/role", json={"role": "admin"}
    )
    assert promoted.status_code == 200, promoted.text
    watched = watched_page(chromium, inbox, "Ana Souza")
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def bubble(page, text: str):
    return page.locator("#messages li.msg").filter(has_text=text)


def test_react_retry_mark_unread_and_snooze_from_the_thread(agent, inbox):
    page = agent.page
    jo = Customer("Jo March", "14155550171")
    inbox.customer_says(jo, "Did my refund go through?")
    expect(row(page, "Jo March")).to_have_count(1, timeout=WAIT_MS)
    open_conversation(page, "Jo March")

    # react: the picker on the customer's message
    message = bubble(page, "Did my refund go through?")
    message.hover()
    message.get_by_role("button", name="React to this message").click()
    message.get_by_role("button", name="React 🙏").click()
    expect(message.locator(".reactions")).to_have_text("🙏", timeout=WAIT_MS)
    [reaction] = [s for s in inbox.graph.sent if s.get("type") == "reaction"]
    assert reaction["reaction"]["emoji"] == "🙏" and reaction["to"] == "+14155550171"

    # retry: Meta fails the send, the agent sends it again from the bubble
    inbox.graph.send_answers.append(META_DOWN)
    page.locator("#reply").fill("Yes, it went out this morning.")
    page.locator("#reply").press("Enter")
    failed = bubble(page, "Yes, it went out this morning.")
    expect(failed.get_by_role("button", name="Retry")).to_be_visible(timeout=WAIT_MS)
    failed.get_by_role("button", name="Retry").click()
    expect(bubble(page, "Yes, it went out this morning.")).to_have_count(2, timeout=WAIT_MS)
    expect(failed.first.locator(".retried")).to_have_text("Sent again below", timeout=WAIT_MS)
    expect(page.locator("#messages .retry-btn")).to_have_count(0)
    assert [s["text"]["body"] for s in inbox.graph.sent if s.get("type") == "text"] == [
        "Yes, it went out this morning."
    ]

    # mark unread: the thread closes and the conversation counts as unread again
    page.get_by_role("button", name="Mark unread").click()
    expect(page.locator("#thread")).to_be_hidden(timeout=WAIT_MS)
    expect(row(page, "Jo March").locator(".badge")).to_have_text("1", timeout=WAIT_MS)
    assert inbox.conversation("+14155550171")["unread_count"] == 1

    # snooze: a preset; it leaves All for Snoozed, and comes back when the customer writes
    open_conversation(page, "Jo March")
    page.get_by_role("button", name="Snooze").click()
    page.get_by_role("button", name="1 hour").click()
    expect(page.locator("#snoozed-chip")).to_contain_text("Snoozed until", timeout=WAIT_MS)
    expect(row(page, "Jo March")).to_have_count(0, timeout=WAIT_MS)
    page.get_by_role("tab", name="Snoozed").click()
    expect(row(page, "Jo March")).to_have_count(1, timeout=WAIT_MS)
    expect(row(page, "Jo March").locator(".snooze-chip")).to_contain_text("Snoozed ·")
    expect(page.locator('[data-count="snoozed"]')).to_have_text("1")
    inbox.customer_says(jo, "Thanks!")
    expect(row(page, "Jo March")).to_have_count(0, timeout=WAIT_MS)
    page.get_by_role("tab", name="Open").click()
    expect(row(page, "Jo March")).to_have_count(1, timeout=WAIT_MS)
    assert inbox.conversation("+14155550171")["snoozed_until"] is None


def test_select_several_conversations_and_assign_or_close_them_at_once(agent, inbox):
    page = agent.page
    people = [
        Customer(name, f"1415555018{n}") for n, name in enumerate(["Meg Brooke", "Laurie Laurence", "Amy Dashwood"])
    ]
    for person in people:
        inbox.customer_says(person, f"Hello from {person.name}")
    for person in people:
        expect(row(page, person.name)).to_have_count(1, timeout=WAIT_MS)
    page.get_by_label("Select Meg Brooke").check()
    page.get_by_label("Select Laurie Laurence").check()
    bar = page.get_by_role("toolbar", name="Selected conversations")
    expect(bar).to_be_visible()
    expect(bar.locator("#bulk-count")).to_have_text("2 selected")
    page.screenshot(path=str(DOCS / "dashboard-bulk.png"))
    bar.get_by_label("Assign the selected conversations to").select_option(label="Ana Souza")
    expect(page.locator("#bulk-result")).to_have_text("2 assigned", timeout=WAIT_MS)
    expect(bar).to_be_hidden()
    for name in ("Meg Brooke", "Laurie Laurence"):
        expect(row(page, name).locator(".agent-chip")).to_have_text("Ana Souza", timeout=WAIT_MS)
    expect(row(page, "Amy Dashwood").locator(".agent-chip")).to_have_text("Unassigned")
    page.get_by_label("Select Meg Brooke").check()
    page.get_by_label("Select Amy Dashwood").check()
    bar.get_by_role("button", name="Close").click()
    expect(page.locator("#bulk-result")).to_have_text("2 closed", timeout=WAIT_MS)
    expect(row(page, "Meg Brooke")).to_have_count(0, timeout=WAIT_MS)
    expect(row(page, "Amy Dashwood")).to_have_count(0)
    expect(row(page, "Laurie Laurence")).to_have_count(1)
    assert [inbox.conversation("+" + p.wa_id)["status"] for p in people] == ["closed", "assigned", "closed"]


def test_an_admin_manages_agents_on_the_settings_page(admin, inbox):
    page = admin.page
    page.get_by_role("button", name="Settings").click()
    section = page.locator('#settings-dialog [data-section="agents"]')
    expect(section).to_be_visible(timeout=WAIT_MS)
    expect(section.locator("tbody tr")).to_have_count(2, timeout=WAIT_MS)
    section.get_by_label("Name").fill("Carla Reyes")
    section.get_by_role("button", name="Create agent").click()
    key_field = section.get_by_label("Key of Carla Reyes")
    expect(key_field).to_be_visible(timeout=WAIT_MS)
    key = key_field.input_value()
    assert key.startswith("wak_")
    me = requests.get(f"{inbox.base}/api/whatsapp/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert me.json()["agent"]["name"] == "Carla Reyes"
    carla = section.locator("tbody tr").filter(has_text="Carla Reyes")
    expect(carla).to_have_count(1, timeout=WAIT_MS)
    page.screenshot(path=str(DOCS / "dashboard-settings.png"))

    carla.get_by_label("Role of Carla Reyes").select_option("admin")
    expect(
        section.locator("tbody tr").filter(has_text="Carla Reyes").get_by_label("Role of Carla Reyes")
    ).to_have_value("admin", timeout=WAIT_MS)
    section.locator("tbody tr").filter(has_text="Carla Reyes").get_by_role("button", name="Deactivate").click()
    expect(section.locator("tbody tr").filter(has_text="Carla Reyes")).to_contain_text("deactivated", timeout=WAIT_MS)
    gone = requests.get(f"{inbox.base}/api/whatsapp/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert gone.status_code == 401

    old = inbox.keys["Bruno Lima"]
    section.locator("tbody tr").filter(has_text="Bruno Lima").get_by_role("button", name="Reset key").click()
    new_field = section.get_by_label("Key of Bruno Lima")
    expect(new_field).to_be_visible(timeout=WAIT_MS)
    new = new_field.input_value()
    assert any("new key" in d for d in admin.dialogs)
    assert (
        requests.get(
            f"{inbox.base}/api/whatsapp/me", headers={"Authorization": f"Bearer {old}"}, timeout=10
        ).status_code
        == 401
    )
    assert (
        requests.get(
            f"{inbox.base}/api/whatsapp/me", headers={"Authorization": f"Bearer {new}"}, timeout=10
        ).status_code
        == 200
    )
    inbox.keys["Bruno Lima"] = new  # for the tests after this one
    # the admin cannot lock themself out from here
    mine = section.locator("tbody tr").filter(has_text="Ana Souza (you)")
    expect(mine.get_by_role("button", name="Deactivate")).to_be_disabled()
    expect(mine.get_by_label("Role of Ana Souza")).to_be_disabled()


def test_an_agent_gets_no_agents_section(agent):
    page = agent.page
    settings = page.get_by_role("button", name="Settings")
    if settings.is_visible():
        settings.click()
        expect(page.locator("#settings-dialog")).to_be_visible()
    expect(page.locator('[data-section="agents"]')).to_have_count(0)
