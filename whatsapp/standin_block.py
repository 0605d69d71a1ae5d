"""Meta's side of the Block Users API, for the stand-in Graph APIs (the simulator's and the tests').

POST /<PHONE_NUMBER_ID>/block_users blocks, DELETE unblocks; the request is checked as Meta checks it
(the method, the path's phone number id, the bearer token, `messaging_product`, `block_users` as a list
of 1 to 1,000 `{"user": <phone number or BSUID>}`), and a block is refused per user the way Meta's
Block Users API guide documents: 131047 when the user has not messaged the business in the last 24
hours (or is not a WhatsApp user), under the request's error 139100 with `block_users.failed_users`.
Written apart from the service's own checks on purpose: it stands for Meta.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

WINDOW = 24 * 3600
MAX_USERS = 1000
_WA_ID = re.compile(r"[0-9]{6,15}")
_BSUID = re.compile(r"[A-Z]{2}\.(?:[A-Z0-9]+\.)?[A-Za-z0-9]{1,128}")


def _error(status: int, code: int, message: str, details: str | None = None, **beside: Any) -> tuple[int, dict]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AStandIn"}
    if details:
        error["error_data"] = {"details": details}
    return status, {**beside, "error": error}


def answer(
    method: str,
    path: str,
    authorization: str | None,
    raw: bytes,
    *,
    phone_number_id: str,
    token: str | None,
    last_wrote: Callable[[str], float | None],
    blocklist: set[str],
    now: float | None = None,
) -> tuple[int, dict[str, Any]]:
    """Meta's (HTTP status, JSON body) for a block_users call; `blocklist` changes as Meta's would."""
    if not re.fullmatch(rf"/v[0-9.]+/{re.escape(phone_number_id)}/block_users", path):
        return _error(400, 100, "(#100) Unsupported request: unknown phone number id or path")
    if method not in ("POST", "DELETE"):
        return _error(400, 100, f"(#100) Unsupported {method} request")
    if token is not None and authorization != f"Bearer {token}":
        return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _error(400, 100, "(#100) Invalid JSON")
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return _error(400, 100, "(#100) The parameter messaging_product is required and must be whatsapp")
    users = body.get("block_users")
    if not isinstance(users, list) or not users:
        return _error(400, 100, "(#100) The parameter block_users is required")
    if len(users) > MAX_USERS:
        return _error(400, 130429, "(#130429) Rate limit hit", "Too many numbers in the request")
    if any(not isinstance(u, dict) or set(u) != {"user"} or not isinstance(u["user"], str) for u in users):
        return _error(400, 100, '(#100) Each block_users item must be {"user": "<phone number or BSUID>"}')
    now = time.time() if now is None else now
    done, failed = [], []
    for item in users:
        user = item["user"]
        wa_id = re.sub(r"\D", "", user) if _WA_ID.fullmatch(user.lstrip("+")) else None
        key = wa_id or user
        known = wa_id is not None or _BSUID.fullmatch(user) is not None
        wrote = last_wrote(key) if known else None
        if method == "POST" and (wrote is None or now - wrote > WINDOW):
            failed.append(
                {
                    "input": user,
                    "wa_id": wa_id or user,
                    "errors": [
                        {
                            "message": "Re-engagement message",
                            "code": 131047,
                            "error_data": {
                                "details": "Failed to block user: the business has not received a message from "
                                "this user in the last 24 hours"
                            },
                        }
                    ],
                }
            )
            continue
        if method == "POST":
            blocklist.add(key)
        else:
            blocklist.discard(key)
        done.append({"input": user, "wa_id": wa_id or user})
    key = "added_users" if method == "POST" else "removed_users"
    result: dict[str, Any] = {key: done}
    if failed:
        result["failed_users"] = failed
        verb = "block" if method == "POST" else "unblock"
        return _error(
            400,
            139100,
            "(#139100) Failed to block/unblock users",
            f"Failed to {verb} some users, see the block_users response list for details",
            messaging_product="whatsapp",
            block_users=result,
        )
    return 200, {"messaging_product": "whatsapp", "block_users": result}
