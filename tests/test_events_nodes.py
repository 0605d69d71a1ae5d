"""The event stream across nodes (issue 17): two apps on one database, each with its own Database object,
as two nodes behind a load balancer. A stream open on node B hears, within a second, a message that
node A received. On PostgreSQL B's stream polls only every 30 seconds here, so only the NOTIFY of the
insert into `events` (schema_postgresql.sql, whatsapp/event_wakeup.py) can bring it that soon; on
SQLite, two apps on one file, B's poll does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from app import create_app
from whatsapp import events

from .helpers import AGENT_KEY, post_webhook, text_message

WITHIN = 1.0  # seconds from node A's 200 to the event on node B's stream
STREAM_SECONDS = 4.0  # B's stream ends by itself after this, so the test reads it to its end


@pytest.fixture
def node_b(settings, engine) -> Iterator[int]:
    """A second app on the test's database, served over HTTP on loopback: its port."""
    app = create_app(settings)
    # PostgreSQL: a poll too slow to be what delivers the event; SQLite: the poll is how it is heard.
    app.config.update(
        EVENT_POLL_SECONDS=30.0 if engine == "postgresql" else 0.1,
        EVENT_STREAM_SECONDS=STREAM_SECONDS,
        EVENT_HEARTBEAT_SECONDS=60.0,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    streams = events.open_streams.value
    yield server.server_port
    deadline = time.monotonic() + STREAM_SECONDS + 5.0  # a stream left open (a failed test) ends by itself
    while events.open_streams.value > streams and time.monotonic() < deadline:
        time.sleep(0.05)
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["media"].stop()
    app.extensions["away_reply"].stop()


class Stream:
    """An SSE stream read line by line from a real server (HTTP/1.0: no chunks), each read with a deadline."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(
            b"GET /api/whatsapp/events/stream HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            + f"Authorization: Bearer {AGENT_KEY}\r\n\r\n".encode()
        )
        self.file = self.sock.makefile("rb")
        status = self.file.readline()
        assert status.split()[1:2] == [b"200"], status
        while self.file.readline().strip():  # the headers
            pass

    def line(self, deadline: float) -> str | None:
        """The next line, or None when the deadline passes first (or the stream ended)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            raw = self.file.readline()
        except TimeoutError:
            return None
        return raw.decode().rstrip("\n") if raw else None

    def until(self, wanted, seconds: float) -> str | None:
        deadline = time.monotonic() + seconds
        while (line := self.line(deadline)) is not None:
            if wanted(line):
                return line
        return None

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_a_stream_on_one_node_hears_a_message_delivered_to_the_other_within_a_second(client, node_b):
    stream = Stream(node_b)
    try:
        assert stream.until(lambda line: line.startswith(": connected after"), 5.0)
        answer = post_webhook(client, text_message("Hello node A", wa_id="14155550111", name="Node Tester"))
        assert answer.status_code == 200  # node A stored it and its event
        data = stream.until(lambda line: line.startswith("data: ") and '"message.created"' in line, WITHIN)
        assert data is not None, f"node B's stream did not hear node A's message within {WITHIN} s"
        event = json.loads(data.removeprefix("data: "))
        thread = client.get("/api/whatsapp/messages", query_string={"conversation_id": event["conversation_id"]})
        assert [m["id"] for m in thread.get_json()["messages"]] == [event["message_id"]]
        # and the stream ends by itself, as every stream does, so nothing of it outlives the test
        assert stream.until(lambda line: line == ": reconnect", STREAM_SECONDS + 5.0) == ": reconnect"
    finally:
        stream.close()
