"""Issue 11's media items: the token stays with Meta, the Graph deadline covers the whole call,
the sweeper runs in every worker, filenames are safe headers, GET /media keeps to the backoff,
a retry keeps a good copy, and static stickers are held to 100 KB."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.http import parse_options_header

from app import create_app
from whatsapp.graph import GraphError

from .helpers import AGENT_KEY, customer_writes, post_webhook, send_ok, text_message
from .test_media import JPEG, b64sha, image_message, only_message, serve_media, wait_for_state

SEND_PATH = "/v26.0/110293847561029/messages"


def client_for(settings, **overrides):
    app = create_app({**settings, **overrides})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    return client


def sql(client, statement, *args):
    with client.application.extensions["database"].connection() as conn:
        conn.execute(statement, args)


def media_row(client, message_id):
    with client.application.extensions["database"].connection() as conn:
        return dict(conn.execute("SELECT * FROM whatsapp_messages WHERE message_id = ?", (message_id,)).fetchone())


def lookups(graph, media_id="555001"):
    return [r.path for r, _ in graph.log].count(f"/v26.0/{media_id}")


# --- 1. the access token goes only to Meta ------------------------------------------------------


@pytest.mark.parametrize("media_id", ["http://127.0.0.1:9999/x", "../../me", "12a", "https://lookaside.fbsbx.com/x"])
def test_send_refuses_a_media_id_that_is_not_digits(client, graph, media_id):
    customer_writes(client)
    answer = client.post(
        "/api/whatsapp/send", json={"phone_number": "+14155550123", "type": "image", "media": {"id": media_id}}
    )
    assert answer.status_code == 400
    assert "media.id must be a WhatsApp media id" in answer.get_json()["error"]
    assert graph.log == []


def test_a_webhook_media_id_that_is_a_url_is_failed_with_a_reason_and_never_fetched(settings, graph):
    client = client_for(settings, MEDIA_AUTO_DOWNLOAD="true")
    trap = graph.url_for("/steal-the-token")
    graph.expect_request("/steal-the-token").respond_with_data(JPEG, content_type="image/jpeg")
    assert post_webhook(client, image_message(media_id=trap)).status_code == 200
    message = only_message(client)
    assert message["media_state"] == "failed"
    answer = client.get(f"/api/whatsapp/media/{message['id']}")
    assert answer.status_code == 502
    assert "Not a WhatsApp media id" in answer.get_json()["error"]
    retried = client.post(f"/api/whatsapp/media/{message['id']}/retry")
    assert retried.status_code == 502
    assert graph.log == []  # nothing, with or without the token, went anywhere
    client.application.extensions["media"].stop()


def test_a_stored_media_id_that_is_a_url_is_never_fetched(client, graph):
    """A row stored before ids were checked (or by any other path) is refused when fetched."""
    post_webhook(client, image_message())
    message_id = only_message(client)["id"]
    sql(client, "UPDATE whatsapp_messages SET media_id = ?", graph.url_for("/steal-the-token"))
    answer = client.get(f"/api/whatsapp/media/{message_id}")
    assert answer.status_code == 502
    assert "Not a WhatsApp media id" in answer.get_json()["error"]
    assert graph.log == []


@pytest.mark.parametrize(
    "url",
    [
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",  # not https
        "https://lookaside.fbsbx.com:8443/whatsapp_business/attachments/?mid=1",  # not 443
        "https://lookaside.fbsbx.com.evil.example/x",  # not Meta's host
        "https://evil.example/?host=lookaside.fbsbx.com",
        "ftp://lookaside.fbsbx.com/x",
        # urlsplit reads lookaside.fbsbx.com here, but requests connects to evil.example
        "https://evil.example\\@lookaside.fbsbx.com/x",
        "https://evil.example@lookaside.fbsbx.com/x",  # credentials in a media URL: never Meta's
    ],
)
def test_media_downloads_go_only_to_meta_media_hosts_over_https_on_443(client, graph, url):
    post_webhook(client, image_message())
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"url": url, "mime_type": "image/jpeg", "id": "555001"}
    )
    answer = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert answer.status_code == 502
    error = answer.get_json()["error"]
    assert "Refusing to download media from an unexpected host" in error
    assert "mid=" not in error and "evil.example" not in error  # nor its host: it is logged instead


def test_the_stand_in_may_serve_media_only_when_the_setting_says_so(settings, graph):
    client = client_for(settings, WHATSAPP_MEDIA_FROM_API_URL="false")
    post_webhook(client, image_message())
    serve_media(graph)
    answer = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
    assert answer.status_code == 502
    assert "unexpected host" in answer.get_json()["error"]
    assert "/cdn/555001" not in [r.path for r, _ in graph.log]  # the token never went to the file URL


def test_a_url_parsers_disagree_on_never_takes_the_token_to_the_other_host(settings, graph):
    """`http://other\\@graph/file`: urlsplit sees the stand-in's host, urllib3 connects to `other`."""
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/file").respond_with_data(b"stolen")
        client = client_for(settings, WHATSAPP_MEDIA_FROM_API_URL="true")
        post_webhook(client, image_message())
        confusing = f"http://127.0.0.1:{other.port}\\@127.0.0.1:{graph.port}/file"
        graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
            {"url": confusing, "mime_type": "image/jpeg", "id": "555001"}
        )
        answer = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
        assert answer.status_code == 502
        assert other.log == []
        # and whatever path a request takes, the session itself refuses to carry the token elsewhere
        session = client.application.extensions["graph"].session
        with pytest.raises(GraphError):
            session.get(other.url_for("/file"), headers={"Authorization": "Bearer test-access-token"})
        assert other.log == []
    finally:
        other.stop()


def test_the_token_goes_to_no_url_outside_the_graph_api(settings, graph):
    """Meta's paging links are followed only on the Graph API's own origin."""
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/steal-the-token").respond_with_json({"data": []})
        graph.expect_request("/v26.0/109283746501928/message_templates").respond_with_json(
            {"data": [], "paging": {"next": other.url_for("/steal-the-token")}}
        )
        client = client_for(settings, WHATSAPP_BUSINESS_ACCOUNT_ID="109283746501928")
        answer = client.get("/api/whatsapp/templates")
        assert answer.status_code >= 500
        assert answer.get_json()["success"] is False
        assert other.log == []
    finally:
        other.stop()


# --- 10. WHATSAPP_GRAPH_TIMEOUT is a deadline for the whole call --------------------------------


def test_a_send_answer_that_drips_slowly_is_cut_at_the_deadline(settings, graph):
    client = client_for(settings, graph_timeout=1.0)
    customer_writes(client)
    stop, finished = threading.Event(), threading.Event()
    body = json.dumps(send_ok(message_id="wamid.DRIP")).encode()

    def drip(request: Request) -> Response:
        def chunks():
            for _ in range(60):  # a byte every 0.25 s: each read is quick, the whole answer is 15 s
                if stop.wait(0.25):
                    return
                yield b" "
            yield body
            finished.set()

        return Response(chunks(), content_type="application/json")

    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(drip)
    answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hi"})
    dripping = not finished.is_set()
    stop.set()
    assert dripping, "the send waited for the whole slow answer"
    assert answer.status_code == 504
    assert "did not answer within 1 s" in answer.get_json()["error"]
    assert "may or may not have been sent" in answer.get_json()["error"]
    [sent] = [m for m in only_thread(client) if m["direction"] == "outbound"]
    assert sent["status"] == "pending"  # an unknown outcome, settled by Meta's status webhooks
    assert [r.path for r, _ in graph.log].count(SEND_PATH) == 1


def only_thread(client):
    return client.get("/api/whatsapp/messages?phone_number=%2B14155550123").get_json()["messages"]


class HeaderDripper:
    """A loopback stand-in that starts an HTTP answer and then drips its headers forever."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.requests = 0
        self.finished = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                self.requests += 1
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for n in range(60):
                        if self.stop.wait(0.25):
                            break
                        conn.sendall(f"X-Drip-{n}: a\r\n".encode())
                    else:
                        self.finished = True
                except OSError:
                    pass  # the client hung up

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_an_answer_whose_headers_drip_is_cut_at_the_deadline(settings):
    dripper = HeaderDripper()
    try:
        client = client_for(settings, graph_timeout=1.0, WHATSAPP_API_URL=dripper.url)
        customer_writes(client)
        answer = client.post("/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "Hi"})
        assert not dripper.finished
        assert answer.status_code == 504
        assert "did not answer within 1 s" in answer.get_json()["error"]
        assert dripper.requests == 1  # an unknown outcome is never retried
    finally:
        dripper.close()


# --- 11. the sweeper starts with each worker ----------------------------------------------------


def test_a_fresh_worker_retries_a_due_download_without_any_media_webhook(settings, graph):
    first = client_for(settings)  # one worker: its download fails, due again at once
    first.application.extensions["media"].backoff = (0, 0, 0)
    post_webhook(first, image_message())
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"error": {"message": "(#131000) Something went wrong", "code": 131000}}, status=500
    )
    assert first.get(f"/api/whatsapp/media/{only_message(first)['id']}").status_code == 502
    assert only_message(first)["media_state"] == "failed"
    graph.clear()
    serve_media(graph)
    # A restarted worker that is only asked for its conversations list downloads it by itself.
    worker = client_for(settings, MEDIA_AUTO_DOWNLOAD="true")
    try:
        assert worker.get("/api/whatsapp/conversations").status_code == 200
        message = wait_for_state(worker, "ready")
        assert message["media"]["size"] == len(JPEG)
    finally:
        worker.application.extensions["media"].stop()


def test_every_gunicorn_worker_starts_its_sweeper_at_boot(settings, graph, tmp_path):
    """A restarted service retries a due download before it serves any request at all."""
    first = client_for(settings)
    post_webhook(first, image_message())  # stored pending (MEDIA_AUTO_DOWNLOAD is off here)
    serve_media(graph)
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "2",
        **{k: str(v) for k, v in settings.items() if k.isupper()},
        "MEDIA_AUTO_DOWNLOAD": "true",
    }
    root = Path(__file__).resolve().parent.parent
    with open(tmp_path / "gunicorn.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        state = None
        for _ in range(300):  # up to 30 s; nobody sends gunicorn a request
            state = media_row(first, 1)["media_state"]
            if state == "ready" or process.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert state == "ready", (tmp_path / "gunicorn.log").read_text()[-2000:]
    assert lookups(graph) == 1  # two workers swept it; one claimed it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_auto_download_no_sweeper_runs_and_requests_are_served(client):
    assert client.get("/api/whatsapp/conversations").status_code == 200
    assert client.application.extensions["media"].sweeping is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_starts_its_own_sweeper(settings):
    """gunicorn forks workers: a child must not rely on (or deadlock on) its parent's threads."""
    client = client_for(settings, MEDIA_AUTO_DOWNLOAD="true")
    fetcher = client.application.extensions["media"]
    assert client.get("/api/whatsapp/conversations").status_code == 200
    assert fetcher.sweeping
    while fetcher.sweeps == 0:  # its first sweep done: no thread of the parent is inside SQLite at the fork
        time.sleep(0.01)
    fetcher._lock.acquire()  # a parent thread holding the lock at fork time
    try:
        pid = os.fork()
        if pid == 0:  # the child: serve a request, then say whether its own sweeper runs
            ok = False
            try:
                ok = client.get("/api/whatsapp/conversations").status_code == 200 and fetcher.sweeping
            finally:
                os._exit(0 if ok else 1)
    finally:
        fetcher._lock.release()
    _, status = os.waitpid(pid, 0)
    fetcher.stop()
    assert os.waitstatus_to_exitcode(status) == 0


# --- 16. filenames in Content-Disposition --------------------------------------------------------


def serve_document(client, graph, filename, content=b"%PDF-1.4 fake"):
    document = image_message("777", b64sha(content), "application/pdf", "document", filename)
    post_webhook(client, document)
    serve_media(graph, "777", content, "/cdn/777", "application/pdf")
    return client.get(f"/api/whatsapp/media/{only_message(client)['id']}")


def disposition_filename(header: str) -> str | None:
    """The name a browser saves under: `filename*` (RFC 5987) wins over the `filename` fallback."""
    return parse_options_header(header)[1].get("filename")


def test_a_document_named_with_a_newline_downloads_and_is_served(client, graph):
    served = serve_document(client, graph, "invoice\r\n2291.pdf")
    assert served.status_code == 200, served.get_json()
    assert served.data == b"%PDF-1.4 fake"
    header = served.headers["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    assert header.startswith("attachment;")
    assert "filename*=UTF-8''invoice%202291.pdf" in header
    assert disposition_filename(header) == "invoice 2291.pdf"


def test_a_filename_with_quotes_is_encoded_per_rfc_6266_and_keeps_the_file_type(client, graph):
    served = serve_document(client, graph, 'Rechnung "März".pdf";.html')
    assert served.status_code == 200
    header = served.headers["Content-Disposition"]
    fallback = header.split('filename="', 1)[1].split('";', 1)[0]
    assert '"' not in fallback and "\\" not in fallback and fallback.isascii()
    assert disposition_filename(header) == 'Rechnung "März".pdf";.html'  # filename* carries it exactly
    [stored] = Path(client.application.config["SETTINGS"].media_dir).iterdir()
    assert stored.suffix == ".pdf"  # the MIME type Meta checked, never the name's trailing text


def test_a_filename_with_a_right_to_left_override_cannot_disguise_its_extension(client, graph):
    served = serve_document(client, graph, "invoice\u202efdp.exe")
    assert served.status_code == 200
    assert disposition_filename(served.headers["Content-Disposition"]) == "invoice fdp.exe"


# --- 19. GET /media on a failed item keeps to the backoff ---------------------------------------


def test_get_media_on_a_failed_download_asks_meta_once_per_backoff_step(client, graph):
    post_webhook(client, image_message())
    message_id = only_message(client)["id"]
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"error": {"message": "(#131000) Something went wrong", "code": 131000}}, status=500
    )
    answers = [client.get(f"/api/whatsapp/media/{message_id}") for _ in range(5)]
    assert [a.status_code for a in answers] == [502] * 5
    assert lookups(graph) == 1
    later = answers[-1].get_json()
    assert later["media_state"] == "failed"
    # the reason is on the message too, not only in the answer of GET /media
    assert "Something went wrong" in (only_message(client)["media_error"] or "")
    assert 1 <= later["retry_after"] <= 15  # the first backoff step
    # Once the step has passed, the next GET tries again, once.
    sql(client, "UPDATE whatsapp_messages SET media_next_attempt_at = '2000-01-01 00:00:00'")
    assert client.get(f"/api/whatsapp/media/{message_id}").status_code == 502
    assert client.get(f"/api/whatsapp/media/{message_id}").status_code == 502
    assert lookups(graph) == 2
    assert media_row(client, message_id)["media_attempts"] == 2


def test_get_media_after_the_last_backoff_step_never_asks_meta(client, graph):
    post_webhook(client, image_message())
    message_id = only_message(client)["id"]
    sql(client, "UPDATE whatsapp_messages SET media_state = 'failed', media_next_attempt_at = NULL, media_attempts = 5")
    answer = client.get(f"/api/whatsapp/media/{message_id}")
    assert answer.status_code == 502
    assert "retry" in answer.get_json()["error"]
    assert graph.log == []


# --- 20. a retry keeps a good copy --------------------------------------------------------------


def test_retry_of_a_photo_on_disk_keeps_it_when_meta_no_longer_has_the_id(client, graph):
    post_webhook(client, image_message())
    serve_media(graph)
    message_id = only_message(client)["id"]
    assert client.get(f"/api/whatsapp/media/{message_id}").status_code == 200
    graph.clear()
    graph.expect_request("/v26.0/555001", method="GET").respond_with_json(
        {"error": {"message": "(#100) Invalid parameter", "code": 100}}, status=400
    )
    retried = client.post(f"/api/whatsapp/media/{message_id}/retry")
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["media_state"] == "ready"
    served = client.get(f"/api/whatsapp/media/{message_id}")
    assert served.status_code == 200 and served.data == JPEG


def test_retry_of_a_corrupted_copy_downloads_it_again(client, graph):
    post_webhook(client, image_message())
    serve_media(graph)
    message_id = only_message(client)["id"]
    assert client.get(f"/api/whatsapp/media/{message_id}").status_code == 200
    Path(media_row(client, message_id)["media_path"]).write_bytes(b"bit rot")
    retried = client.post(f"/api/whatsapp/media/{message_id}/retry")
    assert retried.status_code == 200
    assert lookups(graph) == 2
    assert client.get(f"/api/whatsapp/media/{message_id}").data == JPEG


# --- 28. sticker sizes: 100 KB static, 500 KB animated ------------------------------------------


def webp(size: int, animated: bool) -> bytes:
    """A WebP of `size` bytes with an extended (VP8X) header, animated or not."""
    flags = 0x02 if animated else 0x00
    vp8x = b"VP8X" + (10).to_bytes(4, "little") + bytes([flags, 0, 0, 0]) + b"\x1f\x00\x00\x1f\x00\x00"
    chunk = (b"ANIM" + (6).to_bytes(4, "little") + b"\x00" * 6) if animated else (b"VP8 " + b"\x00" * 4)
    head = b"WEBP" + vp8x + chunk
    body = head + b"\x00" * (size - 8 - len(head))
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def send_sticker(client, content):
    return client.post(
        "/api/whatsapp/send-media",
        data={"phone_number": "+14155550123", "file": (io.BytesIO(content), "sticker.webp", "image/webp")},
        content_type="multipart/form-data",
    )


def test_a_static_sticker_over_100_kb_is_refused_before_meta(client, graph):
    customer_writes(client)
    answer = send_sticker(client, webp(200 * 1024, animated=False))
    assert answer.status_code == 400
    assert "at most 102400 bytes for a static sticker" in answer.get_json()["error"]
    assert graph.log == []


def test_an_animated_sticker_up_to_500_kb_is_sent(client, graph):
    customer_writes(client)
    graph.expect_request("/v26.0/110293847561029/media", method="POST").respond_with_json({"id": "6620042381272921"})
    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(
        lambda request: Response(json.dumps(send_ok()), content_type="application/json")
    )
    answer = send_sticker(client, webp(400 * 1024, animated=True))
    assert answer.status_code == 200, answer.get_json()
    assert send_sticker(client, webp(90 * 1024, animated=False)).status_code == 200  # small static: fine


def test_the_simulator_setup_downloads_media_from_its_stand_in(tmp_path, database_url):
    """`python3 -m whatsapp.simulate --fake-graph-port` with the README's .env still shows photos."""
    from whatsapp import simulate

    graph = simulate.FakeGraph(app_secret="sim-secret", auto_status=False).start()
    try:
        settings = {
            "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"),
            "DATABASE_URL": database_url,
            "MEDIA_DIR": str(tmp_path / "media"),
            "WHATSAPP_APP_SECRET": "sim-secret",
            "WHATSAPP_PHONE_NUMBER_ID": simulate.DEFAULT_PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": "local-demo-token",
            "WHATSAPP_API_URL": graph.url,
            "WHATSAPP_MEDIA_FROM_API_URL": "true",
            "AGENT_API_KEY": AGENT_KEY,
            "media_auto_download": False,
        }
        client = client_for(settings)
        photo = graph.add_file(JPEG, "image/jpeg")
        fields = graph.media_fields(photo)
        body = text_message(extra={"type": "image", "image": {**fields, "sha256": b64sha(JPEG)}})
        body["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")
        post_webhook(client, body, secret="sim-secret")
        served = client.get(f"/api/whatsapp/media/{only_message(client)['id']}")
        assert served.status_code == 200 and served.data == JPEG
    finally:
        graph.stop()
