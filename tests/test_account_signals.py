"""Account signals an operator must see (issue 14): template status, quality and category webhooks
that the template cache follows at once; the number's quality and limits, the account's restrictions
and bans, capabilities, value-level errors and changes for another number on /health; and a
customer's stop of marketing messages, which refuses MARKETING templates with 409. Every payload is
posted signed, in the shape of Meta's webhook reference (tests/fixtures/SOURCES.md), against a
stand-in Graph API that holds and checks templates as Meta does."""

from __future__ import annotations

import copy
import re
import sqlite3

import pytest

from app import create_app
from whatsapp import db

from .helpers import (
    AGENT_KEY,
    PHONE_NUMBER_ID,
    WABA_ID,
    app_connection,
    envelope,
    fixture,
    now_ts,
    post_webhook,
    serve_meta_templates,
    text_message,
)

SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"
TEMPLATES_PATH = f"/v26.0/{WABA_ID}/message_templates"
CUSTOMER = "+14155550123"


def template(name: str, category: str, language: str = "en_US") -> dict:
    return {
        "id": f"{abs(hash(name)) % 10**12}",
        "name": name,
        "language": language,
        "status": "APPROVED",
        "category": category,
        "components": [{"type": "BODY", "text": "Hello from us"}],
    }


ORDER_UPDATE = template("order_update", "UTILITY")
WE_MISS_YOU = template("we_miss_you", "MARKETING")
LOGIN_CODE = template("login_code", "AUTHENTICATION")


@pytest.fixture
def app(settings):
    return create_app({**settings, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID})


@pytest.fixture
def client(app):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    return test_client


@pytest.fixture
def meta(graph):
    serve_meta_templates(graph, [ORDER_UPDATE, WE_MISS_YOU, LOGIN_CODE])
    return graph


def deliver(client, body: dict) -> dict:
    answer = post_webhook(client, body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["state"] == "processed", answer.get_json()
    return answer.get_json()


def listed(client) -> list[str]:
    answer = client.get("/api/whatsapp/templates")
    assert answer.status_code == 200, answer.get_json()
    return [t["name"] for t in answer.get_json()["templates"]]


def send_template(client, name: str, to: str = CUSTOMER):
    return client.post(
        "/api/whatsapp/send",
        json={"phone_number": to, "type": "template", "template": {"name": name, "language": "en_US"}},
    )


def sends(graph) -> list[dict]:
    return [r.get_json() for r, _ in graph.log if r.path == SEND_PATH]


def health(client) -> dict:
    answer = client.get("/api/whatsapp/health")
    assert answer.status_code == 200
    return answer.get_json()["health"]


def events(app, kind: str) -> int:
    with app_connection(app) as conn:
        return conn.execute("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]


def at(body: dict, time: int) -> dict:
    """The same payload as Meta would send it at another time (the entry's `time`)."""
    body = copy.deepcopy(body)
    body["entry"][0]["time"] = time
    return body


def now(name: str, seconds_ago: int = 0) -> dict:
    """A fixture as Meta sends it now: a change newer than the listing the service cached before it."""
    return at(fixture(name), now_ts() - seconds_ago)


# --- templates -------------------------------------------------------------------------------


def test_a_paused_template_is_not_offered_at_once_and_its_send_is_refused_with_metas_reason(client, meta):
    assert listed(client) == ["order_update", "we_miss_you", "login_code"]
    deliver(client, now("template_status_paused"))
    assert listed(client) == ["we_miss_you", "login_code"]  # from the cache: no new listing was needed
    assert sum(r.path == TEMPLATES_PATH for r, _ in meta.log) == 1

    answer = send_template(client, "order_update")
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["success"] is False and body["template_status"] == "PAUSED"
    assert "WhatsApp reports it PAUSED" in body["error"] and "FIRST_PAUSE" in body["error"]
    assert sends(meta) == []  # refused before Meta

    deliver(client, now("template_status_reinstated"))
    assert listed(client) == ["order_update", "we_miss_you", "login_code"]
    assert send_template(client, "order_update").status_code == 200
    assert [s["template"]["name"] for s in sends(meta)] == ["order_update"]


def test_a_rejected_template_is_refused_even_when_metas_listing_cannot_be_read(client, graph):
    graph.expect_request(TEMPLATES_PATH, method="GET").respond_with_json(
        {"error": {"message": "Service temporarily unavailable", "code": 2}}, status=503
    )
    deliver(client, fixture("template_status_rejected"))
    answer = client.post(
        "/api/whatsapp/send",
        json={"phone_number": CUSTOMER, "type": "template", "template": {"name": "abandoned_cart", "language": "en"}},
    )
    assert answer.status_code == 409
    assert answer.get_json()["template_reason"] == "INVALID_FORMAT"
    assert "parameters placed next to each other" in answer.get_json()["error"]
    assert sends(graph) == []


def test_a_late_retry_of_an_older_template_status_changes_nothing(client, app, meta):
    paused = now("template_status_paused")
    deliver(client, paused)
    before = events(app, "account.updated")
    deliver(client, paused)  # the same delivery again
    deliver(client, at(fixture("template_status_reinstated"), paused["entry"][0]["time"] - 60))  # older
    assert events(app, "account.updated") == before
    assert "order_update" not in listed(client)
    assert health(client)["templates_unusable"][0]["status"] == "PAUSED"


def test_category_and_quality_webhooks_show_in_the_listing_at_once(client, meta):
    assert listed(client)  # cached before the webhooks
    deliver(client, now("template_category_marketing"))
    deliver(client, now("template_quality_yellow"))
    found = {t["name"]: t for t in client.get("/api/whatsapp/templates").get_json()["templates"]}
    assert found["order_update"]["category"] == "MARKETING"
    assert found["order_update"]["quality_score"] == "YELLOW"


# --- the number and the account ------------------------------------------------------------


def test_health_without_any_signal_says_nothing_is_wrong(client):
    found = health(client)
    assert found["alerts"] == []
    assert found["number"]["quality_rating"] is None
    assert found["account"]["restrictions"] == []
    assert found["value_errors"] == {"last_24h": 0, "last_30_days": 0, "last": None}
    assert found["other_number_changes"]["last_24h"] == 0


def test_health_shows_the_numbers_quality_limit_restrictions_ban_and_capabilities(client):
    deliver(client, fixture("phone_number_quality_flagged"))
    deliver(client, fixture("account_update_restriction"))
    deliver(client, fixture("account_update_disabled"))
    deliver(client, fixture("account_update_violation"))
    deliver(client, fixture("business_capability_update"))
    found = health(client)
    assert found["number"]["quality_rating"] == "RED"
    assert found["number"]["messaging_limit"] == "TIER_10K"
    # the restriction that expired in 2022 is gone; the one until 2100 stands
    assert found["account"]["restrictions"] == [
        {"type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "4102444800"}
    ]
    assert found["account"]["ban_state"] == "SCHEDULE_FOR_DISABLE"
    assert found["account"]["violation"] == "ADULT"
    assert found["account"]["last_event"] == "ACCOUNT_VIOLATION"
    assert found["business_capabilities"]["messaging_limit"] == "2000"
    assert found["business_capabilities"]["max_phone_numbers_per_waba"] == 25
    alerts = " ".join(found["alerts"])
    assert "quality rating is RED" in alerts
    assert "RESTRICTED_BIZ_INITIATED_MESSAGING" in alerts
    assert "scheduled to be disabled" in alerts

    deliver(client, fixture("phone_number_quality_unflagged"))
    assert health(client)["number"]["quality_rating"] == "GREEN"
    assert not any("quality" in line for line in health(client)["alerts"])


def test_todays_throughput_event_updates_the_limit_without_a_quality(client):
    deliver(client, fixture("phone_number_quality_throughput"))
    number = health(client)["number"]
    assert number["messaging_limit"] == "TIER_UNLIMITED"
    assert number["limit_event"] == "THROUGHPUT_UPGRADE"
    assert number["quality_rating"] is None


def test_value_level_errors_are_counted_once_per_delivery_and_a_rate_limit_is_an_alert(client):
    body = fixture("messages_value_error_130429")
    deliver(client, body)
    deliver(client, body)  # Meta's retry of the same delivery
    deliver(client, fixture("interactive_value_error"))
    found = health(client)
    assert found["value_errors"]["last_24h"] == 2
    assert found["number"]["limit_hits_last_24h"] == 1
    assert any("rate or messaging limit was hit 1 time" in line for line in found["alerts"])


def test_changes_for_another_number_are_counted(client):
    body = envelope({"statuses": [{"id": "wamid.X", "status": "sent", "timestamp": "1795500000"}]})
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999000111222333"
    deliver(client, body)
    deliver(client, body)
    changes = health(client)["other_number_changes"]
    assert changes["last_24h"] == 1
    assert changes["phone_number_ids"] == ["999000111222333"]


def test_an_account_signal_is_an_event_for_the_dashboards(client, app):
    before = events(app, "account.updated")
    deliver(client, fixture("phone_number_quality_flagged"))
    assert events(app, "account.updated") == before + 1
    page = client.get("/api/whatsapp/events?after=0&limit=500").get_json()
    assert page["events"][-1]["kind"] == "account.updated" and page["events"][-1]["conversation_id"] is None


# --- marketing preferences -------------------------------------------------------------------


def conversation(client, phone: str = CUSTOMER) -> dict:
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["conversation"]


def test_a_customer_who_stopped_marketing_gets_no_marketing_template_but_utility_still_goes(client, meta):
    deliver(client, fixture("user_preferences_stop"))
    found = conversation(client)
    assert found["marketing_opt_out"] is True
    assert found["marketing_preference_at"] == "2026-11-25 10:00:00"

    answer = send_template(client, "we_miss_you")
    assert answer.status_code == 409
    assert answer.get_json()["marketing_opt_out"] is True
    assert "stopped marketing messages" in answer.get_json()["error"]
    assert sends(meta) == []
    assert send_template(client, "order_update").status_code == 200
    assert send_template(client, "login_code").status_code == 200

    deliver(client, fixture("user_preferences_resume"))
    assert conversation(client)["marketing_opt_out"] is False
    assert send_template(client, "we_miss_you").status_code == 200
    assert [s["template"]["name"] for s in sends(meta)] == ["order_update", "login_code", "we_miss_you"]


def test_a_template_recategorised_as_marketing_is_refused_to_a_customer_who_stopped(client, meta):
    deliver(client, fixture("user_preferences_stop"))
    assert send_template(client, "order_update").status_code == 200
    deliver(client, now("template_category_marketing"))
    assert send_template(client, "order_update").status_code == 409


def test_a_late_retry_of_an_older_resume_does_not_undo_a_stop(client, meta):
    resume = fixture("user_preferences_resume")
    resume["entry"][0]["changes"][0]["value"]["user_preferences"][0]["timestamp"] = 1795600000  # before the stop
    deliver(client, fixture("user_preferences_stop"))
    deliver(client, resume)
    assert conversation(client)["marketing_opt_out"] is True
    assert send_template(client, "we_miss_you").status_code == 409


@pytest.mark.sqlite_only  # an SQLite file made from an older schema.sql, upgraded by SQLite's migrations
def test_a_database_from_before_marketing_preferences_gains_the_columns(settings, graph, tmp_path):
    """An inbox made before this change: its conversations have no marketing columns; it upgrades,
    its conversations answer `marketing_opt_out: false`, and a stop is stored."""
    path = str(tmp_path / "old.sqlite3")
    text = db.SCHEMA_PATH.read_text(encoding="utf-8")
    old = re.sub(r"    -- user_preferences:.*?marketing_preference_at TIMESTAMP,\n", "", text, count=1, flags=re.S)
    assert "marketing_opt_out" not in old
    with sqlite3.connect(path) as raw:
        raw.executescript(old)
        raw.execute(
            "INSERT INTO whatsapp_conversations (phone_number, contact_name, created_at, updated_at)"
            " VALUES (?, 'Maria', '2026-11-01 10:00:00', '2026-11-01 10:00:00')",
            (CUSTOMER,),
        )
    client = create_app({**settings, "DATABASE_PATH": path, "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    assert conversation(client)["marketing_opt_out"] is False
    deliver(client, fixture("user_preferences_stop"))
    assert conversation(client)["marketing_opt_out"] is True
    assert conversation(client)["id"] == 1


def test_a_stop_survives_the_merge_of_the_customers_two_threads(client, meta):
    """The stop arrives for the phone while the customer's thread is known only by their BSUID; when
    a message names both, the two threads become one and the stop stays."""
    bsuid = "US.20481736592047381652"
    deliver(client, text_message("Hi", wa_id=None, user_id=bsuid, timestamp=now_ts() - 5))
    deliver(client, fixture("user_preferences_stop"))
    deliver(client, text_message("Still me", user_id=bsuid, timestamp=now_ts() - 2))
    found = conversation(client)
    assert found["user_id"] == bsuid and found["marketing_opt_out"] is True
    assert send_template(client, "we_miss_you").status_code == 409


def test_the_openapi_document_describes_the_signals_answers(client, meta):
    """A populated /health, a conversation with a stop, and both 409s, against the published document."""
    from .test_openapi import DOC_URL, conforms

    doc = client.get(DOC_URL).get_json()
    for name in (
        "phone_number_quality_flagged",
        "account_update_restriction",
        "account_update_disabled",
        "business_capability_update",
        "messages_value_error_130429",
        "user_preferences_stop",
    ):
        deliver(client, fixture(name))
    deliver(client, now("template_status_paused"))
    found = conforms(doc, "/api/whatsapp/health", "get", client.get("/api/whatsapp/health"))
    assert found["health"]["alerts"] and found["health"]["templates_unusable"]
    found = conforms(
        doc, "/api/whatsapp/conversation", "get", client.get("/api/whatsapp/conversation?phone_number=%2B14155550123")
    )
    assert found["conversation"]["marketing_opt_out"] is True
    assert conforms(doc, "/api/whatsapp/send", "post", send_template(client, "order_update"))["template_status"]
    assert conforms(doc, "/api/whatsapp/send", "post", send_template(client, "we_miss_you"))["marketing_opt_out"]
    listing = conforms(doc, "/api/whatsapp/templates", "get", client.get("/api/whatsapp/templates"))
    assert [t["name"] for t in listing["templates"]] == ["we_miss_you", "login_code"]
