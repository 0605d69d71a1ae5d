"""Full messaging (issue 4): the 24-hour window, every send type, templates, lifecycle, search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import create_app

from .helpers import (
    SPEC_CONVERSATION_FIELDS,
    SPEC_MESSAGE_FIELDS,
    customer_writes,
    fixture,
    meta_calls,
    now_ts,
    post_webhook,
    send_ok,
    text_message,
)

SEND_PATH = "/v26.0/110293847561029/messages"
TEMPLATES_PATH = "/v26.0/109283746501928/message_templates"
ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"}]},
    ],
}


@pytest.fixture
def waba_settings(settings):
    return {**settings, "WHATSAPP_BUSINESS_ACCOUNT_ID": "109283746501928"}


@pytest.fixture
def client(waba_settings):
    app = create_app(waba_settings)
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"
    return test_client


def conversation(client, phone="+14155550123"):
    return client.get("/api/whatsapp/conversation", query_string={"phone_number": phone}).get_json()["conversation"]


def thread(client, phone="+14155550123", **params):
    answer = client.get("/api/whatsapp/messages", query_string={"phone_number": phone, **params})
    return answer.get_json()["messages"]


def accept(graph, message_id=None):
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(send_ok(message_id=message_id))


def sent_body(graph, index=-1):
    return [r for r, _ in graph.log if r.path == SEND_PATH][index].get_json()


# --- the 24-hour window ------------------------------------------------------------------------


def test_a_conversation_reports_when_its_window_closes(client):
    customer_writes(client)
    conv = conversation(client)
    assert conv["can_reply"] is True
    assert conv["window_expires_at"] > conv["last_inbound_at"]


@pytest.mark.parametrize("minutes_ago,open_", [(24 * 60 - 3, True), (24 * 60 - 1, False)])
def test_replies_stop_two_minutes_before_metas_24_hours(client, graph, minutes_ago, open_):
    written = now_ts() - minutes_ago * 60
    post_webhook(client, text_message("nearly a day ago", timestamp=written))
    conv = conversation(client)
    assert conv["can_reply"] is open_
    closes = datetime.strptime(conv["window_expires_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert closes.timestamp() == written + 24 * 3600 - 120
    if not open_:
        answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "hi"})
        assert answer.status_code == 409 and meta_calls(graph) == []


def test_an_old_message_leaves_the_window_closed(client):
    post_webhook(client, text_message("a while ago", timestamp=now_ts() - 25 * 3600))
    conv = conversation(client)
    assert conv["can_reply"] is False and conv["window_expires_at"] is not None


def test_a_free_form_send_outside_the_window_is_refused_before_meta(client, graph):
    post_webhook(client, text_message("old", timestamp=now_ts() - 25 * 3600))
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "hi"})
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["success"] is False and "template" in body["error"] and body["can_reply"] is False
    assert meta_calls(graph) == []


def test_a_free_form_send_to_someone_who_never_wrote_is_refused(client, graph):
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155559999", "message": "hi"})
    assert answer.status_code == 409
    assert "has not written yet" in answer.get_json()["error"]
    assert meta_calls(graph) == []


def test_reactions_and_system_messages_do_not_reopen_the_window(client):
    post_webhook(client, text_message("old", timestamp=now_ts() - 25 * 3600))
    reaction = text_message(
        extra={"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}, timestamp=now_ts()
    )
    post_webhook(client, reaction)
    assert conversation(client)["can_reply"] is False


# --- send types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_body,meta_type,meta_body,text",
    [
        (
            {"type": "image", "media": {"link": "https://example.com/a.jpg", "caption": "Your receipt"}},
            "image",
            {"link": "https://example.com/a.jpg", "caption": "Your receipt"},
            "Your receipt",
        ),
        ({"type": "video", "media": {"id": "1234"}}, "video", {"id": "1234"}, None),
        (
            {"type": "audio", "media": {"link": "https://example.com/v.ogg"}},
            "audio",
            {"link": "https://example.com/v.ogg"},
            None,
        ),
        (
            {"type": "document", "media": {"link": "https://example.com/i.pdf", "filename": "invoice.pdf"}},
            "document",
            {"link": "https://example.com/i.pdf", "filename": "invoice.pdf"},
            "invoice.pdf",
        ),
        ({"type": "sticker", "media": {"id": "77"}}, "sticker", {"id": "77"}, None),
        (
            {"type": "location", "location": {"latitude": -23.56, "longitude": -46.65, "name": "MASP"}},
            "location",
            {"latitude": -23.56, "longitude": -46.65, "name": "MASP"},
            "MASP",
        ),
        (
            {"message": "see https://example.com"},
            "text",
            {"body": "see https://example.com", "preview_url": True},
            "see https://example.com",
        ),
    ],
)
def test_every_type_is_sent_as_meta_documents_it_and_stored(client, graph, request_body, meta_type, meta_body, text):
    customer_writes(client)
    accept(graph, "wamid.TYPED")
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "agent_id": 4, **request_body})
    assert answer.status_code == 200, answer.get_json()
    sent = sent_body(graph)
    assert sent["type"] == meta_type and sent[meta_type] == meta_body
    stored = thread(client)[-1]
    assert stored["type"] == meta_type and stored["text"] == text and stored["agent_id"] == 4


def test_a_reply_quotes_the_customer_message(client, graph):
    customer_writes(client, "Where is my order?", message_id="wamid.CUSTOMER1")
    accept(graph)
    answer = client.post(
        "/api/whatsapp/send",
        json={"phone_number": "+14155550123", "message": "On its way", "reply_to": "wamid.CUSTOMER1"},
    )
    assert answer.status_code == 200
    assert sent_body(graph)["context"] == {"message_id": "wamid.CUSTOMER1"}
    reply = thread(client)[-1]
    assert reply["reply_to"] == "wamid.CUSTOMER1"
    assert reply["quoted"]["text"] == "Where is my order?" and reply["quoted"]["direction"] == "inbound"


def test_a_reply_to_an_unknown_message_is_refused(client, graph):
    customer_writes(client)
    answer = client.post(
        "/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "x", "reply_to": "wamid.NOPE"}
    )
    assert answer.status_code == 400
    assert meta_calls(graph) == []


def test_a_reaction_is_sent_and_attaches_to_its_message_and_can_be_removed(client, graph):
    customer_writes(client, "Thanks!", message_id="wamid.THANKS")
    accept(graph)
    answer = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+14155550123",
            "type": "reaction",
            "reaction": {"message_id": "wamid.THANKS", "emoji": "❤️"},
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert sent_body(graph)["reaction"] == {"message_id": "wamid.THANKS", "emoji": "❤️"}
    assert "context" not in sent_body(graph)
    messages = thread(client)
    assert len(messages) == 1
    assert [(r["emoji"], r["direction"]) for r in messages[0]["reactions"]] == [("❤️", "outbound")]
    accept(graph)
    client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+14155550123",
            "type": "reaction",
            "reaction": {"message_id": "wamid.THANKS", "emoji": ""},
        },
    )
    assert thread(client)[0]["reactions"] == []
    assert conversation(client)["last_message"] == "Thanks!"


def test_a_customer_reaction_attaches_to_our_message_and_removal_removes_it(client, graph):
    customer_writes(client)
    accept(graph, fixture("reaction")["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"])
    client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Your parcel left"})
    post_webhook(client, fixture("reaction"))
    ours = thread(client)[-1]
    assert ours["direction"] == "outbound"
    assert [(r["emoji"], r["direction"]) for r in ours["reactions"]] == [("👍", "inbound")]
    assert len(thread(client)) == 2
    post_webhook(client, fixture("reaction_removed"))
    assert thread(client)[-1]["reactions"] == []


@pytest.mark.parametrize(
    "request_body,error",
    [
        ({"type": "fax"}, "type must be one of"),
        ({"type": "image"}, "media is required for type image"),
        ({"type": "image", "media": {"link": "https://x.test/a.jpg", "id": "1"}}, "exactly one of link or id"),
        ({"type": "image", "media": {"link": "ftp://x.test/a.jpg"}}, "http(s) URL"),
        ({"type": "sticker", "media": {"id": "1", "caption": "hi"}}, "does not allow a caption on sticker"),
        ({"type": "image", "media": {"id": "1", "caption": "x" * 1025}}, "at most 1024"),
        ({"type": "image", "media": {"id": "1", "filename": "a.jpg"}}, "filename is only for documents"),
        ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "within ±90"),
        ({"type": "location", "location": {"latitude": "north"}}, "must be numbers"),
        # Booleans are not numbers (float(True) is 1.0), nor is NaN.
        ({"type": "location", "location": {"latitude": True, "longitude": 0}}, "must be numbers"),
        ({"type": "location", "location": {"latitude": 0, "longitude": False}}, "must be numbers"),
        ({"type": "location", "location": {"latitude": "nan", "longitude": 0}}, "must be numbers"),
        ({"type": "reaction", "reaction": {"emoji": "👍"}}, "reaction.message_id is required"),
        ({"type": "reaction", "reaction": {"message_id": "wamid.NOPE", "emoji": "👍"}}, "not a message in this inbox"),
    ],
)
def test_bad_sends_are_refused_with_the_reason_before_meta(client, graph, request_body, error):
    customer_writes(client)
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", **request_body})
    assert answer.status_code == 400
    assert error in answer.get_json()["error"]
    assert meta_calls(graph) == []


# --- uploads -------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_an_uploaded_file_goes_to_meta_and_is_sent_by_media_id(client, graph):
    customer_writes(client)
    graph.expect_request("/v26.0/110293847561029/media", method="POST").respond_with_json({"id": "6620042381272920"})
    accept(graph, "wamid.PHOTO")
    answer = client.post(
        "/api/whatsapp/send-media",
        data={
            "phone_number": "+14155550123",
            "caption": "The replacement",
            "agent_id": "2",
            "file": (__import__("io").BytesIO(PNG), "photo.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200, answer.get_json()
    upload = graph.log[0][0]
    assert upload.form["messaging_product"] == "whatsapp" and upload.form["type"] == "image/png"
    assert upload.files["file"].read() == PNG
    assert sent_body(graph)["image"] == {"id": "6620042381272920", "caption": "The replacement"}
    stored = thread(client)[-1]
    assert stored["type"] == "image" and stored["media"]["id"] == "6620042381272920"
    served = client.get(stored["media"]["download_url"])
    assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"


def test_an_upload_meta_answers_without_a_media_id_says_so(client, graph):
    """A 200 without an id is not "WhatsApp failed on its side": the answer says what happened."""
    customer_writes(client)
    graph.expect_request("/v26.0/110293847561029/media", method="POST").respond_with_json({"ok": True})
    answer = client.post(
        "/api/whatsapp/send-media",
        data={"phone_number": "+14155550123", "file": (__import__("io").BytesIO(PNG), "photo.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 502
    error = answer.get_json()["error"]
    assert "returned no media id" in error and "failed on its side" not in error


@pytest.mark.parametrize(
    "filename,mime,size,form_type,error",
    [
        ("voice.webm", "audio/webm", 100, None, "does not accept"),
        ("big.jpg", "image/jpeg", 5 * 1024 * 1024 + 1, None, "at most 5242880 bytes"),
        ("s.webp", "image/webp", 600 * 1024, None, "sticker"),
        ("a.exe", "application/x-msdownload", 10, "document", "does not accept"),
        ("empty.png", "image/png", 0, None, "empty"),
        ("a.png", "image/png", 10, "fax", "type must be one of"),
    ],
)
def test_uploads_meta_would_refuse_get_a_clear_400_first(client, graph, filename, mime, size, form_type, error):
    customer_writes(client)
    data = {"phone_number": "+14155550123", "file": (__import__("io").BytesIO(b"x" * size), filename, mime)}
    if form_type:
        data["type"] = form_type
    answer = client.post("/api/whatsapp/send-media", data=data, content_type="multipart/form-data")
    assert answer.status_code == 400
    assert error in answer.get_json()["error"]
    # nothing was uploaded or sent (an earlier test's media worker may still be fetching from the stand-in)
    assert [r.path for r, _ in graph.log if r.method == "POST"] == []


def test_an_upload_without_a_file_is_refused(client):
    answer = client.post(
        "/api/whatsapp/send-media", data={"phone_number": "+14155550123"}, content_type="multipart/form-data"
    )
    assert answer.status_code == 400 and "file is required" in answer.get_json()["error"]


# --- templates -----------------------------------------------------------------------------------


def serve_templates(graph, *templates):
    graph.expect_request(TEMPLATES_PATH, method="GET").respond_with_json(
        {"data": list(templates) or [ORDER_UPDATE], "paging": {}}
    )


def test_templates_are_listed_with_the_parameters_they_need_and_cached(client, graph):
    pending = {**ORDER_UPDATE, "name": "draft", "status": "PENDING"}
    serve_templates(graph, ORDER_UPDATE, pending)
    first = client.get("/api/whatsapp/templates").get_json()
    second = client.get("/api/whatsapp/templates").get_json()
    assert first == second
    assert [t["name"] for t in first["templates"]] == ["order_update"]
    assert first["templates"][0]["parameters"] == {"header": 1, "body": 2, "buttons": [1]}
    assert len(graph.log) == 1
    assert graph.log[0][0].headers["Authorization"] == "Bearer test-access-token"


def test_listing_templates_without_a_business_account_id_says_what_to_set(settings):
    app = create_app(settings)
    client = app.test_client()
    answer = client.get("/api/whatsapp/templates", headers={"Authorization": "Bearer test-agent-key"})
    assert answer.status_code == 503
    assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in answer.get_json()["error"]


def test_a_template_is_sent_outside_the_window_with_its_components(client, graph):
    serve_templates(graph)
    accept(graph, "wamid.TPL")
    answer = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+14155550123",
            "type": "template",
            "template": {
                "name": "order_update",
                "language": "en_US",
                "parameters": {"header": ["#4471"], "body": ["Maria", "#4471"], "buttons": [["4471"]]},
            },
        },
    )
    assert answer.status_code == 200, answer.get_json()
    template = sent_body(graph)["template"]
    assert template["name"] == "order_update" and template["language"] == {"code": "en_US"}
    assert template["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "#4471"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "#4471"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4471"}]},
    ]
    stored = thread(client)[-1]
    assert stored["type"] == "template" and stored["text"] == "Hi Maria, your order #4471 is on its way."


@pytest.mark.parametrize(
    "template,error",
    [
        (
            {
                "name": "order_update",
                "language": "en_US",
                "parameters": {"header": ["1"], "body": ["Maria"], "buttons": [["1"]]},
            },
            "the body needs 2 parameter(s), got 1",
        ),
        (
            {"name": "order_update", "language": "en_US", "parameters": {"body": ["a", "b"], "buttons": [["1"]]}},
            "the header needs 1 parameter(s), got 0",
        ),
        (
            {"name": "order_update", "language": "en_US", "parameters": {"header": ["1"], "body": ["a", "b"]}},
            "button 0 needs 1 parameter(s), got 0",
        ),
        ({"name": "order_update", "language": "pt_BR"}, "not approved in pt_BR; approved languages: en_US"),
        ({"name": "nope", "language": "en_US"}, "No approved template named 'nope'"),
        ({"language": "en_US"}, "template.name is required"),
        ({"name": "order_update"}, "template.language is required"),
    ],
)
def test_templates_are_checked_against_the_approved_one_before_meta(client, graph, template, error):
    serve_templates(graph)
    answer = client.post(
        "/api/whatsapp/send", json={"phone_number": "+14155550123", "type": "template", "template": template}
    )
    assert answer.status_code == 400
    assert error in answer.get_json()["error"]
    assert all(r.path != SEND_PATH for r, _ in graph.log)


@pytest.mark.parametrize(
    "template,error",
    [
        (
            {"components": [{"type": "button", "sub_type": "url", "index": "x", "parameters": []}]},
            "needs an index",
        ),
        ({"components": [{"type": "button", "index": None, "parameters": []}]}, "needs an index"),
        ({"components": [{"type": "body", "parameters": 5}]}, "body component must be a list"),
        ({"parameters": {"header": {"type": ["image"], "link": "https://example.com/a.jpg"}}}, "header.type"),
    ],
)
def test_malformed_template_components_get_a_400_not_a_500(client, graph, template, error):
    serve_templates(graph)
    answer = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+14155550123",
            "type": "template",
            "template": {"name": "order_update", "language": "en_US", **template},
        },
    )
    assert answer.status_code == 400, answer.get_json()
    assert error in answer.get_json()["error"]
    assert all(r.path != SEND_PATH for r, _ in graph.log)


# --- read receipts and lifecycle ---------------------------------------------------------------


def test_mark_read_sends_the_blue_ticks_for_the_latest_customer_message(client, graph):
    customer_writes(client, "first", message_id="wamid.FIRST")
    customer_writes(client, "second", message_id="wamid.SECOND")
    graph.expect_request(
        SEND_PATH, method="POST", json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.SECOND"}
    ).respond_with_json({"success": True})
    answer = client.post("/api/whatsapp/mark-read", json={"phone_number": "+14155550123"})
    assert answer.get_json()["read_receipt"] == "sent"
    graph.check_assertions()


def test_a_failed_read_receipt_does_not_fail_the_local_mark_read(client, graph):
    customer_writes(client)
    graph.expect_request(SEND_PATH, method="POST").respond_with_json(
        {"error": {"message": "(#131009) bad", "code": 131009}}, status=400
    )
    answer = client.post("/api/whatsapp/mark-read", json={"phone_number": "+14155550123"})
    assert answer.status_code == 200
    assert answer.get_json()["read_receipt"] == "failed"
    assert conversation(client)["unread_count"] == 0


def test_read_receipts_can_be_turned_off(waba_settings, graph):
    app = create_app({**waba_settings, "WHATSAPP_SEND_READ_RECEIPTS": "false"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-agent-key"
    customer_writes(client)
    answer = client.post("/api/whatsapp/mark-read", json={"phone_number": "+14155550123"})
    assert answer.get_json()["read_receipt"] == "skipped"
    assert meta_calls(graph) == []


def test_close_reopen_and_unassign(client):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": cid, "agent_id": 5})
    closed = client.post("/api/whatsapp/close", json={"conversation_id": cid}).get_json()["conversation"]
    assert closed["status"] == "closed" and closed["assigned_agent_id"] == 5
    reopened = client.post("/api/whatsapp/reopen", json={"conversation_id": cid}).get_json()["conversation"]
    assert reopened["status"] == "assigned"
    unassigned = client.post("/api/whatsapp/unassign", json={"conversation_id": cid}).get_json()["conversation"]
    assert unassigned["status"] == "open" and unassigned["assigned_agent_id"] is None
    assert client.post("/api/whatsapp/close", json={"conversation_id": 999}).status_code == 404


def test_a_new_inbound_message_reopens_a_closed_conversation(client):
    customer_writes(client)
    cid = conversation(client)["id"]
    client.post("/api/whatsapp/close", json={"conversation_id": cid})
    customer_writes(client, "one more thing")
    assert conversation(client)["status"] == "open"


# --- edits, deletions, unsupported -------------------------------------------------------------


def test_an_edit_keeps_the_previous_text_visible(client):
    customer_writes(client, "I ordered 2 jackets", message_id="wamid.ORIG")
    edit = text_message(
        extra={
            "type": "edit",
            "edit": {
                "original_message_id": "wamid.ORIG",
                "message": {"type": "text", "text": {"body": "I ordered 3 jackets"}},
            },
        },
        timestamp=now_ts(),
    )
    edit["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    post_webhook(client, edit)
    [message] = thread(client)
    assert message["text"] == "I ordered 3 jackets"
    assert message["edited"] is True and message["previous_texts"] == ["I ordered 2 jackets"]
    assert conversation(client)["unread_count"] == 1


def test_a_deleted_message_is_marked_with_the_original_kept(client):
    customer_writes(client, "my card number is 1234", message_id="wamid.SECRET")
    revoke = text_message(extra={"type": "revoke", "revoke": {"original_message_id": "wamid.SECRET"}})
    revoke["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    post_webhook(client, revoke)
    [message] = thread(client)
    assert message["deleted"] is True and message["text"] == "my card number is 1234"


def test_an_unsupported_message_shows_a_placeholder(client):
    post_webhook(client, fixture("unsupported"))
    [message] = thread(client, "+4915123456789")
    assert message["type"] == "unsupported"
    assert "(edit)" in message["placeholder"]


# --- paging, search, tabs ----------------------------------------------------------------------


def test_messages_page_by_cursor(client):
    for i in range(6):
        post_webhook(client, text_message(f"m{i}", timestamp=1795500000 + i))
    newest = thread(client, limit=2)
    assert [m["text"] for m in newest] == ["m4", "m5"]
    older = thread(client, limit=3, before_id=newest[0]["id"])
    assert [m["text"] for m in older] == ["m1", "m2", "m3"]
    newer = thread(client, limit=2, after_id=older[0]["id"])
    assert [m["text"] for m in newer] == ["m2", "m3"]
    bad = client.get("/api/whatsapp/messages", query_string={"phone_number": "+14155550123", "before_id": 999})
    assert bad.status_code == 400


def test_search_finds_names_numbers_and_text_accent_insensitively_with_snippets(client):
    post_webhook(client, text_message("Entregam em São Paulo amanhã?", wa_id="5511999990001", name="Ana"))
    post_webhook(client, text_message("hello", wa_id="14155550002", name="José Núñez"))
    post_webhook(client, text_message("unrelated", wa_id="14155550003", name="Bob"))
    by_text = client.get("/api/whatsapp/conversations?q=sao paulo").get_json()["conversations"]
    assert [c["contact_name"] for c in by_text] == ["Ana"]
    assert "**São**" in by_text[0]["snippet"] and "**Paulo**" in by_text[0]["snippet"]
    by_name = client.get("/api/whatsapp/conversations?q=jose nunez").get_json()["conversations"]
    assert [c["contact_name"] for c in by_name] == ["José Núñez"] and by_name[0]["snippet"] is None
    by_number = client.get("/api/whatsapp/conversations?q=0003").get_json()["conversations"]
    assert [c["contact_name"] for c in by_number] == ["Bob"]
    assert client.get("/api/whatsapp/conversations?q=zzzz").get_json()["conversations"] == []
    assert client.get("/api/whatsapp/conversations?q=%22%27*").get_json()["conversations"] == []


def test_search_matches_word_beginnings_after_whole_words_and_marks_them_in_the_snippet(client):
    post_webhook(client, text_message("Um café, por favor", wa_id="5511999990001", name="Ana"))
    post_webhook(client, text_message("the caf is closed", wa_id="14155550002", name="Bob"))
    post_webhook(client, text_message("my refund please", wa_id="14155550003", name="Cy"))
    found = client.get("/api/whatsapp/conversations?q=caf").get_json()["conversations"]
    assert {c["contact_name"] for c in found} == {"Ana", "Bob"}
    snippets = {c["contact_name"]: c["snippet"] for c in found}
    assert "**caf**" in snippets["Bob"] and "**café**" in snippets["Ana"]
    partial = client.get("/api/whatsapp/conversations?q=refu").get_json()["conversations"]
    assert [c["contact_name"] for c in partial] == ["Cy"] and "**refund**" in partial[0]["snippet"]
    # Words under three letters match whole only: 'ca' is no prefix search over the whole inbox.
    assert client.get("/api/whatsapp/conversations?q=ca").get_json()["conversations"] == []


def search_by_number_through_changes_and_merges(client) -> None:
    """A number change and a merge, searching by number after each (the assertions hold on both engines)."""
    from .helpers import fixture_bytes

    def by_number(digits):
        return [
            c["phone_number"] for c in client.get(f"/api/whatsapp/conversations?q={digits}").get_json()["conversations"]
        ]

    post_webhook(client, fixture_bytes("text"))  # +14155550123
    assert by_number("5550123") == ["+14155550123"]
    post_webhook(client, fixture_bytes("system_number_change"))  # now +14155550177
    assert by_number("5550123") == [] and by_number("0177") == ["+14155550177"]
    # A thread known only by user id joins the phone thread: one conversation, found by its number.
    post_webhook(client, text_message("by user id", wa_id=None, user_id="US.777"))
    post_webhook(client, text_message("both", wa_id="14155550177", user_id="US.777"))
    assert by_number("0177") == ["+14155550177"]


def test_search_by_number_follows_number_changes_and_merges(client):
    search_by_number_through_changes_and_merges(client)


@pytest.mark.sqlite_only  # SQLite's FTS5 table phones_fts (on PostgreSQL the index is on the column itself)
def test_the_number_index_holds_exactly_the_live_numbers(client, settings):
    import sqlite3

    search_by_number_through_changes_and_merges(client)
    with sqlite3.connect(settings["DATABASE_PATH"]) as conn:
        indexed = conn.execute("SELECT rowid, phone_number FROM phones_fts ORDER BY rowid").fetchall()
        live = conn.execute(
            "SELECT conversation_id, phone_number FROM whatsapp_conversations WHERE phone_number IS NOT NULL"
        ).fetchall()
    assert indexed == live


@pytest.mark.sqlite_only  # an SQLite file from before the FTS5 number index (user_version, SQLite's migrations)
def test_a_database_from_before_the_number_index_gets_it_filled(client, settings):
    import sqlite3

    post_webhook(client, text_message("hi", wa_id="5511999990001"))
    with sqlite3.connect(settings["DATABASE_PATH"]) as conn:
        conn.execute("DROP TABLE phones_fts")
        conn.execute("PRAGMA user_version = 0")  # as a database from before the index would say
    from app import create_app

    reopened = create_app(settings).test_client()  # a new process meets the old file
    reopened.environ_base["HTTP_AUTHORIZATION"] = client.environ_base["HTTP_AUTHORIZATION"]
    found = reopened.get("/api/whatsapp/conversations?q=99990001").get_json()["conversations"]
    assert [c["phone_number"] for c in found] == ["+5511999990001"]


def test_the_list_returns_the_counts_behind_each_tab_and_filters_by_them(client):
    for i in range(1, 5):
        post_webhook(client, text_message("hi", wa_id=f"1415555000{i}", timestamp=1795500000 + i))
    ids = {c["phone_number"]: c["id"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]}
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": ids["+14155550001"], "agent_id": 7})
    client.post("/api/whatsapp/assign-agent", json={"conversation_id": ids["+14155550002"], "agent_id": 8})
    client.post("/api/whatsapp/mark-read", json={"conversation_id": ids["+14155550003"]})
    client.post("/api/whatsapp/close", json={"conversation_id": ids["+14155550004"]})
    answer = client.get("/api/whatsapp/conversations?agent_id=7").get_json()
    assert answer["counts"] == {"open": 3, "all": 3, "unread": 2, "mine": 1, "unassigned": 1, "closed": 1, "snoozed": 0}
    mine = client.get("/api/whatsapp/conversations?filter=mine&agent_id=7").get_json()["conversations"]
    assert [c["id"] for c in mine] == [ids["+14155550001"]]
    unassigned = client.get("/api/whatsapp/conversations?filter=unassigned").get_json()["conversations"]
    assert [c["id"] for c in unassigned] == [ids["+14155550003"]]
    closed = client.get("/api/whatsapp/conversations?filter=closed").get_json()["conversations"]
    assert [c["id"] for c in closed] == [ids["+14155550004"]]
    assert client.get("/api/whatsapp/conversations?filter=mine").status_code == 400
    assert client.get("/api/whatsapp/conversations?filter=spam").status_code == 400


def test_the_spec_routes_keep_their_fields_with_the_new_ones(client):
    customer_writes(client)
    body = client.get("/api/whatsapp/conversations").get_json()
    assert {"success", "conversations", "count"} <= set(body)
    assert list(body["conversations"][0])[: len(SPEC_CONVERSATION_FIELDS)] == SPEC_CONVERSATION_FIELDS
    message = client.get("/api/whatsapp/messages?phone_number=%2B14155550123").get_json()["messages"][0]
    assert list(message)[: len(SPEC_MESSAGE_FIELDS)] == SPEC_MESSAGE_FIELDS


def test_search_reads_matches_in_chunks_with_the_same_result_as_reading_them_all(app, client):
    """Whole words first, newest first, then word beginnings; the chunks (limit + limit/4 messages)
    stop as soon as the list is full, and give what looking at limit * 5 matches at once gave."""
    import random

    from whatsapp import store
    from whatsapp.store.engine import postgres
    from whatsapp.store.queries import match_expression

    from .helpers import app_connection

    rng = random.Random(5)
    customers = [f"1415555{n:04d}" for n in range(9)]
    for n in range(60):
        words = rng.choice(["apple pie", "applesauce", "pear", "apple", "appletini now"])
        post_webhook(client, text_message(f"{words} {n}", wa_id=rng.choice(customers), name=None))

    def matches(conn, query: str, prefix: bool, wanted: int) -> list[int]:
        """Every match at once, newest first (SQLite's FTS5 table; PostgreSQL's search functions)."""
        if postgres(conn):
            newest = """SELECT message_id FROM whatsapp_messages
                        WHERE wa_search_vector(message_text) @@ wa_search_query(?, ?)
                        ORDER BY message_id DESC LIMIT ?"""
            return [r[0] for r in conn.execute(newest, (query, prefix, wanted))]
        newest = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
        return [r[0] for r in conn.execute(newest, (match_expression(query, prefix=prefix), wanted))]

    def reference(conn, query: str, limit: int) -> list[int]:
        exact = match_expression(query, prefix=False)
        prefix = match_expression(query, prefix=True)
        wanted = limit * 5
        ids = matches(conn, query, False, wanted)
        if len(ids) < wanted and prefix != exact:
            ids += [r for r in matches(conn, query, True, wanted) if r not in ids][: wanted - len(ids)]
        found: dict[int, int] = {}
        for message_id in ids:
            owner = conn.execute("SELECT conversation_id FROM whatsapp_messages WHERE message_id = ?", (message_id,))
            found.setdefault(owner.fetchone()[0], message_id)
        return list(found.items())[:limit]

    with app_connection(app) as conn:
        for query in ("apple", "app", "applesauce", "pear", "apple pie"):
            for limit in (1, 2, 3, 4, 8, 20):
                assert list(store.search(conn, query, limit).items()) == reference(conn, query, limit), (query, limit)
