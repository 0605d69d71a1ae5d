"""The Graph API sender: a requests.Session, a deadline on every call, Meta's errors as exceptions.

Retries happen only where a retry cannot deliver a message twice: the connection was refused
(nothing was sent) or Meta answered with a throttling error (it refused before processing).
A timeout after the request went out is never retried: Meta may already have sent the message.

WHATSAPP_GRAPH_TIMEOUT is a deadline for the whole call (retries included), not for each read:
an answer that drips in slowly is cut when it passes. The access token goes only to the Graph
API's own origin and, for media downloads, to Meta's media hosts over https on port 443.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url

from . import deadline
from .config import Settings
from .updates import is_media_id

log = logging.getLogger(__name__)

# Meta codes that mean "refused before processing, try again later".
THROTTLE_CODES = {4, 80007, 130429, 131056}
TOKEN_CODES = {0, 190}

USER_AGENT = "wa-inbox/1.0"
MEDIA_HOSTS = {"lookaside.fbsbx.com", "graph.facebook.com"}
MEDIA_HOST_SUFFIXES = (".fbcdn.net", ".fbsbx.com", ".facebook.com", ".whatsapp.net")
# A media file may take longer than an API call: its upload or download gets this many deadlines.
MEDIA_DEADLINE_FACTOR = 4


# Characters no URL the token may follow has in it: parsers disagree on where such a host ends.
_AMBIGUOUS = re.compile(r"[\\@\s\x00-\x1f\x7f]")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, read as urllib3 reads it (the
    host it connects to); ValueError if malformed or ambiguous (a backslash, credentials, spaces)."""
    authority = url.split("://", 1)[1].split("/", 1)[0] if "://" in url else url
    if _AMBIGUOUS.search(authority) or "\\" in url:
        raise ValueError("ambiguous URL")
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise ValueError("malformed URL") from None
    scheme = (parts.scheme or "").lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.host or "").lower(), port


class GraphError(Exception):
    """Meta answered with an error body (or an unusable answer)."""

    def __init__(
        self,
        code: int | None,
        title: str,
        details: str | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"({code}) {title}" if code is not None else title)
        self.body = body  # Meta's whole answer (block_users puts per-user errors beside `error`)
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


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what lies under it (requests wraps urllib3, which wraps the socket's)."""
    found: list[BaseException] = []
    stack: list[Any] = [exc]
    while stack and len(found) < 12:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        stack += [getattr(item, "reason", None), item.__cause__, item.__context__, *getattr(item, "args", ())]
    return found


def _unresolved(exc: BaseException) -> bool:
    return any(isinstance(c, (NameResolutionError, socket.gaierror)) for c in _causes(exc))


def never_connected(exc: requests.exceptions.RequestException) -> bool:
    """True when no connection was made (refused, unresolvable, connect timeout): nothing was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(isinstance(c, (NewConnectionError, ConnectionRefusedError, socket.gaierror)) for c in _causes(exc))


def network_failure(exc: requests.exceptions.RequestException) -> str:
    """What went wrong on the network, in words, without the URL that requests' text carries."""
    if _unresolved(exc):
        return "the host name could not be resolved"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the connection timed out"
    if never_connected(exc):
        return "connection refused"
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return "the connection broke"
    return f"a network error ({type(exc).__name__})"


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None
    user_id: str | None
    message_status: str | None


class TokenGuard(deadline.DeadlineAdapter):
    """The last check before a request leaves: one that carries the access token goes only where
    `allowed(url)` says, judged on the prepared URL that is about to be connected to (every call and
    every redirect hop passes here)."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        super().__init__()
        self.allowed = allowed

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if "Authorization" in request.headers and not self.allowed(request.url or ""):
            log.warning("Refused to send the access token to %s", _where(request.url or ""))
            raise GraphError(None, "Refusing to send the access token outside the Graph API and Meta's media hosts")
        return super().send(request, *args, **kwargs)


class GraphClient:
    """Calls to `{api_url}/{version}/...` with the business's access token."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = deadline.mount(session or requests.Session(), TokenGuard(self.token_may_go_to))
        self.session.headers.update({"User-Agent": USER_AGENT})

    @property
    def base(self) -> str:
        return f"{self.settings.api_url.rstrip('/')}/{self.settings.api_version}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token}"}

    def request(self, method: str, path: str, *, media: bool = False, **kwargs: Any) -> Any:
        """One Graph call with retries where they are safe; returns the decoded JSON answer.

        `path` is relative to the Graph base, or an absolute URL on the Graph API's own origin
        (Meta's paging links); the access token is never sent anywhere else. `media`: a file
        goes up, so the call gets MEDIA_DEADLINE_FACTOR times the deadline.
        """
        if not self.settings.access_token:
            raise GraphError(190, "No access token configured", "Set WHATSAPP_ACCESS_TOKEN.")
        url = self._graph_url(path)
        failure: Exception | None = None
        attempts = max(1, self.settings.graph_max_attempts)
        limit = self.settings.graph_timeout * (MEDIA_DEADLINE_FACTOR if media else 1)
        with deadline.within(limit) as call:
            for attempt in range(1, attempts + 1):
                call.sent = False  # per attempt: an earlier throttled one was refused, not sent
                try:
                    try:
                        response = self.session.request(
                            method, url, headers=self._auth(), timeout=self._timeout(call), **kwargs
                        )
                    finally:
                        call.release()  # read in full (not streamed): the connection is back in the pool
                except requests.exceptions.RequestException as exc:
                    log.warning("Graph %s %s failed: %s", method, path, exc)
                    if call.expired or call.remaining() <= 0:  # cut at the deadline
                        raise self._late(call, limit) from None
                    failure = self._unreachable(exc)
                    if failure.maybe_sent:
                        raise failure from None
                else:
                    if call.expired:
                        # The cut ends a close-delimited answer like a complete one: never trust it.
                        # (Cut just after a complete answer, a success reads as unknown: safe.)
                        raise self._late(call, limit) from None
                    try:
                        return self._decode(response)
                    except GraphError as exc:
                        if not exc.throttled:
                            raise
                        failure = exc
                if attempt < attempts:
                    delay = self.settings.graph_backoff * (2 ** (attempt - 1))
                    delay += random.uniform(0, delay / 2)
                    if delay >= call.remaining():
                        break  # no time left for another attempt
                    time.sleep(delay)
                    log.info("Retrying Graph %s %s after %s (attempt %d)", method, path, failure, attempt + 1)
        assert failure is not None
        raise failure

    def _graph_url(self, path: str) -> str:
        if not path.lower().startswith(("http://", "https://")):
            return f"{self.base}/{path.lstrip('/')}"
        try:
            same_origin = origin(path) == origin(self.settings.api_url)
        except ValueError:
            same_origin = False
        if not same_origin:
            raise GraphError(None, "Refusing to call a URL outside the Graph API")
        return path

    @staticmethod
    def _timeout(call: deadline.Deadline) -> tuple[float, float]:
        remaining = max(0.001, call.remaining())
        return remaining, remaining

    @staticmethod
    def _late(call: deadline.Deadline, limit: float) -> GraphUnavailable:
        if not call.sent:
            return GraphUnavailable(f"Could not connect to WhatsApp within {limit:g} s", maybe_sent=False)
        return GraphUnavailable(
            f"WhatsApp did not answer within {limit:g} s; the message may or may not have been sent",
            maybe_sent=True,
        )

    @staticmethod
    def _unreachable(exc: requests.exceptions.RequestException) -> GraphUnavailable:
        """A failure before the deadline; only one with maybe_sent=False may be retried. The text
        names what happened, never the URL (the details are logged)."""
        if never_connected(exc):
            return GraphUnavailable(f"Could not connect to WhatsApp ({network_failure(exc)})", maybe_sent=False)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return GraphUnavailable(
                "WhatsApp did not answer in time; the message may or may not have been sent", maybe_sent=True
            )
        # A reset or a dropped answer may have been processed: reported as maybe sent.
        return GraphUnavailable(
            f"The connection to WhatsApp broke before it answered ({network_failure(exc)}); "
            "the message may or may not have been sent",
            maybe_sent=True,
        )

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
                int(code) if isinstance(code, int) or (str(code).isascii() and str(code).isdigit()) else None,
                title,
                error_data.get("details"),
                response.status_code,
                error.get("fbtrace_id"),
                data,
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

    def typing_indicator(self, wamid: str) -> bool:
        """Meta's typing indicator for the customer's message `wamid`: the read call with
        `typing_indicator` (it marks the message read too; shown 25 s or until the reply)."""
        data = self.request(
            "POST",
            f"{self.settings.phone_number_id}/messages",
            json={
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": wamid,
                "typing_indicator": {"type": "text"},
            },
        )
        return bool(isinstance(data, dict) and data.get("success"))

    def block_users(self, users: list[str], *, block: bool = True) -> Any:
        """POST (block) or DELETE (unblock) /{phone_number_id}/block_users; users are wa_ids or BSUIDs.

        Meta answers `block_users.added_users` (or `removed_users`), and `failed_users` with each one's
        errors; when any failed, the answer is an error 139100 with that list beside it.
        """
        body = {"messaging_product": "whatsapp", "block_users": [{"user": user} for user in users]}
        return self.request("POST" if block else "DELETE", f"{self.settings.phone_number_id}/block_users", json=body)

    def upload_media(self, content: bytes, filename: str, mime_type: str) -> str:
        """POST /{phone_number_id}/media (multipart); returns Meta's media id (valid 30 days)."""
        data = self.request(
            "POST",
            f"{self.settings.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
            media=True,
        )
        media_id = data.get("id") if isinstance(data, dict) else None
        if not media_id:
            raise GraphError(None, "WhatsApp accepted the upload but returned no media id")
        return str(media_id)

    def media_info(self, media_id: str) -> dict[str, Any]:
        """GET /{media_id}: a download URL valid for 5 minutes, MIME type, sha256 (hex), size."""
        if not is_media_id(media_id):
            raise GraphError(None, "Not a WhatsApp media id (media ids are digits)")
        data = self.request("GET", media_id, params={"phone_number_id": self.settings.phone_number_id})
        if not isinstance(data, dict) or not data.get("url"):
            raise GraphError(None, "WhatsApp returned no download URL for this media")
        return data

    def download(self, url: str, max_bytes: int) -> tuple[bytes, str | None]:
        """Fetch a media URL with the access token, following redirects only to Meta's media hosts.

        The whole download, redirects included, has MEDIA_DEADLINE_FACTOR times the API deadline.
        """
        limit = self.settings.graph_timeout * MEDIA_DEADLINE_FACTOR
        with deadline.within(limit) as call:
            try:
                return self._download(url, max_bytes, call)
            except requests.exceptions.RequestException as exc:
                if call.expired or call.remaining() <= 0:
                    late = f"The media download took longer than {limit:g} s"
                    raise GraphUnavailable(late, maybe_sent=False) from None
                log.warning("Media download failed: %s", exc)
                raise GraphUnavailable(f"Media download failed: {network_failure(exc)}", maybe_sent=False) from None

    def _download(self, url: str, max_bytes: int, call: deadline.Deadline) -> tuple[bytes, str | None]:
        for _ in range(5):
            if not self.allowed_media_url(url):
                log.warning("Refused a media download from %s", _where(url))
                raise GraphError(None, "Refusing to download media from an unexpected host (not one of Meta's)")
            response = self.session.get(
                url, headers=self._auth(), timeout=self._timeout(call), stream=True, allow_redirects=False
            )
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
                call.release()  # read in full; `with response` hands the connection back to the pool
                if call.expired:  # cut at the deadline: what arrived may be a truncated file
                    raise requests.exceptions.Timeout("deadline")
                return b"".join(chunks), response.headers.get("Content-Type")
        raise GraphError(None, "Too many redirects while downloading media")

    def token_may_go_to(self, url: str) -> bool:
        """The Graph API's own origin, or one of Meta's media hosts (see allowed_media_url)."""
        try:
            if origin(url) == origin(self.settings.api_url):
                return True
        except ValueError:
            return False
        return self.allowed_media_url(url)

    def allowed_media_url(self, url: str) -> bool:
        """Meta's media hosts over https on port 443 (scheme, host and port all checked); with
        WHATSAPP_MEDIA_FROM_API_URL, also the Graph API's own origin (a stand-in such as the
        simulator's, which serves its files on loopback)."""
        try:
            scheme, host, port = origin(url)
            if self.settings.media_from_api_url and (scheme, host, port) == origin(self.settings.api_url):
                return True
        except ValueError:  # a malformed port
            return False
        if scheme != "https" or port != 443:
            return False
        return host in MEDIA_HOSTS or any(host.endswith(suffix) for suffix in MEDIA_HOST_SUFFIXES)


def _where(url: str) -> str:
    """scheme://host:port of a URL, for an error message (never its path or query)."""
    try:
        scheme, host, port = origin(url)
    except ValueError:
        return "a malformed URL"
    return f"{scheme}://{host}:{port}" if scheme else "a URL without a scheme"


def recipient_fields(phone_number: str | None, user_id: str | None, group_id: str | None = None) -> dict[str, str]:
    """`to` (E.164 with '+') when a phone is known, else `recipient` (the BSUID), as Meta documents;
    a group: `recipient_type` group and `to` its group id (Meta's Groups API)."""
    if group_id:
        return {"recipient_type": "group", "to": group_id}
    if phone_number:
        return {"to": phone_number}
    if user_id:
        return {"recipient": user_id}
    raise ValueError("a recipient needs a phone number or a user id")
