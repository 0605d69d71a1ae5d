"""Customers known by phone, by business-scoped user id (BSUID), or both: one thread each."""

from __future__ import annotations

from .helpers import customer_writes, envelope, fixture_bytes, post_webhook, send_ok, text_message, wamid

ADA = "US.48213906517730264195"
BO = "BR.90317264508812736455"


def conversations(client):
    return client.get("/api/whatsapp/conversations").get_json()["conversations"]


def test_a_username_only_customer_gets_a_thread_without_a_phone(client):
    assert post_webhook(client, fixture_bytes("bsuid_text_username_only")).status_code == 200
    [conv] = conversations(client)
    assert conv["phone_number"] is None
    assert conv["user_id"] == BO
    assert conv["username"] == "@bosample"
    assert conv["contact_profile_name"] == "Bo Sample"
    messages = client.get("/api/whatsapp/messages", query_string={"user_id": BO}).get_json()["messages"]
    assert [m["text"] for m in messages] == ["Hello, do you ship to Recife?"]
    assert messages[0]["user_id"] == BO


def test_a_customer_with_phone_and_user_id_is_found_by_either(client):
    post_webhook(client, fixture_bytes("bsuid_text_with_phone"))
    by_user = client.get("/api/whatsapp/conversation", query_string={"user_id": ADA}).get_json()
    by_phone = client.get("/api/whatsapp/conversation", query_string={"phone_number": "+15551234567"}).get_json()
    assert by_user == by_phone
    assert by_user["conversation"]["user_id"] == ADA


def test_a_later_delivery_with_both_ids_joins_a_user_id_thread_and_a_phone_thread(client):
    post_webhook(client, text_message("by user id", wa_id=None, user_id=ADA, username="@ada"))
    post_webhook(client, text_message("by phone", wa_id="15551234567", user_id=None))
    assert len(conversations(client)) == 2
    post_webhook(client, text_message("both", wa_id="15551234567", user_id=ADA))
    [conv] = conversations(client)
    assert conv["phone_number"] == "+15551234567"
    assert conv["user_id"] == ADA
    assert conv["username"] == "@ada"
    assert conv["unread_count"] == 3
    texts = [
        m["text"] for m in client.get("/api/whatsapp/messages", query_string={"user_id": ADA}).get_json()["messages"]
    ]
    assert sorted(texts) == ["both", "by phone", "by user id"]


def test_a_phone_customer_who_later_arrives_by_user_id_only_keeps_the_thread(client):
    post_webhook(client, fixture_bytes("bsuid_text_with_phone"))
    post_webhook(client, text_message("now a username", wa_id=None, user_id=ADA, username="@ada"))
    [conv] = conversations(client)
    assert conv["phone_number"] == "+15551234567"
    assert conv["username"] == "@ada"
    assert conv["unread_count"] == 2


def test_a_changed_number_updates_the_customer_in_place(client):
    post_webhook(client, fixture_bytes("text"))
    post_webhook(client, fixture_bytes("system_number_change"))
    [conv] = conversations(client)
    assert conv["phone_number"] == "+14155550177"
    post_webhook(client, text_message("from my new number", wa_id="14155550177"))
    [conv] = conversations(client)
    assert conv["unread_count"] == 2


def test_a_changed_user_id_updates_the_customer_in_place(client):
    post_webhook(client, text_message("hi", wa_id=None, user_id=ADA))
    system = {
        "from_user_id": ADA,
        "id": wamid(),
        "timestamp": "1795500700",
        "type": "system",
        "system": {
            "body": "User Ada changed from old to new",
            "user_id": "US.99999999999999999999",
            "previous_user_id": ADA,
            "type": "user_changed_user_id",
        },
    }
    assert post_webhook(client, envelope({"messages": [system]})).status_code == 200
    [conv] = conversations(client)
    assert conv["user_id"] == "US.99999999999999999999"
    post_webhook(client, text_message("again", wa_id=None, user_id="US.99999999999999999999"))
    assert len(conversations(client)) == 1


def test_a_send_to_a_username_only_customer_uses_recipient(client, graph):
    customer_writes(client, wa_id=None, user_id=BO, username="@bosample")
    graph.expect_request(
        "/v26.0/110293847561029/messages",
        method="POST",
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "recipient": BO,
            "type": "text",
            "text": {"body": "Yes we do", "preview_url": False},
            "biz_opaque_callback_data": graph_any(),
        },
    ).respond_with_json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": BO, "user_id": BO}],
            "messages": [{"id": "wamid.OUT1"}],
        }
    )
    answer = client.post("/api/whatsapp/send", json={"user_id": BO, "message": "Yes we do"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["message_id"] == "wamid.OUT1"
    graph.check_assertions()


def test_a_status_carrying_a_user_id_keeps_the_thread(client, graph):
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_json(
        send_ok("15551234567", "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBRGSVhUVVJFMDAwMDAwMDAwMDAzAA==")
    )
    customer_writes(client, wa_id="15551234567", user_id=ADA)
    client.post("/api/whatsapp/send", json={"phone_number": "+15551234567", "message": "Your order shipped"})
    assert post_webhook(client, fixture_bytes("bsuid_status_read")).status_code == 200
    [conv] = conversations(client)
    messages = client.get("/api/whatsapp/messages", query_string={"conversation_id": conv["id"]}).get_json()
    assert messages["messages"][-1]["direction"] == "outbound"
    assert messages["messages"][-1]["status"] == "read"


class graph_any(str):
    """Matches any string in pytest-httpserver's JSON comparison."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __hash__(self) -> int:
        return 0


def test_a_status_with_the_customer_user_id_joins_a_username_thread_to_the_phone_thread(client, graph):
    customer_writes(client, "via username", wa_id=None, user_id=ADA, username="@ada")
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+15551234567", "wa_id": "15551234567"}],
            "messages": [{"id": "wamid.PHONE1"}],
        }
    )
    answer = client.post(
        "/api/whatsapp/send",
        json={
            "phone_number": "+15551234567",
            "type": "template",
            "template": {"name": "hello_world", "language": "en_US"},
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert len(conversations(client)) == 2
    status = fixture_bytes("bsuid_status_read").replace(
        b"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBRGSVhUVVJFMDAwMDAwMDAwMDAzAA==", b"wamid.PHONE1"
    )
    assert post_webhook(client, status).status_code == 200
    [conv] = conversations(client)
    assert conv["phone_number"] == "+15551234567" and conv["user_id"] == ADA and conv["username"] == "@ada"
