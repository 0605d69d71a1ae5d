"""Inbound media: fetched from the Graph API stand-in in the background, checked, stored, served."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from pathlib import Path

import pytest
from werkzeug import Response

from app import create_app

from .helpers import AGENT_KEY, post_webhook, text_message

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def b64sha(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


def image_message(media_id="555001", sha256=None, mime="image/jpeg", kind="image", filename=None):
    body = {"id": media_id, "mime_type": mime, "sha256": sha256 or b64sha(JPEG)}
    if kind == "image":
        body["caption"] = "the box"
    if filename:
        body["filename"] = filename
    payload = text_message(extra={"type": kind, kind: body})
    payload["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
    return payload


def serve_media(graph, media_id="555001", content=JPEG, url_path="/cdn/555001", mime="image/jpeg"):
    graph.expect_request(f"/v26.0/{media_id}", method="GET").respond_with_json(
        {
            "messaging_product": "whatsapp",
            "url": graph.url_for(url_path),
            "mime_type": mime,
            "sha256": hashlib.sha256(content).hexdigest(),
            "file_size": str(len(content)),
            "id": media_id,
        }
    )
    graph.expect_request(url_path, method="GET").respond_with_data(content, content_type=mime)


@pytest.fixture
def auto_client(settings):
    app = create_app({**settings, "MEDIA_AUTO_DOWNLOAD": "true"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    return client


def only_message(client):
    return client.get("/api/whatsapp/messages?phone_number=%2B14155550123").get_json()["messages"][0]


def wait_for_state(client, wanted, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = only_message(client)
        if message["media_state"] == wanted:
            return message
        time.sleep(0.05)
    raise AssertionError(f"media never became {wanted}: {only_message(client)['media_state']}")


def test_inbound_media_is_downloaded_in_the_background_and_served(auto_client, graph, settings):
    serve_media(graph)
    assert post_webhook(auto_client, image_message()).status_code == 200
    message = wait_for_state(auto_client, "ready")
    assert message["media"]["size"] == len(JPEG)
    download = graph.log[0][0]
    assert download.headers["Authorization"] == "Bearer test-access-token"
    served = auto_client.get(message["media"]["download_url"])
    assert served.status_code == 200 and served.data == JPEG
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" not in served.headers.get("Content-Disposition", "")


def meta_stalls(graph) -> threading.Event:
    """Meta holds the media lookup until the returned event is set, then refuses it."""
    release = threading.Event()

    def slow_info(request):
        release.wait(10)
        return Response('{"error": {"message": "gone", "code": 100}}', status=400, content_type="application/json")

    graph.expect_request("/v26.0/555001", method="GET").respond_with_handler(slow_info)
    return release


def test_the_webhook_answer_does_not_wait_for_the_media(auto_client, graph):
    release = meta_stalls(graph)
    answer = post_webhook(auto_client, image_message())
    assert answer.status_code == 200
    assert only_message(auto_client)["media_state"] in ("pending", "downloading")
    assert only_message(auto_client)["text"] == "the box"
    release.set()
    wait_for_state(auto_client, "failed")


def test_a_file_that_does_not_match_meta_sha256_is_refused_and_can_be_retried(app, client, graph):
    post_webhook(client, image_message(sha256=b64sha(b"something else")))
    serve_media(graph)
    answer = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert answer.status_code == 502
    assert "sha256" in answer.get_json()["error"]
    message = only_message(client)
    assert message["media_state"] == "failed"
    # Meta's hex sha256 from the media endpoint is used when the webhook sent none.
    with app.extensions["database"].connection() as conn:
        conn.execute("UPDATE whatsapp_messages SET media_sha256 = NULL")
    retried = client.post(f"/api/whatsapp/media/{message['id']}/retry")
    assert retried.status_code == 200
    assert retried.get_json()["media_state"] == "ready"


def test_media_is_fetched_on_demand_when_first_requested(client, graph):
    post_webhook(client, image_message())
    assert only_message(client)["media_state"] == "pending"
    serve_media(graph)
    served = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert served.status_code == 200 and served.data == JPEG
    assert only_message(client)["media_state"] == "ready"


def test_a_document_is_served_as_an_attachment_under_its_name(client, graph):
    pdf = b"%PDF-1.4 fake"
    post_webhook(
        client,
        image_message(
            media_id="777", sha256=b64sha(pdf), mime="application/pdf", kind="document", filename="Rechnung <4471>.pdf"
        ),
    )
    serve_media(graph, "777", pdf, "/cdn/777", "application/pdf")
    served = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert served.status_code == 200 and served.data == pdf
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_media_urls_outside_meta_hosts_are_not_followed(client, graph):
    post_webhook(client, image_message())
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"url": "http://169.254.169.254/latest/meta-data", "mime_type": "image/jpeg", "id": "555001"}
    )
    answer = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert answer.status_code == 502
    assert "unexpected host" in answer.get_json()["error"]


def test_a_message_without_media_has_no_media_route(client):
    post_webhook(client, text_message("plain"))
    assert client.get(f"/api/whatsapp/media/{only_message(client)['id']}").status_code == 404
    assert client.post(f"/api/whatsapp/media/{only_message(client)['id']}/retry").status_code == 404


def test_media_needs_agent_auth(anon, client):
    post_webhook(client, image_message())
    assert anon.get(f"/api/whatsapp/media/{only_message(client)['id']}").status_code == 401


def test_a_failed_download_is_scheduled_again_with_backoff(client, graph):
    post_webhook(client, image_message())
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"error": {"message": "x", "code": 1}}, status=500
    )
    client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    message = only_message(client)
    assert message["media_state"] == "failed"
    from whatsapp import store

    with client.application.extensions["database"].connection() as conn:
        row = store.get_message(conn, message["id"])
    assert row["media_attempts"] == 1 and row["media_next_attempt_at"] is not None
    assert row["media_error"]


def test_the_sweeper_retries_a_failed_download_by_itself(auto_client, graph):
    fetcher = auto_client.application.extensions["media"]
    fetcher.backoff = (0, 0, 0)
    fetcher.sweep_seconds = 0.1
    graph.expect_ordered_request("/v26.0/555001", method="GET").respond_with_json(
        {"error": {"message": "(#131000) Something went wrong", "code": 131000}}, status=500
    )
    serve_media(graph)
    post_webhook(auto_client, image_message())
    message = wait_for_state(auto_client, "ready")
    assert message["media"]["size"] == len(JPEG)
    assert [r.path for r, _ in graph.log].count("/v26.0/555001") == 2
    fetcher.stop()


def agent_sends_image(client, graph, media: dict) -> dict:
    """A customer writes (opening the window) and the agent answers with an image."""
    post_webhook(client, text_message("send me the photo", timestamp=int(time.time()) - 5))
    graph.expect_request("/v26.0/110293847561029/messages", method="POST").respond_with_json(
        {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUTIMG"}]}
    )
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "type": "image", "media": media})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["message"]


def test_media_sent_by_link_has_no_local_copy_and_says_so(client, graph):
    sent = agent_sends_image(client, graph, {"link": "https://example.com/receipt.jpg"})
    answer = client.get(f"/api/whatsapp/media/{sent['id']}")
    assert answer.status_code == 404
    assert "keeps no copy" in answer.get_json()["error"]
    assert all(r.path.startswith("/v26.0/110293847561029/") for r, _ in graph.log)  # Meta was not asked


def test_media_sent_by_meta_media_id_is_fetched_from_meta_and_then_kept(client, graph):
    sent = agent_sends_image(client, graph, {"id": "6620042381272920"})
    serve_media(graph, media_id="6620042381272920", url_path="/cdn/6620042381272920")
    first = client.get(f"/api/whatsapp/media/{sent['id']}")
    assert first.status_code == 200, first.get_json()
    assert first.data == JPEG and first.mimetype == "image/jpeg"
    again = client.get(f"/api/whatsapp/media/{sent['id']}")
    assert again.status_code == 200 and again.data == JPEG
    assert [r.path for r, _ in graph.log].count("/v26.0/6620042381272920") == 1  # the second came from disk


def test_media_sent_by_meta_media_id_that_meta_no_longer_has_is_a_502(client, graph):
    sent = agent_sends_image(client, graph, {"id": "6620042381272920"})
    graph.expect_request("/v26.0/6620042381272920", method="GET").respond_with_json(
        {"error": {"message": "(#100) Invalid parameter", "code": 100}}, status=400
    )
    answer = client.get(f"/api/whatsapp/media/{sent['id']}")
    assert answer.status_code == 502 and "could not be fetched" in answer.get_json()["error"]


def test_a_downloaded_file_that_went_missing_is_fetched_again(client, graph):
    post_webhook(client, image_message())
    serve_media(graph)
    message_id = only_message(client)["id"]
    assert client.get(f"/api/whatsapp/media/{message_id}").status_code == 200
    for stored in Path(client.application.config["SETTINGS"].media_dir).iterdir():
        stored.unlink()  # a lost volume, a cleanup script
    served = client.get(f"/api/whatsapp/media/{message_id}")
    assert served.status_code == 200, served.get_json()
    assert served.data == JPEG


def test_media_being_downloaded_by_another_thread_says_so(auto_client, graph):
    release = meta_stalls(graph)
    post_webhook(auto_client, image_message())
    wait_for_state(auto_client, "downloading")
    answer = auto_client.get(f"/api/whatsapp/media/{only_message(auto_client)['id']}")
    release.set()
    assert answer.status_code == 503
    assert "being downloaded" in answer.get_json()["error"]
    assert answer.get_json()["retry_after"] == 2
    wait_for_state(auto_client, "failed")
