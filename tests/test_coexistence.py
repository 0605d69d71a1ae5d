"""Coexistence: the number is also used in the WhatsApp Business app. Echoes of the owner's messages,
the imported chat history and the owner's contact names reach the customers' threads (issue 14)."""

from __future__ import annotations

import copy

from .helpers import customer_writes, fixture, post_webhook, send_ok, text_message

MARIA = "+14155550123"
ECHO_ID = "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBJFQ0hPMDAwMDAwMDAwMDAxAA=="
SEND_PATH = "/v26.0/110293847561029/messages"


def deliver(client, name_or_body):
    body = fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    answer = post_webhook(client, body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["state"] == "processed", answer.get_json()
    return answer.get_json()


def conversation(client, phone=MARIA):
    answer = client.get("/api/whatsapp/conversation", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["conversation"]


def messages(client, phone=MARIA):
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": phone})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["messages"]


def events(client, after=0):
    return client.get("/api/whatsapp/events", query_string={"after": after, "limit": 500}).get_json()["events"]


def last_event(client):
    return client.get("/api/whatsapp/events", query_string={"after": 0, "limit": 1}).get_json()["last_event_id"]


def health(client):
    return client.get("/api/whatsapp/health").get_json()["health"]


# --- echoes --------------------------------------------------------------------------------------


def test_an_echo_is_stored_as_outbound_sent_from_the_business_app(client):
    deliver(client, "echo_text")
    [echo] = messages(client)
    assert echo["direction"] == "outbound" and echo["origin"] == "business_app"
    assert echo["whatsapp_message_id"] == ECHO_ID
    assert echo["text"] == "Hi Maria, your order ships tomorrow" and echo["status"] == "sent"
    assert echo["agent_id"] is None and echo["timestamp"] == "2026-11-24 06:03:20"
    assert echo["content"]["type"] == "text" and echo["content"]["body"] == "Hi Maria, your order ships tomorrow"
    thread = conversation(client)
    assert thread["contact_profile_name"] == "Maria Lopez"
    assert thread["last_message"] == "Hi Maria, your order ships tomorrow"
    assert thread["last_message_at"] == "2026-11-24 06:03:20"


def test_an_echo_changes_no_unread_count_and_no_24_hour_window(client):
    customer_writes(client, "Is my order on its way?")
    before = conversation(client)
    assert before["unread_count"] == 1 and before["can_reply"] is True
    echo = fixture("echo_text")
    echo["entry"][0]["changes"][0]["value"]["message_echoes"][0]["timestamp"] = str(before_ts(before) + 60)
    deliver(client, echo)
    assert [m["direction"] for m in messages(client)] == ["inbound", "outbound"]
    after = conversation(client)
    assert after["last_message"] == "Hi Maria, your order ships tomorrow"
    assert after["unread_count"] == 1
    assert after["last_inbound_at"] == before["last_inbound_at"]
    assert after["window_expires_at"] == before["window_expires_at"]


def before_ts(conv) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(conv["last_inbound_at"]).replace(tzinfo=UTC).timestamp())


def test_an_echo_does_not_open_a_window_for_a_customer_who_never_wrote(client):
    deliver(client, "echo_text")
    thread = conversation(client)
    assert thread["unread_count"] == 0 and thread["last_inbound_at"] is None and thread["can_reply"] is False


def test_the_same_echo_twice_changes_nothing(client):
    deliver(client, "echo_text")
    seen = last_event(client)
    again = deliver(client, "echo_text")
    assert again["duplicates"] == 1 and again.get("stored", 0) == 0
    assert len(messages(client)) == 1
    assert events(client, seen) == []


def test_an_echo_of_a_message_this_inbox_sent_changes_nothing(client, graph):
    customer_writes(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id=ECHO_ID))
    sent = client.post("/api/whatsapp/send", json={"phone_number": MARIA, "message": "From the inbox", "agent_id": 3})
    assert sent.status_code == 200, sent.get_json()
    seen = last_event(client)
    deliver(client, "echo_text")
    [ours] = [m for m in messages(client) if m["direction"] == "outbound"]
    assert ours["text"] == "From the inbox" and ours["agent_id"] == 3 and ours["origin"] is None
    assert events(client, seen) == []


def test_an_edit_made_in_the_app_applies_to_the_stored_message(client):
    deliver(client, "echo_text")
    deliver(client, "echo_edit")
    [echo] = messages(client)
    assert echo["text"] == "Hi Maria, your order ships today" and echo["edited"] is True
    assert echo["previous_texts"] == ["Hi Maria, your order ships tomorrow"]


def test_a_deletion_made_in_the_app_applies_to_the_stored_message(client):
    deliver(client, "echo_text")
    deliver(client, "echo_revoke")
    [echo] = messages(client)
    assert echo["deleted"] is True and echo["deleted_at"] == "2026-11-24 06:05:20"


def test_an_echoed_image_keeps_its_media_for_download_on_demand(client):
    deliver(client, "echo_image")
    [echo] = messages(client)
    assert echo["type"] == "image" and echo["origin"] == "business_app"
    assert echo["media"]["id"] == "1479823651201846" and echo["media"]["state"] is None
    assert echo["content"]["caption"] == "The tracking label"


def test_an_echo_without_a_recipient_is_skipped_not_fatal(client, app):
    body = fixture("echo_text")
    value = body["entry"][0]["changes"][0]["value"]
    broken = copy.deepcopy(value["message_echoes"][0])
    del broken["to"], broken["to_user_id"]
    broken["id"] = "wamid.BROKEN"
    value["message_echoes"].insert(0, broken)
    deliver(client, body)
    assert [m["whatsapp_message_id"] for m in messages(client)] == [ECHO_ID]


def test_a_status_for_an_echo_moves_it_up_the_ladder(client):
    from .helpers import status_update

    deliver(client, "echo_text")
    deliver(client, status_update(ECHO_ID, "read"))
    [echo] = messages(client)
    assert echo["status"] == "read"


# --- history -------------------------------------------------------------------------------------


def test_history_is_imported_into_the_customers_threads(client):
    deliver(client, "history_phase0_chunk1")
    maria = messages(client)
    assert [(m["direction"], m["text"]) for m in maria] == [
        ("inbound", "Hello, do you deliver to Oakland?"),
        ("outbound", "Yes, every weekday"),
        ("inbound", None),
    ]
    assert {m["origin"] for m in maria} == {"history"}
    assert maria[0]["status"] == "received" and maria[1]["status"] == "read"
    other = messages(client, "+14155550777")
    assert [(m["direction"], m["status"]) for m in other] == [("inbound", "received"), ("outbound", "delivered")]


def test_a_history_media_placeholder_is_shown_as_such(client):
    deliver(client, "history_phase0_chunk1")
    placeholder = messages(client)[-1]
    assert placeholder["type"] == "media_placeholder"
    assert "imported history" in placeholder["placeholder"]
    assert placeholder["content"]["placeholder"] == placeholder["placeholder"]


def test_the_media_of_a_placeholder_fills_it_in_when_it_arrives(client):
    deliver(client, "history_phase0_chunk1")
    deliver(client, "history_media")
    image = messages(client)[-1]
    assert image["type"] == "image" and image["media"]["id"] == "1088172635490183"
    assert image["placeholder"] is None and image["origin"] == "history"
    assert len(messages(client)) == 3


def test_imported_history_makes_nothing_unread_and_opens_no_window(client):
    deliver(client, "history_phase0_chunk1")
    for phone in (MARIA, "+14155550777"):
        thread = conversation(client, phone)
        assert thread["unread_count"] == 0 and thread["last_inbound_at"] is None and thread["can_reply"] is False
        assert thread["status"] == "open"


def test_history_does_not_reorder_the_list_by_import_time(client):
    # Maria wrote today; the other customer's thread is only history, months old.
    customer_writes(client, "Any news?")
    today = conversation(client)
    deliver(client, "history_phase0_chunk1")
    listed = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert [c["phone_number"] for c in listed] == [MARIA, "+14155550777"]
    assert listed[0]["last_message_at"] == today["last_message_at"] and listed[0]["unread_count"] == 1
    assert listed[0]["last_message"] == "Any news?"
    # The history-only thread sits at its newest message's own time, not at the import's.
    assert listed[1]["last_message_at"] == "2026-05-05 17:08:20"
    assert listed[1]["last_message"] == "Closed on Sundays, sorry"


def test_history_chunks_out_of_order_and_twice_end_up_in_timestamp_order(client):
    deliver(client, "history_phase1_chunk1")  # the older messages arrive first
    deliver(client, "history_phase0_chunk1")
    again = deliver(client, "history_phase1_chunk1")
    assert again["duplicates"] == 2 and again.get("stored", 0) == 0
    texts = [m["text"] for m in messages(client)]
    assert texts == [
        "First time ordering, how does it work?",
        "Pick what you like on our site",
        "Hello, do you deliver to Oakland?",
        "Yes, every weekday",
        None,
    ]
    assert conversation(client)["last_message_at"] == "2026-05-17 06:50:00"  # phase 0's newest, by its own time


def test_a_history_message_the_business_sent_that_failed_shows_as_failed(client):
    deliver(client, "history_phase1_chunk1")
    assert messages(client)[1]["status"] == "failed"


def test_history_emits_one_history_imported_event_and_no_message_created(client):
    seen = last_event(client)
    deliver(client, "history_phase0_chunk1")
    deliver(client, "history_phase0_chunk1")  # again: nothing new, no second event
    kinds = [e["kind"] for e in events(client, seen)]
    assert kinds == ["history.imported"]


def test_health_shows_the_history_imports_progress(client):
    assert health(client)["history_import"] is None
    deliver(client, "history_phase0_chunk1")
    first = health(client)["history_import"]
    assert first["phase"] == 0 and first["chunk_order"] == 1 and first["progress"] == 40
    assert first["complete"] is False and first["chunks"] == 1 and first["messages"] == 5
    deliver(client, "history_phase1_chunk1")
    deliver(client, "history_phase1_chunk1")
    done = health(client)["history_import"]
    assert done["phase"] == 1 and done["chunk_order"] == 1 and done["progress"] == 100
    assert done["complete"] is True and done["chunks"] == 2 and done["messages"] == 7
    assert done["error"] is None


def test_health_says_when_the_business_declined_to_share_its_history(client):
    deliver(client, "history_declined")
    declined = health(client)["history_import"]
    assert declined["error"] == {"code": 2593109, "title": "History sync is turned off by the business"}
    assert declined["messages"] == 0 and declined["complete"] is False


def test_a_broken_history_message_is_skipped_not_fatal(client):
    body = fixture("history_phase0_chunk1")
    thread = body["entry"][0]["changes"][0]["value"]["history"][0]["threads"][0]
    thread["messages"].insert(0, {"from": "14155550123", "type": "text"})  # no id
    deliver(client, body)
    assert len(messages(client)) == 3


# --- the owner's contacts ------------------------------------------------------------------------


def test_the_owners_name_becomes_the_conversations_contact_name(client):
    post_webhook(client, text_message("Hi", name="Maria Lopez"))
    deliver(client, "state_sync_add")
    thread = conversation(client)
    assert thread["contact_name"] == "Maria (bakery order)" and thread["contact_profile_name"] == "Maria Lopez"
    post_webhook(client, text_message("Again", name="Maria L."))  # a new WhatsApp profile name
    thread = conversation(client)
    assert thread["contact_name"] == "Maria (bakery order)" and thread["contact_profile_name"] == "Maria L."


def test_removing_the_contact_in_the_app_clears_the_owners_name(client):
    post_webhook(client, text_message("Hi", name="Maria Lopez"))
    deliver(client, "state_sync_add")
    assert conversation(client)["contact_name"] == "Maria (bakery order)"
    deliver(client, "state_sync_remove")
    thread = conversation(client)
    assert thread["contact_name"] == "Maria Lopez" and thread["contact_profile_name"] == "Maria Lopez"


def test_an_older_contact_change_arriving_late_is_ignored(client):
    post_webhook(client, text_message("Hi", name="Maria Lopez"))
    deliver(client, "state_sync_remove")
    deliver(client, "state_sync_add")  # its timestamp is before the removal's
    assert conversation(client)["contact_name"] == "Maria Lopez"
    later = fixture("state_sync_add")
    later["entry"][0]["changes"][0]["value"]["state_sync"][0]["metadata"]["timestamp"] = "1795500700"
    deliver(client, later)
    assert conversation(client)["contact_name"] == "Maria (bakery order)"


def test_a_contact_without_a_conversation_creates_none_and_names_it_when_they_write(client):
    deliver(client, "state_sync_add")
    assert client.get("/api/whatsapp/conversations").get_json()["conversations"] == []
    post_webhook(client, text_message("Hi", name="Maria Lopez"))
    thread = conversation(client)
    assert thread["contact_name"] == "Maria (bakery order)" and thread["contact_profile_name"] == "Maria Lopez"


def test_the_same_contact_sync_twice_changes_nothing(client):
    post_webhook(client, text_message("Hi", name="Maria Lopez"))
    deliver(client, "state_sync_add")
    seen = last_event(client)
    deliver(client, "state_sync_add")
    assert events(client, seen) == []
    assert conversation(client)["contact_name"] == "Maria (bakery order)"


# --- the answers, against the OpenAPI document ------------------------------------------------------


def test_coexistence_answers_validate_against_the_openapi_document(client, anon):
    from .test_openapi import conforms

    doc = anon.get("/api/whatsapp/openapi.json").get_json()
    for name in ("echo_text", "echo_edit", "history_phase0_chunk1", "history_declined", "state_sync_add"):
        conforms(doc, "/api/whatsapp/webhook", "post", post_webhook(client, fixture(name)))
    thread = conforms(doc, "/api/whatsapp/messages", "get", client.get(f"/api/whatsapp/messages?phone_number={MARIA}"))
    assert {m["origin"] for m in thread["messages"]} == {"business_app", "history"}
    assert conforms(doc, "/api/whatsapp/health", "get", client.get("/api/whatsapp/health"))["health"]["history_import"]
    page = conforms(doc, "/api/whatsapp/events", "get", client.get("/api/whatsapp/events?after=0&limit=500"))
    assert "history.imported" in {e["kind"] for e in page["events"]}


def test_the_webhook_writer_process_takes_the_coexistence_updates():
    import pickle

    from whatsapp import updates, writer

    for name in ("echo_text", "history_phase0_chunk1", "state_sync_add"):
        delivery = updates.parse_delivery(fixture(name), "110293847561029")
        assert delivery.updates and not delivery.problems
        assert writer._load_parse(pickle.dumps(delivery)).updates == delivery.updates


def test_a_filled_placeholder_is_found_by_its_caption_and_not_by_what_it_was(client):
    deliver(client, "history_phase0_chunk1")
    assert searched(client, "quokka") == []
    media = fixture("history_media")
    [message] = media["entry"][0]["changes"][0]["value"]["history"][0]["threads"][0]["messages"]
    message["image"]["caption"] = "the quokka receipt"
    deliver(client, media)
    image = messages(client)[-1]
    assert image["type"] == "image" and image["text"] == "the quokka receipt"
    assert searched(client, "quokka") == [MARIA]
    assert searched(client, "receipt") == [MARIA]


def searched(client, q: str) -> list[str]:
    answer = client.get("/api/whatsapp/conversations", query_string={"q": q})
    assert answer.status_code == 200, answer.get_json()
    return [c["phone_number"] for c in answer.get_json()["conversations"]]
