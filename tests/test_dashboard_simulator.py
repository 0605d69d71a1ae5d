"""The simulator: signed deliveries from fake customers, and a stand-in Graph API that answers sends
and reports them sent, delivered and read, against the real app on a loopback port."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from whatsapp import simulate

SECRET = "simulator-secret"
KEY = "simulator-service-key"


def simulated_settings(tmp_path, graph_url: str, secret: str = SECRET, key: str = KEY) -> dict:
    """The service's settings beside the simulator's stand-in Graph API at `graph_url`."""
    return {
        "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "WHATSAPP_APP_SECRET": secret,
        "WHATSAPP_PHONE_NUMBER_ID": simulate.DEFAULT_PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": "simulated",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": simulate.WABA_ID,
        "WHATSAPP_API_URL": graph_url,
        "WHATSAPP_MEDIA_FROM_API_URL": "true",
        "AGENT_API_KEY": key,
    }


@pytest.fixture
def running(tmp_path):
    graph = simulate.FakeGraph(app_secret=SECRET, status_delays=(0.05, 0.1, 0.15)).start()
    app = create_app(simulated_settings(tmp_path, graph.url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    graph.webhook_url = f"{base}/api/whatsapp/webhook"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    yield base, graph, session
    server.shutdown()
    graph.stop()
    app.extensions["media"].stop()


def eventually(check, seconds: float = 10.0):
    """Poll until check() is truthy (the background work it waits for has no fixed duration)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_the_script_fills_the_inbox_with_several_customers_and_message_types(running):
    base, graph, session = running
    delivered = simulate.run(base, SECRET, graph=graph, phone_number_id=simulate.DEFAULT_PHONE_NUMBER_ID, speed=0)
    conversations = session.get(f"{base}/api/whatsapp/conversations").json()["conversations"]
    types = set()
    for conversation in conversations:
        thread = session.get(f"{base}/api/whatsapp/messages", params={"conversation_id": conversation["id"]}).json()
        types |= {m["type"] for m in thread["messages"]}
    assert delivered == len(simulate.script(graph, simulate.DEFAULT_PHONE_NUMBER_ID))
    assert {c["contact_name"] for c in conversations} == {c.name for c in simulate.CUSTOMERS}
    assert {"text", "image", "document", "location"} <= types


def test_inbound_media_of_the_simulation_downloads_from_the_stand_in(running):
    base, graph, session = running
    simulate.run(base, SECRET, graph=graph, phone_number_id=simulate.DEFAULT_PHONE_NUMBER_ID, speed=0)
    maria = session.get(f"{base}/api/whatsapp/conversation", params={"phone_number": "+14155550123"}).json()
    thread = session.get(f"{base}/api/whatsapp/messages", params={"conversation_id": maria["conversation"]["id"]})
    image = next(m for m in thread.json()["messages"] if m["type"] == "image")
    download = session.get(f"{base}/api/whatsapp/media/{image['id']}")
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")


def test_a_send_gets_a_wamid_and_then_sent_delivered_and_read_webhooks(running):
    base, graph, session = running
    simulate.run(base, SECRET, graph=graph, phone_number_id=simulate.DEFAULT_PHONE_NUMBER_ID, speed=0)
    answer = session.post(f"{base}/api/whatsapp/send", json={"phone_number": "+14155550123", "message": "On its way!"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["message_id"].startswith("wamid.SIM")
    conversation_id = answer.json()["conversation_id"]

    def status_of_reply():
        thread = session.get(f"{base}/api/whatsapp/messages", params={"conversation_id": conversation_id}).json()
        return next(m["status"] for m in thread["messages"] if m["text"] == "On its way!")

    assert eventually(lambda: status_of_reply() == "read")


def test_the_stand_in_lists_approved_templates_and_accepts_uploads(running):
    base, graph, session = running
    templates = session.get(f"{base}/api/whatsapp/templates").json()["templates"]
    assert {t["name"] for t in templates} >= {"order_update", "hello_world"}
    simulate.run(base, SECRET, graph=graph, phone_number_id=simulate.DEFAULT_PHONE_NUMBER_ID, speed=0)
    upload = session.post(
        f"{base}/api/whatsapp/send-media",
        data={"phone_number": "+14155550123", "caption": "Replacement"},
        files={"file": ("photo.png", simulate.png(), "image/png")},
    )
    assert upload.status_code == 200, upload.text
    assert graph.files[graph.uploads[-1]["id"]] == (simulate.png(), "image/png")


def test_the_command_needs_an_app_secret(monkeypatch):
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    monkeypatch.chdir("/")
    with pytest.raises(SystemExit):
        simulate.main(["--url", "http://127.0.0.1:9"])
