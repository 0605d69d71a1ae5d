"""The reports page (issue 16) in headless Chromium against the real app: the top bar's Reports button
opens the page with the period's figures, the two charts (SVG drawn by the page), the table by agent,
the in/out of hours split; the CSV link downloads with the session; an admin sets the first-response
target there, and the list then shows a waiting customer's due time. Also draws
docs/dashboard-reports.png. Same set-up as test_browser_dashboard.py; skipped without Debian's chromium.

Today's figures come from a real exchange (a customer's message five minutes old, Ana's reply through
the API); the six days before are written into the report tables directly, as an older inbox has them.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from whatsapp.simulate import Customer

from .test_browser_dashboard import DOCS, WAIT_MS, add_admin, playwright_api, row, signed_in, start_inbox
from .test_browser_dashboard import chromium as chromium  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.browser
expect = playwright_api.expect

MARIA = Customer("Maria Lopez", "14155550171")
JOAO = Customer("João Pereira", "5511987650172")


def seed_past_days(path: str, ana: int, bruno: int) -> None:
    """Six earlier days of waits, resolutions and counts, as the write paths would have left them."""
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    conn = sqlite3.connect(path)
    with conn:
        for back in range(1, 7):
            day = today - timedelta(days=back)
            for n, (agent, minutes, in_hours) in enumerate(
                ((ana, 3 + back, 1), (bruno, 9 + 2 * back, 1), (ana, 25 + back * 4, 0), (bruno, 6, 1))
            ):
                start = day + timedelta(minutes=47 * n)
                conn.execute(
                    "INSERT INTO response_waits (conversation_id, customer_at, in_hours, answered_at, agent_id)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        1000 + back * 10 + n,
                        f"{start:%Y-%m-%d %H:%M:%S}",
                        in_hours,
                        f"{start + timedelta(minutes=minutes):%Y-%m-%d %H:%M:%S}",
                        agent,
                    ),
                )
            conn.execute(
                "INSERT INTO conversation_resolutions (conversation_id, opened_at, in_hours, closed_at, agent_id)"
                " VALUES (?, ?, 1, ?, ?)",
                (2000 + back, f"{day:%Y-%m-%d %H:%M:%S}", f"{day + timedelta(hours=back):%Y-%m-%d %H:%M:%S}", ana),
            )
            for agent, messages_in, messages_out in ((ana, 9 + back, 7 + back), (bruno, 6 + back % 3, 5), (0, 4, 0)):
                conn.execute(
                    "INSERT INTO report_daily (day, agent_id, messages_in, messages_out, opened, closed)"
                    " VALUES (?, ?, ?, ?, 2, 1)",
                    (f"{day:%Y-%m-%d}", agent, messages_in, messages_out),
                )
    conn.close()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-reports")
    running, stop = start_inbox(tmp)
    path = str(tmp / "inbox.sqlite3")
    add_admin(running, tmp)
    seed_past_days(path, running.agent_ids["Ana Souza"], running.agent_ids["Bruno Lima"])
    running.customer_says(MARIA, "Is my order on its way?", age=300)
    maria = running.conversation("+" + MARIA.wa_id)
    answer = running.service.post(
        f"{running.base}/api/whatsapp/send",
        json={"conversation_id": maria["id"], "message": "Yes, it ships today"},
        headers={"Authorization": f"Bearer {running.keys['Ana Souza']}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    yield running
    stop()


@pytest.fixture
def admin(chromium, inbox):  # noqa: F811 - the fixture imported above
    watched = signed_in(chromium, inbox, name="Ada Admin")
    yield watched
    watched.page.context.close()
    assert watched.errors == [], "the page threw"


def test_the_reports_page_shows_figures_charts_agents_and_downloads_the_csv(admin, inbox):
    page = admin.page
    page.locator("#reports-open").click()
    expect(page.locator("#reports-page")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#conversation-list")).to_be_hidden()
    tiles = page.locator(".report-tile")
    expect(tiles.filter(has_text="First response · median")).to_contain_text("min", timeout=WAIT_MS)
    # 7 days: six seeded days of 4 waits and today's (Maria, answered in about 5 minutes)
    expect(page.locator('[data-figure="first-response"]')).to_contain_text("25 answered")
    expect(page.locator("#chart-first-response rect.chart-bar")).to_have_count(14)
    expect(page.locator("#chart-messages rect.chart-bar")).to_have_count(14)
    agents_table = page.locator("#report-agents")
    expect(agents_table.locator("tbody tr").filter(has_text="Ana Souza")).to_have_count(1)
    expect(agents_table.locator("tbody tr").filter(has_text="Bruno Lima")).to_contain_text("12")
    expect(page.locator("#report-hours")).to_contain_text("First response · out of hours")
    # 30 days: the same figures over more (empty) days
    page.locator("#report-range").select_option("30")
    expect(page.locator("#chart-messages rect.chart-bar")).to_have_count(60, timeout=WAIT_MS)
    page.locator("#report-range").select_option("7")
    expect(page.locator("#chart-messages rect.chart-bar")).to_have_count(14, timeout=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as download:
        page.locator("#report-csv").click()
    text = open(download.value.path(), encoding="utf-8").read()
    header, *rows = text.strip().splitlines()
    assert header.startswith("day,agent_id,agent_name,messages_in,messages_out")
    assert any(",Ana Souza," in line for line in rows) and len(rows) >= 18


def test_an_admin_sets_the_target_and_the_list_shows_the_due_time(admin, inbox):
    page = admin.page
    page.locator("#reports-open").click()
    page.locator("#report-target-minutes").fill("30")
    page.locator("#report-target-save").click()
    expect(page.locator("#report-target-now")).to_contain_text("30 minutes", timeout=WAIT_MS)
    inbox.customer_says(JOAO, "Olá? Alguém?", age=1500)  # 25 minutes ago: 5 of 30 left, under a fifth
    page.locator("#reports-close").click()
    expect(page.locator("#conversation-list")).to_be_visible()
    chip = row(page, "João Pereira").locator(".due-chip")
    expect(chip).to_have_text("due in 5 min", timeout=WAIT_MS)
    expect(chip).to_have_class("due-chip urgent")
    expect(row(page, "Maria Lopez").locator(".due-chip")).to_have_count(0)  # answered


def test_screenshot_of_the_reports_page(admin, inbox):
    page = admin.page
    page.locator("#reports-open").click()
    expect(page.locator("#chart-first-response rect.chart-bar")).to_have_count(14, timeout=WAIT_MS)
    page.set_viewport_size({"width": 1280, "height": 980})
    page.screenshot(path=str(DOCS / "dashboard-reports.png"))
    assert (DOCS / "dashboard-reports.png").stat().st_size > 10_000
