from .helpers import fixture_bytes, post_webhook


def test_text_fixture_lands_in_conversations(client):
    response = post_webhook(client, fixture_bytes("text"))
    assert response.status_code == 200, response.get_json()
    body = client.get("/api/whatsapp/conversations").get_json()
    assert body["count"] == 1
    assert body["conversations"][0]["phone_number"] == "+14155550123"
