"""One outbound send, written so that nothing is lost and nothing is sent twice.

Order of writes (see README "Reliability"):
1. One transaction: find or create the customer's conversation and store the message as 'pending'
   under a fresh local id (and the client's Idempotency-Key, unique per credential, with a hash of
   the request). A repeat of the key gets this row's outcome instead of a second send.
2. Call Meta with the local id as `biz_opaque_callback_data`. Meta echoes it on every status.
3. One transaction: record Meta's wamid ('sent') or its refusal ('failed' with code/title/details,
   and the answer given, which a repeat of the key replays).
If the process dies between 2 and 3 (or Meta's answer is lost: a timeout, a broken connection, a
200 without a message id), the row stays 'pending' and the first status webhook, which carries our
local id, attaches the wamid to it; a status that beats step 3 is parked and applied.

A repeat of an Idempotency-Key (Stripe's semantics):
- with a different request (route and body): refused (`KeyReused`, 422), nothing sent;
- while the first attempt's outcome is unknown (pending, no wamid): 409, nothing sent;
- after Meta took it (a wamid): the message, 200;
- after Meta refused it (131047, 131026, 100, ...): the same status and error as the first answer;
- after a failure where Meta certainly did not take it (throttled, unreachable, a 5xx, a bad
  token; see store.RETRYABLE_ANSWERS): the same message row is sent again, so one bubble, not two.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from . import store
from .db import write_transaction
from .graph import GraphClient, GraphError, GraphUnavailable, recipient_fields

log = logging.getLogger(__name__)

UNKNOWN_REPEAT = (
    "The outcome of the first request with this Idempotency-Key is not known yet ({reason}), so the "
    "message was not sent again. A status from WhatsApp will settle it: repeat the request later to get "
    "the outcome."
)
IN_FLIGHT = "it is still being sent, or the service stopped while sending it"
UNKNOWN_SUFFIX = "; the message may or may not have been sent"


class KeyReused(Exception):
    """An Idempotency-Key came back with a different request than the one it was first used for."""

    def __init__(self, message_id: int) -> None:
        super().__init__(
            "This Idempotency-Key was already used for a different request (another route, recipient or "
            "content): nothing was sent. Use a new key for a new message."
        )
        self.message_id = message_id


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key, the credential it belongs to, and a hash of the request it names."""

    scope: str
    key: str
    request_hash: str

    @classmethod
    def of(cls, scope: str, key: str, route: str, request: Any) -> Idempotency:
        """The hash covers the route and the canonical JSON (sorted keys, no spaces) of the request."""
        canonical = json.dumps([route, request], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
        return cls(scope, key, digest)


@dataclass
class SendOutcome:
    """What happened to one send, for the API to shape into JSON."""

    message_id: int
    conversation_id: int
    wamid: str | None
    ok: bool
    http_status: int
    error: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    error_details: str | None = None
    repeated: bool = False


@dataclass(frozen=True)
class Outbound:
    """A message to send: Meta's type and body object, plus what the thread shows of it."""

    type: str
    body: dict[str, Any]
    text: str | None
    context_message_id: str | None = None
    media: dict[str, Any] | None = None


def earlier_send(conn: sqlite3.Connection, idempotency: Idempotency) -> sqlite3.Row | None:
    """The message sent earlier under this key, or None; KeyReused if it was for another request."""
    row = store.find_by_key(conn, idempotency.scope, idempotency.key)
    # A key used before keys were scoped carries no hash: it is replayed, as it always was.
    if row is not None and row["request_hash"] is not None and row["request_hash"] != idempotency.request_hash:
        raise KeyReused(int(row["message_id"]))
    return row


def may_send_again(row: sqlite3.Row) -> bool:
    """A failed send that Meta certainly did not take, and the same request may succeed now."""
    return (
        row["status"] == "failed"
        and row["whatsapp_message_id"].startswith(store.LOCAL_PREFIX)
        and row["send_answer"] in store.RETRYABLE_ANSWERS
    )


def send(
    conn: sqlite3.Connection,
    client: GraphClient,
    *,
    conversation_id: int | None,
    phone_number: str | None,
    user_id: str | None,
    outbound: Outbound,
    agent_id: int | None,
    idempotency: Idempotency | None = None,
    retry_of: int | None = None,
) -> SendOutcome:
    """`retry_of`: the failed message this send repeats (POST /messages/<id>/retry); it is linked to the
    new message in the transaction that writes it."""
    local_id = store.new_local_id()
    kind, body, context = outbound.type, outbound.body, outbound.context_message_id
    with write_transaction(conn):
        earlier = earlier_send(conn, idempotency) if idempotency else None
        if earlier is not None:
            if not (may_send_again(earlier) and store.reopen_for_retry(conn, int(earlier["message_id"]))):
                return outcome_of(earlier, repeated=True)
            # Send the very same message again, from its own row: same local id, same bubble.
            message_id, conversation_id = int(earlier["message_id"]), int(earlier["conversation_id"])
            local_id, kind, context = earlier["local_id"], earlier["message_type"], earlier["context_message_id"]
            body = json.loads(earlier["raw_json"])[kind]
            log.info("Sending message %s again under its Idempotency-Key", message_id)
        else:
            if conversation_id is None:
                conversation_id = store.resolve_conversation(conn, phone_number, user_id)
            message_id = store.create_outbound(
                conn,
                conversation_id,
                message_type=kind,
                text=outbound.text,
                agent_id=agent_id,
                local_id=local_id,
                idempotency=(idempotency.scope, idempotency.key, idempotency.request_hash) if idempotency else None,
                context_message_id=context,
                media=outbound.media,
                raw=json.dumps({kind: body}, ensure_ascii=False),
            )
            if retry_of is not None:
                store.note_retry(conn, retry_of, message_id)
        conv = store.find_conversation(conn, conversation_id=conversation_id)
    # Answering a closed conversation takes it up again once Meta took (or may have taken) the message: it
    # reopens (conversation.updated), back to 'assigned' when an agent still holds it. A reaction is not an
    # answer, and a send Meta refused leaves the conversation closed.
    payload: dict[str, Any] = {
        **recipient_fields(conv["phone_number"], conv["user_id"], conv["group_id"]),
        "type": kind,
        kind: body,
        "biz_opaque_callback_data": local_id,
    }
    if context and kind != "reaction":
        payload["context"] = {"message_id": context}
    return transmit(conn, client, message_id, conversation_id, payload, reopens=kind != "reaction")


def transmit(
    conn: sqlite3.Connection,
    client: GraphClient,
    message_id: int,
    conversation_id: int,
    payload: dict[str, Any],
    *,
    reopens: bool = False,
) -> SendOutcome:
    """Steps 2 and 3 for a message stored 'pending' (step 1): call Meta, then record its wamid or its
    refusal, or keep it pending with the reason when the outcome is unknown. `reopens`: an agent's answer,
    which takes a closed conversation up again once Meta took (or may have taken) it."""
    try:
        result = client.send(payload)
    except GraphError as exc:
        status, error = _status_for(exc), exc.agent_message()
        with write_transaction(conn):
            store.mark_failed(conn, message_id, exc.code, exc.title, exc.details, answer=status, error=error)
        return SendOutcome(message_id, conversation_id, None, False, status, error, exc.code, exc.title, exc.details)
    except GraphUnavailable as exc:
        reason = str(exc)
        with write_transaction(conn):
            if exc.maybe_sent:
                reason = unknown_reason(reason)
                store.mark_unknown(conn, message_id, reason)
                if reopens:
                    reopen_if_closed(conn, conversation_id)
            else:
                store.mark_failed(conn, message_id, None, reason, None, answer=502, error=reason)
        if exc.maybe_sent:
            return SendOutcome(message_id, conversation_id, None, False, 504, reason, None, reason, None)
        return SendOutcome(message_id, conversation_id, None, False, 502, reason, None, reason, None)
    with write_transaction(conn):
        store.mark_accepted(conn, message_id, result.wamid, result.wa_id, result.user_id)
        row = store.get_message(conn, message_id)
        if reopens:
            reopen_if_closed(conn, int(row["conversation_id"]))
    return SendOutcome(message_id, int(row["conversation_id"]), result.wamid, True, 200)


def reopen_if_closed(conn: sqlite3.Connection, conversation_id: int) -> None:
    row = store.find_conversation(conn, conversation_id=conversation_id)
    if row is not None and row["status"] == "closed":
        store.set_status(conn, conversation_id, "open")


def unknown_reason(reason: str) -> str:
    """The stored reason of an unknown outcome always says that it may or may not have been sent."""
    reason = reason.rstrip(". ")
    return reason if "may or may not" in reason else reason + UNKNOWN_SUFFIX


def outcome_of(row: sqlite3.Row, repeated: bool = False) -> SendOutcome:
    """The outcome of an earlier send from its stored row, for a repeat of its Idempotency-Key."""
    wamid = row["whatsapp_message_id"]
    accepted = not wamid.startswith(store.LOCAL_PREFIX)
    common: dict[str, Any] = {
        "message_id": int(row["message_id"]),
        "conversation_id": int(row["conversation_id"]),
        "wamid": wamid if accepted else None,
        "repeated": repeated,
    }
    if row["status"] == "failed" or not accepted:
        common.update(error_code=row["error_code"], error_title=row["error_title"], error_details=row["error_details"])
    if row["status"] == "failed":
        # Meta's refusal, answered as the first time; or a failure a status reported after Meta took it.
        status = row["send_answer"] if row["send_answer"] in (409, 422, 429, 502) else 422
        return SendOutcome(ok=False, http_status=status, error=row["send_error"] or failure_text(row), **common)
    if not accepted:  # pending, and Meta's answer never arrived (or has not yet)
        reason = (row["error_title"] or IN_FLIGHT).rstrip(". ")
        return SendOutcome(ok=False, http_status=409, error=UNKNOWN_REPEAT.format(reason=reason), **common)
    return SendOutcome(ok=True, http_status=200, **common)


def failure_text(row: sqlite3.Row) -> str:
    """A failure recorded without the sentence it was answered with (a status, or an older row)."""
    if row["error_code"] is None:
        return row["error_title"] or "The message failed"
    return GraphError(row["error_code"], row["error_title"] or "", row["error_details"]).agent_message()


def _status_for(exc: GraphError) -> int:
    if exc.code == 131047:
        return 409
    if exc.throttled:
        return 429
    if exc.code in (0, 190) or exc.upstream_failure:
        return 502
    return 422
