"""Watch the inbox work without a Meta account: fake customers write in, and a stand-in Graph API
answers the agents' sends and reports them sent, delivered and read.

    python -m whatsapp.simulate --url http://localhost:8001 --fake-graph-port 8002

Every webhook is signed with WHATSAPP_APP_SECRET (read from the environment or .env), exactly as Meta
signs it. Start the service with WHATSAPP_API_URL=http://127.0.0.1:8002 so that its sends, uploads,
media downloads, read receipts and template lists go to the stand-in, and with
WHATSAPP_MEDIA_FROM_API_URL=true: the stand-in serves media files itself, over http on loopback,
where the service otherwise downloads only from Meta's media hosts over https.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import signal
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from . import standin_block, standin_groups, standin_templates, standin_typing

log = logging.getLogger(__name__)

DEFAULT_PHONE_NUMBER_ID = "110293847561029"
WABA_ID = "109283746501928"
_ids = itertools.count(1)


# --- payloads, as Meta sends them ---------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def new_wamid() -> str:
    return "wamid.SIM" + uuid.uuid4().hex.upper()


def envelope(value: dict[str, Any], phone_number_id: str) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550009999", "phone_number_id": phone_number_id},
                            **value,
                        },
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True)
class Customer:
    name: str
    wa_id: str


def inbound(
    customer: Customer, kind: str, content: dict[str, Any], phone_number_id: str, *, age: float = 0.0, **extra: Any
) -> dict:
    """One customer message of any type, sent `age` seconds ago; returns the envelope (its wamid is in
    messages[0].id)."""
    sent_at = str(int(time.time() - age))
    message = {"from": customer.wa_id, "id": new_wamid(), "timestamp": sent_at, "type": kind}
    if kind != "reaction" or content:
        message[kind] = content
    message.update(extra)
    contact = {"profile": {"name": customer.name}, "wa_id": customer.wa_id}
    return envelope({"contacts": [contact], "messages": [message]}, phone_number_id)


def status(wamid: str, state: str, recipient: str, phone_number_id: str, callback: str | None = None) -> dict:
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": recipient}
    if callback:
        item["biz_opaque_callback_data"] = callback
    if state in ("sent", "delivered", "read"):
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    return envelope({"statuses": [item]}, phone_number_id)


# --- files the fake customers send ----------------------------------------------------------


def png(width: int = 320, height: int = 200, seed: int = 0) -> bytes:
    """A small gradient PNG, made here so the simulator needs no image files."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes((min(255, x * 200 // width + seed), min(255, y * 180 // height + 60), (200 + seed) % 256))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


VOICE_NOTE = Path(__file__).resolve().parent / "assets" / "voice-note.ogg"


def voice_note() -> bytes:
    """A 2-second Ogg Opus voice note (what WhatsApp records), shipped beside this module."""
    return VOICE_NOTE.read_bytes()


def pdf(text: str = "Invoice 2291") -> bytes:
    """A one-page PDF with a line of text."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# --- the stand-in Graph API -------------------------------------------------------------------


TEMPLATES = [
    {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1001",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "URL", "text": "Track it", "url": "https://example.com/track/{{1}}"}],
            },
        ],
    },
    {
        "name": "we_miss_you",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "id": "1002",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}! It has been a while. Reply to this message to chat with us."}
        ],
    },
    {
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "1003",
        "components": [{"type": "BODY", "text": "Hello! Thanks for getting in touch. How can we help?"}],
    },
    {
        "name": "delivery_slot",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "id": "1004",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Delivery of {{order_id}}",
                "example": {"header_text_named_params": [{"param_name": "order_id", "example": "#4471"}]},
            },
            {
                "type": "BODY",
                "text": "Hi {{first_name}}, your order arrives on {{day}}.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Jessica"},
                        {"param_name": "day", "example": "Friday"},
                    ]
                },
            },
        ],
    },
]


class FakeGraph:
    """A local Graph API: sends get wamids (then sent/delivered/read webhooks), uploads get media ids,
    media ids resolve to files it serves, and the business has a few approved templates."""

    def __init__(
        self,
        port: int = 0,
        *,
        webhook_url: str | None = None,
        app_secret: str = "",
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        auto_status: bool = True,
        status_delays: tuple[float, float, float] = (0.5, 1.5, 3.0),
    ) -> None:
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.auto_status = auto_status
        self.status_delays = status_delays
        self.sent: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []  # template sends answered with Meta's error
        self.uploads: list[dict[str, Any]] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.groups: set[str] = set()  # group ids the business's groups have (Meta's Groups API)
        # Answers to give the next sends instead of accepting them: (HTTP status, body bytes, type).
        self.send_answers: list[tuple[int, bytes, str]] = []
        # Meta's view for its Block Users API: when each customer last wrote, and who is blocked.
        self.wrote_at: dict[str, float] = {}
        self.blocked: set[str] = set()
        self.access_token: str | None = None  # when set, block_users calls must bear it, as Meta checks
        self.block_calls: list[dict[str, Any]] = []
        # Read receipts and typing indicators, checked as Meta checks them (standin_typing): each body and
        # the HTTP status it was answered with. `received`: the wamids the business received (a read call
        # for another is refused); None until customer_sent is first called (then any wamid.* counts).
        self.reads: list[dict[str, Any]] = []
        self.received: set[str] | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> FakeGraph:
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_file(self, content: bytes, mime_type: str) -> str:
        """Keep a file under a new media id (as if a customer had sent it); returns the id."""
        media_id = f"{next(_ids)}{uuid.uuid4().int % 10**12:012d}"
        with self._lock:
            self.files[media_id] = (content, mime_type)
        return media_id

    def customer_wrote(self, user: str, at: float | None = None) -> None:
        """Note that a customer messaged the business (Meta only lets it block those who wrote lately)."""
        with self._lock:
            self.wrote_at[user] = time.time() if at is None else at

    def customer_sent(self, wamid: str) -> None:
        """Note a message the business received (Meta takes read calls only for those)."""
        with self._lock:
            self.received = (self.received or set()) | {wamid}

    def knows(self, wamid: str) -> bool:
        return wamid in self.received if self.received is not None else wamid.startswith("wamid.")

    def read_call(self, body: Any) -> tuple[int, dict]:
        with self._lock:
            status_code, answer = standin_typing.answer(body, self.knows)
            self.reads.append({"body": body, "status": status_code})
            return status_code, answer

    def block_users(self, method: str, path: str, authorization: str | None, raw: bytes) -> tuple[int, dict]:
        with self._lock:
            self.block_calls.append({"method": method, "path": path, "body": raw.decode("utf-8", "replace")})
            return standin_block.answer(
                method,
                path,
                authorization,
                raw,
                phone_number_id=self.phone_number_id,
                token=self.access_token,
                last_wrote=self.wrote_at.get,
                blocklist=self.blocked,
            )

    def media_fields(self, media_id: str) -> dict[str, Any]:
        content, mime_type = self.files[media_id]
        return {"id": media_id, "mime_type": mime_type, "sha256": hashlib.sha256(content).hexdigest()}

    # what a customer's phone would do with the agent's message
    def report_statuses(self, wamid: str, recipient: str, callback: str | None) -> None:
        if not (self.auto_status and self.webhook_url):
            return

        def run() -> None:
            started = time.monotonic()
            for state, delay in zip(("sent", "delivered", "read"), self.status_delays, strict=True):
                time.sleep(max(0.0, started + delay - time.monotonic()))
                post_webhook(
                    self.webhook_url, status(wamid, state, recipient, self.phone_number_id, callback), self.app_secret
                )

        threading.Thread(target=run, name="fake-statuses", daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("fake graph: " + format, *args)

            def _answer(self, status_code: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status_code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status_code: int, code: int, message: str) -> None:
                self._answer(status_code, {"error": {"message": message, "type": "OAuthException", "code": code}})

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if match := re.fullmatch(r"/files/([^/]+)", path):
                    found = graph.files.get(match.group(1))
                    return self._answer(200, found[0], found[1]) if found else self._error(404, 100, "No such file")
                if re.fullmatch(r"/v[0-9.]+/[^/]+/message_templates", path):
                    fields = parse_qs(urlsplit(self.path).query).get("fields", [None])[0]
                    return self._answer(200, standin_templates.listing(TEMPLATES, fields))
                if match := re.fullmatch(r"/v[0-9.]+/([^/]+)", path):
                    media_id = match.group(1)
                    if media_id not in graph.files:
                        return self._error(404, 100, "(#100) Invalid media id")
                    content, _ = graph.files[media_id]
                    return self._answer(
                        200,
                        {
                            **graph.media_fields(media_id),
                            "url": f"{graph.url}/files/{media_id}",
                            "file_size": len(content),
                            "messaging_product": "whatsapp",
                        },
                    )
                return self._error(404, 100, "Unknown path")

            def do_DELETE(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                raw = self._body()
                if path.endswith("/block_users"):
                    return self._answer(*graph.block_users("DELETE", path, self.headers.get("Authorization"), raw))
                return self._error(404, 100, "Unknown path")

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                raw = self._body()
                if path.endswith("/block_users"):
                    return self._answer(*graph.block_users("POST", path, self.headers.get("Authorization"), raw))
                if re.fullmatch(r"/v[0-9.]+/[^/]+/media", path):
                    content, mime_type = uploaded_file(self.headers.get("Content-Type", ""), raw)
                    media_id = graph.add_file(content, mime_type)
                    with graph._lock:
                        graph.uploads.append({"id": media_id, "size": len(raw)})
                    return self._answer(200, {"id": media_id})
                if not re.fullmatch(r"/v[0-9.]+/[^/]+/messages", path):
                    return self._error(404, 100, "Unknown path")
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self._error(400, 100, "(#100) Invalid JSON")
                if standin_typing.is_read_call(body):
                    return self._answer(*graph.read_call(body))
                with graph._lock:
                    scripted = graph.send_answers.pop(0) if graph.send_answers else None
                if scripted is not None:
                    return self._answer(scripted[0], scripted[1], scripted[2])
                refused = standin_groups.refusal(graph.groups, body) or standin_templates.refusal(TEMPLATES, body)
                if refused is not None:  # a send Meta would refuse, answered as Meta does
                    with graph._lock:
                        graph.refused.append(body)
                    return self._answer(*refused)
                to = str(body.get("to") or body.get("recipient") or "")
                wamid = new_wamid()
                with graph._lock:
                    graph.sent.append({**body, "_wamid": wamid})
                if body.get("recipient_type") == "group":
                    return self._answer(200, standin_groups.accepted(to, wamid))
                wa_id = re.sub(r"\D", "", to) if body.get("to") else None
                contact: dict[str, Any] = {"input": to}
                if wa_id:
                    contact["wa_id"] = wa_id
                self._answer(200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]})
                graph.report_statuses(wamid, wa_id or to, body.get("biz_opaque_callback_data"))
                return None

        return Handler


def uploaded_file(content_type: str, raw: bytes) -> tuple[bytes, str]:
    """The `file` part of a multipart upload and its MIME type."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True) or b"", part.get_content_type()
    return raw, "application/octet-stream"


# --- sending deliveries ------------------------------------------------------------------------


def post_webhook(url: str, payload: dict[str, Any], secret: str) -> requests.Response | None:
    """POST one delivery, signed as Meta signs it; logs (never raises) when the service is down."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=10)
    except requests.RequestException as exc:
        log.warning("Webhook POST to %s failed: %s", url, exc)
        return None
    if response.status_code != 200:
        log.warning("Webhook answered %s: %s", response.status_code, response.text[:200])
    return response


CUSTOMERS = [
    Customer("Maria Lopez", "14155550123"),
    Customer("João Silva", "5511987654321"),
    Customer("Priya Nair", "447700900123"),
    Customer("Ahmed Hassan", "201001234567"),
    # wrote yesterday and not since: the 24-hour window has closed, so only a template can answer her
    Customer("Lena Berg", "4915123456789"),
]
CLOSED_WINDOW_AGE = 26 * 3600


def script(graph: FakeGraph | None, phone_number_id: str) -> list[tuple[float, dict[str, Any]]]:
    """The conversation the fake customers have: (seconds to wait first, delivery)."""
    maria, joao, priya, ahmed, lena = CUSTOMERS
    steps: list[tuple[float, dict[str, Any]]] = []

    def say(delay: float, who: Customer, kind: str, content: dict[str, Any], **extra: Any) -> str:
        payload = inbound(who, kind, content, phone_number_id, **extra)
        steps.append((delay, payload))
        wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        if graph is not None:
            graph.customer_wrote(who.wa_id, time.time() - float(extra.get("age", 0.0)))
            graph.customer_sent(wamid)
        return wamid

    first = say(0.0, maria, "text", {"body": "Hi! Is my order #4471 on its way? 📦"})
    if graph is not None:
        photo = graph.add_file(png(seed=40), "image/png")
        say(1.0, maria, "image", {**graph.media_fields(photo), "caption": "The box arrived like this 😕"})
    say(1.0, joao, "text", {"body": "Olá! Vocês abrem no sábado?"})
    say(
        1.0,
        joao,
        "location",
        {"latitude": -23.5614, "longitude": -46.6566, "name": "MASP", "address": "Av. Paulista, 1578, São Paulo"},
    )
    if graph is not None:
        invoice = graph.add_file(pdf(), "application/pdf")
        say(
            1.0,
            priya,
            "document",
            {**graph.media_fields(invoice), "filename": "invoice-2291.pdf", "caption": "Invoice"},
        )
    question = say(1.0, priya, "text", {"body": "Could you resend this invoice with our VAT number?"})
    say(1.0, priya, "text", {"body": "It's GB 123 4567 89"}, context={"from": priya.wa_id, "id": question})
    say(1.0, maria, "reaction", {"message_id": first, "emoji": "🙏"})
    say(1.0, ahmed, "text", {"body": "Hello, do you ship to Cairo?"})
    if graph is not None:
        voice = graph.add_file(voice_note(), "audio/ogg; codecs=opus")
        say(1.0, ahmed, "audio", {**graph.media_fields(voice), "voice": True})
    say(1.0, lena, "text", {"body": "Do you have the blue one in size 38?"}, age=CLOSED_WINDOW_AGE)
    return steps


def chatter(n: int, phone_number_id: str) -> dict[str, Any]:
    """The n-th message of the customers who keep writing (all but the one whose window has closed)."""
    lines = [
        "Any update on this?",
        "Thanks!",
        "Can I change the delivery address?",
        "Perfect, see you then 👋",
        "Is there a discount for a second one?",
    ]
    writers = CUSTOMERS[:4]
    return inbound(writers[n % len(writers)], "text", {"body": lines[n % len(lines)]}, phone_number_id)


def wait_for_service(url: str, seconds: float = 30.0) -> bool:
    """Wait until the service answers (it may still be starting when the simulator is)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url.rstrip("/") + "/api/whatsapp/openapi.json", timeout=2)
            return True
        except requests.RequestException:
            time.sleep(0.3)
    log.warning("%s did not answer within %.0f s; delivering anyway", url, seconds)
    return False


def run(
    url: str,
    secret: str,
    *,
    graph: FakeGraph | None,
    phone_number_id: str,
    speed: float = 1.0,
    keep_going: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Deliver the script (and, with keep_going > 0, a new message every keep_going seconds forever)."""
    webhook = url.rstrip("/") + "/api/whatsapp/webhook"
    delivered = 0
    for delay, payload in script(graph, phone_number_id):
        sleep(delay * speed)
        if post_webhook(webhook, payload, secret) is not None:
            delivered += 1
    log.info("Delivered %d simulated messages to %s", delivered, webhook)
    n = 0
    while keep_going > 0:
        sleep(keep_going)
        payload = chatter(n, phone_number_id)
        if graph is not None:
            graph.customer_sent(payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
        post_webhook(webhook, payload, secret)
        n += 1
    return delivered


def loopback_port(url: str) -> int | None:
    """The port of a loopback URL (where a stand-in Graph API would listen), else None."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    return parts.port or (443 if parts.scheme == "https" else 80)


class Stop(Exception):
    """SIGINT or SIGTERM: stop delivering and shut the stand-in down."""


def _stop(signum: int, _frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> None:
    # .env first, so that its PORT and WHATSAPP_API_URL are the defaults below.
    try:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env")
    except ImportError:  # pragma: no cover - python-dotenv is a requirement
        pass
    default_url = f"http://localhost:{os.environ.get('PORT', '').strip() or 8001}"
    parser = argparse.ArgumentParser(prog="python -m whatsapp.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=default_url, help="the running service (default: PORT of .env, %(default)s)")
    parser.add_argument("--secret", help="the app secret (default: WHATSAPP_APP_SECRET from the environment or .env)")
    parser.add_argument(
        "--fake-graph",
        action="store_true",
        help="also run a stand-in Graph API on the loopback port of WHATSAPP_API_URL (.env)",
    )
    parser.add_argument("--fake-graph-port", type=int, help="also run a stand-in Graph API on this port")
    parser.add_argument("--speed", type=float, default=1.0, help="multiply the pauses between messages")
    parser.add_argument(
        "--every", type=float, default=0.0, help="after the script, a new customer message every N seconds (0: stop)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    secret = args.secret or os.environ.get("WHATSAPP_APP_SECRET", "")
    if not secret:
        parser.error("no app secret: set WHATSAPP_APP_SECRET (the service's too) or pass --secret")
    graph_port = args.fake_graph_port
    if graph_port is None and args.fake_graph:
        graph_port = loopback_port(os.environ.get("WHATSAPP_API_URL", ""))
        if graph_port is None:
            parser.error("--fake-graph needs WHATSAPP_API_URL=http://127.0.0.1:<port> (or pass --fake-graph-port)")
    phone_number_id = os.environ.get("WHATSAPP_PHONE_NUMBER_ID") or DEFAULT_PHONE_NUMBER_ID
    # Explicit handlers: a shell starts background jobs with SIGINT ignored, and a service manager
    # stops with SIGTERM; either ends the simulator cleanly.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    graph = None
    try:
        if graph_port is not None:
            graph = FakeGraph(
                graph_port,
                webhook_url=args.url.rstrip("/") + "/api/whatsapp/webhook",
                app_secret=secret,
                phone_number_id=phone_number_id,
            ).start()
            log.info(
                "Stand-in Graph API on %s (start the service with WHATSAPP_API_URL=%s "
                "and WHATSAPP_MEDIA_FROM_API_URL=true)",
                graph.url,
                graph.url,
            )
        wait_for_service(args.url)
        run(args.url, secret, graph=graph, phone_number_id=phone_number_id, speed=args.speed, keep_going=args.every)
        if graph is not None:
            log.info("Answering the service's sends on %s; Ctrl-C to stop", graph.url)
            while True:
                time.sleep(3600)
    except Stop as stop:
        log.info("Stopped (%s)", stop)
    finally:
        if graph is not None:
            graph.stop()


if __name__ == "__main__":
    main()
