"""The Graph API sender: a requests.Session, a timeout on every call, Meta's errors as exceptions.

Retries happen only where a retry cannot deliver a message twice: the connection was refused
(nothing was sent) or Meta answered with a throttling error (it refused before processing).
A read timeout is never retried: Meta may already have sent the message.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .config import Settings

log = logging.getLogger(__name__)

# Meta codes that mean "refused before processing, try again later".
THROTTLE_CODES = {4, 80007, 130429, 131056}
TOKEN_CODES = {0, 190}

USER_AGENT = "wa-inbox/1.0"
MEDIA_HOSTS = {"lookaside.fbsbx.com", "graph.facebook.com"}
MEDIA_HOST_SUFFIXES = (".fbcdn.net", ".fbsbx.com", ".facebook.com", ".whatsapp.net")


class GraphError(Exception):
    """Meta answered with an error body (or an unusable answer)."""

    def __init__(
        self,
        code: int | None,
        title: str,
        details: str | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        super().__init__(f"({code}) {title}" if code is not None else title)
        self.code = code
        self.title = title
        self.details = details
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLE_CODES or self.http_status == 429

    @property
    def upstream_failure(self) -> bool:
        """Meta's side failed (5xx) rather than refusing our request."""
        return self.http_status is not None and self.http_status >= 500

    def agent_message(self) -> str:
        """A sentence an agent understands, naming Meta's code."""
        if self.code == 131047:
            return (
                "The 24-hour customer service window has closed: the customer last wrote more than "
                "24 hours ago, so WhatsApp only allows an approved template message now "
                f"(Meta error {self.code})."
            )
        if self.code in TOKEN_CODES:
            return (
                "The WhatsApp access token is invalid or expired: replace WHATSAPP_ACCESS_TOKEN with a "
                f"valid token (Meta error {self.code})."
            )
        if self.code in (130429, 131056, 4, 80007):
            return f"WhatsApp is rate limiting messages, try again in a moment (Meta error {self.code}: {self.title})."
        if self.code == 131026:
            return f"The message could not be delivered: the number may not be on WhatsApp (Meta error {self.code})."
        if self.upstream_failure:  # Meta's side failed: it did not take the request
            named = f" (Meta error {self.code}: {self.title})" if self.code is not None else ""
            return f"WhatsApp failed on its side (HTTP {self.http_status}){named}; try again in a moment."
        if self.code is None:  # no Graph error body: the title says what WhatsApp answered
            return f"WhatsApp refused the request: {self.title.rstrip('.')}."
        text = f"WhatsApp refused the message (Meta error {self.code}: {self.title})"
        if self.details and self.details != self.title:
            text += f": {self.details}"
        return text + "."


class GraphUnavailable(Exception):
    """Meta could not be reached, did not answer in time, or answered something unusable.

    The message is a sentence for agents: it never carries the exception text of `requests`
    (which names internal URLs); see `network_failure`.
    """

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__(message)
        # True when the request may have reached Meta (a read timeout): the outcome is unknown.
        self.maybe_sent = maybe_sent


def network_failure(exc: requests.exceptions.RequestException) -> str:
    """What went wrong on the network, in words, without the URL that requests' text carries."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "the connection timed out"
    text = str(exc).lower()
    if "refused" in text:
        return "the connection was refused"
    if "name or service" in text or "name resolution" in text or "nodename" in text:
        return "the host name could not be resolved"
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return "the connection broke"
    return f"a network error ({type(exc).__name__})"


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None
    user_id: str | None
    message_status: str | None


class GraphClient:
    """Calls to `{api_url}/{version}/...` with the business's access token."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT})

    @property
    def base(self) -> str:
        return f"{self.settings.api_url.rstrip('/')}/{self.settings.api_version}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One Graph call with retries where they are safe; returns the decoded JSON answer."""
        if not self.settings.access_token:
            raise GraphError(190, "No access token configured", "Set WHATSAPP_ACCESS_TOKEN.")
        url = path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}"
        attempts = max(1, self.settings.graph_max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(
                    method, url, headers=self._auth(), timeout=self.settings.graph_timeout, **kwargs
                )
            except requests.exceptions.ConnectTimeout as exc:
                log.info("Graph %s %s: %s", method, path, exc)
                failure: Exception = GraphUnavailable(
                    f"Could not connect to WhatsApp ({network_failure(exc)})", maybe_sent=False
                )
            except requests.exceptions.ReadTimeout:
                raise GraphUnavailable(
                    "WhatsApp did not answer in time; the message may or may not have been sent",
                    maybe_sent=True,
                ) from None
            except requests.exceptions.ConnectionError as exc:
                # Refused or reset: a refused connection sent nothing; a reset may have, so only
                # "refused" style failures before a response are retried (requests cannot tell
                # them apart reliably, so a dropped connection is reported as maybe sent).
                refused = "refused" in str(exc).lower() or "name or service" in str(exc).lower()
                if not refused:
                    log.warning("Graph %s %s: %s", method, path, exc)
                    raise GraphUnavailable(
                        "The connection to WhatsApp broke before it answered; "
                        "the message may or may not have been sent",
                        maybe_sent=True,
                    ) from None
                failure = GraphUnavailable("Could not connect to WhatsApp (connection refused)", maybe_sent=False)
            else:
                try:
                    return self._decode(response)
                except GraphError as exc:
                    if not exc.throttled:
                        raise
                    failure = exc
            if attempt < attempts:
                delay = self.settings.graph_backoff * (2 ** (attempt - 1))
                time.sleep(delay + random.uniform(0, delay / 2))
                log.info("Retrying Graph %s %s after %s (attempt %d)", method, path, failure, attempt + 1)
        raise failure

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.ok and data is not None:
            return data
        if response.ok:
            # Meta took the call and answered something unusable: whatever it did is unknown (for a
            # send, it may have sent the message), so this is never reported as Meta's refusal.
            log.warning("Graph API answered HTTP %s with a body that is not JSON", response.status_code)
            raise GraphUnavailable(
                f"WhatsApp answered HTTP {response.status_code} with a body that is not JSON", maybe_sent=True
            )
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
            message = str(error.get("message") or "Unknown error")
            title = message.split(") ", 1)[1] if message.startswith("(#") and ") " in message else message
            code = error.get("code")
            log.warning("Graph API error code=%s fbtrace_id=%s", code, error.get("fbtrace_id"))
            raise GraphError(
                int(code) if isinstance(code, int) or str(code).isdigit() else None,
                title,
                error_data.get("details"),
                response.status_code,
                error.get("fbtrace_id"),
            )
        raise GraphError(
            None, f"WhatsApp answered HTTP {response.status_code} without an error body", None, response.status_code
        )

    def send(self, payload: dict) -> SendResult:
        """POST /{phone_number_id}/messages; returns Meta's wamid and the recipient it resolved."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        data = self.request("POST", f"{self.settings.phone_number_id}/messages", json=body)
        messages = data.get("messages") if isinstance(data, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        if not isinstance(first, dict) or not isinstance(first.get("id"), str) or not first["id"]:
            # A 200 without a wamid: Meta may well have sent it. Unknown, like a timeout; never "failed",
            # or an agent's retry would send it twice.
            log.warning("Graph API answered a send without a message id (a JSON %s)", type(data).__name__)
            raise GraphUnavailable("WhatsApp answered the send without a message id", maybe_sent=True)
        contacts = data.get("contacts") if isinstance(data.get("contacts"), list) and data["contacts"] else [{}]
        contact = contacts[0] if isinstance(contacts[0], dict) else {}
        return SendResult(
            wamid=first["id"],
            wa_id=contact.get("wa_id"),
            user_id=contact.get("user_id"),
            message_status=first.get("message_status"),
        )

    def mark_read(self, wamid: str) -> bool:
        data = self.request(
            "POST",
            f"{self.settings.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )
        return bool(isinstance(data, dict) and data.get("success"))

    def upload_media(self, content: bytes, filename: str, mime_type: str) -> str:
        """POST /{phone_number_id}/media (multipart); returns Meta's media id (valid 30 days)."""
        data = self.request(
            "POST",
            f"{self.settings.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        media_id = data.get("id") if isinstance(data, dict) else None
        if not media_id:
            raise GraphError(None, "WhatsApp accepted the upload but returned no media id", None, 502)
        return str(media_id)

    def media_info(self, media_id: str) -> dict[str, Any]:
        """GET /{media_id}: a download URL valid for 5 minutes, MIME type, sha256 (hex), size."""
        data = self.request("GET", media_id, params={"phone_number_id": self.settings.phone_number_id})
        if not isinstance(data, dict) or not data.get("url"):
            raise GraphError(None, "WhatsApp returned no download URL for this media", None, 502)
        return data

    def download(self, url: str, max_bytes: int) -> tuple[bytes, str | None]:
        """Fetch a media URL with the access token, following redirects only to Meta's hosts."""
        for _ in range(5):
            if not self.allowed_media_host(url):
                raise GraphError(None, f"Refusing to download media from an unexpected host: {urlsplit(url).hostname}")
            try:
                response = self.session.get(
                    url,
                    headers=self._auth(),
                    timeout=self.settings.graph_timeout,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                raise GraphUnavailable(f"Media download failed: {network_failure(exc)}", maybe_sent=False) from None
            with response:
                if response.is_redirect and response.headers.get("Location"):
                    url = requests.compat.urljoin(url, response.headers["Location"])
                    continue
                if not response.ok:
                    raise GraphError(
                        None, f"Media download answered HTTP {response.status_code}", None, response.status_code
                    )
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise GraphError(None, f"Media is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("Content-Type")
        raise GraphError(None, "Too many redirects while downloading media")

    def allowed_media_host(self, url: str) -> bool:
        """Meta's CDN hosts, or the configured Graph API host (a stand-in in tests and simulations)."""
        host = (urlsplit(url).hostname or "").lower()
        if host in MEDIA_HOSTS or any(host.endswith(suffix) for suffix in MEDIA_HOST_SUFFIXES):
            return True
        return host == (urlsplit(self.settings.api_url).hostname or "").lower()


def recipient_fields(phone_number: str | None, user_id: str | None) -> dict[str, str]:
    """`to` (E.164 with '+') when a phone is known, else `recipient` (the BSUID), as Meta documents."""
    if phone_number:
        return {"to": phone_number}
    if user_id:
        return {"recipient": user_id}
    raise ValueError("a recipient needs a phone number or a user id")
