"""One outbound send, written so that nothing is lost and nothing is sent twice.

Order of writes (see README "Reliability"):
1. One transaction: find or create the customer's conversation and store the message as 'pending'
   under a fresh local id (and the client's Idempotency-Key, UNIQUE). A repeat of the key returns
   this row instead of sending again.
2. Call Meta with the local id as `biz_opaque_callback_data`. Meta echoes it on every status.
3. One transaction: record Meta's wamid ('sent') or its refusal ('failed' with code/title/details).
If the process dies between 2 and 3, the row stays 'pending' and the first status webhook, which
carries our local id, attaches the wamid to it; a status that beats step 3 is parked and applied.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from . import store
from .db import write_transaction
from .graph import GraphClient, GraphError, GraphUnavailable, recipient_fields

log = logging.getLogger(__name__)


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


def send(
    conn: sqlite3.Connection,
    client: GraphClient,
    *,
    conversation_id: int | None,
    phone_number: str | None,
    user_id: str | None,
    outbound: Outbound,
    agent_id: int | None,
    client_message_id: str | None = None,
) -> SendOutcome:
    local_id = store.new_local_id()
    with write_transaction(conn):
        if client_message_id:
            earlier = store.find_by_client_id(conn, client_message_id)
            if earlier is not None:
                return outcome_of(earlier, repeated=True)
        if conversation_id is None:
            conversation_id = store.resolve_conversation(conn, phone_number, user_id)
        conv = store.find_conversation(conn, conversation_id=conversation_id)
        message_id = store.create_outbound(
            conn,
            conversation_id,
            message_type=outbound.type,
            text=outbound.text,
            agent_id=agent_id,
            local_id=local_id,
            client_message_id=client_message_id,
            context_message_id=outbound.context_message_id,
            media=outbound.media,
            raw=json.dumps({outbound.type: outbound.body}, ensure_ascii=False),
        )
    payload: dict[str, Any] = {
        **recipient_fields(conv["phone_number"], conv["user_id"]),
        "type": outbound.type,
        outbound.type: outbound.body,
        "biz_opaque_callback_data": local_id,
    }
    if outbound.context_message_id and outbound.type != "reaction":
        payload["context"] = {"message_id": outbound.context_message_id}
    try:
        result = client.send(payload)
    except GraphError as exc:
        with write_transaction(conn):
            store.mark_failed(conn, message_id, exc.code, exc.title, exc.details)
        return SendOutcome(
            message_id,
            conversation_id,
            None,
            False,
            _status_for(exc),
            exc.agent_message(),
            exc.code,
            exc.title,
            exc.details,
        )
    except GraphUnavailable as exc:
        with write_transaction(conn):
            if exc.maybe_sent:
                store.mark_unknown(conn, message_id, str(exc))
            else:
                store.mark_failed(conn, message_id, None, str(exc), None)
        return SendOutcome(message_id, conversation_id, None, False, 504 if exc.maybe_sent else 502, str(exc))
    with write_transaction(conn):
        store.mark_accepted(conn, message_id, result.wamid, result.wa_id, result.user_id)
        row = store.get_message(conn, message_id)
    return SendOutcome(message_id, int(row["conversation_id"]), result.wamid, True, 200)


def outcome_of(row: sqlite3.Row, repeated: bool = False) -> SendOutcome:
    """Rebuild the outcome of an earlier send from its stored row (for Idempotency-Key repeats)."""
    wamid = row["whatsapp_message_id"]
    failed = row["status"] == "failed"
    return SendOutcome(
        message_id=int(row["message_id"]),
        conversation_id=int(row["conversation_id"]),
        wamid=None if wamid.startswith(store.LOCAL_PREFIX) else wamid,
        ok=not failed,
        http_status=422 if failed else 200,
        error=(row["error_title"] or "The message failed") if failed else None,
        error_code=row["error_code"],
        error_title=row["error_title"],
        error_details=row["error_details"],
        repeated=repeated,
    )


def _status_for(exc: GraphError) -> int:
    if exc.code == 131047:
        return 409
    if exc.throttled:
        return 429
    if exc.code in (0, 190) or exc.upstream_failure:
        return 502
    return 422
