"""Labels in the dashboard (issue 15), in headless Chromium against the real app: an admin manages them
in Settings, any agent puts them on the open conversation with the picker and takes them off, the list
shows them as coloured chips, filters by them and counts them, and other agents see changes live.
Same set-up as test_browser_dashboard.py; skipped without Debian's chromium."""

from __future__ import annotations

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import (
    DOCS,
    WAIT_MS,
    add_admin,
    close_pages,
    open_conversation,
    playwright_api,
    row,
    signed_in,
    start_inbox,
)
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

MARIA = Customer("Maria Lopez", "14155550161")
JOAO = Customer("João Pereira", "5511987650162")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-labels")
    running, stop = start_inbox(tmp)
    add_admin(running, tmp)
    running.customer_says(MARIA, "My invoice is wrong")
    running.customer_says(JOAO, "Olá, preciso de ajuda")
    yield running
    stop()


@pytest.fixture
def pages(chromium, inbox):  # noqa: F811 - the fixture imported above
    admin = signed_in(chromium, inbox, name="Ada Admin")
    agent = signed_in(chromium, inbox, name="Ana Souza")
    yield admin, agent
    close_pages(admin, agent)


def create_in_settings(page, name: str, colour: str) -> None:
    page.locator("#label-new-name").fill(name)
    page.locator("#label-new-colour").fill(colour)
    page.get_by_role("button", name="Add label").click()
    expect(page.locator(".label-row").filter(has_text=name)).to_have_count(1, timeout=WAIT_MS)


def test_admins_manage_labels_agents_apply_them_and_the_list_shows_filters_and_counts_them(pages, inbox):
    admin, agent = (w.page for w in pages)
    # only an admin manages labels (an agent's Settings, if it has one, holds no Labels section)
    expect(admin.locator("#settings-open")).to_be_visible(timeout=WAIT_MS)
    expect(agent.locator('[data-section="labels"]')).to_have_count(0)
    admin.locator("#settings-open").click()
    section = admin.locator('[data-section="labels"]')
    expect(section).to_be_visible()
    create_in_settings(admin, "VIP", "#e11d48")
    create_in_settings(admin, "Billing", "#2563eb")
    create_in_settings(admin, "Spam", "#6b7280")
    # rename and recolour
    billing = admin.locator(".label-row").filter(has_text="Billing")
    billing.get_by_label("Name of Billing").fill("Invoices")
    billing.get_by_label("Colour of Billing").fill("#16a34a")
    billing.get_by_role("button", name="Save").click()
    expect(admin.locator(".label-row").filter(has_text="Invoices")).to_have_count(1, timeout=WAIT_MS)
    # a name taken whatever its case is refused in place
    create_in_settings(admin, "Urgent", "#f59e0b")
    admin.locator("#label-new-name").fill("vip")
    admin.get_by_role("button", name="Add label").click()
    expect(section.get_by_role("alert")).to_contain_text("exists already")
    # delete asks once more in place
    spam = admin.locator(".label-row").filter(has_text="Spam")
    spam.get_by_role("button", name="Delete").click()
    spam.get_by_role("button", name="Delete “Spam” from every conversation?").click()
    expect(admin.locator(".label-row").filter(has_text="Spam")).to_have_count(0, timeout=WAIT_MS)
    admin.locator("#settings-close").click()

    # an agent labels a conversation with the picker: chips in the header and in the list, on both pages
    open_conversation(agent, MARIA.name)
    agent.locator("#label-add").click()
    picker = agent.locator("#label-picker")
    expect(picker).to_be_visible()
    expect(picker.get_by_role("menuitemcheckbox")).to_have_count(3, timeout=WAIT_MS)  # Invoices, Urgent, VIP
    picker.get_by_placeholder("Find a label").fill("vi")
    expect(picker.get_by_role("menuitemcheckbox")).to_have_count(1)
    picker.get_by_role("menuitemcheckbox", name="VIP").click()
    expect(picker.get_by_role("menuitemcheckbox", name="VIP")).to_have_attribute(
        "aria-checked", "true", timeout=WAIT_MS
    )
    picker.get_by_placeholder("Find a label").fill("")
    picker.get_by_role("menuitemcheckbox", name="Invoices").click()
    head = agent.locator(".thread-head .thread-labels .label-chips")
    expect(head.locator(".label-chip")).to_have_text(["Invoices×", "VIP×"], timeout=WAIT_MS)
    expect(row(agent, MARIA.name).locator(".label-chip")).to_have_text(["Invoices", "VIP"], timeout=WAIT_MS)
    expect(row(admin, MARIA.name).locator(".label-chip")).to_have_text(["Invoices", "VIP"], timeout=WAIT_MS)  # live
    # read in one go (the list is redrawn on live updates, so a node found a moment before may be gone)
    colour_js = """() => {
        const dots = [...document.querySelectorAll('#conversation-list .label-chip .label-dot')];
        return dots.length ? getComputedStyle(dots[dots.length - 1]).backgroundColor : null;
    }"""
    for _ in range(50):
        colour = agent.evaluate(colour_js)
        if colour == "rgb(225, 29, 72)":
            break
        agent.wait_for_timeout(100)
    assert colour == "rgb(225, 29, 72)"  # #e11d48
    agent.keyboard.press("Escape")
    expect(picker).to_be_hidden()

    # the filter lists each label with its count, and narrows the list
    inbox.service.post(
        f"{inbox.base}/api/whatsapp/add-label", json={"phone_number": "+" + JOAO.wa_id, "label": "VIP"}, timeout=10
    )
    labels = agent.locator("#label-filter")
    expect(labels.locator("option")).to_have_text(["All labels", "Invoices (1)", "Urgent", "VIP (2)"], timeout=WAIT_MS)
    labels.select_option(label="Invoices (1)")
    expect(agent.locator("#conversation-list li")).to_have_count(1, timeout=WAIT_MS)
    expect(row(agent, MARIA.name)).to_have_count(1)
    labels.select_option(label="All labels")
    expect(agent.locator("#conversation-list li")).to_have_count(2, timeout=WAIT_MS)

    # an admin's rename and recolour reach the agent's chips without a reload
    admin.locator("#settings-open").click()
    invoices = admin.locator(".label-row").filter(has_text="Invoices")
    invoices.get_by_label("Name of Invoices").fill("Billing")
    invoices.get_by_role("button", name="Save").click()
    admin.locator("#settings-close").click()
    expect(head.locator(".label-chip")).to_have_text(["Billing×", "VIP×"], timeout=WAIT_MS)
    expect(row(agent, MARIA.name).locator(".label-chip")).to_have_text(["Billing", "VIP"], timeout=WAIT_MS)

    # the screenshot of the panel: chips in the list and the header, the picker open
    agent.locator("#label-add").click()
    expect(picker.get_by_role("menuitemcheckbox")).to_have_count(3)
    agent.screenshot(path=str(DOCS / "dashboard-labels.png"))
    agent.keyboard.press("Escape")

    # taking a label off from its chip
    head.get_by_role("button", name="Remove label Billing").click()
    expect(head.locator(".label-chip")).to_have_text(["VIP×"], timeout=WAIT_MS)
    expect(row(admin, MARIA.name).locator(".label-chip")).to_have_text(["VIP"], timeout=WAIT_MS)

    # deleting a label takes it off every conversation, on every page, and out of the filter
    admin.locator("#settings-open").click()
    vip = admin.locator(".label-row").filter(has_text="VIP")
    vip.get_by_role("button", name="Delete").click()
    vip.get_by_role("button", name="Delete “VIP” from every conversation?").click()
    admin.locator("#settings-close").click()
    expect(head.locator(".label-chip")).to_have_count(0, timeout=WAIT_MS)
    expect(agent.locator("#conversation-list .label-chip")).to_have_count(0, timeout=WAIT_MS)
    expect(labels.locator("option")).to_have_text(["All labels", "Billing", "Urgent"], timeout=WAIT_MS)
